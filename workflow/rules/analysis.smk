# What is read from the embeddings (paper section 4): temporal smoothness and dynamic range,
# classifiers of infection and division from sparse annotations (drawn from ground truth or from a
# dataset's tracks' lineage, or imported from its own table), DTW pseudo-time of infection.
# Per-(model, dataset) jobs write their own tables; collect rules gather them for the report.


rule temporal_metrics:
    """Smoothness and dynamic range of every embeddings store of a movie (not of still images: one
    time point), with track-bootstrap CIs (appendix C)."""
    input:
        embeddings=lambda w: [embeddings_store(model, dataset) for model, dataset in time_lapse_pairs()],
    output:
        metrics=report(
            f"{RESULTS}/evaluation/temporal_metrics.csv",
            caption="../report/temporal_metrics.rst",
            category="6. Tables",
        ),
        comparison=report(
            f"{RESULTS}/evaluation/temporal_comparison.csv",
            caption="../report/temporal_comparison.rst",
            category="6. Tables",
        ),
    params:
        config=analysis_config("temporal_metrics"),
    log:
        f"{RESULTS}/logs/temporal_metrics.log",
    benchmark:
        f"{RESULTS}/benchmarks/temporal_metrics.tsv"
    threads: 1
    resources:
        mem_mb=temporal_metrics_mem_mb,
        runtime=30,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/temporal_metrics.py"


rule draw_annotations:
    """Sparse, class-balanced annotations of infection and division drawn from ground truth."""
    input:
        tracks=f"{RESULTS}/{{dataset}}/ground_truth/tracks.parquet",
    output:
        annotations=f"{RESULTS}/{{dataset}}/annotations.parquet",
    params:
        config=lambda wildcards: stage_config(wildcards.dataset, "annotations"),
    wildcard_constraints:
        dataset=DRAWN_DATASETS,
    log:
        f"{RESULTS}/logs/draw_annotations/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/draw_annotations/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/draw_annotations.py"


rule import_annotations:
    """The annotation table a dataset names (annotations.table), checked and written like drawn ones."""
    input:
        unpack(annotation_table_input),
    output:
        annotations=f"{RESULTS}/{{dataset}}/annotations.parquet",
    params:
        config=lambda wildcards: stage_config(wildcards.dataset, "annotations"),
        shape_tzyx=lambda wildcards: plate_shape_tzyx(wildcards.dataset),
        # which rows are one cell follows the classifiers' matching (unique_cells): a table classify
        # would refuse is refused by the import
        match_annotations_on=CONFIG.analysis.classification.match_annotations_on,
        # the table's y, x are checked against the tracked cells within this distance
        # (check_position_reading): matching by position, y, x that match them only swapped or in the
        # other unit are refused; matching by track, also y, x away from the cells their track ids name
        # (ids of another tracking). annotations.position_unit: um divides by the pixel size, and the
        # other unit is tried with it
        max_match_distance_px=CONFIG.analysis.classification.max_match_distance_px,
        pixel_size_um=lambda wildcards: tracked_pixel_size(wildcards.dataset),
        # the FOVs a table per FOV's files belong to, or ({position}) {fov_name: position}; taking
        # `input` makes it a param Snakemake does not compare (which files exist is compared as the
        # input), so it reruns no existing import (nor does the script, unchanged by {position})
        fov_names=lambda wildcards, input: annotation_table_fovs(wildcards.dataset),
        # only checked against (a t whose every frame is a multiple of the plate's frame interval in
        # minutes or seconds is refused as a time: check_t_not_time); a function of input, not compared,
        # so it reruns no import (nor what follows) when the plate states an interval
        checks=lambda wildcards, input: import_annotations_checks(wildcards.dataset),
    wildcard_constraints:
        dataset=IMPORTED_DATASETS,
    log:
        f"{RESULTS}/logs/import_annotations/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/import_annotations/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/import_annotations.py"


rule annotate_divisions_from_lineage:
    """Sparse division annotations (mitosis, interphase) drawn from the lineage of the dataset's tracks."""
    input:
        tracks=f"{RESULTS}/{{dataset}}/tracks.parquet",
    output:
        annotations=f"{RESULTS}/{{dataset}}/annotations.parquet",
    params:
        config=lambda wildcards: stage_config(wildcards.dataset, "annotations"),
        # whether the dataset trains classifiers (train_on resolved): one class is refused there, a
        # WARNING where it is only scored; a function of input, which Snakemake's params trigger does
        # not compare, so editing train_on reruns no annotation job
        trains_classifier=lambda wildcards, input: wildcards.dataset in classifier_sources(),
    wildcard_constraints:
        dataset=FROM_LINEAGE_DATASETS,
    log:
        f"{RESULTS}/logs/annotate_divisions_from_lineage/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/annotate_divisions_from_lineage/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/annotate_divisions_from_lineage.py"


rule classify:
    """Linear classifiers of every task on one embeddings store, FOV-grouped cross-validation."""
    input:
        embeddings=store_file(f"{RESULTS}/embeddings/{{model}}/{{dataset}}.zarr"),
        annotations=f"{RESULTS}/{{dataset}}/annotations.parquet",
    output:
        scores=f"{RESULTS}/evaluation/classification_scores/{{model}}/{{dataset}}.parquet",
        predictions=f"{RESULTS}/evaluation/predictions/{{model}}/{{dataset}}.parquet",
        classifiers=f"{RESULTS}/evaluation/classifiers/{{model}}/{{dataset}}.json",
    params:
        # without n_bootstrap and confidence: the CIs are rule classification_intervals'
        config=CONFIG.analysis.classification.fit_params(),
    wildcard_constraints:
        model=EMBEDDED_MODELS,
        dataset=ANNOTATED_DATASETS,
    log:
        f"{RESULTS}/logs/classify/{{model}}/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/classify/{{model}}/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=classify_mem_mb,
        runtime=30,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/classify.py"


rule transfer_classifiers:
    """Classifiers fitted on other datasets (analysis.classification.train_on) or in an earlier run
    (analysis.classification.imported) predict one (model, dataset) (apply_to), scored on the
    dataset's annotations where it has some."""
    input:
        unpack(transfer_inputs),
    output:
        scores=f"{RESULTS}/evaluation/transfer_scores/{{model}}/{{dataset}}.parquet",
        predictions=f"{RESULTS}/evaluation/transfer_predictions/{{model}}/{{dataset}}.parquet",
    params:
        config=CONFIG.analysis.classification.fit_params(),
        sources=lambda w: transfer_labels(w.model, w.dataset),
        # which sources are imported files (their labels are in sources, which Snakemake compares);
        # taking `input` makes it a param Snakemake does not compare, so adding it reruns no transfer
        imported=lambda w, input: [imported_label(name) for name in imported_classifiers(w.model, w.dataset)],
    wildcard_constraints:
        model=EMBEDDED_MODELS,
    log:
        f"{RESULTS}/logs/transfer_classifiers/{{model}}/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/transfer_classifiers/{{model}}/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=classify_mem_mb,
        runtime=30,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/transfer_classifiers.py"


rule classification_intervals:
    """Track-bootstrap CIs of a classify (evaluation=classification) or transfer_classifiers
    (evaluation=transfer) job's scores, from its predictions: editing analysis.classification's
    n_bootstrap or confidence reruns this rule, never the fit."""
    input:
        scores=f"{RESULTS}/evaluation/{{evaluation}}_scores/{{model}}/{{dataset}}.parquet",
        predictions=lambda w: (
            f"{RESULTS}/evaluation/{INTERVAL_PREDICTIONS[w.evaluation]}/{w.model}/{w.dataset}.parquet"
        ),
    output:
        metrics=f"{RESULTS}/evaluation/{{evaluation}}/{{model}}/{{dataset}}.parquet",
    params:
        config=CONFIG.analysis.classification.interval_params(),
    wildcard_constraints:
        evaluation="|".join(INTERVAL_PREDICTIONS),
        model=EMBEDDED_MODELS,
    log:
        f"{RESULTS}/logs/classification_intervals/{{evaluation}}/{{model}}/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/classification_intervals/{{evaluation}}/{{model}}/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=classification_intervals_mem_mb,
        runtime=classification_intervals_runtime(CONFIG.analysis.classification),
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/classification_intervals.py"


rule collect_classification:
    """One table of classifier metrics over all models and datasets, in-dataset and transferred."""
    input:
        metrics=lambda w: [
            f"{RESULTS}/evaluation/classification/{model}/{dataset}.parquet"
            for model, dataset in classified_pairs()
        ]
        + [f"{RESULTS}/evaluation/transfer/{model}/{dataset}.parquet" for model, dataset in transferred_pairs()],
    output:
        table=report(
            f"{RESULTS}/evaluation/classification.csv",
            caption="../report/classification.rst",
            category="6. Tables",
        ),
    log:
        f"{RESULTS}/logs/collect_classification.log",
    benchmark:
        f"{RESULTS}/benchmarks/collect_classification.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/collect_classification.py"


rule align_pseudotime:
    """DTW pseudo-time of infection: every lineage of one embeddings store aligned to a reference
    (from ground truth, the infection classifier's predictions, or the config)."""
    input:
        unpack(pseudotime_input),
        embeddings=store_file(f"{RESULTS}/embeddings/{{model}}/{{dataset}}.zarr"),
    output:
        pseudotime=f"{RESULTS}/evaluation/pseudotime/{{model}}/{{dataset}}.parquet",
        accuracy=f"{RESULTS}/evaluation/dtw_accuracy/{{model}}/{{dataset}}.csv",
    params:
        config=analysis_config("pseudotime"),
    wildcard_constraints:
        model=EMBEDDED_MODELS,
    log:
        f"{RESULTS}/logs/align_pseudotime/{{model}}/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/align_pseudotime/{{model}}/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=align_pseudotime_mem_mb(CONFIG.analysis.pseudotime),
        runtime=30,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/align_pseudotime.py"


rule collect_pseudotime:
    """One pseudo-time table and one DTW accuracy table over all models and datasets."""
    input:
        pseudotime=lambda w: [
            f"{RESULTS}/evaluation/pseudotime/{model}/{dataset}.parquet" for model, dataset in aligned_pairs()
        ],
        accuracy=lambda w: [
            f"{RESULTS}/evaluation/dtw_accuracy/{model}/{dataset}.csv" for model, dataset in aligned_pairs()
        ],
    output:
        pseudotime=f"{RESULTS}/evaluation/pseudotime.parquet",
        accuracy=report(
            f"{RESULTS}/evaluation/dtw_accuracy.csv",
            caption="../report/dtw_accuracy.rst",
            category="6. Tables",
        ),
    log:
        f"{RESULTS}/logs/collect_pseudotime.log",
    benchmark:
        f"{RESULTS}/benchmarks/collect_pseudotime.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/collect_pseudotime.py"
