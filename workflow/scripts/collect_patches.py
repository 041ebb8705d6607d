from dynaclr.jobs import job_context
from dynaclr.patches import collect_patches

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    collect_patches(
        per_fov_zarrs=list(snakemake.input.zarrs),  # noqa: F821
        per_fov_parquets=list(snakemake.input.parquets),  # noqa: F821
        output_zarr=snakemake.output.zarr,  # noqa: F821
        output_parquet=snakemake.output.parquet,  # noqa: F821
    )
