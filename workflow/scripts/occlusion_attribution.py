from dynaclr.config.analysis import OcclusionConfig
from dynaclr.interpretation.occlusion_stage import OcclusionInputs, OcclusionOutputs, occlusion_stage
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    occlusion_stage(
        OcclusionConfig.model_validate(snakemake.params.config),
        OcclusionInputs.from_rule(snakemake.input),
        OcclusionOutputs.from_rule(snakemake.output),
        model=snakemake.wildcards.model,
        dataset=snakemake.wildcards.dataset,
    )
