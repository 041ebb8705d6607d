from dynaclr.classify import ClassifyInputs, ClassifyOutputs, classify_stage
from dynaclr.config.analysis import ClassificationConfig
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    classify_stage(
        ClassificationConfig.model_validate(snakemake.params.config),
        ClassifyInputs.from_rule(snakemake.input),
        ClassifyOutputs.from_rule(snakemake.output),
        model=snakemake.wildcards.model,
        dataset=snakemake.wildcards.dataset,
    )
