from dynaclr.figures.stage import distances_figure, projections_figure
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    pair = {"model": snakemake.wildcards.model, "dataset": snakemake.wildcards.dataset}
    projections_figure(
        snakemake.input.projections,
        snakemake.output.projections_png,
        ground_truth_tracks_path=snakemake.input.get("tracks"),
        match_on=snakemake.params.matching["on"],
        max_match_distance_px=snakemake.params.matching["max_distance_px"],
        **pair,
    )
    distances_figure(
        snakemake.input.embeddings,
        snakemake.output.distances_png,
        representation=snakemake.params.temporal_metrics["representation"],
        seed=snakemake.params.temporal_metrics["seed"],
        **pair,
    )
