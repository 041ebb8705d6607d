from dynaclr.config.base import with_run_params
from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.io.plate import split_supplied
from dynaclr.jobs import job_context
from dynaclr.virtual_stain import PredictVirtualStainInputs, PredictVirtualStainOutputs, predict_fov

with job_context(snakemake.log[0], snakemake.threads):
    config, supplied = split_supplied(snakemake.params.config)
    predict_fov(
        VirtualStainConfig.model_validate(with_run_params(config, snakemake.params.run)),
        PredictVirtualStainInputs.from_rule(snakemake.input),
        PredictVirtualStainOutputs.from_rule(snakemake.output),
        fov_name=snakemake.params.fov_name,
        supplied=supplied,
    )
