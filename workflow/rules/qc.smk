# Quality control: per dataset, what every per-FOV job of the image stages left out (dropped frames,
# missing voxels, FOVs without tracks or patches), in one table registered in the HTML report.


rule qc_table:
    """Per FOV and stage: frames, dropped frames, missing voxels, status and reason; and the warnings
    the dataset's TIFF conversion and imports recorded (import_warnings.csv)."""
    input:
        # the conversion and import records (raw plate, tracks, annotations) the dataset has, if any:
        # CTC frames, conversion and import warnings
        unpack(qc_import_records),
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
        import_warnings=report(
            f"{RESULTS}/{{dataset}}/import_warnings.csv",
            caption="../report/import_warnings.rst",
            category="0. Quality control",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "table": "import warnings"},
        ),
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


rule image_qc_figure:
    """One FOV through the image stages at a few frames: raw channels, phase, virtual stain, and
    the tracked labels with each track's tail (datasets.<name>.qc_figures picks the FOVs)."""
    input:
        unpack(image_qc_figure_inputs),
    output:
        png=report(
            f"{RESULTS}/{{dataset}}/figures/qc/{{row}}_{{col}}_{{fov}}.png",
            caption="../report/image_qc.rst",
            category="0. Quality control",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "FOV": "{row}/{col}/{fov}", "table": "image stages"},
        ),
        svg=f"{RESULTS}/{{dataset}}/figures/qc/{{row}}_{{col}}_{{fov}}.svg",
    params:
        config=lambda w: stage_config(w.dataset, "qc_figures"),
        fov_name=FOV_NAME,
        time_interval_minutes=lambda w: plate_sampling(w.dataset).time_interval_minutes,
        tracking_channel=lambda w: CONFIG.datasets[w.dataset].tracking_input.channel,
    log:
        f"{RESULTS}/logs/image_qc_figure/{{dataset}}/{{row}}_{{col}}_{{fov}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/image_qc_figure/{{dataset}}/{{row}}_{{col}}_{{fov}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/image_qc_figure.py"
