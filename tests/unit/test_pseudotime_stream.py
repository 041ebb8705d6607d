"""Rule ``align_pseudotime`` reads its store by blocks: the alignment of the in-memory path, exactly
(to rounding of the PCA coordinates with ``pca_components``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dynaclr.config.analysis import PseudotimeConfig
from dynaclr.embeddings import (
    build_anndata,
    cell_table,
    open_representation,
    read_cells,
    read_embeddings,
    write_embeddings,
)
from dynaclr.io import ArtifactKind, make_provenance, read_table, write_csv, write_table
from dynaclr.pseudotime.stage import (
    ONSET_FROM_GROUND_TRUTH,
    STATE_FROM_GROUND_TRUTH,
    Alignment,
    AlignPseudotimeInputs,
    AlignPseudotimeOutputs,
    _truth_of_cells,
    align_embeddings,
    align_store,
    division_state,
    lineage_series,
    pseudotime_stage,
    query_batches,
    state_events,
)
from dynaclr.pseudotime.synthetic import planted_infection_embeddings

#: The planted plate's frame interval (its cells' ``time_minutes``).
MINUTES_PER_FRAME = 15.0
#: Rows per block of the streamed runs: every lineage series is longer, so each is gathered alone.
BLOCK_ROWS = 7
#: Columns compared to a tolerance with ``pca_components`` (the exact PCA over blocks and
#: scikit-learn's SVD agree to rounding); every other column is compared exactly.
COST_COLUMNS = ("normalized_cost", "cost", "skew")

REPRESENTATIONS = ("features", "projections", "standardized")
CONFIGS = {
    "default": {},
    "pca": {"pca_components": 4},
    "references_sliding": {"n_references": 2, "method": "sliding"},
    "division": {"event": "division", "reference_frames_before_onset": 2, "reference_frames_after_onset": 3},
}


def _dividing(features: np.ndarray, truth: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Every even track divides at frame 12: its frames from 12 on become a daughter (track + 100)
    and a copy of them, 20 px away, a second daughter (track + 200), so the mother's frames start
    two lineage series."""
    dividing = (truth["track_id"] % 2 == 0) & (truth["t"] >= 12)
    truth = truth.copy()
    truth.loc[dividing, "parent_track_id"] = truth.loc[dividing, "track_id"]
    truth.loc[dividing, "track_id"] += 100
    sister = truth[dividing].assign(
        track_id=truth.loc[dividing, "track_id"] + 100, x=truth.loc[dividing, "x"] + 20
    )
    noise = np.random.default_rng(1).normal(scale=0.05, size=(int(dividing.sum()), features.shape[1]))
    features = np.concatenate([features, features[dividing.to_numpy()] + noise.astype(np.float32)])
    return features, pd.concat([truth, sister], ignore_index=True)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A store of 600 cells (divisions included) with all three representations, and its ground truth."""
    features, truth = _dividing(
        *planted_infection_embeddings(n_fovs=4, tracks_per_fov=5, n_frames=24, dim=12, noise=0.08, seed=7)
    )
    rng = np.random.default_rng(7)
    raw_mean, raw_std = rng.uniform(-5, 5, size=12), rng.uniform(0.5, 3.0, size=12)
    identity = {"model": "planted", "dataset": "stream"}
    adata = build_anndata(
        features,
        truth.assign(time_minutes=truth["t"] * MINUTES_PER_FRAME),  # as a patch store gives it
        projections=np.tanh(features @ rng.normal(size=(12, 8))),
        raw=features * raw_std + raw_mean,
        raw_mean=raw_mean,
        raw_std=raw_std,
        info=identity,
    )
    folder = tmp_path_factory.mktemp("pseudotime_stream")
    store = folder / "planted.zarr"
    write_embeddings(adata, store, make_provenance(ArtifactKind.EMBEDDINGS, identity))
    tracks = folder / "tracks.parquet"
    write_table(truth, tracks, make_provenance(ArtifactKind.GROUND_TRUTH_TRACKS, {}))
    assert truth["parent_track_id"].ge(0).any()  # the lineage series follow divisions
    return {"store": store, "tracks": tracks, "truth": truth, "identity": identity}


@pytest.fixture
def small_blocks(monkeypatch) -> None:
    """The stage reads its store :data:`BLOCK_ROWS` rows at a time, and never whole."""

    def open_small(path, representation, block_rows=None):
        assert block_rows is None  # the stage asks for the default blocks
        return open_representation(path, representation, BLOCK_ROWS)

    monkeypatch.setattr("dynaclr.pseudotime.stage.open_representation", open_small)

    def read_whole(path):
        raise AssertionError(f"the streamed alignment read {path} whole")

    monkeypatch.setattr("dynaclr.pseudotime.stage.read_embeddings", read_whole, raising=False)


def _states(config: PseudotimeConfig, cells: pd.DataFrame, truth: pd.DataFrame):
    """The infection state and true onsets the stage derives from ground truth (infection event)."""
    if config.event == "division":
        return division_state(cells), None
    return _truth_of_cells(cells, truth, config)


def _assert_same_table(streamed: pd.DataFrame, in_memory: pd.DataFrame, exact: bool) -> None:
    if exact:
        pd.testing.assert_frame_equal(streamed, in_memory, check_exact=True)
        return
    columns = [c for c in in_memory.columns if c not in COST_COLUMNS]
    pd.testing.assert_frame_equal(streamed[columns], in_memory[columns], check_exact=True)
    for column in COST_COLUMNS:
        if column in in_memory.columns:
            np.testing.assert_allclose(streamed[column], in_memory[column], rtol=1e-9, atol=1e-12)


def _assert_same_alignment(streamed: Alignment, in_memory: Alignment, exact: bool) -> None:
    _assert_same_table(streamed.pseudotime, in_memory.pseudotime, exact)
    _assert_same_table(streamed.accuracy, in_memory.accuracy, exact)
    pd.testing.assert_frame_equal(streamed.per_reference, in_memory.per_reference, check_exact=True)
    assert [r.series.key for r in streamed.references] == [r.series.key for r in in_memory.references]
    assert streamed.n_too_short == in_memory.n_too_short


@pytest.mark.parametrize("representation", REPRESENTATIONS)
@pytest.mark.parametrize("variant", list(CONFIGS))
@pytest.mark.parametrize("block_rows", [BLOCK_ROWS, 100])
def test_align_store_is_align_embeddings(planted, representation, variant, block_rows):
    config = PseudotimeConfig(representation=representation, min_query_frames=6, **CONFIGS[variant])
    adata = read_embeddings(planted["store"])
    cells = read_cells(planted["store"])
    pd.testing.assert_frame_equal(cells, cell_table(adata))
    state, onset = _states(config, cells, planted["truth"])
    in_memory = align_embeddings(adata, config, state, onset, show_progress=False)
    streamed = align_store(
        planted["store"], cells, config, state, onset, show_progress=False, block_rows=block_rows
    )
    assert len(in_memory.references) == config.n_references
    assert len(in_memory.pseudotime) > len(cells)  # mothers' frames repeat in each daughter's series
    _assert_same_alignment(streamed, in_memory, exact=config.pca_components is None)


def test_query_batches_keep_the_order_and_bound_the_rows(planted):
    series = lineage_series(read_cells(planted["store"]), min_frames=6)
    for max_rows in (1, BLOCK_ROWS, 30, 100, 10_000):
        batches = query_batches(series, max_rows)
        assert [s.key for batch in batches for s in batch] == [s.key for s in series]
        assert all(len(batch) == 1 or sum(len(s.rows) for s in batch) <= max_rows for batch in batches)
    assert len(query_batches(series, BLOCK_ROWS)) == len(series)
    assert len(query_batches(series, 10_000)) == 1


@pytest.mark.parametrize(("representation", "variant"), [("features", "default"), ("standardized", "pca")])
def test_stage_streams_and_writes_what_memory_did(planted, tmp_path, small_blocks, representation, variant):
    config = PseudotimeConfig(representation=representation, **CONFIGS[variant])
    identity = planted["identity"]
    adata = read_embeddings(planted["store"])  # the in-memory path (this module's name is not patched)
    state, onset = _states(config, cell_table(adata), read_table(planted["tracks"], "ground_truth_tracks")[0])
    in_memory = align_embeddings(adata, config, state, onset, show_progress=False)
    for table in (in_memory.pseudotime, in_memory.accuracy):
        table.insert(0, "dataset", identity["dataset"])
        table.insert(0, "model", identity["model"])
    # the stage names where each scored lineage's true onset comes from (here the ground truth)
    scored = in_memory.accuracy["has_observed_onset"].astype(bool)
    in_memory.accuracy["onset_source"] = np.where(scored, ONSET_FROM_GROUND_TRUTH, "")
    in_memory.accuracy["state_source"] = STATE_FROM_GROUND_TRUTH  # what picked the reference
    # whether each lineage's own state (here the ground truth's) reaches the infection, and where
    events = state_events(
        lineage_series(cell_table(adata)),
        state,
        frames_before=config.reference_frames_before_onset,
        frames_after=config.reference_frames_after_onset,
    ).set_index(["fov_name", "query_id"])
    for table in (in_memory.pseudotime, in_memory.accuracy):
        table["state_reaches_event"] = (
            events["state_reaches_event"]
            .reindex(pd.MultiIndex.from_frame(table[["fov_name", "query_id"]]))
            .array
        )
    for column in ("state_event_position", "state_onset_t"):
        in_memory.accuracy[column] = (
            events[column]
            .reindex(pd.MultiIndex.from_frame(in_memory.accuracy[["fov_name", "query_id"]]))
            .to_numpy()
        )
    in_memory.accuracy["not_computed"] = ""  # every lineage aligned: no reason (DTW_ACCURACY_COLUMNS)
    # the plate's frame interval, and the times in hours
    in_memory.accuracy["time_interval_minutes"] = MINUTES_PER_FRAME
    for column in ("onset_error", "abs_onset_error"):
        in_memory.accuracy[f"{column}_hours"] = in_memory.accuracy[f"{column}_frames"] * (
            MINUTES_PER_FRAME / 60
        )
    in_memory.pseudotime["time_interval_minutes"] = MINUTES_PER_FRAME
    in_memory.pseudotime["pseudotime_hours"] = in_memory.pseudotime["pseudotime"] * (MINUTES_PER_FRAME / 60)
    assert in_memory.accuracy["state_reaches_event"].eq(False).any()  # never-infected lineages
    outputs = AlignPseudotimeOutputs(pseudotime=tmp_path / "pt.parquet", accuracy=tmp_path / "acc.csv")
    pseudotime_stage(
        config,
        AlignPseudotimeInputs(embeddings=planted["store"], tracks=planted["tracks"]),
        outputs,
        **identity,
    )
    written, provenance = read_table(outputs.pseudotime, "pseudotime")
    exact = config.pca_components is None
    _assert_same_table(written, in_memory.pseudotime, exact)
    expected_csv = tmp_path / "in_memory.csv"
    write_csv(in_memory.accuracy, expected_csv)
    if exact:
        assert Path(outputs.accuracy).read_bytes() == expected_csv.read_bytes()
    else:
        _assert_same_table(pd.read_csv(outputs.accuracy), pd.read_csv(expected_csv), exact=False)
    assert provenance.config["chosen_reference"]["fov_name"] == in_memory.reference.series.fov_name
    assert provenance.config["chosen_reference"]["query_id"] == in_memory.reference.series.query_id
