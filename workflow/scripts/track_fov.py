from dynaclr.config.tracking import TrackingConfig
from dynaclr.jobs import job_context
from dynaclr.tracking import track_fov

with job_context(snakemake.log[0], snakemake.threads):
    track_fov(
        input_plate_path=snakemake.input.plate,
        channel=snakemake.params.channel,
        fov_name=snakemake.params.fov_name,
        config=TrackingConfig.model_validate(snakemake.params.config),
        tracks_plate_path=snakemake.input.tracks_plate,
        record_path=snakemake.output.record,
        scratch_dir=snakemake.params.scratch,
        input_record_path=snakemake.input.input_record[0] if snakemake.input.input_record else None,
    )
