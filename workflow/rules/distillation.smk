# Cross-modal distillation (paper Fig. 4), opt-in with analysis.distillation.enabled: the teacher's
# (phase + sensor) infection classifier, refitted on the training FOVs' annotations, pseudo-labels
# every training cell; a phase-only student is fine-tuned on them, its kept step chosen on validation
# FOVs (training FOVs set aside); teacher, student and a phase-only linear probe are scored against
# ground truth on held-out FOVs.


rule distill:
    """Teacher, phase-only student and phase-only probe: held-out infection F1 with bootstrap CIs."""
    input:
        unpack(distillation_inputs),
    output:
        metrics=f"{RESULTS}/evaluation/distillation/{{model}}/{{dataset}}.parquet",
        predictions=f"{RESULTS}/evaluation/distillation_predictions/{{model}}/{{dataset}}.parquet",
        figure_png=report(
            f"{RESULTS}/figures/{{dataset}}/{{model}}/distillation.png",
            caption="../report/distillation.rst",
            category="3. Infection classifier",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "cross-modal distillation"},
        ),
        figure_svg=f"{RESULTS}/figures/{{dataset}}/{{model}}/distillation.svg",
    params:
        config=analysis_config("distillation"),
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
