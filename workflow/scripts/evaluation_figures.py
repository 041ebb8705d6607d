from dynaclr.figures.stage import EvaluationFiguresInputs, EvaluationFiguresOutputs, evaluation_figures
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    evaluation_figures(
        EvaluationFiguresInputs.from_rule(snakemake.input),
        EvaluationFiguresOutputs.from_rule(snakemake.output),
        model=snakemake.wildcards.model,
        dataset=snakemake.wildcards.dataset,
    )
