from dynaclr.config.tracking import TrackingConfig
from dynaclr.jobs import job_context
from dynaclr.tracking import create_tracks_plate

with job_context(snakemake.log[0], snakemake.threads):
    create_tracks_plate(
        snakemake.input.plate,
        TrackingConfig.model_validate(snakemake.params.config),
        snakemake.output[0],
        channel=snakemake.params.channel,
    )
