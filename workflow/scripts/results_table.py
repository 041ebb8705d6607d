from dynaclr.figures.stage import ResultsTableInputs, ResultsTableOutputs, results_table_stage
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    results_table_stage(
        ResultsTableInputs.from_rule(snakemake.input),
        ResultsTableOutputs.from_rule(snakemake.output),
        pairs=list(snakemake.params.pairs),
        tasks=list(snakemake.params.tasks),
        event=snakemake.params.event,
    )
