from dynaclr.classify import collect_classification
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    collect_classification(snakemake.input.metrics, snakemake.output[0])
