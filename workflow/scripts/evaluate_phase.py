from dynaclr.jobs import job_context
from dynaclr.phase import evaluate_phase

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    evaluate_phase(
        phase_plate_path=snakemake.input.phase_plate,  # noqa: F821
        ground_truth_phase_path=snakemake.input.truth,  # noqa: F821
        ground_truth_tracks_path=snakemake.input.tracks,  # noqa: F821
        transfer_function_path=snakemake.input.transfer_function,  # noqa: F821
        output_csv=snakemake.output.csv,  # noqa: F821
    )
