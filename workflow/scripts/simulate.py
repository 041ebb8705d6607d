from dynaclr.config.simulate import SimulateConfig
from dynaclr.jobs import job_context
from dynaclr.simulate import simulate_plate

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    simulate_plate(
        SimulateConfig.model_validate(snakemake.params.config),  # noqa: F821
        plate_path=snakemake.output.plate,  # noqa: F821
        tracks_path=snakemake.output.tracks,  # noqa: F821
        labels_path=snakemake.output.labels,  # noqa: F821
        phase_path=snakemake.output.phase,  # noqa: F821
    )
