from dynaclr.config.analysis import PseudotimeConfig
from dynaclr.jobs import job_context
from dynaclr.pseudotime.stage import pseudotime_stage

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    pseudotime_stage(
        embeddings_path=snakemake.input.embeddings,  # noqa: F821
        model=snakemake.wildcards.model,  # noqa: F821
        dataset=snakemake.wildcards.dataset,  # noqa: F821
        pseudotime_path=snakemake.output.pseudotime,  # noqa: F821
        accuracy_csv=snakemake.output.accuracy,  # noqa: F821
        config=PseudotimeConfig.model_validate(snakemake.params.config),  # noqa: F821
        ground_truth_tracks_path=snakemake.input.get("tracks"),  # noqa: F821
        predictions_path=snakemake.input.get("predictions"),  # noqa: F821
    )
