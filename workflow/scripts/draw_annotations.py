from dynaclr.classify import AnnotationsOutputs, DrawAnnotationsInputs, draw_annotations_stage
from dynaclr.config.analysis import AnnotationConfig
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    draw_annotations_stage(
        AnnotationConfig.model_validate(snakemake.params.config),
        DrawAnnotationsInputs.from_rule(snakemake.input),
        AnnotationsOutputs.from_rule(snakemake.output),
    )
