from dynaclr.classify import draw_annotations_stage
from dynaclr.config.analysis import AnnotationConfig
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    config = AnnotationConfig.model_validate(snakemake.params.config)
    drawing = config.model_dump(exclude={"table"})  # drawn from ground truth: no table
    draw_annotations_stage(
        snakemake.input.tracks,
        snakemake.output[0],
        **drawing,
        provenance_config=config.model_dump(mode="json", exclude={"table"}),
    )
