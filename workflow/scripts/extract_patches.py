from dynaclr.config.patches import PatchSpec
from dynaclr.jobs import job_context
from dynaclr.patches import ExtractPatchesInputs, ExtractPatchesOutputs, extract_fov_patches

with job_context(snakemake.log[0], snakemake.threads):
    extract_fov_patches(
        PatchSpec.model_validate(snakemake.params.config),
        ExtractPatchesInputs.from_rule(snakemake.input),
        ExtractPatchesOutputs.from_rule(snakemake.output),
        fov_name=snakemake.params.fov_name,
        condition=snakemake.params.condition,
    )
