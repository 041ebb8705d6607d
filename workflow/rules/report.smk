# Figures (PNG + SVG) and the model comparison table, each registered in the HTML report
# (`snakemake --report results/report.html`) with a caption from workflow/report/.
# results/figures/{dataset}/{model}/<figure>.{png,svg}; results/figures/results_table.{png,svg}.


rule figure_projections:
    """Projections of one model's embeddings coloured by frame, infection and division."""
    input:
        unpack(ground_truth_input),
        projections=f"{RESULTS}/embeddings/{{model}}/{{dataset}}.projections.parquet",
    output:
        png=report(
            f"{RESULTS}/figures/{{dataset}}/{{model}}/projections.png",
            caption="../report/projections.rst",
            category="1. Embedding projections",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "projections"},
        ),
        svg=f"{RESULTS}/figures/{{dataset}}/{{model}}/projections.svg",
    params:
        matching=ground_truth_matching(),
    wildcard_constraints:
        model=EMBEDDED_MODELS,
    log:
        f"{RESULTS}/logs/figure_projections/{{model}}/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/figure_projections/{{model}}/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/figure_projections.py"


rule figure_distances:
    """Adjacent-frame vs random-frame cosine distances of one model's embeddings (appendix C)."""
    input:
        embeddings=f"{RESULTS}/embeddings/{{model}}/{{dataset}}.zarr",
    output:
        png=report(
            f"{RESULTS}/figures/{{dataset}}/{{model}}/distances.png",
            caption="../report/distances.rst",
            category="2. Temporal smoothness",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "distance distributions"},
        ),
        svg=f"{RESULTS}/figures/{{dataset}}/{{model}}/distances.svg",
    params:
        config=analysis_config("temporal_metrics"),
    wildcard_constraints:
        model=EMBEDDED_MODELS,
    log:
        f"{RESULTS}/logs/figure_distances/{{model}}/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/figure_distances/{{model}}/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/figure_distances.py"


rule figure_infected_fraction:
    """Infected fraction over time per condition: infection classifier vs ground truth."""
    input:
        predictions=f"{RESULTS}/evaluation/predictions/{{model}}/{{dataset}}.parquet",
        tracks=f"{RESULTS}/{{dataset}}/ground_truth/tracks.parquet",
    output:
        png=report(
            f"{RESULTS}/figures/{{dataset}}/{{model}}/infected_fraction.png",
            caption="../report/infected_fraction.rst",
            category="3. Infection classifier",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "infected fraction"},
        ),
        svg=f"{RESULTS}/figures/{{dataset}}/{{model}}/infected_fraction.svg",
        curves=f"{RESULTS}/evaluation/infected_fraction/{{model}}/{{dataset}}.csv",
    wildcard_constraints:
        model=EMBEDDED_MODELS,
        dataset=SIMULATED_DATASETS,
    log:
        f"{RESULTS}/logs/figure_infected_fraction/{{model}}/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/figure_infected_fraction/{{model}}/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/figure_infected_fraction.py"


rule figure_pseudotime:
    """DTW pseudo-time vs the true time since infection onset (simulated datasets)."""
    input:
        pseudotime=f"{RESULTS}/evaluation/pseudotime/{{model}}/{{dataset}}.parquet",
        accuracy=f"{RESULTS}/evaluation/dtw_accuracy/{{model}}/{{dataset}}.csv",
    output:
        png=report(
            f"{RESULTS}/figures/{{dataset}}/{{model}}/pseudotime.png",
            caption="../report/pseudotime.rst",
            category="4. DTW pseudo-time",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "pseudo-time accuracy"},
        ),
        svg=f"{RESULTS}/figures/{{dataset}}/{{model}}/pseudotime.svg",
    wildcard_constraints:
        model=EMBEDDED_MODELS,
        dataset=SIMULATED_DATASETS,
    log:
        f"{RESULTS}/logs/figure_pseudotime/{{model}}/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/figure_pseudotime/{{model}}/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/figure_pseudotime.py"


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
    log:
        f"{RESULTS}/logs/results_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/results_table.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/results_table.py"
