# Virtual staining of nuclei from phase: train once per dataset (or use a checkpoint), predict per FOV.


rule train_virtual_stain:
    """Train the 2.5D UNet on the configured FOVs: phase in, the nuclear channel out."""
    input:
        phase_plate=lambda w: phase_plate(w.dataset),
        phase_records=lambda w: phase_ready(w.dataset),
        # a plate of your own as ancient() and the training FOVs' metadata files: the FOVs it reads
        plate=lambda w: raw_plate_input(w.dataset),
        fov_metadata=lambda w: training_fov_metadata(w.dataset),
    output:
        checkpoint=f"{RESULTS}/{{dataset}}/virtual_stain/model.ckpt",
    params:
        # without the prediction settings (VirtualStainConfig.KEYS_NOT_IN_TRAINING): editing them
        # predicts again, it does not train again
        # training's RUN_KEYS (data_loader_workers, cache_megabytes) held at their defaults: editing
        # them trains nothing again (the weights are bitwise the same)
        # and the sampling `acquisition` supplies for a raw phase plate stating none (phase off), which
        # the checkpoint's training_input records
        config=lambda w: with_raw_phase_supplied(
            CONFIG.datasets[w.dataset].virtual_stain.training_params(), w.dataset
        ),
        # their values: a params function of `threads`, which the params trigger does not compare
        # (as run_settings)
        run=lambda w, threads: CONFIG.datasets[w.dataset].virtual_stain.training_run_params(),
        log_dir=lambda w: f"{RESULTS}/{w.dataset}/virtual_stain/logs",
    log:
        f"{RESULTS}/logs/train_virtual_stain/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_virtual_stain/{{dataset}}.tsv"
    priority: UPSTREAM_PRIORITY
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/train_virtual_stain.py"


rule virtual_stain_plate:
    """Empty prediction plate (nuclei_prediction, the phase plate's positions)."""
    input:
        # the raw plate (phase off) of your own as ancient(): phase_plate
        phase_plate=lambda w: phase_plate(w.dataset),
        fov_metadata=lambda w: phase_fov_metadata(w.dataset, None),
    output:
        virtual_stain_plate=store_file(f"{RESULTS}/{{dataset}}/virtual_stain.zarr"),
    params:
        # the config, and the sampling `acquisition` supplies for a raw plate stating none (the
        # prediction plate's scale when phase is off and the raw plate holds the phase channel)
        config=lambda w: with_supplied(stage_config(w.dataset, "virtual_stain"), w.dataset),
    log:
        f"{RESULTS}/logs/virtual_stain_plate/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/virtual_stain_plate/{{dataset}}.tsv"
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/virtual_stain_plate.py"


rule predict_virtual_stain:
    """Tiled prediction of every slice of every time point of one FOV."""
    input:
        # the raw plate (phase off) of your own as ancient() and this FOV's metadata file
        phase_plate=lambda w: phase_plate(w.dataset),
        phase_record=phase_record,
        checkpoint=lambda w: vs_checkpoint(w.dataset),
        virtual_stain_plate=store_file(f"{RESULTS}/{{dataset}}/virtual_stain.zarr"),
        fov_metadata=lambda w: phase_fov_metadata(w.dataset, fov_name(w)),
    output:
        record=f"{RESULTS}/{{dataset}}/records/virtual_stain/{{row}}/{{col}}/{{fov}}.json",
    params:
        # and the sampling `acquisition` supplies for a raw phase plate stating none (phase off), which
        # a virtual_stain.checkpoint's training_input is compared with (and then the root attributes
        # of a plate of your own that comparison reads: prediction_config)
        config=lambda w: prediction_config(w.dataset),
        run=run_settings(lambda w: CONFIG.datasets[w.dataset].virtual_stain),  # tiles, slices per batch
        fov_name=FOV_NAME,
    log:
        f"{RESULTS}/logs/predict_virtual_stain/{{dataset}}/{{row}}_{{col}}_{{fov}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/predict_virtual_stain/{{dataset}}/{{row}}_{{col}}_{{fov}}.tsv"
    priority: UPSTREAM_PRIORITY
    threads: 1
    resources:
        disk_mb=PER_FOV_DISK_MB,
        mem_mb=8000,
        runtime=60,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/predict_virtual_stain.py"


rule evaluate_virtual_stain:
    """Pearson r of prediction vs the measured nuclear channel, held-out FOVs marked."""
    input:
        virtual_stain_plate=store_file(f"{RESULTS}/{{dataset}}/virtual_stain.zarr"),
        records=lambda w: vs_ready(w.dataset),
        # a plate of your own as ancient(): a FOV written again reruns its prediction, whose record is
        # an input here
        plate=lambda w: raw_plate_input(w.dataset),
    output:
        table=f"{RESULTS}/{{dataset}}/evaluation/virtual_stain.csv",
        record=f"{RESULTS}/{{dataset}}/evaluation/virtual_stain.json",
    params:
        config=lambda w: stage_config(w.dataset, "virtual_stain"),
    log:
        f"{RESULTS}/logs/evaluate_virtual_stain/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_virtual_stain/{{dataset}}.tsv"
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/evaluate_virtual_stain.py"
