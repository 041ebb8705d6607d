from dynaclr.exports.ctc import ExportCtcInputs, ExportCtcOutputs, export_ctc_fov
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    export_ctc_fov(
        ExportCtcInputs.from_rule(snakemake.input),
        ExportCtcOutputs.from_rule(snakemake.output),
        snakemake.params.fov_name,
    )
