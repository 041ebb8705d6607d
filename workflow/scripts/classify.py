from dynaclr.classify import classify_stage
from dynaclr.config.analysis import ClassificationConfig
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    classify_stage(
        embeddings_path=snakemake.input.embeddings,  # noqa: F821
        annotations_path=snakemake.input.annotations,  # noqa: F821
        model=snakemake.wildcards.model,  # noqa: F821
        dataset=snakemake.wildcards.dataset,  # noqa: F821
        metrics_path=snakemake.output.metrics,  # noqa: F821
        predictions_path=snakemake.output.predictions,  # noqa: F821
        classifier_path=snakemake.output.classifiers,  # noqa: F821
        config=ClassificationConfig.model_validate(snakemake.params.config),  # noqa: F821
    )
