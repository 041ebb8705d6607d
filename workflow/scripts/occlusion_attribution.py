from dynaclr.config.analysis import OcclusionConfig
from dynaclr.config.base import with_run_params
from dynaclr.interpretation.occlusion_stage import OcclusionInputs, OcclusionOutputs, occlusion_stage
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    occlusion_stage(
        # max_match_distance_px is None where the job does not read it (rule occlusion_attribution)
        OcclusionConfig.model_validate(
            with_run_params(
                {
                    key: value
                    for key, value in snakemake.params.config.items()
                    if not (key == "max_match_distance_px" and value is None)
                },
                snakemake.params.run,
            )
        ),
        OcclusionInputs.from_rule(snakemake.input),
        OcclusionOutputs.from_rule(snakemake.output),
        model=snakemake.wildcards.model,
        dataset=snakemake.wildcards.dataset,
        time_interval_minutes=snakemake.params.time_interval_minutes,
    )
