from dynaclr.figures.stage import results_table_stage
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    results_table_stage(
        temporal_metrics_csv=snakemake.input.temporal_metrics,  # noqa: F821
        table_csv=snakemake.output.csv,  # noqa: F821
        figure_path=snakemake.output.png,  # noqa: F821
        html_path=snakemake.output.html,  # noqa: F821
        classification_csv=snakemake.input.get("classification"),  # noqa: F821
        dtw_accuracy_csv=snakemake.input.get("dtw_accuracy"),  # noqa: F821
    )
