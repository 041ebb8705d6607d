from dynaclr.config.analysis import FiguresConfig
from dynaclr.figures.stage import EmbeddingFiguresInputs, EmbeddingFiguresOutputs, embedding_figures
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    embedding_figures(
        FiguresConfig.model_validate(snakemake.params.config),
        EmbeddingFiguresInputs.from_rule(snakemake.input),
        EmbeddingFiguresOutputs.from_rule(snakemake.output),
        model=snakemake.wildcards.model,
        dataset=snakemake.wildcards.dataset,
        conditions=snakemake.params.conditions,
    )
