from dynaclr.config.analysis import InterpretationConfig
from dynaclr.interpretation.stage import InterpretInputs, InterpretOutputs, interpret_embeddings_stage
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    interpret_embeddings_stage(
        InterpretationConfig.model_validate(snakemake.params.config),
        InterpretInputs.from_rule(snakemake.input),
        InterpretOutputs.from_rule(snakemake.output),
        model=snakemake.wildcards.model,
        dataset=snakemake.wildcards.dataset,
    )
