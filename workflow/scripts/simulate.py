from dynaclr.config.simulate import SimulateConfig
from dynaclr.jobs import job_context
from dynaclr.simulate import simulate_plate

with job_context(snakemake.log[0], snakemake.threads):
    simulate_plate(
        SimulateConfig.model_validate(snakemake.params.config),
        plate_path=snakemake.output.plate,
        tracks_path=snakemake.output.tracks,
        labels_path=snakemake.output.labels,
        phase_path=snakemake.output.phase,
    )
