from dynaclr.figures.stage import collect_pseudotime
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    collect_pseudotime(
        snakemake.input.pseudotime,  # noqa: F821
        snakemake.input.accuracy,  # noqa: F821
        snakemake.output.pseudotime,  # noqa: F821
        snakemake.output.accuracy,  # noqa: F821
    )
