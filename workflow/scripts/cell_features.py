from dynaclr.config.analysis import InterpretationConfig
from dynaclr.config.base import with_run_params
from dynaclr.interpretation.stage import CellFeaturesInputs, CellFeaturesOutputs, cell_features_stage
from dynaclr.jobs import job_context

with job_context(snakemake.log[0], snakemake.threads):
    cell_features_stage(
        InterpretationConfig.model_validate(with_run_params(snakemake.params.config, snakemake.params.run)),
        CellFeaturesInputs.from_rule(snakemake.input),
        CellFeaturesOutputs.from_rule(snakemake.output),
    )
