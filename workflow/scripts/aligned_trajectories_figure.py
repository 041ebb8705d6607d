from dynaclr.figures.stage import (
    AlignedTrajectoriesInputs,
    AlignedTrajectoriesOutputs,
    aligned_trajectories_figure,
)
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    aligned_trajectories_figure(
        AlignedTrajectoriesInputs.from_rule(snakemake.input),
        AlignedTrajectoriesOutputs.from_rule(snakemake.output),
        model=snakemake.wildcards.model,
        dataset=snakemake.wildcards.dataset,
        time_interval_minutes=snakemake.params.time_interval_minutes,
    )
