from dynaclr.jobs import job_context
from dynaclr.tracking import CollectTracksInputs, CollectTracksOutputs, collect_tracks

with job_context(snakemake.log[0], snakemake.threads):
    collect_tracks(
        CollectTracksInputs.from_rule(snakemake.input), CollectTracksOutputs.from_rule(snakemake.output)
    )
