from dynaclr.embeddings.stage import projection_stage
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    projection_stage(
        snakemake.input.embeddings,  # noqa: F821
        snakemake.output[0],  # noqa: F821
        snakemake.params.config,  # noqa: F821
    )
