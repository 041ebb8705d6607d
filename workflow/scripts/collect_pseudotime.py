from dynaclr.jobs import job_context
from dynaclr.pseudotime.collect import CollectPseudotimeInputs, CollectPseudotimeOutputs, collect_pseudotime

with job_context(snakemake.log[0], snakemake.threads):
    collect_pseudotime(
        CollectPseudotimeInputs.from_rule(snakemake.input),
        CollectPseudotimeOutputs.from_rule(snakemake.output),
    )
