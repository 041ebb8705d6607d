from dynaclr.classify import CollectClassificationInputs, CollectClassificationOutputs, collect_classification
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    collect_classification(
        CollectClassificationInputs.from_rule(snakemake.input),
        CollectClassificationOutputs.from_rule(snakemake.output),
    )
