from dynaclr.classify import import_annotations_stage
from dynaclr.config.analysis import AnnotationConfig
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    config = AnnotationConfig.model_validate(snakemake.params.config)
    import_annotations_stage(
        snakemake.input.table,
        snakemake.input.tracks,
        snakemake.output[0],
        tasks=config.tasks,
        provenance_config=config.model_dump(mode="json"),
    )
