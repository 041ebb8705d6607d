from dynaclr.config.tracking import TrackingConfig
from dynaclr.jobs import job_context
from dynaclr.tracking import track_fov

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    track_fov(
        input_plate_path=snakemake.input.plate,  # noqa: F821
        channel=snakemake.params.channel,  # noqa: F821
        fov_name=snakemake.params.fov_name,  # noqa: F821
        config=TrackingConfig.model_validate(snakemake.params.config),  # noqa: F821
        tracks_plate_path=snakemake.input.tracks_plate,  # noqa: F821
        record_path=snakemake.output.record,  # noqa: F821
        scratch_dir=snakemake.params.scratch,  # noqa: F821
        input_record_path=snakemake.input.input_record[0] if snakemake.input.input_record else None,  # noqa: F821
    )
