# Quality control: per dataset, what every per-FOV job of the image stages left out (dropped frames,
# missing voxels, FOVs without tracks or patches), in one table registered in the HTML report.


rule qc_table:
    """Per FOV and stage: frames, dropped frames, missing voxels, status and reason."""
    input:
        # every per-FOV record of the dataset, by stage (dynaclr.qc.QcTableInputs); empty when off
        phase_records=lambda w: phase_ready(w.dataset),
        virtual_stain_records=lambda w: vs_ready(w.dataset) if CONFIG.datasets[w.dataset].virtual_stain else [],
        track_records=lambda w: track_records(w.dataset),
        patch_records=lambda w: [
            path
            for spec in CONFIG.datasets[w.dataset].patches
            for path in per_fov(f"{RESULTS}/{{dataset}}/records/patches/{spec.name}/{{row}}/{{col}}/{{fov}}.json", w.dataset)
        ],
    output:
        table=report(
            f"{RESULTS}/{{dataset}}/qc.csv",
            caption="../report/qc.rst",
            category="0. Quality control",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "table": "QC"},
        ),
        record=f"{RESULTS}/{{dataset}}/qc.json",
    log:
        f"{RESULTS}/logs/qc_table/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/qc_table/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/qc_table.py"
