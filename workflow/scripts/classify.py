from dynaclr.classify import classify_stage
from dynaclr.config.analysis import ClassificationConfig
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    classify_stage(
        embeddings_path=snakemake.input.embeddings,
        annotations_path=snakemake.input.annotations,
        model=snakemake.wildcards.model,
        dataset=snakemake.wildcards.dataset,
        metrics_path=snakemake.output.metrics,
        predictions_path=snakemake.output.predictions,
        classifier_path=snakemake.output.classifiers,
        config=ClassificationConfig.model_validate(snakemake.params.config),
    )
