# Segmentation and tracking with ultrack (CBC solver, no licence needed), one job per FOV; or the
# tracks a dataset names (tracks:, rule import_tracks) instead. Either writes results/{dataset}/tracks.parquet.


rule tracks_plate:
    """Empty label plate (labels, T,1,Z|1,Y,X) with the input plate's positions."""
    wildcard_constraints:
        dataset=wildcard_choice(TRACKED),
    input:
        # a plate of your own as its folder and every position's metadata file, all ancient(): a
        # position added or removed reruns this job (the set of inputs changed), one written again
        # does not (that FOV's own jobs rerun: its metadata file is their input)
        plate=lambda w: tracking_input_plate(w.dataset),
        fov_metadata=lambda w: tracking_plate_metadata(w.dataset),
    output:
        tracks_plate=store_file(f"{RESULTS}/{{dataset}}/tracks.zarr"),
    params:
        # the tracking config, and the sampling `acquisition` supplies for a raw plate stating none
        # (the label plate's scale, as the phase plate's)
        config=lambda w: with_supplied(stage_config(w.dataset, "tracking"), w.dataset),
        channel=lambda w: CONFIG.datasets[w.dataset].tracking_input.channel,
    log:
        f"{RESULTS}/logs/tracks_plate/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tracks_plate/{{dataset}}.tsv"
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/tracks_plate.py"


rule track_fov:
    """ultrack segment -> link -> solve on one FOV; its labels, tracks CSV and record."""
    wildcard_constraints:
        dataset=wildcard_choice(TRACKED),
    input:
        # plate, input_record, fov_metadata: a plate of your own as ancient() and this FOV's metadata
        # file, so the FOV written again reruns this job, the plate's folder touched (another position
        # added, its root rewritten) does not
        unpack(track_fov_inputs),
        tracks_plate=store_file(f"{RESULTS}/{{dataset}}/tracks.zarr"),
    output:
        tracks_csv=f"{RESULTS}/{{dataset}}/tracks/{{row}}/{{col}}/{{fov}}/tracks_{{row}}_{{col}}_{{fov}}.csv",
        record=f"{RESULTS}/{{dataset}}/records/tracks/{{row}}/{{col}}/{{fov}}.json",
    params:
        config=lambda w: stage_config(w.dataset, "tracking"),
        fov_name=FOV_NAME,
        # ultrack's working database: private to this job, deleted after success
        scratch=f"{RESULTS}/{{dataset}}/scratch/ultrack/{{row}}_{{col}}_{{fov}}",
    log:
        f"{RESULTS}/logs/track_fov/{{dataset}}/{{row}}_{{col}}_{{fov}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/track_fov/{{dataset}}/{{row}}_{{col}}_{{fov}}.tsv"
    priority: UPSTREAM_PRIORITY
    threads: 1
    resources:
        disk_mb=PER_FOV_DISK_MB,
        mem_mb=8000,
        runtime=60,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/track_fov.py"


rule collect_tracks:
    """All FOVs' tracks in one table with fov_name (float centroids)."""
    wildcard_constraints:
        dataset=wildcard_choice(TRACKED),
    input:
        tracks_plate=store_file(f"{RESULTS}/{{dataset}}/tracks.zarr"),
        records=lambda w: track_records(w.dataset),
        tracks_csvs=lambda w: per_fov(
            f"{RESULTS}/{{dataset}}/tracks/{{row}}/{{col}}/{{fov}}/tracks_{{row}}_{{col}}_{{fov}}.csv", w.dataset
        ),
    output:
        tracks=f"{RESULTS}/{{dataset}}/tracks.parquet",
    log:
        f"{RESULTS}/logs/collect_tracks/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/collect_tracks/{{dataset}}.tsv"
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/collect_tracks.py"


rule evaluate_tracking:
    """Cell Tracking Challenge DET and TRA, division precision/recall vs ground truth, of ultrack's
    tracks (their label images) or of imported tracks (their positions)."""
    wildcard_constraints:
        dataset=wildcard_choice(SIMULATED),
    input:
        unpack(tracked_labels),
        tracks=f"{RESULTS}/{{dataset}}/tracks.parquet",
        labels=store_file(f"{RESULTS}/{{dataset}}/ground_truth/labels.zarr"),
        truth=f"{RESULTS}/{{dataset}}/ground_truth/tracks.parquet",
    output:
        table=f"{RESULTS}/{{dataset}}/evaluation/tracking.csv",
        record=f"{RESULTS}/{{dataset}}/evaluation/tracking.json",
    params:
        config=lambda w: stage_config(w.dataset, "tracking_evaluation"),
    log:
        f"{RESULTS}/logs/evaluate_tracking/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_tracking/{{dataset}}.tsv"
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/evaluate_tracking.py"


rule import_tracks:
    """The tracks a dataset names (tracks: a table, ultrack CSVs, CTC results or TrackMate XML files),
    checked against the plate and written as the same table collect_tracks writes."""
    wildcard_constraints:
        dataset=wildcard_choice(TRACKS_IMPORTED),
    input:
        unpack(imported_tracks_files),
    output:
        tracks=f"{RESULTS}/{{dataset}}/tracks.parquet",
    params:
        config=lambda w: stage_config(w.dataset, "tracks"),
        fov_names=lambda w: fovs(w.dataset),
        shape_tzyx=lambda w: plate_shape_tzyx(w.dataset),
        # only checked against (a TrackMate file's calibration, and a tiff: dataset's files its
        # ImageData names): a function of input, which Snakemake's params trigger does not compare, so
        # it reruns no import (nor what follows) when it appears (import_tracks_checks)
        sampling_um=lambda w, input: import_tracks_checks(w.dataset),
        # compared (a function of the wildcards alone): with tracks.position_unit: um the import divides
        # y, x by this pixel size (and z by the z step, on a plate of more than one slice), so editing
        # it reruns the import and what follows; None with px (the sizes are then only checked
        # against, above), so editing them reruns no import in pixels
        divides_by_pixel_size_um=lambda w: divided_by_sizes_um(w.dataset),
    log:
        f"{RESULTS}/logs/import_tracks/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/import_tracks/{{dataset}}.tsv"
    priority: UPSTREAM_PRIORITY
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/import_tracks.py"
