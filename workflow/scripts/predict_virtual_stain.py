from dynaclr.config.base import with_run_params
from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.jobs import job_context
from dynaclr.virtual_stain import PredictVirtualStainInputs, PredictVirtualStainOutputs, predict_fov

with job_context(snakemake.log[0], snakemake.threads):
    predict_fov(
        VirtualStainConfig.model_validate(with_run_params(snakemake.params.config, snakemake.params.run)),
        PredictVirtualStainInputs.from_rule(snakemake.input),
        PredictVirtualStainOutputs.from_rule(snakemake.output),
        fov_name=snakemake.params.fov_name,
    )
