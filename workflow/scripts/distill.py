from dynaclr.config.distillation import DistillationConfig, DistillationEncoder
from dynaclr.distill import DistillInputs, DistillOutputs, distill_stage
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    distill_stage(
        DistillationConfig.model_validate(snakemake.params.config),
        DistillInputs.from_rule(snakemake.input),
        DistillOutputs.from_rule(snakemake.output),
        model=snakemake.wildcards.model,
        dataset=snakemake.wildcards.dataset,
        encoders={
            role: DistillationEncoder.model_validate(raw) for role, raw in snakemake.params.encoders.items()
        },
    )
