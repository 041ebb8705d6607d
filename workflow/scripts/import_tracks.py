from dynaclr.config.tracking import ImportedTracksConfig
from dynaclr.jobs import job_context
from dynaclr.tracking import ImportTracksInputs, ImportTracksOutputs, import_tracks

with job_context(snakemake.log[0], snakemake.threads):
    import_tracks(
        ImportedTracksConfig.model_validate(snakemake.params.config),
        ImportTracksInputs.from_rule(snakemake.input),
        ImportTracksOutputs.from_rule(snakemake.output),
        fov_names=snakemake.params.fov_names,
        shape_tzyx=snakemake.params.shape_tzyx,
        **snakemake.params.sampling_um,
    )
