from dynaclr.config.tracking import TrackingEvaluationConfig
from dynaclr.jobs import job_context
from dynaclr.tracking import evaluate_tracking

with job_context(snakemake.log[0], snakemake.threads):
    evaluate_tracking(
        tracks_plate_path=snakemake.input.tracks_plate,
        tracks_parquet=snakemake.input.tracks,
        ground_truth_labels_path=snakemake.input.labels,
        ground_truth_tracks_path=snakemake.input.truth,
        output_csv=snakemake.output[0],
        fov_names=snakemake.params.fov_names,
        config=TrackingEvaluationConfig.model_validate(snakemake.params.config),
    )
