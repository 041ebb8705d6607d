from dynaclr.config.patches import PatchSpec
from dynaclr.io.plate import split_supplied
from dynaclr.jobs import job_context
from dynaclr.patches import ExtractPatchesInputs, ExtractPatchesOutputs, extract_fov_patches

with job_context(snakemake.log[0], snakemake.threads):
    spec, supplied = split_supplied(snakemake.params.config)
    extract_fov_patches(
        PatchSpec.model_validate(spec),
        ExtractPatchesInputs.from_rule(snakemake.input),
        ExtractPatchesOutputs.from_rule(snakemake.output),
        fov_name=snakemake.params.fov_name,
        condition=snakemake.params.condition,
        supplied=supplied,
    )
