from dynaclr.config.base import with_run_params
from dynaclr.config.embeddings import embedding_stage_config
from dynaclr.embeddings import EmbedInputs, EmbedOutputs, embed_stage
from dynaclr.jobs import job_context

# the store records the digest of the encoder's weights (encoder_weights_sha256), which imported
# classifiers are compared with: stores written before it are written again once (script mtime)
with job_context(snakemake.log[0], snakemake.threads):
    embed_stage(
        embedding_stage_config(
            snakemake.wildcards.model, with_run_params(snakemake.params.config, snakemake.params.run)
        ),
        EmbedInputs.from_rule(snakemake.input),
        EmbedOutputs.from_rule(snakemake.output),
        model=snakemake.wildcards.model,
        dataset=snakemake.wildcards.dataset,
        partial_store=snakemake.params.partial_store,
        checkpoint_model=snakemake.params.checkpoint_model,
        checkpoint_config_hash=snakemake.params.checkpoint_config_hash,
        sampling_check=snakemake.params.sampling_check,
    )
