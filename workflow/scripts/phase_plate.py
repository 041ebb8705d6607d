from dynaclr.config.phase import PhaseConfig
from dynaclr.jobs import job_context
from dynaclr.phase import PhasePlateInputs, PhasePlateOutputs, create_phase_plate

with job_context(snakemake.log[0], snakemake.threads):
    create_phase_plate(
        PhaseConfig.model_validate(snakemake.params.config),
        PhasePlateInputs.from_rule(snakemake.input),
        PhasePlateOutputs.from_rule(snakemake.output),
    )
