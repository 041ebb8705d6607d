"""Benchmark: peak memory of each per-FOV job against the number of FOVs in the plate.

Simulates plates that differ only in their number of FOVs (``--fovs``; the wells, frames and FOV
shape of a workflow dataset, by default ``demo`` of ``config/config.yaml``, with ``--frames``
frames). The simulator seeds every FOV by its index in the plate, so FOV ``A/1/0`` holds the same
images in every plate. Each plate gets its dataset-level artifacts (the shared phase transfer
function, the empty phase, prediction and label plates, a randomly initialised virtual-staining
checkpoint), then every per-FOV job runs for ``--fov`` of each plate, each job in a fresh Python
process, through the library functions the workflow shims in ``workflow/scripts`` call:

* ``reconstruct_phase``: :func:`dynaclr.phase.reconstruct_fov` with the shared transfer function;
* ``predict_virtual_stain``: :func:`dynaclr.virtual_stain.predict_fov` on the reconstructed phase
  (random weights: the cost of inference is that of a trained network);
* ``track_fov``: :func:`dynaclr.tracking.track_fov` on the raw ``Nuclei`` channel (the workflow
  tracks the prediction; a random network's prediction has no nuclei to track);
* ``extract_patches``: :func:`dynaclr.patches.extract_fov_patches` of the dataset's first patch
  spec, from the raw and reconstructed phase plates, around the simulator's ground-truth tracks
  of the whole plate (the workflow gives it the collected tracks of the whole plate).

A job's peak memory is the ``ru_maxrss`` of the resource usage ``os.wait4`` returns for its
process (the process and any it waited for), read by a small launcher process that starts the
job: a job started straight from this script would count this script's memory at the fork. An
``imports`` job per stage (job set-up, the import of the stage's function, its arguments; no
data) shows what the interpreter and libraries take; libraries a function imports only when
called (ultrack in tracking) are not in it. The first plate is run again at the end (``run 2``): the spread
between its two runs is the noise to judge any difference between plates by. The script prints a
table of stage, FOVs in the plate, peak MiB, the ratio to the first plate's first run and the
job's wall time (imports included).

Usage::

    python benchmarks/per_fov_peak_memory.py --workdir /tmp/per_fov_memory --fovs 2 8 --frames 8
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: Per-FOV stages in the order they run (later ones read what earlier ones wrote): the module and
#: function the workflow's shim calls.
STAGES = {
    "reconstruct_phase": ("dynaclr.phase", "reconstruct_fov"),
    "predict_virtual_stain": ("dynaclr.virtual_stain", "predict_fov"),
    "track_fov": ("dynaclr.tracking", "track_fov"),
    "extract_patches": ("dynaclr.patches", "extract_fov_patches"),
}
TRACKING_CHANNEL = "Nuclei"


# --- the job (a fresh process) ------------------------------------------------------------------


def job_arguments(stage: str, setup: dict[str, Any], fov_name: str) -> dict[str, Any]:
    """The keyword arguments of ``stage``'s function for ``fov_name``, as its workflow shim passes them."""
    from dynaclr.io.plate import fov_record_path

    paths = {key: Path(value) for key, value in setup["paths"].items()}
    record = fov_record_path(paths["stages"] / "records" / stage, fov_name)
    if stage == "reconstruct_phase":
        from dynaclr.config.phase import PhaseConfig
        from dynaclr.phase import ReconstructPhaseInputs, ReconstructPhaseOutputs

        return {
            "config": PhaseConfig.model_validate(setup["phase"]),
            "inputs": ReconstructPhaseInputs(
                plate=paths["plate"],
                transfer_function=paths["transfer_function"],
                phase_plate=paths["phase_plate"],
            ),
            "outputs": ReconstructPhaseOutputs(record=record),
            "fov_name": fov_name,
        }
    if stage == "predict_virtual_stain":
        from dynaclr.config.virtual_stain import VirtualStainConfig
        from dynaclr.virtual_stain import PredictVirtualStainInputs, PredictVirtualStainOutputs

        return {
            "config": VirtualStainConfig.model_validate(setup["virtual_stain"]),
            "inputs": PredictVirtualStainInputs(
                phase_plate=paths["phase_plate"],
                checkpoint=paths["checkpoint"],
                virtual_stain_plate=paths["virtual_stain_plate"],
            ),
            "outputs": PredictVirtualStainOutputs(record=record),
            "fov_name": fov_name,
        }
    if stage == "track_fov":
        from dynaclr.config.tracking import TrackingConfig
        from dynaclr.tracking import TrackFovInputs, TrackFovOutputs

        return {
            "config": TrackingConfig.model_validate(setup["tracking"]),
            "inputs": TrackFovInputs(plate=paths["plate"], tracks_plate=paths["tracks_plate"]),
            "outputs": TrackFovOutputs(
                tracks_csv=record.with_suffix(".csv"),  # the workflow keeps it under tracks/; any path works
                record=record,
            ),
            "fov_name": fov_name,
            "scratch_dir": paths["stages"] / "scratch" / fov_name,
        }
    if stage == "extract_patches":
        from dynaclr.config.patches import PatchSpec
        from dynaclr.patches import ExtractPatchesInputs, ExtractPatchesOutputs

        stem = paths["stages"] / "patches" / fov_name
        return {
            "spec": PatchSpec.model_validate(setup["patch_spec"]),
            "inputs": ExtractPatchesInputs(
                plate_raw=paths["plate"], plate_phase=paths["phase_plate"], tracks=paths["tracks"]
            ),
            "outputs": ExtractPatchesOutputs(
                zarr=stem.with_suffix(".zarr"), parquet=stem.with_suffix(".parquet"), record=record
            ),
            "fov_name": fov_name,
        }
    raise ValueError(f"unknown stage {stage!r}; expected one of {list(STAGES)}")


def run_job(job: str, setup: dict[str, Any], fov_name: str) -> None:
    """Run one per-FOV job as the workflow's shim does (``job_context``, then the stage function).

    ``<stage>:imports`` stops before the call: the stage's imports and arguments only.
    """
    from dynaclr.jobs import job_context

    stage = job.removesuffix(":imports")
    with job_context(None, setup["threads"]):
        module, name = STAGES[stage]
        function = getattr(importlib.import_module(module), name)
        arguments = job_arguments(stage, setup, fov_name)
        if job == stage:
            function(**arguments)


#: A lean launcher (``python -S -c``): runs the job with its output in a log file, waits for it and
#: prints its exit code and ``ru_maxrss``. A process started straight from this (large) process
#: would count this process's resident memory at the fork/exec in its ``ru_maxrss``.
LAUNCHER = """
import os, sys
log, argv = sys.argv[1], sys.argv[2:]
output = (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[output, (os.POSIX_SPAWN_DUP2, 1, 2)])
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def spawn_job(stage: str, setup_path: Path, fov_name: str, log_path: Path) -> tuple[float, float]:
    """Run :func:`run_job` in a fresh process; its peak resident set size (MiB) and wall time (s)."""
    job = [sys.executable, str(Path(__file__).resolve()), "--job", stage, "--setup", str(setup_path)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    launched = subprocess.run(
        [sys.executable, "-S", "-c", LAUNCHER, str(log_path), *job, "--fov", fov_name],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    exit_code, max_rss_kib = (int(value) for value in launched.stdout.split())
    if exit_code != 0:
        raise RuntimeError(f"{stage} job for {fov_name} failed; its output is in {log_path}")
    return max_rss_kib / 1024, seconds


# --- the plates (this process) -----------------------------------------------------------------


def prepare_plate(root: Path, dataset: Any, n_fovs: int, n_frames: int, threads: int) -> Path:
    """Simulate a plate of ``n_fovs`` FOVs (kept between runs), make its dataset-level artifacts
    afresh and write the jobs' settings; returns the settings file."""
    import torch
    from tracking_per_fov import simulate_demo

    from dynaclr.config.virtual_stain import VirtualStainConfig
    from dynaclr.io import make_provenance
    from dynaclr.phase import (
        PhasePlateInputs,
        PhasePlateOutputs,
        PhaseTransferFunctionInputs,
        PhaseTransferFunctionOutputs,
        compute_transfer_function,
        create_phase_plate,
    )
    from dynaclr.tracking import TracksPlateInputs, TracksPlateOutputs, create_tracks_plate
    from dynaclr.virtual_stain import (
        VirtualStainPlateInputs,
        VirtualStainPlateOutputs,
        build_network,
        create_virtual_stain_plate,
        save_checkpoint,
    )

    n_wells = len(dataset.simulate.wells)
    if n_fovs % n_wells:
        raise SystemExit(f"--fovs {n_fovs}: not a multiple of the dataset's {n_wells} wells")
    simulate = dataset.simulate.model_copy(update={"fovs_per_well": n_fovs // n_wells, "n_frames": n_frames})
    paths = simulate_demo(root, simulate)
    stages = root / "stages"
    shutil.rmtree(stages, ignore_errors=True)
    paths.update(
        stages=stages,
        transfer_function=stages / "phase_transfer_function.zarr",
        phase_plate=stages / "phase.zarr",
        checkpoint=stages / "virtual_stain_model.pt",
        virtual_stain_plate=stages / "virtual_stain.zarr",
        tracks_plate=stages / "tracks.zarr",
    )
    compute_transfer_function(
        dataset.phase,
        PhaseTransferFunctionInputs(plate=paths["plate"]),
        PhaseTransferFunctionOutputs(transfer_function=paths["transfer_function"]),
    )
    create_phase_plate(
        dataset.phase,
        PhasePlateInputs(plate=paths["plate"]),
        PhasePlateOutputs(phase_plate=paths["phase_plate"]),
    )

    settings = dataset.virtual_stain.model_dump(mode="json")
    settings.update(train=None, checkpoint=str(paths["checkpoint"]))
    virtual_stain = VirtualStainConfig.model_validate(settings)
    torch.manual_seed(0)
    save_checkpoint(
        build_network(virtual_stain),
        make_provenance("virtual_stain_model", settings),
        paths["checkpoint"],
    )
    create_virtual_stain_plate(
        virtual_stain,
        VirtualStainPlateInputs(phase_plate=paths["phase_plate"]),
        VirtualStainPlateOutputs(virtual_stain_plate=paths["virtual_stain_plate"]),
    )
    create_tracks_plate(
        dataset.tracking,
        TracksPlateInputs(plate=paths["plate"]),
        TracksPlateOutputs(tracks_plate=paths["tracks_plate"]),
        channel=TRACKING_CHANNEL,
    )

    setup = {
        "paths": {key: str(value) for key, value in paths.items()},
        "threads": threads,
        "phase": dataset.phase.model_dump(mode="json"),
        "virtual_stain": settings,
        "tracking": dataset.tracking.model_dump(mode="json"),
        "patch_spec": dataset.patches[0].model_dump(mode="json"),
    }
    setup_path = stages / "setup.json"
    setup_path.write_text(json.dumps(setup, indent=1))
    return setup_path


def plate_megabytes(plate_path: Path) -> float:
    """Uncompressed size of every FOV's array ``0`` of an HCS plate (MB)."""
    from iohub.ngff import open_ome_zarr

    with open_ome_zarr(plate_path, layout="hcs", mode="r") as plate:
        return sum(position["0"].nbytes for _, position in plate.positions()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dynaclr_per_fov_memory"))
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"), help="workflow config")
    parser.add_argument("--dataset", default="demo", help="a simulated dataset of --config")
    parser.add_argument("--fovs", type=int, nargs="+", default=[2, 8], help="FOVs per plate, one plate each")
    parser.add_argument("--frames", type=int, default=8, help="frames of every simulated plate")
    parser.add_argument("--fov", default="A/1/0", help="the FOV whose jobs are measured")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per job")
    parser.add_argument("--stages", nargs="+", choices=list(STAGES), default=list(STAGES))
    parser.add_argument("--no-repeat", action="store_true", help="do not run the first plate again")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--setup", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        run_job(args.job, json.loads(args.setup.read_text()), args.fov)
        return

    from dynaclr.config.workflow import load_config

    logging.getLogger("iohub").setLevel(logging.ERROR)  # harmless first-position warnings

    dataset = load_config(args.config).datasets[args.dataset]
    if dataset.simulate is None or dataset.virtual_stain is None or not dataset.patches:
        raise SystemExit(f"dataset {args.dataset!r} must be simulated, with virtual_stain and patches")
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # tracking_per_fov, beside this file
    setups: dict[int, Path] = {}
    for n_fovs in args.fovs:
        started = time.perf_counter()
        setups[n_fovs] = prepare_plate(
            args.workdir / f"fovs{n_fovs}_frames{args.frames}", dataset, n_fovs, args.frames, args.threads
        )
        raw = Path(json.loads(setups[n_fovs].read_text())["paths"]["plate"])
        print(
            f"plate of {n_fovs} FOVs x {args.frames} frames x {dataset.simulate.shape_zyx} (ZYX): raw "
            f"{plate_megabytes(raw):.0f} MB uncompressed; ready in {time.perf_counter() - started:.0f} s",
            flush=True,
        )

    runs = [(n_fovs, 1) for n_fovs in args.fovs] + ([] if args.no_repeat else [(args.fovs[0], 2)])
    rows: list[dict[str, Any]] = []
    imports: dict[str, float] = {}
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"{'stage':<22} {'FOVs in plate':>13} {'run':>4} {'peak MiB':>9} {'ratio':>6} {'wall s':>7}")
    for stage in args.stages:
        first = setups[args.fovs[0]]
        log = first.parent / "logs" / f"{stage}_imports.log"
        imports[stage], seconds = spawn_job(f"{stage}:imports", first, args.fov, log)
        print(f"{stage:<22} {'imports':>13} {'':>4} {imports[stage]:9.0f} {'':>6} {seconds:7.1f}", flush=True)
        reference = None
        for n_fovs, run in runs:
            setup = setups[n_fovs]
            peak_mb, seconds = spawn_job(stage, setup, args.fov, setup.parent / "logs" / f"{stage}_{run}.log")
            reference = reference or peak_mb
            rows.append({"stage": stage, "fovs": n_fovs, "run": run, "peak_mb": peak_mb})
            print(
                f"{stage:<22} {n_fovs:>13} {run:>4} {peak_mb:9.0f} {peak_mb / reference:6.2f} {seconds:7.1f}",
                flush=True,
            )

    print()
    largest, smallest = max(args.fovs), min(args.fovs)
    for stage in args.stages:
        peaks = {(row["fovs"], row["run"]): row["peak_mb"] for row in rows if row["stage"] == stage}
        noise = abs(peaks.get((args.fovs[0], 2), peaks[(args.fovs[0], 1)]) - peaks[(args.fovs[0], 1)])
        growth = peaks[(largest, 1)] - peaks[(smallest, 1)]
        above_imports = peaks[(smallest, 1)] - imports[stage]
        verdict = "grows" if growth > max(2 * noise, 0.05 * peaks[(smallest, 1)]) else "does not grow"
        print(
            f"{stage}: {largest} vs {smallest} FOVs {growth:+.0f} MiB "
            f"(repeat spread {noise:.0f} MiB; above its imports job: {above_imports:.0f} MiB at "
            f"{smallest} FOVs): {verdict}"
        )


if __name__ == "__main__":
    main()
