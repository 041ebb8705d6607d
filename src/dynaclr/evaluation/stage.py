"""Temporal smoothness and dynamic range of every (model, dataset) pair (rule ``temporal_metrics``).

Writes ``results/evaluation/temporal_metrics.csv``: for every (model, dataset), one row per
``definition`` of the metrics, on the ``features`` matrix (AnnData ``X``, the backbone's pooled
features, which every downstream analysis reads) unless another representation is asked for:

* ``paper``: as the paper's tables compute them (:mod:`dynaclr.evaluation.paper`: features z-scored
  per dimension, random pairs over all cells, the reference implementation's seed); no CIs;
* ``track_pairs``: this project's stricter variant (:mod:`dynaclr.evaluation.temporal`: raw
  features, random pairs within a track) with track-bootstrap CIs.

Columns: ``model, dataset, representation, definition, smoothness, smoothness_ci_low,
smoothness_ci_high, dynamic_range, dynamic_range_ci_low, dynamic_range_ci_high, mean_adjacent,
mean_random, n_tracks, n_tracks_gap_only, n_pairs, n_random_pairs, n_bootstrap, confidence, n_cells,
not_computed`` (distances in cosine-distance units, ``[0, 2]``; CIs NaN where a definition has none,
and where the track bootstrap gives none: fewer than two tracks hold adjacent frames,
:data:`~dynaclr.numerics.bootstrap.MIN_BOOTSTRAP_CLUSTERS`; its paired comparisons' CIs too).
``n_tracks_gap_only`` counts the tracks of the movie seen only across frame gaps (two frames or more,
never ``t`` and ``t + 1``: :func:`~dynaclr.evaluation.temporal.count_gap_only_tracks`), the same on
every row of a (model, dataset): ``track_pairs`` leaves them out of its ``n_tracks`` (and of its
random pairs and bootstrap), ``paper`` counts them in its ``n_tracks``, pairing their frames across
the gap.
``not_computed`` is empty where measured. A movie whose tracks never hold two adjacent frames
(tracks of one detection: a tracker that linked nothing, imported tracks without links) is known
only once its tracks exist, after training and embedding: its rows are written with every metric
NaN, ``n_tracks`` and ``n_pairs`` 0 and ``not_computed`` saying why with the counts
(:func:`~dynaclr.evaluation.temporal.no_adjacent_pairs_reason`), and a WARNING names the dataset,
its store and what to check, so that the rest of the report is produced and says so.

It also writes ``results/evaluation/temporal_comparison.csv``: every two
models embedded on the same cells of a dataset, the smoother one first (``model_a``), with the
difference of their smoothness and its *paired* track-bootstrap CI (both models' replicates
resample the same tracks and random pairs). Columns: ``dataset, representation, model_a,
model_b, smoothness_a, smoothness_b, difference, difference_ci_low, difference_ci_high,
share_a_smoother, n_tracks, n_bootstrap, confidence``. A CI below 0 means ``model_a`` is
measurably smoother on these cells.

Neither definition holds a store's matrix: both read it a block of rows at a time
(:func:`dynaclr.embeddings.open_representation`), one pass for ``track_pairs`` and three for
``paper``; what a job holds beyond two blocks grows with the cells (index columns, pairs,
distances, per-track summaries), not with cells x features. The paper's random pairs over all
cells spill the rows they join to a temporary file (``$TMPDIR``; 8 bytes a value of those rows).
Two models' cells are compared by a fingerprint of ``fov_name, track_id, t``
(:func:`cells_fingerprint`), not kept.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from dynaclr.config.analysis import TemporalMetricsConfig
from dynaclr.embeddings import MatrixBlocks, embeddings_identity, open_representation, read_cells
from dynaclr.evaluation.paper import paper_temporal_metrics
from dynaclr.evaluation.temporal import (
    INDEX_COLUMNS,
    count_gap_only_tracks,
    counted_reason,
    no_adjacent_pairs_reason,
    no_random_pairs_reason,
    paired_smoothness_difference,
    temporal_metrics_with_replicates,
    warn_unlinked,
)
from dynaclr.io import StageFiles, write_csv

logger = logging.getLogger(__name__)

#: Names of the metric definitions, in table order (module docstring).
DEFINITIONS: tuple[str, ...] = ("paper", "track_pairs")

TEMPORAL_METRICS_COLUMNS: tuple[str, ...] = (
    "model",
    "dataset",
    "representation",
    "definition",
    "smoothness",
    "smoothness_ci_low",
    "smoothness_ci_high",
    "dynamic_range",
    "dynamic_range_ci_low",
    "dynamic_range_ci_high",
    "mean_adjacent",
    "mean_random",
    "n_tracks",
    "n_tracks_gap_only",
    "n_pairs",
    "n_random_pairs",
    "n_bootstrap",
    "confidence",
    "n_cells",
    "not_computed",
)

TEMPORAL_COMPARISON_COLUMNS: tuple[str, ...] = (
    "dataset",
    "representation",
    "model_a",
    "model_b",
    "smoothness_a",
    "smoothness_b",
    "difference",
    "difference_ci_low",
    "difference_ci_high",
    "share_a_smoother",
    "n_tracks",
    "n_bootstrap",
    "confidence",
)


class TemporalMetricsInputs(StageFiles):
    """Rule ``temporal_metrics``: every embeddings store of the workflow."""

    embeddings: tuple[Path, ...]


class TemporalMetricsOutputs(StageFiles):
    """Rule ``temporal_metrics``: the metrics table and the paired model comparison (module docstring)."""

    metrics: Path
    comparison: Path


def temporal_metrics_stage(
    config: TemporalMetricsConfig, inputs: TemporalMetricsInputs, outputs: TemporalMetricsOutputs
) -> pd.DataFrame:
    """Temporal metrics of every embeddings store, one CSV row per ``(model, dataset)``.

    Each store says which model embedded which dataset (its provenance). ``config`` gives the
    matrix (``representation``), the track-bootstrap replicates (``n_bootstrap``; 0: CIs are NaN),
    their coverage (``confidence``) and the seed of the random pairs and the bootstrap.

    Returns:
        The metrics table written, sorted by model then dataset.
    """
    if not inputs.embeddings:
        raise ValueError("temporal_metrics_stage needs at least one embeddings store")
    representation, n_bootstrap, confidence = config.representation, config.n_bootstrap, config.confidence
    stores = {embeddings_identity(path): path for path in inputs.embeddings}
    if len(stores) != len(inputs.embeddings):
        raise ValueError(
            f"two embeddings stores of the same (model, dataset) among {list(inputs.embeddings)}"
        )
    rows: list[dict[str, Any]] = []
    replicates: dict[str, list[tuple[str, str, Any]]] = {}
    for (model, dataset), path in tqdm(sorted(stores.items()), desc="temporal metrics", mininterval=2):
        matrix = open_representation(path, representation)  # read a block of rows at a time
        cells = read_cells(path, INDEX_COLUMNS)
        reason = no_adjacent_pairs_reason(cells)
        identity = {"model": model, "dataset": dataset, "representation": representation}
        gap_only = {"n_tracks_gap_only": count_gap_only_tracks(cells)}  # the same on every row
        if reason is not None:
            rows += _not_computed_rows(identity, cells, reason, path, DEFINITIONS, gap_only)
            continue
        rows.append(
            {
                **identity,
                "definition": "paper",
                **_paper_row(matrix, cells),
                "n_cells": matrix.n_rows,
                **gap_only,
                "not_computed": "",
            }
        )
        within_tracks = no_random_pairs_reason(cells)
        if within_tracks is not None:  # random pairs within a track are the adjacent pairs
            rows += _not_computed_rows(identity, cells, within_tracks, path, ("track_pairs",), gap_only)
            continue
        metrics, smooth_replicates = temporal_metrics_with_replicates(
            matrix, cells, n_bootstrap=n_bootstrap, seed=config.seed, confidence=confidence
        )
        replicates.setdefault(dataset, []).append((model, cells_fingerprint(cells), smooth_replicates))
        rows.append(
            {
                **identity,
                "definition": "track_pairs",
                **metrics,
                "n_cells": matrix.n_rows,
                **gap_only,
                "not_computed": "",
            }
        )
        del cells
        logger.info(
            "%s / %s: smoothness %.3f, dynamic range %.3f over %d tracks",
            model,
            dataset,
            metrics["smoothness"],
            metrics["dynamic_range"],
            metrics["n_tracks"],
        )
    table = pd.DataFrame(rows)[list(TEMPORAL_METRICS_COLUMNS)]
    n_tracks = {
        (row["model"], row["dataset"]): row["n_tracks"] for row in rows if row["definition"] == "track_pairs"
    }
    write_csv(
        _paired_comparisons(replicates, n_tracks, representation, n_bootstrap, confidence),
        outputs.comparison,
    )
    write_csv(table, outputs.metrics)
    return table


def _not_computed_rows(
    identity: dict[str, str],
    cells: pd.DataFrame,
    reason: str,
    path: Path,
    definitions: tuple[str, ...],
    gap_only: dict[str, int],
) -> list[dict[str, Any]]:
    """The rows of ``definitions`` of a store on which they measure nothing (every definition: no
    adjacent pair; ``track_pairs``: no random pair within a track other than the adjacent one): every
    value NaN, ``n_pairs`` 0, the store's ``n_cells`` and ``gap_only`` (``n_tracks_gap_only``) and
    ``not_computed`` saying why with the counts it rests on; a WARNING names the dataset, its store
    and what to check."""
    not_computed = counted_reason(reason, cells)
    if definitions == DEFINITIONS:
        warn_unlinked(
            logger,
            "temporal metrics",
            "smoothness and dynamic range compare a cell's adjacent frames",
            not_computed,
            model=identity["model"],
            dataset=identity["dataset"],
            store=path,
        )
    else:
        logger.warning(
            "temporal metrics (%s) of dataset %r (model %r, embeddings %s) not computed: %s; its random "
            "pairs are drawn within a track, so it would be 1 for any embedding; the paper's definition "
            "(random pairs over all cells) is measured",
            ", ".join(definitions),
            identity["dataset"],
            identity["model"],
            path,
            not_computed,
        )
    values: dict[str, Any] = {
        column: float("nan") for column in TEMPORAL_METRICS_COLUMNS if column not in identity
    }
    values |= {"n_tracks": 0, "n_pairs": 0, "n_random_pairs": 0, "n_bootstrap": 0, "n_cells": len(cells)}
    values |= gap_only
    values["not_computed"] = not_computed
    return [{**identity, **values, "definition": definition} for definition in definitions]


def cells_fingerprint(cells: pd.DataFrame) -> str:
    """SHA-256 of the cells' ``fov_name, track_id, t`` (values, order and dtypes): two embeddings of
    one dataset are paired only when they embed the same cells in the same rows."""
    index = cells[list(INDEX_COLUMNS)].reset_index(drop=True)
    digest = hashlib.sha256(repr([(str(name), str(dtype)) for name, dtype in index.dtypes.items()]).encode())
    digest.update(str(len(index)).encode())
    digest.update(pd.util.hash_pandas_object(index, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _paper_row(matrix: MatrixBlocks, cells: pd.DataFrame) -> dict[str, Any]:
    """The paper definition's values in the columns of the table (no CIs)."""
    paper = paper_temporal_metrics(matrix, cells)
    nan = float("nan")
    return {
        "smoothness": paper["smoothness"],
        "smoothness_ci_low": nan,
        "smoothness_ci_high": nan,
        "dynamic_range": paper["dynamic_range"],
        "dynamic_range_ci_low": nan,
        "dynamic_range_ci_high": nan,
        "mean_adjacent": paper["mean_adjacent"],
        "mean_random": paper["mean_random"],
        "n_tracks": paper["n_tracks"],
        "n_pairs": paper["n_pairs"],
        "n_random_pairs": paper["n_pairs"],
        "n_bootstrap": 0,
        "confidence": nan,
    }


def _paired_comparisons(
    replicates: Mapping[str, list[tuple[str, str, Any]]],
    n_tracks: Mapping[tuple[str, str], int],
    representation: str,
    n_bootstrap: int,
    confidence: float,
) -> pd.DataFrame:
    """Every two models of a dataset embedded on the same cells, the smoother one first."""
    rows: list[dict[str, Any]] = []
    for dataset, entries in sorted(replicates.items()):
        for i, (model_i, cells_i, reps_i) in enumerate(entries):
            for model_j, cells_j, reps_j in entries[i + 1 :]:
                if cells_i != cells_j:
                    logger.warning(
                        "%s: %s and %s embed different cells (rows or order differ); "
                        "no paired comparison for them",
                        dataset,
                        model_i,
                        model_j,
                    )
                    continue
                (model_a, reps_a), (model_b, reps_b) = sorted(
                    [(model_i, reps_i), (model_j, reps_j)], key=lambda item: (item[1][0], item[0])
                )
                rows.append(
                    {
                        "dataset": dataset,
                        "representation": representation,
                        "model_a": model_a,
                        "model_b": model_b,
                        "smoothness_a": float(reps_a[0]),
                        "smoothness_b": float(reps_b[0]),
                        **paired_smoothness_difference(reps_a, reps_b, confidence),
                        "n_tracks": n_tracks[(model_a, dataset)],
                        "n_bootstrap": n_bootstrap,
                        "confidence": confidence,
                    }
                )
                logger.info(
                    "%s: %s smoother than %s by %.3f [%.3f, %.3f]",
                    dataset,
                    model_a,
                    model_b,
                    -rows[-1]["difference"],
                    -rows[-1]["difference_ci_high"],
                    -rows[-1]["difference_ci_low"],
                )
    return pd.DataFrame(rows, columns=list(TEMPORAL_COMPARISON_COLUMNS))
