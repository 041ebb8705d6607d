from dynaclr.config.tracking import TrackingConfig
from dynaclr.jobs import job_context
from dynaclr.tracking import TrackFovInputs, TrackFovOutputs, track_fov

with job_context(snakemake.log[0], snakemake.threads):
    track_fov(
        TrackingConfig.model_validate(snakemake.params.config),
        TrackFovInputs.from_rule(snakemake.input),
        TrackFovOutputs.from_rule(snakemake.output),
        fov_name=snakemake.params.fov_name,
        scratch_dir=snakemake.params.scratch,
    )
