from dynaclr.config.patches import PatchSpec
from dynaclr.io.plate import split_planned_roots, split_supplied
from dynaclr.jobs import job_context
from dynaclr.patches import (
    ExtractPatchesInputs,
    ExtractPatchesOutputs,
    extract_fov_patches,
    split_plate_pixel_size,
)

with job_context(snakemake.log[0], snakemake.threads):
    config, planned_roots = split_planned_roots(snakemake.params.config)
    config, plate_pixel_size_um = split_plate_pixel_size(config)
    spec, supplied = split_supplied(config)
    extract_fov_patches(
        PatchSpec.model_validate(spec),
        ExtractPatchesInputs.from_rule(snakemake.input),
        ExtractPatchesOutputs.from_rule(snakemake.output),
        fov_name=snakemake.params.fov_name,
        condition=snakemake.params.condition,
        supplied=supplied,
        planned_roots=planned_roots,
        plate_pixel_size_um=plate_pixel_size_um,
    )
