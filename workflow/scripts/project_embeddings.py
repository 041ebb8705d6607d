from dynaclr.config.embeddings import ProjectionConfig
from dynaclr.embeddings import ProjectionInputs, ProjectionOutputs, projection_stage
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    projection_stage(
        ProjectionConfig.model_validate(snakemake.params.config),
        ProjectionInputs.from_rule(snakemake.input),
        ProjectionOutputs.from_rule(snakemake.output),
    )
