from dynaclr.jobs import job_context
from dynaclr.patches import CollectPatchesInputs, CollectPatchesOutputs, collect_patches

with job_context(snakemake.log[0], snakemake.threads):
    collect_patches(
        CollectPatchesInputs.from_rule(snakemake.input),
        CollectPatchesOutputs.from_rule(snakemake.output),
        threads=snakemake.threads,
    )
