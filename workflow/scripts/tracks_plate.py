from dynaclr.config.tracking import TrackingConfig
from dynaclr.jobs import job_context
from dynaclr.tracking import create_tracks_plate

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    create_tracks_plate(
        snakemake.input.plate,  # noqa: F821
        TrackingConfig.model_validate(snakemake.params.config),  # noqa: F821
        snakemake.output[0],  # noqa: F821
        channel=snakemake.params.channel,  # noqa: F821
    )
