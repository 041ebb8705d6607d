rule simulate:
    """Simulate a live-cell infection plate and its ground truth (simulated datasets only)."""
    output:
        plate=store_file(f"{RESULTS}/{{dataset}}/raw.zarr"),
        tracks=f"{RESULTS}/{{dataset}}/ground_truth/tracks.parquet",
        labels=store_file(f"{RESULTS}/{{dataset}}/ground_truth/labels.zarr"),
        phase=store_file(f"{RESULTS}/{{dataset}}/ground_truth/phase.zarr"),
    params:
        config=lambda wildcards: stage_config(wildcards.dataset, "simulate"),
    log:
        f"{RESULTS}/logs/simulate/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/simulate/{{dataset}}.tsv"
    wildcard_constraints:
        dataset=wildcard_choice(SIMULATED),
    priority: UPSTREAM_PRIORITY
    threads: 1  # numpy/scipy on one core; two datasets simulate side by side
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/simulate.py"
