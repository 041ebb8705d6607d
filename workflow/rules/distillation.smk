# Cross-modal distillation (paper Fig. 4), opt-in with analysis.distillation.enabled: the teacher's
# (phase + sensor) infection classifier, refitted on the training FOVs' annotations, pseudo-labels
# every training cell; a phase-only student is fine-tuned on them, its kept step chosen on validation
# FOVs (training FOVs set aside); teacher, student and a phase-only linear probe are scored against
# ground truth on held-out FOVs; rule distillation_intervals adds the track-bootstrap CIs from the
# held-out predictions, so editing n_bootstrap or confidence retrains no student.


rule distill:
    """Teacher, phase-only student and phase-only probe: held-out infection point metrics and
    per-cell predictions (the CIs are rule distillation_intervals')."""
    input:
        unpack(distillation_inputs),
    output:
        scores=f"{RESULTS}/evaluation/distillation_scores/{{model}}/{{dataset}}.parquet",
        predictions=f"{RESULTS}/evaluation/distillation_predictions/{{model}}/{{dataset}}.parquet",
    params:
        # without n_bootstrap and confidence: the CIs are rule distillation_intervals'
        config=CONFIG.analysis.distillation.fit_params(),
        # how the teacher's and the student's encoders were trained (their held-out FOVs)
        encoders=lambda w: {role: e.model_dump(mode="json") for role, e in CONFIG.distillation_encoders().items()},
    wildcard_constraints:
        model=EMBEDDED_MODELS,
        dataset=SIMULATED_DATASETS,
    log:
        f"{RESULTS}/logs/distill/{{model}}/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/distill/{{model}}/{{dataset}}.tsv"
    threads: 2
    resources:
        mem_mb=distill_mem_mb,
        runtime=60,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/distill.py"


rule distillation_intervals:
    """Track-bootstrap CIs of a distill job's scores, from its held-out predictions, and the figure:
    editing analysis.distillation's n_bootstrap or confidence reruns this rule, never the student."""
    input:
        scores=f"{RESULTS}/evaluation/distillation_scores/{{model}}/{{dataset}}.parquet",
        predictions=f"{RESULTS}/evaluation/distillation_predictions/{{model}}/{{dataset}}.parquet",
    output:
        metrics=f"{RESULTS}/evaluation/distillation/{{model}}/{{dataset}}.parquet",
        figure_png=report(
            f"{RESULTS}/figures/{{dataset}}/{{model}}/distillation.png",
            caption="../report/distillation.rst",
            category="3. Infection classifier",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "cross-modal distillation"},
        ),
        figure_svg=f"{RESULTS}/figures/{{dataset}}/{{model}}/distillation.svg",
    params:
        config=CONFIG.analysis.distillation.interval_params(),
        # the whole subtree, for the figure's caption only: a function of input, so Snakemake does
        # not compare it (editing a key of distill's reruns distill, hence this rule, anyway)
        described=lambda w, input: CONFIG.analysis.distillation.job_params(),
    wildcard_constraints:
        model=EMBEDDED_MODELS,
        dataset=SIMULATED_DATASETS,
    log:
        f"{RESULTS}/logs/distillation_intervals/{{model}}/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/distillation_intervals/{{model}}/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=classification_intervals_mem_mb,
        runtime=distillation_intervals_runtime(CONFIG.analysis.distillation),
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/distillation_intervals.py"
