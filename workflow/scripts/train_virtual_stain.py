from dynaclr.config.base import with_run_params
from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.jobs import job_context
from dynaclr.virtual_stain import TrainVirtualStainInputs, TrainVirtualStainOutputs, train_virtual_stain

with job_context(snakemake.log[0], snakemake.threads):
    train_virtual_stain(
        VirtualStainConfig.model_validate(with_run_params(snakemake.params.config, snakemake.params.run)),
        TrainVirtualStainInputs.from_rule(snakemake.input),
        TrainVirtualStainOutputs.from_rule(snakemake.output),
        log_dir=snakemake.params.log_dir,
    )
