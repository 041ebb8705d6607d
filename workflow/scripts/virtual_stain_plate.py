from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.jobs import job_context
from dynaclr.virtual_stain import create_virtual_stain_plate

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    create_virtual_stain_plate(
        snakemake.input.phase_plate,  # noqa: F821
        VirtualStainConfig.model_validate(snakemake.params.config),  # noqa: F821
        snakemake.output[0],  # noqa: F821
    )
