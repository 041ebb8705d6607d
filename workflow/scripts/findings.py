from dynaclr.figures.stage import FindingsInputs, FindingsOutputs, findings_stage
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    findings_stage(
        FindingsInputs.from_rule(snakemake.input),
        FindingsOutputs.from_rule(snakemake.output),
        datasets=dict(snakemake.params.datasets),
        models=dict(snakemake.params.models),
        samplings=dict(snakemake.params.samplings),
        sources={kind: list(names) for kind, names in snakemake.params.sources.items()},
        still=list(snakemake.params.still),
        unscored={name: list(stages) for name, stages in snakemake.params.unscored.items()},
        imported_tracks=list(snakemake.params.imported_tracks),
        classification_confidence=float(snakemake.params.classification_confidence),
        event=str(snakemake.params.event),
        not_run=dict(snakemake.params.not_run),
    )
