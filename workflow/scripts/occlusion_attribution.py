from dynaclr.config.analysis import OcclusionConfig
from dynaclr.config.base import with_run_params
from dynaclr.interpretation.occlusion_stage import OcclusionInputs, OcclusionOutputs, occlusion_stage
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    occlusion_stage(
        OcclusionConfig.model_validate(with_run_params(snakemake.params.config, snakemake.params.run)),
        OcclusionInputs.from_rule(snakemake.input),
        OcclusionOutputs.from_rule(snakemake.output),
        model=snakemake.wildcards.model,
        dataset=snakemake.wildcards.dataset,
        time_interval_minutes=snakemake.params.time_interval_minutes,
    )
