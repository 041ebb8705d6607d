from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.jobs import job_context
from dynaclr.virtual_stain import predict_fov

with job_context(snakemake.log[0], snakemake.threads):
    predict_fov(
        phase_plate_path=snakemake.input.phase_plate,
        fov_name=snakemake.params.fov_name,
        checkpoint_path=snakemake.input.checkpoint,
        output_plate_path=snakemake.input.output_plate,
        record_path=snakemake.output.record,
        config=VirtualStainConfig.model_validate(snakemake.params.config),
    )
