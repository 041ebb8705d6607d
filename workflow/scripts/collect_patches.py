from dynaclr.jobs import job_context
from dynaclr.patches import collect_patches

with job_context(snakemake.log[0], snakemake.threads):
    collect_patches(
        per_fov_zarrs=list(snakemake.input.zarrs),
        per_fov_parquets=list(snakemake.input.parquets),
        output_zarr=snakemake.output.zarr,
        output_parquet=snakemake.output.parquet,
    )
