from dynaclr.config.base import with_run_params
from dynaclr.config.convert import TiffSourceConfig
from dynaclr.convert import ConvertTiffInputs, ConvertTiffOutputs, convert_tiff
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    convert_tiff(
        TiffSourceConfig.model_validate(with_run_params(snakemake.params.config, snakemake.params.run)),
        ConvertTiffInputs.from_rule(snakemake.input),
        ConvertTiffOutputs.from_rule(snakemake.output),
    )
