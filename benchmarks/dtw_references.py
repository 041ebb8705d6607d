"""DTW onset error with one or several automatic references (``pseudotime.n_references``).

Runs the ``align_pseudotime`` stage on existing embeddings (e.g. the demo's) with ``n_references``
1, 3 and 5 and scores every run on the same lineages: those that are no reference in any run (a
reference series aligns to itself with error 0, so more references would otherwise remove easy or
hard series from the score). Prints, per (model, dataset, n), the median and mean absolute onset
error with a percentile-bootstrap 95 % CI of the mean, and each reference's error when everything
is aligned to it alone.

    .venv/bin/python benchmarks/dtw_references.py --results results \\
        --pairs time_aware_ntxent:demo classical_ntxent:demo time_aware_ntxent:demo_15min
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from dynaclr.config.analysis import PseudotimeConfig
from dynaclr.io import ArtifactKind, read_table
from dynaclr.pseudotime.stage import AlignPseudotimeInputs, AlignPseudotimeOutputs, pseudotime_stage


def run(
    results: Path, model: str, dataset: str, n: int, workdir: Path, **config: int
) -> tuple[pd.DataFrame, list, float]:
    out = workdir / f"{model}_{dataset}_{n}"
    started = time.perf_counter()
    _, accuracy = pseudotime_stage(
        PseudotimeConfig(n_references=n, **config),
        AlignPseudotimeInputs(
            embeddings=results / "embeddings" / model / f"{dataset}.zarr",
            tracks=results / dataset / "ground_truth" / "tracks.parquet",
        ),
        AlignPseudotimeOutputs(pseudotime=out / "pseudotime.parquet", accuracy=out / "accuracy.csv"),
        model=model,
        dataset=dataset,
    )
    seconds = time.perf_counter() - started
    _, provenance = read_table(out / "pseudotime.parquet", ArtifactKind.PSEUDOTIME)
    return accuracy, provenance.config["references"], seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--pairs", nargs="+", default=["time_aware_ntxent:demo", "classical_ntxent:demo"])
    parser.add_argument("--n-references", nargs="+", type=int, default=[1, 3, 5])
    parser.add_argument(
        "--before", type=int, default=3, help="reference frames before the onset (the demo's)"
    )
    parser.add_argument("--after", type=int, default=8, help="reference frames from the onset (the demo's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(
        "| model | dataset | references | lineages scored | median abs. onset error | mean (95 % CI) "
        "| each reference alone (median) | seconds |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as scratch:
        for pair in args.pairs:
            model, dataset = pair.split(":")
            runs = {
                n: run(
                    args.results,
                    model,
                    dataset,
                    n,
                    Path(scratch),
                    reference_frames_before_onset=args.before,
                    reference_frames_after_onset=args.after,
                )
                for n in args.n_references
            }
            references = set()
            for accuracy, _, _ in runs.values():
                references |= set(
                    map(
                        tuple,
                        accuracy.loc[accuracy["is_reference_series"], ["fov_name", "query_id"]].to_numpy(),
                    )
                )
            for n, (accuracy, per_reference, seconds) in runs.items():
                keys = list(zip(accuracy["fov_name"], accuracy["query_id"], strict=True))
                common = np.array([key not in references for key in keys])
                errors = accuracy.loc[common, "abs_onset_error_frames"].dropna().to_numpy(dtype=float)
                interval = stats.bootstrap(
                    (errors,), np.mean, n_resamples=2000, method="percentile", rng=np.random.default_rng(0)
                ).confidence_interval
                alone = ", ".join(f"{r['median_abs_onset_error_alone']:.1f}" for r in per_reference)
                print(
                    f"| {model} | {dataset} | {n} | {len(errors)} | {np.median(errors):.1f} | "
                    f"{errors.mean():.2f} ({interval.low:.2f}–{interval.high:.2f}) | {alone} | "
                    f"{seconds:.1f} |"
                )


if __name__ == "__main__":
    main()
