from dynaclr.config.phase import PhaseConfig
from dynaclr.jobs import job_context
from dynaclr.phase import compute_transfer_function

with job_context(snakemake.log[0], snakemake.threads):
    compute_transfer_function(
        snakemake.input.plate,
        PhaseConfig.model_validate(snakemake.params.config),
        snakemake.output[0],
    )
