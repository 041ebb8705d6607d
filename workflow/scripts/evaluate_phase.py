from dynaclr.jobs import job_context
from dynaclr.phase import evaluate_phase

with job_context(snakemake.log[0], snakemake.threads):
    evaluate_phase(
        phase_plate_path=snakemake.input.phase_plate,
        ground_truth_phase_path=snakemake.input.truth,
        ground_truth_tracks_path=snakemake.input.tracks,
        transfer_function_path=snakemake.input.transfer_function,
        output_csv=snakemake.output.csv,
    )
