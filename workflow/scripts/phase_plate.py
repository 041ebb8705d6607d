from dynaclr.config.phase import PhaseConfig
from dynaclr.jobs import job_context
from dynaclr.phase import create_phase_plate

with job_context(snakemake.log[0], snakemake.threads):
    create_phase_plate(
        snakemake.input.plate,
        PhaseConfig.model_validate(snakemake.params.config),
        snakemake.output[0],
    )
