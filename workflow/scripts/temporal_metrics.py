from dynaclr.config.analysis import TemporalMetricsConfig
from dynaclr.evaluation.stage import TemporalMetricsInputs, TemporalMetricsOutputs, temporal_metrics_stage
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    temporal_metrics_stage(
        TemporalMetricsConfig.model_validate(snakemake.params.config),
        TemporalMetricsInputs.from_rule(snakemake.input),
        TemporalMetricsOutputs.from_rule(snakemake.output),
    )
