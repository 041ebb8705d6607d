"""The ALFI-like miniature (``config/alfi_like.yaml``) run whole from TrackMate XML files (outside CI).

The simulator's ground truth is saved as one TrackMate file per FOV, as TrackMate saves one
(``tests/unit/test_import_tracks.py``: :func:`trackmate_of_tracks`, :func:`write_trackmate`): divisions
as split edges, every third track's second detection left out (its edge skips the frame, as gap closing
links), spot IDs and TRACK_IDs unrelated to the true track ids. The workflow then runs with ``tracks:
{format: trackmate}`` on the simulated dataset (tracks scored against the ground truth) and, with
``--plate``, on its plate as a plate of one's own (no ground truth: division labels and DTW onsets from
the imported lineage). Prints the run's wall time, the import's record, the tracking scores, the
temporal metrics' pair counts (``paper`` pairs across gaps, ``track_pairs`` does not) and the DTW
onsets' source.

Usage (one run takes about 6-7 minutes on 2 shared cores)::

    python benchmarks/trackmate_chain.py --workdir /tmp/trackmate_chain [--plate]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "unit")]

from integration.test_alfi_like import ALFI_CONFIG, alfi_config  # noqa: E402
from integration.workflow_helpers import snakemake, write_config  # noqa: E402
from test_import_tracks import trackmate_of_tracks, write_trackmate  # noqa: E402

from dynaclr.config.simulate import SimulateConfig  # noqa: E402
from dynaclr.io import read_table  # noqa: E402
from dynaclr.simulate import SimulateOutputs, simulate_plate  # noqa: E402


def write_trackmate_files(root: Path) -> tuple[str, dict]:
    """The miniature's ground truth as TrackMate files in ``root/tm``; returns their pattern and the simulate
    config."""
    simulate = yaml.safe_load(ALFI_CONFIG.read_text())["datasets"]["alfi"]["simulate"]
    truth = simulate_plate(
        SimulateConfig.model_validate(simulate),
        SimulateOutputs(
            plate=root / "expert" / "raw.zarr",
            tracks=root / "expert" / "tracks.parquet",
            labels=root / "expert" / "labels.zarr",
            phase=root / "expert" / "phase.zarr",
        ),
    )
    (root / "tm").mkdir(parents=True, exist_ok=True)
    for fov, rows in truth.groupby("fov_name"):
        spots, edges = trackmate_of_tracks(rows, tuple(sorted(rows["track_id"].unique())[::3]))
        write_trackmate(
            root / "tm" / f"{fov.replace('/', '_')}.xml",
            spots,
            edges,
            tuple(edges),
            pixel_size=simulate["pixel_size_um"],
            time_interval=str(float(simulate["time_interval_minutes"])),
            shape_tyx=(simulate["n_frames"], *simulate["shape_zyx"][1:]),
        )
    return str(root / "tm" / "{row}_{col}_{fov}.xml"), simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--plate", action="store_true", help="the simulated plate as a plate of one's own")
    args = parser.parse_args()
    pattern, simulate = write_trackmate_files(args.workdir)
    config = alfi_config(pattern)
    dataset = config["datasets"]["alfi"]
    dataset["tracks"]["format"] = "trackmate"
    if args.plate:
        del dataset["simulate"]
        dataset["plate"] = str(args.workdir / "expert" / "raw.zarr")
        dataset["conditions"] = {f"{w['row']}/{w['column']}": w["condition"] for w in simulate["wells"]}
        dataset["annotations"] = {"division_from_lineage": True}
    run = args.workdir / "run"
    write_config(run, config)
    start = time.perf_counter()
    snakemake(run, "--cores", "2", timeout=3600)
    print(f"whole workflow: {time.perf_counter() - start:.0f} s")
    report(run / "results")


def report(results: Path) -> None:
    """What the run made of the TrackMate files (module docstring)."""
    _, record = read_table(results / "alfi" / "tracks.parquet", "tracks")
    print("tracks record:", record.config["format"], record.config["path"], record.config["trackmate_spots"])
    scores = results / "alfi" / "evaluation" / "tracking.csv"
    if scores.exists():
        print(pd.read_csv(scores).to_string(index=False))
    metrics = pd.read_csv(results / "evaluation" / "temporal_metrics.csv")
    print(metrics[["model", "definition", "smoothness", "n_tracks", "n_pairs"]].to_string(index=False))
    for path in sorted((results / "evaluation" / "dtw_accuracy").glob("*/alfi.csv")):
        table = pd.read_csv(path)
        print(path.parent.name, table["onset_source"].value_counts(dropna=False).to_dict())


if __name__ == "__main__":
    main()
