# What the principal components of embeddings capture (paper Fig. 3d, 5b, appendix F), opt-in with
# analysis.interpretation.enabled: engineered features of every cell, once per (dataset, patch spec);
# per (model, dataset) the Spearman table of the first PCs against them, its heatmap, and a gallery
# of cells along the first PCs and per predicted state. Opt-in with analysis.occlusion.enabled: occlusion
# attribution of each trained encoder with its classifiers as linear heads (appendix F).


rule cell_features:
    """Shape of the central cell, intensity, entropy, radial profile and texture of every patch."""
    input:
        patches_zarr=store_file(f"{RESULTS}/{{dataset}}/patches/{{spec}}.zarr"),
        patches_parquet=f"{RESULTS}/{{dataset}}/patches/{{spec}}.parquet",
    output:
        features=f"{RESULTS}/{{dataset}}/cell_features/{{spec}}.parquet",
    params:
        config=interpretation_config("cell_features"),
        run=run_settings(lambda w: CONFIG.analysis.interpretation),  # batch_size: reruns nothing
    log:
        f"{RESULTS}/logs/cell_features/{{dataset}}/{{spec}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/cell_features/{{dataset}}/{{spec}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/cell_features.py"


rule interpret_embeddings:
    """Spearman correlation of the first principal components with the cell features, its heatmap,
    and a gallery of cells along the components and per predicted state."""
    input:
        unpack(interpretation_inputs),
    output:
        correlation=f"{RESULTS}/evaluation/interpretation/{{model}}/{{dataset}}.csv",
        heatmap_png=report(
            f"{RESULTS}/figures/{{dataset}}/{{model}}/pc_features.png",
            caption="../report/pc_features.rst",
            category="7. Interpretation",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "PC-feature correlation"},
        ),
        heatmap_svg=f"{RESULTS}/figures/{{dataset}}/{{model}}/pc_features.svg",
        gallery_png=report(
            f"{RESULTS}/figures/{{dataset}}/{{model}}/pc_gallery.png",
            caption="../report/pc_gallery.rst",
            category="7. Interpretation",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "cells along the PCs"},
        ),
        gallery_svg=f"{RESULTS}/figures/{{dataset}}/{{model}}/pc_gallery.svg",
    params:
        config=interpretation_config("interpret_embeddings"),
    wildcard_constraints:
        model=EMBEDDED_MODELS,
    log:
        f"{RESULTS}/logs/interpret_embeddings/{{model}}/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/interpret_embeddings/{{model}}/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=interpret_embeddings_mem_mb(CONFIG.analysis.interpretation),
        runtime=30,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/interpret_embeddings.py"


rule feature_trajectories:
    """Engineered cell features (e.g. the ER marker's radial profile) along DTW pseudo-time, beside
    the simulator's ground truth (paper Fig. 5: organelle remodelling)."""
    input:
        unpack(feature_trajectories_inputs),
    output:
        trajectory=f"{RESULTS}/evaluation/feature_trajectories/{{model}}/{{dataset}}.csv",
        summary=f"{RESULTS}/evaluation/feature_trajectories/{{model}}/{{dataset}}_summary.csv",
        png=report(
            f"{RESULTS}/figures/{{dataset}}/{{model}}/feature_trajectories.png",
            caption="../report/feature_trajectories.rst",
            category="7. Interpretation",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "features along pseudo-time"},
        ),
        svg=f"{RESULTS}/figures/{{dataset}}/{{model}}/feature_trajectories.svg",
    params:
        config=interpretation_config("feature_trajectories"),
        # the plate's frame interval (the results table's time_interval_minutes): hours, else frames
        time_interval_minutes=lambda w: plate_sampling(w.dataset).time_interval_minutes,
    wildcard_constraints:
        model=EMBEDDED_MODELS,
    log:
        f"{RESULTS}/logs/feature_trajectories/{{model}}/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/feature_trajectories/{{model}}/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/feature_trajectories.py"
rule occlusion_attribution:
    """Occlusion maps (Captum) of a trained encoder with its infection and division classifiers as
    linear heads, for one cell through infection and one through a division (analysis.occlusion)."""
    input:
        unpack(occlusion_inputs),
    output:
        maps=store_file(f"{RESULTS}/evaluation/occlusion/{{model}}/{{dataset}}.zarr"),
        summary=f"{RESULTS}/evaluation/occlusion/{{model}}/{{dataset}}.csv",
        figure_png=report(
            f"{RESULTS}/figures/{{dataset}}/{{model}}/occlusion.png",
            caption="../report/occlusion.rst",
            category="7. Interpretation",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "occlusion attribution"},
        ),
        figure_svg=f"{RESULTS}/figures/{{dataset}}/{{model}}/occlusion.svg",
    params:
        # max_match_distance_px None where the job does not read it (no ground truth, or no infection
        # task drawn with the dataset's own infection classifier), so editing it reruns no such job
        config=occlusion_config,
        run=run_settings(lambda w: CONFIG.analysis.occlusion),  # perturbations_per_eval: reruns nothing
        # the plate's frame interval (the results table's time_interval_minutes): rows in hours, else frames
        time_interval_minutes=lambda w: plate_sampling(w.dataset).time_interval_minutes,
    wildcard_constraints:
        model=ENCODER_MODELS,
    log:
        f"{RESULTS}/logs/occlusion_attribution/{{model}}/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/occlusion_attribution/{{model}}/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=occlusion_mem_mb,
        runtime=30,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/occlusion_attribution.py"
