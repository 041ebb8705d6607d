from dynaclr.figures.stage import InfectedFractionInputs, InfectedFractionOutputs, infected_fraction_figure
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    infected_fraction_figure(
        InfectedFractionInputs.from_rule(snakemake.input),
        InfectedFractionOutputs.from_rule(snakemake.output),
        model=snakemake.wildcards.model,
        dataset=snakemake.wildcards.dataset,
        conditions=snakemake.params.conditions,
    )
