from dynaclr.exports.embeddings import ExportEmbeddingsInputs, ExportEmbeddingsOutputs, export_embeddings
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    export_embeddings(
        ExportEmbeddingsInputs.from_rule(snakemake.input), ExportEmbeddingsOutputs.from_rule(snakemake.output)
    )
