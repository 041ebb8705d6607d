from dynaclr.config.phase import PhaseConfig
from dynaclr.jobs import job_context
from dynaclr.phase import PhaseTransferFunctionInputs, PhaseTransferFunctionOutputs, compute_transfer_function

with job_context(snakemake.log[0], snakemake.threads):
    compute_transfer_function(
        PhaseConfig.model_validate(snakemake.params.config),
        PhaseTransferFunctionInputs.from_rule(snakemake.input),
        PhaseTransferFunctionOutputs.from_rule(snakemake.output),
    )
