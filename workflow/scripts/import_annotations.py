from dynaclr.classify import import_annotations_stage
from dynaclr.config.analysis import AnnotationConfig
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    config = AnnotationConfig.model_validate(snakemake.params.config)  # noqa: F821
    import_annotations_stage(
        snakemake.input.table,  # noqa: F821
        snakemake.input.tracks,  # noqa: F821
        snakemake.output[0],  # noqa: F821
        tasks=config.tasks,
        provenance_config=config.model_dump(mode="json"),
    )
