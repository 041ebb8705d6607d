from dynaclr.config import SummaryConfig
from dynaclr.jobs import job_context
from dynaclr.summary import summarize_ground_truth

with job_context(snakemake.log[0], snakemake.threads):
    summarize_ground_truth(
        tracks_path=snakemake.input.tracks,
        plate_path=snakemake.input.plate,
        config=SummaryConfig.model_validate(snakemake.params.config),
        summary_path=snakemake.output.summary,
        figure_paths=snakemake.output.figures,
    )
