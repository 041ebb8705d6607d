from dynaclr.classify import (
    ClassificationIntervalsInputs,
    ClassificationIntervalsOutputs,
    classification_intervals_stage,
)
from dynaclr.config.analysis import ClassificationConfig
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    classification_intervals_stage(
        ClassificationConfig.model_validate(snakemake.params.config),
        ClassificationIntervalsInputs.from_rule(snakemake.input),
        ClassificationIntervalsOutputs.from_rule(snakemake.output),
    )
