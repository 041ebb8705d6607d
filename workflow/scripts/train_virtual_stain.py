from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.jobs import job_context
from dynaclr.virtual_stain import train_virtual_stain

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    train_virtual_stain(
        phase_plate_path=snakemake.input.phase_plate,  # noqa: F821
        target_plate_path=snakemake.input.plate,  # noqa: F821
        config=VirtualStainConfig.model_validate(snakemake.params.config),  # noqa: F821
        checkpoint_path=snakemake.output.checkpoint,  # noqa: F821
        log_dir=snakemake.params.log_dir,  # noqa: F821
    )
