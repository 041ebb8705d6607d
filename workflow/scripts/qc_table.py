from dynaclr.jobs import job_context
from dynaclr.qc import QcTableInputs, QcTableOutputs, qc_table

with job_context(snakemake.log[0], snakemake.threads):
    qc_table(
        QcTableInputs.from_rule(snakemake.input),
        QcTableOutputs.from_rule(snakemake.output),
        dataset=snakemake.wildcards.dataset,
    )
