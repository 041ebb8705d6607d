# Single-cell patches around every tracked cell: one job per FOV and patch spec, then one store.


rule extract_patches:
    """Crop (C, Z, Y, X) patches around every track centroid of one FOV, normalised per FOV."""
    input:
        # plate_raw, plate_phase, plate_virtual_stain (those the spec reads), this FOV's records and
        # its tracks (track_fov's CSV and record, or the imported table)
        unpack(patch_fov_inputs),
    output:
        zarr=store_file(f"{RESULTS}/{{dataset}}/patches/{{spec}}/fovs/{{row}}/{{col}}/{{fov}}.zarr"),
        parquet=f"{RESULTS}/{{dataset}}/patches/{{spec}}/fovs/{{row}}/{{col}}/{{fov}}.parquet",
        record=f"{RESULTS}/{{dataset}}/records/patches/{{spec}}/{{row}}/{{col}}/{{fov}}.json",
    params:
        config=lambda w: patch_spec_config(w.dataset, w.spec),
        fov_name=FOV_NAME,
        # the well's condition from the config (None: the tracks table's): a per-job param, so
        # editing one well's condition reruns that well's FOVs only
        condition=lambda w: well_conditions(w.dataset).get(f"{w.row}/{w.col}"),
    log:
        f"{RESULTS}/logs/extract_patches/{{dataset}}/{{spec}}/{{row}}_{{col}}_{{fov}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/extract_patches/{{dataset}}/{{spec}}/{{row}}_{{col}}_{{fov}}.tsv"
    priority: UPSTREAM_PRIORITY
    resources:
        disk_mb=PER_FOV_DISK_MB,
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/extract_patches.py"


rule collect_patches:
    """One patch store (N, C, Z, Y, X) and its index per dataset and patch spec."""
    input:
        zarrs=lambda w: per_fov(
            store_file(f"{RESULTS}/{{dataset}}/patches/{w.spec}/fovs/{{row}}/{{col}}/{{fov}}.zarr"), w.dataset
        ),
        parquets=lambda w: per_fov(
            f"{RESULTS}/{{dataset}}/patches/{w.spec}/fovs/{{row}}/{{col}}/{{fov}}.parquet", w.dataset
        ),
    output:
        zarr=store_file(f"{RESULTS}/{{dataset}}/patches/{{spec}}.zarr"),
        parquet=f"{RESULTS}/{{dataset}}/patches/{{spec}}.parquet",
    log:
        f"{RESULTS}/logs/collect_patches/{{dataset}}/{{spec}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/collect_patches/{{dataset}}/{{spec}}.tsv"
    priority: UPSTREAM_PRIORITY
    # output shards copied at a time (files read and written: a thread waits on I/O most of the time)
    threads: 4
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/collect_patches.py"
