from dynaclr.config.analysis import PseudotimeConfig
from dynaclr.jobs import job_context
from dynaclr.pseudotime.stage import AlignPseudotimeInputs, AlignPseudotimeOutputs, pseudotime_stage

with job_context(snakemake.log[0], snakemake.threads):
    pseudotime_stage(
        PseudotimeConfig.model_validate(snakemake.params.config),
        AlignPseudotimeInputs.from_rule(snakemake.input),
        AlignPseudotimeOutputs.from_rule(snakemake.output),
        model=snakemake.wildcards.model,
        dataset=snakemake.wildcards.dataset,
    )
