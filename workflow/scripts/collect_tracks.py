from dynaclr.jobs import job_context
from dynaclr.tracking import collect_tracks

with job_context(snakemake.log[0], snakemake.threads):  # noqa: F821
    collect_tracks(
        tracks_plate_path=snakemake.input.tracks_plate,  # noqa: F821
        fov_names=snakemake.params.fov_names,  # noqa: F821
        records_dir=snakemake.params.records_dir,  # noqa: F821
        output_parquet=snakemake.output[0],  # noqa: F821
    )
