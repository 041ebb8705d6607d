from dynaclr.config.tracking import TrackingConfig
from dynaclr.io.plate import split_supplied
from dynaclr.jobs import job_context
from dynaclr.tracking import TracksPlateInputs, TracksPlateOutputs, create_tracks_plate

with job_context(snakemake.log[0], snakemake.threads):
    config, supplied = split_supplied(snakemake.params.config)
    create_tracks_plate(
        TrackingConfig.model_validate(config),
        TracksPlateInputs.from_rule(snakemake.input),
        TracksPlateOutputs.from_rule(snakemake.output),
        channel=snakemake.params.channel,
        supplied=supplied,
    )
