"""The paper's sliding-window DTW against this project's subsequence DTW on the same embeddings.

For every embeddings store of a results folder whose dataset has ground truth, rule
``align_pseudotime`` is run twice in this process, once per ``method``, with the workflow's own
pseudo-time config otherwise (``--event`` infection or division, and the config file's keys), and
the script prints, side by side, the seconds each took and the onset error (mean |aligned − true|
frames over the lineages whose event is observed). The synthetic comparison of the two methods (speed
and window agreement) is ``benchmarks/dtw_subsequence_vs_sliding.py``.

Usage (after ``make demo``; after the ALFI-like benchmark for division)::

    python benchmarks/dtw_methods_on_embeddings.py --results results --config config/config.yaml
    python benchmarks/dtw_methods_on_embeddings.py --results /tmp/alfi_bench/epochs8_seed0/results \
        --config config/alfi_like.yaml
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from dynaclr.config import load_config
from dynaclr.pseudotime.stage import AlignPseudotimeInputs, AlignPseudotimeOutputs, pseudotime_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--results", type=Path, required=True, help="a workflow results folder")
    parser.add_argument("--config", type=Path, required=True, help="the workflow config that made it")
    args = parser.parse_args()
    base = load_config(args.config).analysis.pseudotime
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for store in sorted(args.results.glob("embeddings/*/*.zarr")):
            model, dataset = store.parent.name, store.stem
            truth = args.results / dataset / "ground_truth" / "tracks.parquet"
            if not truth.exists():
                continue
            for method in ("subsequence", "sliding"):
                config = base.model_copy(update={"method": method})
                out = Path(scratch) / f"{model}_{dataset}_{method}"
                start = time.perf_counter()
                _, accuracy = pseudotime_stage(
                    config,
                    AlignPseudotimeInputs(embeddings=store, tracks=truth),
                    AlignPseudotimeOutputs(pseudotime=out / "p.parquet", accuracy=out / "a.csv"),
                    model=model,
                    dataset=dataset,
                )
                seconds = time.perf_counter() - start
                observed = accuracy[accuracy["has_observed_onset"].astype(bool)]
                rows.append(
                    {
                        "model": model,
                        "dataset": dataset,
                        "event": config.event,
                        "method": method,
                        "seconds": round(seconds, 2),
                        "lineages": len(accuracy),
                        "observed": len(observed),
                        "onset_mae_frames": round(float(observed["abs_onset_error_frames"].mean()), 2),
                        "within_1_frame": round(float((observed["abs_onset_error_frames"] <= 1).mean()), 3),
                    }
                )
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
