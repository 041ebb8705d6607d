from dynaclr.config.phase import PhaseConfig
from dynaclr.io.plate import split_supplied
from dynaclr.jobs import job_context
from dynaclr.phase import PhasePlateInputs, PhasePlateOutputs, create_phase_plate

with job_context(snakemake.log[0], snakemake.threads):
    config, supplied = split_supplied(snakemake.params.config)
    create_phase_plate(
        PhaseConfig.model_validate(config),
        PhasePlateInputs.from_rule(snakemake.input),
        PhasePlateOutputs.from_rule(snakemake.output),
        supplied,
    )
