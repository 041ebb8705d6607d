from dynaclr.classify import AnnotationsOutputs, ImportAnnotationsInputs, import_annotations_stage
from dynaclr.config.analysis import AnnotationConfig
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    import_annotations_stage(
        AnnotationConfig.model_validate(snakemake.params.config),
        ImportAnnotationsInputs.from_rule(snakemake.input),
        AnnotationsOutputs.from_rule(snakemake.output),
        shape_tzyx=snakemake.params.shape_tzyx,
        match_on=snakemake.params.match_annotations_on,
        max_match_distance_px=snakemake.params.max_match_distance_px,
        pixel_size_um=snakemake.params.pixel_size_um,
        fov_names=snakemake.params.fov_names,
        **snakemake.params.checks,
    )
