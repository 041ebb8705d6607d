from dynaclr.figures.stage import results_table_stage
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    results_table_stage(
        temporal_metrics_csv=snakemake.input.temporal_metrics,
        table_csv=snakemake.output.csv,
        figure_path=snakemake.output.png,
        html_path=snakemake.output.html,
        classification_csv=snakemake.input.get("classification"),
        dtw_accuracy_csv=snakemake.input.get("dtw_accuracy"),
    )
