from dynaclr.config.patches import PatchSpec
from dynaclr.jobs import job_context
from dynaclr.patches import extract_fov_patches

inputs = snakemake.input  # noqa: F821
sources = {key.removeprefix("plate_"): inputs[key] for key in inputs.keys() if key.startswith("plate_")}
with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    extract_fov_patches(
        sources=sources,
        tracks_path=inputs.tracks,
        fov_name=snakemake.params.fov_name,  # noqa: F821
        spec=PatchSpec.model_validate(snakemake.params.config),  # noqa: F821
        output_zarr=snakemake.output.zarr,  # noqa: F821
        output_parquet=snakemake.output.parquet,  # noqa: F821
        record_path=snakemake.output.record,  # noqa: F821
    )
