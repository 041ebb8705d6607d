from dynaclr.figures.stage import distances_figure
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    distances_figure(
        snakemake.input.embeddings,  # noqa: F821
        snakemake.output.png,  # noqa: F821
        model=snakemake.wildcards.model,  # noqa: F821
        dataset=snakemake.wildcards.dataset,  # noqa: F821
        representation=snakemake.params.config["representation"],  # noqa: F821
        seed=snakemake.params.config["seed"],  # noqa: F821
    )
