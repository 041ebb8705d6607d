from dynaclr.embeddings.stage import embed_stage
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    embed_stage(
        kind=snakemake.params.kind,
        model=snakemake.wildcards.model,
        dataset=snakemake.wildcards.dataset,
        patches_zarr=snakemake.input.patches_zarr,
        patches_parquet=snakemake.input.patches_parquet,
        output_path=snakemake.output[0],
        config=snakemake.params.config,
        checkpoint=snakemake.input.get("checkpoint"),
    )
