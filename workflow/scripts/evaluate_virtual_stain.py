from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.jobs import job_context
from dynaclr.virtual_stain import (
    EvaluateVirtualStainInputs,
    EvaluateVirtualStainOutputs,
    evaluate_virtual_stain,
)

with job_context(snakemake.log[0], snakemake.threads):
    evaluate_virtual_stain(
        VirtualStainConfig.model_validate(snakemake.params.config),
        EvaluateVirtualStainInputs.from_rule(snakemake.input),
        EvaluateVirtualStainOutputs.from_rule(snakemake.output),
    )
