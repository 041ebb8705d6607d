from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.jobs import job_context
from dynaclr.virtual_stain import train_virtual_stain

with job_context(snakemake.log[0], snakemake.threads):
    train_virtual_stain(
        phase_plate_path=snakemake.input.phase_plate,
        target_plate_path=snakemake.input.plate,
        config=VirtualStainConfig.model_validate(snakemake.params.config),
        checkpoint_path=snakemake.output.checkpoint,
        log_dir=snakemake.params.log_dir,
    )
