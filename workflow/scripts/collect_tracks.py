from dynaclr.jobs import job_context
from dynaclr.tracking import collect_tracks

with job_context(snakemake.log[0], snakemake.threads):
    collect_tracks(
        tracks_plate_path=snakemake.input.tracks_plate,
        fov_names=snakemake.params.fov_names,
        records_dir=snakemake.params.records_dir,
        output_parquet=snakemake.output[0],
    )
