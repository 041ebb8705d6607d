from dynaclr.config import SummaryConfig
from dynaclr.jobs import job_context
from dynaclr.summary import summarize_ground_truth

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    summarize_ground_truth(
        tracks_path=snakemake.input.tracks,  # noqa: F821
        plate_path=snakemake.input.plate,  # noqa: F821
        config=SummaryConfig.model_validate(snakemake.params.config),  # noqa: F821
        summary_path=snakemake.output.summary,  # noqa: F821
        figure_paths=snakemake.output.figures,  # noqa: F821
    )
