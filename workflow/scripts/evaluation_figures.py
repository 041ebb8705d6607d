from dynaclr.figures.stage import infected_fraction_figure, pseudotime_figure
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    pair = {"model": snakemake.wildcards.model, "dataset": snakemake.wildcards.dataset}  # noqa: F821
    infected_fraction_figure(
        snakemake.input.predictions,  # noqa: F821
        snakemake.input.tracks,  # noqa: F821
        snakemake.output.infected_fraction_png,  # noqa: F821
        curves_csv=snakemake.output.curves,  # noqa: F821
        **pair,
    )
    pseudotime_figure(
        snakemake.input.pseudotime,  # noqa: F821
        snakemake.input.accuracy,  # noqa: F821
        snakemake.output.pseudotime_png,  # noqa: F821
        **pair,
    )
