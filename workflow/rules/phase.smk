# Phase reconstruction (waveorder): one transfer function per dataset, one job per FOV.


rule phase_transfer_function:
    """Transfer function of the dataset's optics and stack shape, computed once, reused per FOV."""
    input:
        # a plate of your own as ancient(): adding a position or touching its root reruns nothing
        plate=lambda w: raw_plate_input(w.dataset),
    output:
        transfer_function=store_file(f"{RESULTS}/{{dataset}}/phase_transfer_function.zarr"),
    params:
        config=lambda w: stage_config(w.dataset, "phase"),
    log:
        f"{RESULTS}/logs/phase_transfer_function/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/phase_transfer_function/{{dataset}}.tsv"
    priority: UPSTREAM_PRIORITY
    threads: 2
    resources:
        mem_mb=8000,
        runtime=20,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/phase_transfer_function.py"


rule phase_plate:
    """Empty output plate (Phase3D, the raw plate's positions) that the per-FOV jobs fill."""
    input:
        # a plate of your own as ancient(), with every position's metadata file (ancient): a position
        # added or removed reruns this job, one written again reruns that FOV's jobs only
        plate=lambda w: raw_plate_input(w.dataset),
        fov_metadata=lambda w: plate_fov_metadata(w.dataset),
    output:
        phase_plate=store_file(f"{RESULTS}/{{dataset}}/phase.zarr"),
    params:
        # the phase config, and the time interval `acquisition` supplies for a plate stating none
        config=lambda w: with_supplied(stage_config(w.dataset, "phase"), w.dataset),
    log:
        f"{RESULTS}/logs/phase_plate/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/phase_plate/{{dataset}}.tsv"
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/phase_plate.py"


rule reconstruct_phase:
    """Phase of every time point of one FOV, written into its position of phase.zarr."""
    input:
        # a plate of your own as ancient() and this FOV's metadata file (raw_plate_input, fov_metadata)
        plate=lambda w: raw_plate_input(w.dataset),
        transfer_function=store_file(f"{RESULTS}/{{dataset}}/phase_transfer_function.zarr"),
        phase_plate=store_file(f"{RESULTS}/{{dataset}}/phase.zarr"),
        fov_metadata=lambda w: fov_metadata(w.dataset, fov_name(w)),
    output:
        record=f"{RESULTS}/{{dataset}}/records/phase/{{row}}/{{col}}/{{fov}}.json",
    params:
        config=lambda w: stage_config(w.dataset, "phase"),
        fov_name=FOV_NAME,
    log:
        f"{RESULTS}/logs/reconstruct_phase/{{dataset}}/{{row}}_{{col}}_{{fov}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/reconstruct_phase/{{dataset}}/{{row}}_{{col}}_{{fov}}.tsv"
    priority: UPSTREAM_PRIORITY
    threads: 1
    resources:
        disk_mb=PER_FOV_DISK_MB,
        mem_mb=8000,
        runtime=30,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/reconstruct_phase.py"


rule evaluate_phase:
    """Pearson r of reconstructed vs simulated phase inside the cells' z-range (simulated data)."""
    input:
        phase_plate=store_file(f"{RESULTS}/{{dataset}}/phase.zarr"),
        records=lambda w: phase_ready(w.dataset),
        transfer_function=store_file(f"{RESULTS}/{{dataset}}/phase_transfer_function.zarr"),
        truth=store_file(f"{RESULTS}/{{dataset}}/ground_truth/phase.zarr"),
        tracks=f"{RESULTS}/{{dataset}}/ground_truth/tracks.parquet",
    output:
        table=f"{RESULTS}/{{dataset}}/evaluation/phase.csv",
        record=f"{RESULTS}/{{dataset}}/evaluation/phase.json",
    log:
        f"{RESULTS}/logs/evaluate_phase/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_phase/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/evaluate_phase.py"
