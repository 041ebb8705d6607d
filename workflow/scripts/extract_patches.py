from dynaclr.config.patches import PatchSpec
from dynaclr.jobs import job_context
from dynaclr.patches import extract_fov_patches

inputs = snakemake.input
sources = {key.removeprefix("plate_"): inputs[key] for key in inputs.keys() if key.startswith("plate_")}
with job_context(snakemake.log[0], snakemake.threads):
    extract_fov_patches(
        sources=sources,
        tracks_path=inputs.tracks,
        fov_name=snakemake.params.fov_name,
        spec=PatchSpec.model_validate(snakemake.params.config),
        output_zarr=snakemake.output.zarr,
        output_parquet=snakemake.output.parquet,
        record_path=snakemake.output.record,
    )
