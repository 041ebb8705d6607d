from dynaclr.config.training import ContrastiveModelConfig
from dynaclr.jobs import job_context
from dynaclr.training.imported import ImportModelInputs, ImportModelOutputs, import_model

with job_context(snakemake.log[0], snakemake.threads):
    import_model(
        ContrastiveModelConfig.model_validate(snakemake.params.config),
        snakemake.params.checkpoint_format,
        ImportModelInputs.from_rule(snakemake.input),
        ImportModelOutputs.from_rule(snakemake.output),
        **snakemake.params.input_shape,
        model_name=snakemake.wildcards.model,
        embedded_sampling=snakemake.params.embedded_sampling,
        allow_other_scales=snakemake.params.allow_other_scales,
    )
