from dynaclr.config.tracking import TrackingEvaluationConfig
from dynaclr.jobs import job_context
from dynaclr.tracking import evaluate_tracking

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    evaluate_tracking(
        tracks_plate_path=snakemake.input.tracks_plate,  # noqa: F821
        tracks_parquet=snakemake.input.tracks,  # noqa: F821
        ground_truth_labels_path=snakemake.input.labels,  # noqa: F821
        ground_truth_tracks_path=snakemake.input.truth,  # noqa: F821
        output_csv=snakemake.output[0],  # noqa: F821
        fov_names=snakemake.params.fov_names,  # noqa: F821
        config=TrackingEvaluationConfig.model_validate(snakemake.params.config),  # noqa: F821
    )
