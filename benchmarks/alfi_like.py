"""The ALFI-like miniature (``config/alfi_like.yaml``) at several training budgets and seeds.

The paper's Table 4 setting in miniature: a 2D DIC movie at 7 min with expert tracks and sparse
mitosis labels. For each ``(epochs, seed)`` the whole workflow runs in its own directory (the
simulator's ground truth written first as the expert tracks CSV, as in
``tests/integration/test_alfi_like.py``) and the script prints, per model, smoothness and dynamic
range (the paper's definitions), the division classifier's F1 with its CI, the DTW mitosis onset
error and the run's wall time, side by side.

Usage (one run takes about 1-2 minutes on 2 cores)::

    python benchmarks/alfi_like.py --workdir /tmp/alfi --epochs 4 --seeds 0 1
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

from dynaclr.config.simulate import SimulateConfig
from dynaclr.simulate import SimulateOutputs, simulate_plate

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "alfi_like.yaml"
COLUMNS = [
    "model",
    "smoothness",
    "dynamic_range",
    "f1_division",
    "f1_division_ci_low",
    "f1_division_ci_high",
    "dtw_onset_mae_frames",
    "dtw_n_lineages",
]


def expert_tracks(config: dict, workdir: Path) -> Path:
    """The simulated plate's ground-truth tracks, written as a user's CSV."""
    scratch = workdir / "expert"
    csv = workdir / "expert_tracks.csv"
    if not csv.exists():
        truth = simulate_plate(
            SimulateConfig.model_validate(config["datasets"]["alfi"]["simulate"]),
            SimulateOutputs(
                plate=scratch / "raw.zarr",
                tracks=scratch / "tracks.parquet",
                labels=scratch / "labels.zarr",
                phase=scratch / "phase.zarr",
            ),
        )
        truth[["fov_name", "track_id", "t", "y", "x", "parent_track_id"]].to_csv(csv, index=False)
    return csv


def run(config: dict, workdir: Path) -> float:
    """The whole workflow on ``config`` in ``workdir``; returns its wall time (s)."""
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--cores", "2", "-q"],
        cwd=workdir,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--epochs", type=int, nargs="+", default=[4])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    base = yaml.safe_load(CONFIG.read_text())
    args.workdir.mkdir(parents=True, exist_ok=True)
    tracks = expert_tracks(base, args.workdir)
    rows = []
    for epochs in args.epochs:
        for seed in args.seeds:
            config = yaml.safe_load(CONFIG.read_text())
            config["datasets"]["alfi"]["tracks"]["path"] = str(tracks)
            for entry in config["contrastive_models"].values():
                entry["training"].update(epochs=epochs, seed=seed)
            workdir = args.workdir / f"epochs{epochs}_seed{seed}"
            seconds = run(config, workdir)
            table = pd.read_csv(workdir / "results" / "evaluation" / "results_table.csv")[COLUMNS]
            rows.append(table.assign(epochs=epochs, seed=seed, run_seconds=round(seconds)))
    print(pd.concat(rows, ignore_index=True).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
