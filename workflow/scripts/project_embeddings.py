from dynaclr.embeddings.stage import projection_stage
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    projection_stage(
        snakemake.input.embeddings,
        snakemake.output[0],
        snakemake.params.config,
    )
