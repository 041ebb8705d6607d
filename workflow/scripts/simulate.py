from dynaclr.config.simulate import SimulateConfig
from dynaclr.jobs import job_context
from dynaclr.simulate import SimulateOutputs, simulate_plate

with job_context(snakemake.log[0], snakemake.threads):
    simulate_plate(
        SimulateConfig.model_validate(snakemake.params.config), SimulateOutputs.from_rule(snakemake.output)
    )
