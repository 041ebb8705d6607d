from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.jobs import job_context
from dynaclr.virtual_stain import evaluate_virtual_stain

config = VirtualStainConfig.model_validate(snakemake.params.config)
with job_context(snakemake.log[0], snakemake.threads):
    evaluate_virtual_stain(
        prediction_plate_path=snakemake.input.prediction,
        target_plate_path=snakemake.input.plate,
        fov_names=None,
        train_fovs=config.train.train_fovs if config.train is not None else [],
        output_csv=snakemake.output.csv,
    )
