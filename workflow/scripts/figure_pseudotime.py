from dynaclr.figures.stage import pseudotime_figure
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    pseudotime_figure(
        snakemake.input.pseudotime,  # noqa: F821
        snakemake.input.accuracy,  # noqa: F821
        snakemake.output.png,  # noqa: F821
        model=snakemake.wildcards.model,  # noqa: F821
        dataset=snakemake.wildcards.dataset,  # noqa: F821
    )
