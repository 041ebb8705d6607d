from dynaclr.config import SummaryConfig
from dynaclr.jobs import job_context
from dynaclr.summary import SummaryInputs, SummaryOutputs, summarize_ground_truth

with job_context(snakemake.log[0], snakemake.threads):
    summarize_ground_truth(
        SummaryConfig.model_validate(snakemake.params.config),
        SummaryInputs.from_rule(snakemake.input),
        SummaryOutputs.from_rule(snakemake.output),
    )
