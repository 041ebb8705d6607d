from dynaclr.config.phase import PhaseConfig
from dynaclr.jobs import job_context
from dynaclr.phase import reconstruct_fov

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    reconstruct_fov(
        raw_plate_path=snakemake.input.plate,  # noqa: F821
        fov_name=snakemake.params.fov_name,  # noqa: F821
        transfer_function_path=snakemake.input.transfer_function,  # noqa: F821
        phase_plate_path=snakemake.input.phase_plate,  # noqa: F821
        record_path=snakemake.output.record,  # noqa: F821
        config=PhaseConfig.model_validate(snakemake.params.config),  # noqa: F821
    )
