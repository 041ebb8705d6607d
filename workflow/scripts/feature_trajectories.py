from dynaclr.config.analysis import InterpretationConfig
from dynaclr.figures.stage import (
    FeatureTrajectoriesInputs,
    FeatureTrajectoriesOutputs,
    feature_trajectories_stage,
)
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    config = InterpretationConfig.model_validate(snakemake.params.config)
    feature_trajectories_stage(
        FeatureTrajectoriesInputs.from_rule(snakemake.input),
        FeatureTrajectoriesOutputs.from_rule(snakemake.output),
        features=config.trajectory_features,
        truth_columns=config.trajectory_truth_columns,
        model=snakemake.wildcards.model,
        dataset=snakemake.wildcards.dataset,
        seed=config.seed,
        time_interval_minutes=snakemake.params.time_interval_minutes,
    )
