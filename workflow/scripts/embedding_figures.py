from dynaclr.figures.stage import distances_figure, projections_figure
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    pair = {"model": snakemake.wildcards.model, "dataset": snakemake.wildcards.dataset}  # noqa: F821
    projections_figure(
        snakemake.input.projections,  # noqa: F821
        snakemake.output.projections_png,  # noqa: F821
        ground_truth_tracks_path=snakemake.input.get("tracks"),  # noqa: F821
        match_on=snakemake.params.matching["on"],  # noqa: F821
        max_match_distance_px=snakemake.params.matching["max_distance_px"],  # noqa: F821
        **pair,
    )
    distances_figure(
        snakemake.input.embeddings,  # noqa: F821
        snakemake.output.distances_png,  # noqa: F821
        representation=snakemake.params.temporal_metrics["representation"],  # noqa: F821
        seed=snakemake.params.temporal_metrics["seed"],  # noqa: F821
        **pair,
    )
