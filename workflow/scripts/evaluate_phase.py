from dynaclr.jobs import job_context
from dynaclr.phase import EvaluatePhaseInputs, EvaluatePhaseOutputs, evaluate_phase

with job_context(snakemake.log[0], snakemake.threads):
    evaluate_phase(
        EvaluatePhaseInputs.from_rule(snakemake.input),
        EvaluatePhaseOutputs.from_rule(snakemake.output),
    )
