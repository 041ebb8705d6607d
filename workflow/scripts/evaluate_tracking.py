from dynaclr.config.tracking import TrackingEvaluationConfig
from dynaclr.jobs import job_context
from dynaclr.tracking import EvaluateTrackingInputs, EvaluateTrackingOutputs, evaluate_tracking

with job_context(snakemake.log[0], snakemake.threads):
    evaluate_tracking(
        TrackingEvaluationConfig.model_validate(snakemake.params.config),
        EvaluateTrackingInputs.from_rule(snakemake.input),
        EvaluateTrackingOutputs.from_rule(snakemake.output),
    )
