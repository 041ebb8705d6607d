# Figures (PNG + SVG) and the model comparison table, each registered in the HTML report
# (`snakemake --report results/report.html`) with a caption from workflow/report/. The figures of one
# (model, dataset) are drawn by up to four jobs, grouped by what they read: the embeddings (every
# dataset), the classifier's predictions (every dataset with infection predictions), the DTW
# pseudo-time with the embeddings (the aligned trajectories: every dataset DTW aligns, a plate
# without ground truth too) and the DTW accuracy (simulated datasets: it plots the true onsets).
# results/figures/{dataset}/{model}/<figure>.{png,svg}; results/figures/results_table.{png,svg}.


rule embedding_figures:
    """What one model's embeddings look like: every projection (PCA, UMAP, PHATE) coloured by time,
    condition, predicted and (simulated) true infection and division, and adjacent-frame vs
    random-frame cosine distances (appendix C); the interactive explorer (an HTML page that
    downloads annotations). One job, two figures and the page; the embeddings are read a block of
    rows at a time (the distances), never whole."""
    input:
        unpack(embedding_figures_input),
        projections=store_file(f"{RESULTS}/embeddings/{{model}}/{{dataset}}.projections.zarr"),
        embeddings=store_file(f"{RESULTS}/embeddings/{{model}}/{{dataset}}.zarr"),
    output:
        projections_png=report(
            f"{RESULTS}/figures/{{dataset}}/{{model}}/projections.png",
            caption="../report/projections.rst",
            category="1. Embedding projections",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "projections"},
        ),
        projections_svg=f"{RESULTS}/figures/{{dataset}}/{{model}}/projections.svg",
        distances_png=report(
            f"{RESULTS}/figures/{{dataset}}/{{model}}/distances.png",
            caption="../report/distances.rst",
            category="2. Temporal smoothness",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "distance distributions"},
        ),
        distances_svg=f"{RESULTS}/figures/{{dataset}}/{{model}}/distances.svg",
        explorer_html=report(
            f"{RESULTS}/figures/{{dataset}}/{{model}}/explorer.html",
            caption="../report/explorer.rst",
            category="1. Embedding projections",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "explorer (interactive)"},
        ),
    params:
        config=analysis_config("figures"),
        conditions=run_conditions(),
    wildcard_constraints:
        model=EMBEDDED_MODELS,
    log:
        f"{RESULTS}/logs/embedding_figures/{{model}}/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/embedding_figures/{{model}}/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=embedding_figures_mem_mb,
        runtime=10,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/embedding_figures.py"


rule infected_fraction_figure:
    """Fraction of infected cells over time per condition from the dataset's own classifiers or those
    transferred from another dataset; beside the ground truth's on a simulated dataset."""
    input:
        unpack(ground_truth_input),
        predictions=lambda w: infection_prediction_file(w.model, w.dataset),
    output:
        infected_fraction_png=report(
            f"{RESULTS}/figures/{{dataset}}/{{model}}/infected_fraction.png",
            caption="../report/infected_fraction.rst",
            category="3. Infection classifier",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "infected fraction"},
        ),
        infected_fraction_svg=f"{RESULTS}/figures/{{dataset}}/{{model}}/infected_fraction.svg",
        curves=f"{RESULTS}/evaluation/infected_fraction/{{model}}/{{dataset}}.csv",
    params:
        conditions=run_conditions(),
    wildcard_constraints:
        model=EMBEDDED_MODELS,
    log:
        f"{RESULTS}/logs/infected_fraction_figure/{{model}}/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/infected_fraction_figure/{{model}}/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/infected_fraction_figure.py"


rule pseudotime_figure:
    """DTW pseudo-time of one model's embeddings vs the true time since the event (simulated
    datasets: it plots the true onsets)."""
    input:
        pseudotime=f"{RESULTS}/evaluation/pseudotime/{{model}}/{{dataset}}.parquet",
        accuracy=f"{RESULTS}/evaluation/dtw_accuracy/{{model}}/{{dataset}}.csv",
    output:
        pseudotime_png=report(
            f"{RESULTS}/figures/{{dataset}}/{{model}}/pseudotime.png",
            caption="../report/pseudotime.rst",
            category="4. DTW pseudo-time",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "pseudo-time accuracy"},
        ),
        pseudotime_svg=f"{RESULTS}/figures/{{dataset}}/{{model}}/pseudotime.svg",
    params:
        # the plate's frame interval (the results table's time_interval_minutes): hours, else frames
        time_interval_minutes=lambda w: plate_sampling(w.dataset).time_interval_minutes,
    wildcard_constraints:
        model=EMBEDDED_MODELS,
        dataset=SIMULATED_DATASETS,
    log:
        f"{RESULTS}/logs/pseudotime_figure/{{model}}/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/pseudotime_figure/{{model}}/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/pseudotime_figure.py"


rule aligned_trajectories_figure:
    """The aligned trajectories of one model's embeddings: PCs along DTW pseudo-time with a gallery
    (paper Fig 6), on every dataset DTW aligns (aligned_pairs: a plate aligned on its infection
    predictions or on divisions too; no ground truth read); the embeddings are read a block of rows
    at a time (their PCA), never whole."""
    input:
        pseudotime=f"{RESULTS}/evaluation/pseudotime/{{model}}/{{dataset}}.parquet",
        embeddings=store_file(f"{RESULTS}/embeddings/{{model}}/{{dataset}}.zarr"),
        patches_zarr=lambda w: patch_store(w.dataset, embedding_spec(w.model, w.dataset))["zarr"],
        patches_parquet=lambda w: patch_store(w.dataset, embedding_spec(w.model, w.dataset))["parquet"],
    output:
        trajectories_png=report(
            f"{RESULTS}/figures/{{dataset}}/{{model}}/aligned_trajectories.png",
            caption="../report/aligned_trajectories.rst",
            category="4. DTW pseudo-time",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "aligned trajectories"},
        ),
        trajectories_svg=f"{RESULTS}/figures/{{dataset}}/{{model}}/aligned_trajectories.svg",
    params:
        # the plate's frame interval (the results table's time_interval_minutes): hours, else frames
        time_interval_minutes=lambda w: plate_sampling(w.dataset).time_interval_minutes,
    wildcard_constraints:
        model=EMBEDDED_MODELS,
    log:
        f"{RESULTS}/logs/aligned_trajectories_figure/{{model}}/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/aligned_trajectories_figure/{{model}}/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=aligned_trajectories_mem_mb,
        runtime=10,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/aligned_trajectories_figure.py"


rule results_table:
    """The model comparison (paper Tables 4-5): CSV, HTML and a drawn table."""
    input:
        unpack(results_table_inputs),
    output:
        csv=report(
            f"{RESULTS}/evaluation/results_table.csv",
            caption="../report/results_table.rst",
            category="5. Model comparison",
            labels={"table": "values (CSV)"},
        ),
        html=report(
            f"{RESULTS}/evaluation/results_table.html",
            caption="../report/results_table.rst",
            category="5. Model comparison",
            labels={"table": "formatted (HTML)"},
        ),
        png=report(
            f"{RESULTS}/figures/results_table.png",
            caption="../report/results_table.rst",
            category="5. Model comparison",
            labels={"table": "figure"},
        ),
        svg=f"{RESULTS}/figures/results_table.svg",
    params:
        pairs=lambda w: results_table_pairs(),  # planned with this job, not in every job
        confidence=lambda w: results_table_levels(),  # the intervals' levels, which the caption states
        tasks=list(CONFIG.analysis.classification.tasks),  # a task without a classifier: why (no annotations)
        event=CONFIG.analysis.pseudotime.event,  # the caption names what the DTW rows aligned
    log:
        f"{RESULTS}/logs/results_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/results_table.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/results_table.py"


# ------------------------------------------------------------------ the report's first page
rule findings:
    """The report's first page: what was run on what, the key numbers (phase and virtual staining r,
    tracking DET/TRA and divisions, smoothness, classifier F1, DTW error), each with a one-line
    finding; a difference is claimed only where its confidence interval excludes zero."""
    input:
        unpack(lambda w: findings_files()[0]),
    output:
        rst=FINDINGS_RST,
        csv=f"{RESULTS}/evaluation/findings.csv",
    params:
        # functions, evaluated when this job is planned, not when a cluster job parses the Snakefile
        datasets=lambda w: {name: dataset_description(name) for name in DATASETS},
        models=lambda w: {name: model_description(name) for name in sorted({m for m, _ in embedding_pairs()})},
        samplings=lambda w: trained_samplings(),
        sources=lambda w: findings_files()[1],
        still=lambda w: still_datasets(),
        unscored=lambda w: unscored_image_stages(),  # per dataset without ground truth: what ran
        imported_tracks=sorted(TRACKS_IMPORTED),
        classification_confidence=CONFIG.analysis.classification.confidence,
        event=CONFIG.analysis.pseudotime.event,
        not_run=lambda w: analyses_not_run(),  # a line for an analysis run on no dataset
    log:
        f"{RESULTS}/logs/findings.log",
    benchmark:
        f"{RESULTS}/benchmarks/findings.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/findings.py"


# The report opens on the findings once the run has written them (`snakemake --report` runs after it).
report: os.path.abspath(FINDINGS_RST) if os.path.exists(FINDINGS_RST) else "../report/workflow.rst"
