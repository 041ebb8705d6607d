"""The interpretation rules: one call per job.

* :func:`cell_features_stage` (rule ``cell_features``, per dataset and patch spec): the engineered
  features of every patch (:mod:`dynaclr.interpretation.features`), once for all models;
* :func:`interpret_embeddings_stage` (rule ``interpret_embeddings``, per (model, dataset)): the
  Spearman table of the first principal components against those features, its heatmap, and a
  gallery of cells along the first components and per predicted state.

The embeddings store is never read whole: the cells' keys come from :func:`~dynaclr.embeddings.read_cells`
and the principal components from the exact PCA over blocks of rows
(:func:`store_principal_components`); the Spearman table and the galleries need only the ``(N, K)``
component scores, the cell-features table and the patch store (:func:`interpret_scores`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from dynaclr.classify import read_predictions
from dynaclr.config.analysis import InterpretationConfig
from dynaclr.config.base import with_run_params
from dynaclr.embeddings import (
    kept_components,
    open_representation,
    read_cells,
    streamed_principal_components,
    viewed_crop,
)
from dynaclr.interpretation.components import (
    CORRELATION_COLUMNS,
    N_COMPONENTS_KEY,
    component_feature_correlation,
    quantile_bin_draw,
)
from dynaclr.interpretation.features import KEY_COLUMNS, cell_features
from dynaclr.interpretation.plots import GalleryGroup, plot_correlation_heatmap, plot_gallery
from dynaclr.io import (
    ArtifactError,
    ArtifactKind,
    Provenance,
    StageFiles,
    make_provenance,
    read_table,
    write_csv,
    write_table,
)
from dynaclr.io.figures import save_figure
from dynaclr.numerics.crop import center_crop
from dynaclr.patches.store import PatchStore, open_patch_store

logger = logging.getLogger(__name__)

#: Provenance-config key of a cell-features table: the ``[h, w]`` centre crop of the stored patches
#: its features were measured on (the patch store's ``patch_size_yx_px``, the network input).
MEASURED_CROP_KEY = "measured_crop_yx_px"

#: The classification task whose predicted labels group the state gallery, in order of preference.
STATE_TASKS: tuple[str, ...] = ("infection", "division")


class CellFeaturesInputs(StageFiles):
    """Rule ``cell_features``: one collected patch store."""

    patches_zarr: Path
    patches_parquet: Path


class CellFeaturesOutputs(StageFiles):
    """Rule ``cell_features``: the feature table."""

    features: Path


class InterpretInputs(StageFiles):
    """Rule ``interpret_embeddings``: one embeddings store, the cell features and patches of its
    patch store, and the per-cell predictions where the (model, dataset) has some."""

    embeddings: Path
    features: Path
    patches_zarr: Path
    patches_parquet: Path
    predictions: Path | None = None


class InterpretOutputs(StageFiles):
    """Rule ``interpret_embeddings``: the correlation table, heatmap and gallery (PNG and SVG)."""

    correlation: Path
    heatmap_png: Path
    heatmap_svg: Path
    gallery_png: Path
    gallery_svg: Path


def cell_features_stage(
    config: InterpretationConfig, inputs: CellFeaturesInputs, outputs: CellFeaturesOutputs
) -> pd.DataFrame:
    """Write the cell-features table (kind ``cell_features``) of one patch store, measured on the
    central ``patch_size_yx_px`` square of each stored patch (the network input; recorded as
    ``measured_crop_yx_px`` in the table's provenance config)."""
    store = open_patch_store(inputs.patches_zarr, inputs.patches_parquet)
    crop = (store.patch_size_yx_px, store.patch_size_yx_px)
    table = cell_features(store.array, store.index, store.channel_names, config, crop_yx=crop)
    provenance = make_provenance(
        ArtifactKind.CELL_FEATURES,
        {
            **with_run_params(config.rule_params("cell_features"), config.run_params()),
            MEASURED_CROP_KEY: list(crop),
        },
        [(inputs.patches_zarr, store.provenance), (inputs.patches_parquet, store.index_provenance)],
    )
    write_table(table, outputs.features, provenance)
    logger.info("Wrote %s: %d cells x %d features", outputs.features, len(table), table.shape[1] - 3)
    return table


def measured_crop(provenance: Provenance, source: Path) -> tuple[int, int]:
    """The ``(h, w)`` centre crop a cell-features table was measured on (its provenance config's
    :data:`MEASURED_CROP_KEY`).

    Raises:
        ArtifactError: none is recorded: the table was measured on the whole stored window, margin
            included (before the features were measured on the network input).
    """
    recorded = provenance.config.get(MEASURED_CROP_KEY)
    if not (isinstance(recorded, list | tuple) and len(recorded) == 2):
        raise ArtifactError(
            f"{source}: expected '{MEASURED_CROP_KEY}' (the centre crop the features were measured on) in "
            f"its provenance config, found {recorded!r}: it was measured on the whole stored window, whose "
            "margin no model sees; rerun `snakemake --forcerun cell_features`"
        )
    return int(recorded[0]), int(recorded[1])


def _aligned_features(cells: pd.DataFrame, features: pd.DataFrame, source: Path) -> pd.DataFrame:
    """The feature rows of ``cells`` (same order), matched on ``fov_name, track_id, t``."""
    keys = list(KEY_COLUMNS)
    merged = cells.loc[:, keys].merge(features, on=keys, how="left", validate="one_to_one", indicator=True)
    missing = int((merged.pop("_merge") != "both").sum())
    if missing:
        raise ArtifactError(
            f"{source}: {missing} of {len(cells)} cells of the embeddings have no features; rerun "
            "`snakemake --forcerun cell_features`"
        )
    return merged.drop(columns=keys)


def _patch_image(store: PatchStore, row: int, channel: int, crop: tuple[int, int]) -> np.ndarray:
    """The central Z slice of one channel of patch ``row``, centre-cropped to ``crop`` (the model's
    view, :func:`~dynaclr.embeddings.viewed_crop`)."""
    patch = np.asarray(store.array[row, channel])
    return np.asarray(center_crop(patch[patch.shape[0] // 2], crop))


def _state_groups(
    cells: pd.DataFrame, predictions: pd.DataFrame, config: InterpretationConfig, rng: np.random.Generator
) -> tuple[str, dict[str, np.ndarray]]:
    """``(task, {label: drawn cell rows})`` of the first task of :data:`STATE_TASKS` predicted."""
    for task in STATE_TASKS:
        rows = predictions.loc[predictions["task"] == task, [*KEY_COLUMNS, "predicted_label"]]
        if rows.empty:
            continue
        labelled = cells.reset_index().merge(rows, on=list(KEY_COLUMNS), how="inner")
        n_drawn = config.gallery_bins * config.gallery_cells_per_bin
        drawn = {
            str(label): rng.choice(group["index"].to_numpy(), size=min(n_drawn, len(group)), replace=False)
            for label, group in labelled.groupby("predicted_label", sort=True)
        }
        return task, drawn
    return "", {}


def store_principal_components(
    path: Path, representation: str, n_components: int, block_rows: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``(N, K)`` of the first ``K = min(n_components, N, D)`` principal components of the
    ``representation`` matrix of the embeddings store ``path``, and their explained variance ratio
    ``(K,)`` (fewer than ``n_components`` logged at WARNING; the table's ``pc`` rows are the ``K`` used),
    the matrix read a block of rows at a time (``block_rows``; default
    :class:`~dynaclr.embeddings.MatrixBlocks`'s).

    The exact PCA of the centred (not standardised) matrix over blocks
    (:func:`~dynaclr.embeddings.streamed_principal_components`, scikit-learn's signs): what
    :func:`~dynaclr.interpretation.principal_components` gives of the matrix in memory, to
    rounding, wherever scikit-learn's ``svd_solver='auto'`` picks an exact solver (``N >= 10 D``
    with ``D <= 1000``, ``max(N, D) <= 500``, or ``n_components >= 0.8 min(N, D)``). Otherwise (a
    short, wide store: ``N < 10 D`` and ``max(N, D) > 500``; or ``D > 1000``) scikit-learn picks
    its randomized solver; the exact components are then those it approximates (within 1e-5 of each
    component's range where the eigenvalues are well separated). Memory: ``D x D`` float64, the
    scores and a few blocks.
    """
    blocks = open_representation(path, representation, block_rows)
    n_kept = kept_components(n_components, blocks.shape, N_COMPONENTS_KEY)
    return streamed_principal_components(blocks, n_kept, standardize=False)


def interpret_embeddings_stage(
    config: InterpretationConfig,
    inputs: InterpretInputs,
    outputs: InterpretOutputs,
    *,
    model: str,
    dataset: str,
    block_rows: int | None = None,
) -> pd.DataFrame:
    """Spearman correlation of the first ``config.n_components`` principal components of one
    embeddings store with the cell features; heatmap; gallery along the first
    ``config.gallery_components`` components (``gallery_bins`` equal-count bins of the scores,
    ``gallery_cells_per_bin`` cells each) and, with ``inputs.predictions``, per predicted state.

    The store is never read whole: its cells' keys (:func:`~dynaclr.embeddings.read_cells`) and
    the exact PCA of ``config.representation`` over blocks of ``block_rows`` rows
    (:func:`store_principal_components`). Memory: the cells' keys, features and patch index, the
    ``(N, K)`` scores, ``D x D`` and a few blocks.

    Returns:
        The correlation table (:data:`CORRELATION_COLUMNS`), also written to ``outputs.correlation``.
    """
    cells = read_cells(inputs.embeddings, KEY_COLUMNS)
    features_table, features_provenance = read_table(inputs.features, ArtifactKind.CELL_FEATURES, KEY_COLUMNS)
    crop = measured_crop(features_provenance, inputs.features)
    features = _aligned_features(cells, features_table, inputs.features)
    del features_table
    scores, explained = store_principal_components(
        inputs.embeddings, config.representation, config.n_components, block_rows
    )
    return interpret_scores(
        config,
        inputs,
        outputs,
        cells,
        features,
        scores,
        explained,
        model=model,
        dataset=dataset,
        measured_crop_yx=crop,
    )


def track_numbers(cells: pd.DataFrame) -> np.ndarray:
    """``(N,)`` the number of each cell's track, its ``(fov_name, track_id)`` (the bootstrap's
    cluster), numbered in the sorted order of the tracks: the same cells in another row order get
    the same numbers, so the same resamples and intervals."""
    return cells.groupby(["fov_name", "track_id"], sort=True).ngroup().to_numpy()


def interpret_scores(
    config: InterpretationConfig,
    inputs: InterpretInputs,
    outputs: InterpretOutputs,
    cells: pd.DataFrame,
    features: pd.DataFrame,
    scores: np.ndarray,
    explained: np.ndarray,
    *,
    model: str,
    dataset: str,
    measured_crop_yx: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """The outputs of :func:`interpret_embeddings_stage` from the component scores: the Spearman
    table, its heatmap and the gallery (the seed ``config.seed`` draws the gallery's cells).

    Args:
        cells: the embeddings' cells (``fov_name, track_id, t``), index ``0..N-1``.
        features: the cell features of ``cells``, row-aligned.
        measured_crop_yx: the centre crop the features were measured on (:func:`measured_crop`), which
            the heatmap's caption states; None: not stated.
        scores, explained: ``(N, K)`` component scores and their ``(K,)`` explained variance ratio.
        config, inputs, outputs, model, dataset: as :func:`interpret_embeddings_stage`.
    """
    store = open_patch_store(inputs.patches_zarr, inputs.patches_parquet)
    channel = config.gallery_channel
    if channel >= len(store.channel_names):  # the config check refuses it for the workflow's stores
        raise ValueError(
            f"analysis.interpretation.gallery_channel: expected the index of a channel of "
            f"{inputs.patches_zarr}, 0..{len(store.channel_names) - 1} of {store.channel_names}, found "
            f"{channel}; choose one of them"
        )
    label = f"{model}, {dataset}"
    correlation = component_feature_correlation(
        scores,
        explained,
        features,
        track_numbers(cells),
        n_bootstrap=config.n_bootstrap,
        confidence=config.confidence,
    )
    correlation.insert(0, "dataset", dataset)
    correlation.insert(0, "model", model)
    correlation = correlation.loc[:, list(CORRELATION_COLUMNS)]
    write_csv(correlation, outputs.correlation)
    figure, caption = plot_correlation_heatmap(correlation, label=label)
    if measured_crop_yx is not None:
        caption += (
            f" Features measured on the central {measured_crop_yx[0]} x {measured_crop_yx[1]} px of each "
            "patch (the network input)."
        )
    save_figure(figure, outputs.heatmap_png, outputs.heatmap_svg)
    logger.info("Wrote %s: %s", outputs.heatmap_png, caption)

    rows = cells.loc[:, list(KEY_COLUMNS)].merge(
        store.index.loc[:, [*KEY_COLUMNS, "row"]], on=list(KEY_COLUMNS), how="left", validate="one_to_one"
    )["row"]
    if rows.isna().any():
        raise ArtifactError(
            f"{inputs.embeddings}: {int(rows.isna().sum())} cells are not in {inputs.patches_parquet}; rerun "
            "`snakemake --forcerun embed`"
        )
    view = viewed_crop(inputs.embeddings, store)
    crop = view.size_yx_px
    rng = np.random.default_rng(config.seed)
    groups: list[GalleryGroup] = []
    for k in range(min(config.gallery_components, scores.shape[1])):
        drawn = quantile_bin_draw(scores[:, k], config.gallery_bins, config.gallery_cells_per_bin, rng)
        columns = [[_patch_image(store, int(rows[i]), channel, crop) for i in members] for members in drawn]
        groups.append((f"PC{k + 1} ({100 * explained[k]:.0f}%)", columns))
    task, states = "", dict[str, np.ndarray]()
    if inputs.predictions is not None:
        task, states = _state_groups(cells, read_predictions(inputs.predictions), config, rng)
    per_column = config.gallery_cells_per_bin
    for state, members in states.items():
        images = [_patch_image(store, int(rows[i]), channel, crop) for i in members]
        columns = [images[c * per_column : (c + 1) * per_column] for c in range(config.gallery_bins)]
        groups.append((f"{state} (predicted)", columns))
    column_labels = [
        f"bin {b + 1}" + (" (low)" if b == 0 else " (high)" if b == config.gallery_bins - 1 else "")
        for b in range(config.gallery_bins)
    ]
    state_text = (
        f" Below, cells drawn at random among those the {task} classifier calls "
        + ", ".join(f"'{s}'" for s in states)
        + " (columns do not order them)."
        if states
        else " No classifier predictions exist for this (model, dataset), so no per-state rows are drawn."
    )
    gallery_caption = (
        f"{label}: cells along the first {len(groups) - len(states)} principal components of the embeddings: "
        f"each component's scores split into {config.gallery_bins} equal-count bins, lowest left, "
        f"{config.gallery_cells_per_bin} cells drawn per bin (seed {config.seed}); central Z slice of "
        f"channel '{store.channel_names[channel]}', {view.described}, "
        "each patch scaled to its own 2nd-98th percentile."
        f"{state_text}"
    )
    figure, gallery_caption = plot_gallery(
        groups, column_labels, f"{label}: cells along the components", gallery_caption
    )
    save_figure(figure, outputs.gallery_png, outputs.gallery_svg)
    logger.info("Wrote %s: %s", outputs.gallery_png, gallery_caption)
    return correlation
