from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.jobs import job_context
from dynaclr.virtual_stain import predict_fov

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    predict_fov(
        phase_plate_path=snakemake.input.phase_plate,  # noqa: F821
        fov_name=snakemake.params.fov_name,  # noqa: F821
        checkpoint_path=snakemake.input.checkpoint,  # noqa: F821
        output_plate_path=snakemake.input.output_plate,  # noqa: F821
        record_path=snakemake.output.record,  # noqa: F821
        config=VirtualStainConfig.model_validate(snakemake.params.config),  # noqa: F821
    )
