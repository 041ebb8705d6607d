from dynaclr.figures.stage import infected_fraction_figure
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    infected_fraction_figure(
        snakemake.input.predictions,  # noqa: F821
        snakemake.input.tracks,  # noqa: F821
        snakemake.output.png,  # noqa: F821
        model=snakemake.wildcards.model,  # noqa: F821
        dataset=snakemake.wildcards.dataset,  # noqa: F821
        curves_csv=snakemake.output.curves,  # noqa: F821
    )
