from dynaclr.figures.stage import collect_pseudotime
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    collect_pseudotime(
        snakemake.input.pseudotime,
        snakemake.input.accuracy,
        snakemake.output.pseudotime,
        snakemake.output.accuracy,
    )
