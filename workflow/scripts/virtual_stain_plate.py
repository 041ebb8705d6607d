from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.io.plate import split_supplied
from dynaclr.jobs import job_context
from dynaclr.virtual_stain import (
    VirtualStainPlateInputs,
    VirtualStainPlateOutputs,
    create_virtual_stain_plate,
)

with job_context(snakemake.log[0], snakemake.threads):
    config, supplied = split_supplied(snakemake.params.config)
    create_virtual_stain_plate(
        VirtualStainConfig.model_validate(config),
        VirtualStainPlateInputs.from_rule(snakemake.input),
        VirtualStainPlateOutputs.from_rule(snakemake.output),
        supplied,
    )
