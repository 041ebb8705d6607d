# Datasets given as TIFF / OME-TIFF files: converted once into the raw plate every stage reads.


rule convert_tiff:
    """The dataset's TIFF files as its raw HCS OME-Zarr plate (datasets with `tiff:` only)."""
    input:
        tiffs=lambda w: tiff_files(w.dataset),
    output:
        plate=store_file(f"{RESULTS}/{{dataset}}/raw.zarr"),
    params:
        config=lambda w: stage_config(w.dataset, "tiff"),
        run=run_settings(lambda w: CONFIG.datasets[w.dataset].tiff),  # resolution_tags: reruns nothing
    log:
        f"{RESULTS}/logs/convert_tiff/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/convert_tiff/{{dataset}}.tsv"
    wildcard_constraints:
        dataset=wildcard_choice(TIFF_DATASETS),
    priority: UPSTREAM_PRIORITY
    threads: 1  # reading and compressing one file at a time
    resources:
        mem_mb=4000,  # one file (a position, or a position's time point) in memory
        runtime=60,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/convert_tiff.py"
