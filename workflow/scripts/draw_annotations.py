from dynaclr.classify import draw_annotations_stage
from dynaclr.config.analysis import AnnotationConfig
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    config = AnnotationConfig.model_validate(snakemake.params.config)  # noqa: F821
    draw_annotations_stage(
        snakemake.input.tracks,  # noqa: F821
        snakemake.output[0],  # noqa: F821
        **config.model_dump(),
        provenance_config=config.model_dump(mode="json"),
    )
