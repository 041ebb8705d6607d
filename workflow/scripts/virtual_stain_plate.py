from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.jobs import job_context
from dynaclr.virtual_stain import (
    VirtualStainPlateInputs,
    VirtualStainPlateOutputs,
    create_virtual_stain_plate,
)

with job_context(snakemake.log[0], snakemake.threads):
    create_virtual_stain_plate(
        VirtualStainConfig.model_validate(snakemake.params.config),
        VirtualStainPlateInputs.from_rule(snakemake.input),
        VirtualStainPlateOutputs.from_rule(snakemake.output),
    )
