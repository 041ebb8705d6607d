from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.jobs import job_context
from dynaclr.virtual_stain import create_virtual_stain_plate

with job_context(snakemake.log[0], snakemake.threads):
    create_virtual_stain_plate(
        snakemake.input.phase_plate,
        VirtualStainConfig.model_validate(snakemake.params.config),
        snakemake.output[0],
    )
