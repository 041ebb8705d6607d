from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.jobs import job_context
from dynaclr.virtual_stain import evaluate_virtual_stain

config = VirtualStainConfig.model_validate(snakemake.params.config)  # noqa: F821
with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    evaluate_virtual_stain(
        prediction_plate_path=snakemake.input.prediction,  # noqa: F821
        target_plate_path=snakemake.input.plate,  # noqa: F821
        fov_names=None,
        train_fovs=config.train.train_fovs if config.train is not None else [],
        output_csv=snakemake.output.csv,  # noqa: F821
    )
