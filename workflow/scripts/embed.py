from dynaclr.embeddings.stage import embed_stage
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    embed_stage(
        kind=snakemake.params.kind,  # noqa: F821
        model=snakemake.wildcards.model,  # noqa: F821
        dataset=snakemake.wildcards.dataset,  # noqa: F821
        patches_zarr=snakemake.input.patches_zarr,  # noqa: F821
        patches_parquet=snakemake.input.patches_parquet,  # noqa: F821
        output_path=snakemake.output[0],  # noqa: F821
        config=snakemake.params.config,  # noqa: F821
        checkpoint=snakemake.input.get("checkpoint"),  # noqa: F821
    )
