from dynaclr.config.phase import PhaseConfig
from dynaclr.jobs import job_context
from dynaclr.phase import ReconstructPhaseInputs, ReconstructPhaseOutputs, reconstruct_fov

with job_context(snakemake.log[0], snakemake.threads):
    reconstruct_fov(
        PhaseConfig.model_validate(snakemake.params.config),
        ReconstructPhaseInputs.from_rule(snakemake.input),
        ReconstructPhaseOutputs.from_rule(snakemake.output),
        fov_name=snakemake.params.fov_name,
    )
