from dynaclr.figures.stage import infected_fraction_figure, pseudotime_figure
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    pair = {"model": snakemake.wildcards.model, "dataset": snakemake.wildcards.dataset}
    infected_fraction_figure(
        snakemake.input.predictions,
        snakemake.input.tracks,
        snakemake.output.infected_fraction_png,
        curves_csv=snakemake.output.curves,
        **pair,
    )
    pseudotime_figure(
        snakemake.input.pseudotime,
        snakemake.input.accuracy,
        snakemake.output.pseudotime_png,
        **pair,
    )
