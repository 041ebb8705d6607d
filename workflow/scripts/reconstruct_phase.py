from dynaclr.config.phase import PhaseConfig
from dynaclr.jobs import job_context
from dynaclr.phase import reconstruct_fov

with job_context(snakemake.log[0], snakemake.threads):
    reconstruct_fov(
        raw_plate_path=snakemake.input.plate,
        fov_name=snakemake.params.fov_name,
        transfer_function_path=snakemake.input.transfer_function,
        phase_plate_path=snakemake.input.phase_plate,
        record_path=snakemake.output.record,
        config=PhaseConfig.model_validate(snakemake.params.config),
    )
