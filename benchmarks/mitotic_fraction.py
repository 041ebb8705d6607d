"""The division classifiers' mitotic fraction, counted and adjusted (ACC), against the truth.

Recomputes docs/reliability.md's "true → counted → adjusted" figures of the mitotic fraction from
a results folder (``make demo``'s ``results/``): for each dataset with ground truth
(``<dataset>/ground_truth/tracks.parquet``) and each model's division predictions of it
(``evaluation/predictions/<model>/<dataset>.parquet``, a dataset's own classifiers;
``evaluation/transfer_predictions/...``, classifiers transferred from another dataset), the curves
of :func:`dynaclr.figures.curves.infected_fraction_over_time` with ``task="division"`` averaged
over conditions and frames, each weighted by its cells: the true fraction by ``n_cells_true``
(every ground-truth cell-frame alike), the counted and adjusted ones by ``n_cells_predicted``
(every tracked cell-frame alike). Beside them ACC's error rates (out of fold, labelled cells), the
final classifier's on the tracked cells matched to ground truth, and the true mitoses labelled::

    PYTHONPATH=src .venv/bin/python benchmarks/mitotic_fraction.py --results results
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from dynaclr.classify import positive_label, read_predictions, truth_column
from dynaclr.embeddings import attach_ground_truth
from dynaclr.figures.curves import infected_fraction_over_time
from dynaclr.io import read_table

TASK = "division"


def weighted(curves: pd.DataFrame, column: str, weight: str) -> float:
    """Mean of ``column`` over conditions and frames, weighted by the cells ``weight`` counts."""
    return float((curves[column] * curves[weight]).sum() / curves[weight].sum())


def row(predictions_path: Path, truth: pd.DataFrame) -> dict[str, object]:
    """One model's mitotic fraction on one dataset (see the module docstring)."""
    cells = read_predictions(predictions_path)
    curves = infected_fraction_over_time(cells, truth, task=TASK)
    column, positive = truth_column(TASK), positive_label(TASK)
    division = attach_ground_truth(cells[cells["task"] == TASK], truth, [column])
    matched = division[division[column].notna()]  # tracked cells a ground-truth cell matches
    called, mitotic = matched["predicted_label"] == positive, matched[column] == 1
    labelled = division["annotated"].astype(bool) & (division["annotation_label"] == positive)
    return {
        "model": predictions_path.parent.name,
        "dataset": predictions_path.stem,
        "true": weighted(curves, "true_fraction", "n_cells_true"),
        "counted": weighted(curves, "predicted_fraction", "n_cells_predicted"),
        "adjusted": weighted(curves, "adjusted_fraction", "n_cells_predicted"),
        "tpr_oof": curves["true_positive_rate"].iloc[0],
        "fpr_oof": curves["false_positive_rate"].iloc[0],
        "tpr_all": called[mitotic].mean(),
        "fpr_all": called[~mitotic].mean(),
        "matched": len(matched) / len(division),
        "mitoses_labelled": f"{int(labelled.sum())} of {int(truth[column].sum())}",
        "note": curves["adjustment_note"].iloc[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"), help="the workflow's results folder")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    rows: list[dict[str, object]] = []
    for truth_path in sorted(args.results.glob("*/ground_truth/tracks.parquet")):
        dataset, truth = truth_path.parent.parent.name, read_table(truth_path, "ground_truth_tracks")[0]
        for path in sorted((args.results / "evaluation").glob(f"*predictions/*/{dataset}.parquet")):
            rows.append(row(path, truth))
    if not rows:
        raise SystemExit(f"{args.results}: no division predictions of a dataset with ground truth found")
    print(pd.DataFrame(rows).to_string(index=False, float_format="{:.3f}".format))


if __name__ == "__main__":
    main()
