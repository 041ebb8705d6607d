from dynaclr.config.base import with_run_params
from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.io.plate import split_supplied
from dynaclr.jobs import job_context
from dynaclr.virtual_stain import TrainVirtualStainInputs, TrainVirtualStainOutputs, train_virtual_stain

with job_context(snakemake.log[0], snakemake.threads):
    config, supplied = split_supplied(snakemake.params.config)
    train_virtual_stain(
        VirtualStainConfig.model_validate(with_run_params(config, snakemake.params.run)),
        TrainVirtualStainInputs.from_rule(snakemake.input),
        TrainVirtualStainOutputs.from_rule(snakemake.output),
        log_dir=snakemake.params.log_dir,
        supplied=supplied,
    )
