from dynaclr.classify import TransferClassifiersInputs, TransferClassifiersOutputs, transfer_classifiers_stage
from dynaclr.config.analysis import ClassificationConfig
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    transfer_classifiers_stage(
        ClassificationConfig.model_validate(snakemake.params.config),
        TransferClassifiersInputs.from_rule(snakemake.input),
        TransferClassifiersOutputs.from_rule(snakemake.output),
        model=snakemake.wildcards.model,
        dataset=snakemake.wildcards.dataset,
        sources=list(snakemake.params.sources),
        imported=list(snakemake.params.imported),
    )
