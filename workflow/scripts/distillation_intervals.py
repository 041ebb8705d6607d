from dynaclr.config.distillation import DistillationConfig
from dynaclr.distill import (
    DistillationIntervalsInputs,
    DistillationIntervalsOutputs,
    distillation_intervals_stage,
)
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    distillation_intervals_stage(
        DistillationConfig.model_validate(snakemake.params.config),
        DistillationIntervalsInputs.from_rule(snakemake.input),
        DistillationIntervalsOutputs.from_rule(snakemake.output),
    )
