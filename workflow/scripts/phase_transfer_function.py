from dynaclr.config.phase import PhaseConfig
from dynaclr.jobs import job_context
from dynaclr.phase import compute_transfer_function

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    compute_transfer_function(
        snakemake.input.plate,  # noqa: F821
        PhaseConfig.model_validate(snakemake.params.config),  # noqa: F821
        snakemake.output[0],  # noqa: F821
    )
