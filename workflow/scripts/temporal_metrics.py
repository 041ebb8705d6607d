from dynaclr.evaluation.stage import temporal_metrics_stage
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    temporal_metrics_stage(
        dict(zip(map(tuple, snakemake.params.jobs), snakemake.input.embeddings, strict=True)),  # noqa: F821
        snakemake.output.metrics,  # noqa: F821
        comparison_csv=snakemake.output.comparison,  # noqa: F821
        **snakemake.params.config,  # noqa: F821
    )
