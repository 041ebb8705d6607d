rule summarize_ground_truth:
    """Per-FOV ground-truth statistics and a preview figure of the raw channels."""
    input:
        tracks=f"{RESULTS}/{{dataset}}/ground_truth/tracks.parquet",
        plate=lambda wildcards: raw_plate(wildcards.dataset),
    output:
        summary=f"{RESULTS}/{{dataset}}/ground_truth/summary.parquet",
        preview_png=f"{RESULTS}/{{dataset}}/figures/ground_truth_preview.png",
        preview_svg=f"{RESULTS}/{{dataset}}/figures/ground_truth_preview.svg",
    params:
        config=lambda wildcards: stage_config(wildcards.dataset, "summary"),
    log:
        f"{RESULTS}/logs/summarize_ground_truth/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/summarize_ground_truth/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/summarize_ground_truth.py"
