from dynaclr.figures.stage import PseudotimeFigureInputs, PseudotimeFigureOutputs, pseudotime_figure
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    pseudotime_figure(
        PseudotimeFigureInputs.from_rule(snakemake.input),
        PseudotimeFigureOutputs.from_rule(snakemake.output),
        model=snakemake.wildcards.model,
        dataset=snakemake.wildcards.dataset,
        time_interval_minutes=snakemake.params.time_interval_minutes,
    )
