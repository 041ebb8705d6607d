from dynaclr.config.analysis import PseudotimeConfig
from dynaclr.jobs import job_context
from dynaclr.pseudotime.stage import pseudotime_stage

with job_context(snakemake.log[0], snakemake.threads):
    pseudotime_stage(
        embeddings_path=snakemake.input.embeddings,
        model=snakemake.wildcards.model,
        dataset=snakemake.wildcards.dataset,
        pseudotime_path=snakemake.output.pseudotime,
        accuracy_csv=snakemake.output.accuracy,
        config=PseudotimeConfig.model_validate(snakemake.params.config),
        ground_truth_tracks_path=snakemake.input.get("tracks"),
        predictions_path=snakemake.input.get("predictions"),
    )
