from dynaclr.config.workflow import QcFiguresConfig
from dynaclr.jobs import job_context
from dynaclr.qc.figure import ImageQcFigureInputs, ImageQcFigureOutputs, image_qc_figure

with job_context(snakemake.log[0], snakemake.threads):
    image_qc_figure(
        QcFiguresConfig.model_validate(snakemake.params.config),
        ImageQcFigureInputs.from_rule(snakemake.input),
        ImageQcFigureOutputs.from_rule(snakemake.output),
        snakemake.params.fov_name,
        snakemake.params.time_interval_minutes,
        snakemake.params.tracking_channel,
    )
