from dynaclr.classify import AnnotationsOutputs, LineageAnnotationsInputs, lineage_annotations_stage
from dynaclr.config.analysis import AnnotationConfig
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    lineage_annotations_stage(
        AnnotationConfig.model_validate(snakemake.params.config),
        LineageAnnotationsInputs.from_rule(snakemake.input),
        AnnotationsOutputs.from_rule(snakemake.output),
        trains_classifier=snakemake.params.trains_classifier,
    )
