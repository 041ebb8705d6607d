from dynaclr.evaluation.stage import temporal_metrics_stage
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    temporal_metrics_stage(
        dict(zip(map(tuple, snakemake.params.jobs), snakemake.input.embeddings, strict=True)),
        snakemake.output.metrics,
        comparison_csv=snakemake.output.comparison,
        **snakemake.params.config,
    )
