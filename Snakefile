# dynaclr: from raw live-cell plates to temporally regularised single-cell embeddings.
# Stages live in workflow/rules/<stage>.smk; config/config.yaml holds one entry per dataset.
from snakemake.utils import min_version

min_version("9.0")


# The demo's config unless the command line names one: `--configfile my.yaml` replaces it (Snakemake
# would otherwise merge the two, and a run of config/paper_infection.yaml would also run the demo).
if not workflow.config_settings.configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/convert.smk"
include: "workflow/rules/summary.smk"
include: "workflow/rules/phase.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/patches.smk"
include: "workflow/rules/tracking.smk"
include: "workflow/rules/virtual_stain.smk"
include: "workflow/rules/qc.smk"
include: "workflow/rules/analysis_common.smk"
include: "workflow/rules/embeddings.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/interpretation.smk"
include: "workflow/rules/distillation.smk"
include: "workflow/rules/exports.smk"


rule all:
    input:
        # a function: evaluated when the DAG is built from rule all, not when a job parses this file
        # (each SLURM job does), so no job lists every plate's FOVs
        lambda w: all_outputs() + analysis_outputs() + export_outputs() + [FINDINGS_RST],
    default_target: True
