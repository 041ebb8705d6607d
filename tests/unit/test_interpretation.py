"""Interpretation of embeddings (paper Fig. 3d, 5b, appendix F): cell features with known answers on
synthetic patches, the Spearman table on planted components, the gallery, and both stages chained
on the tiny plate's patch store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import build_patch_store
from scipy.stats import spearmanr

from dynaclr.config.analysis import InterpretationConfig
from dynaclr.config.patches import PatchSpec
from dynaclr.embeddings import build_anndata, write_embeddings
from dynaclr.interpretation import (
    CHANNEL_FEATURES,
    CORRELATION_COLUMNS,
    block_cell_features,
    cell_feature_names,
    cell_features,
    central_cell_mask,
    component_feature_correlation,
    plot_correlation_heatmap,
    plot_gallery,
    principal_components,
    quantile_bin_draw,
)
from dynaclr.interpretation.components import (
    UNDEFINED_RHO,
    _rank_plans,
    _weighted_rank_correlation,
    rho_excludes_zero,
)
from dynaclr.interpretation.features import KEY_COLUMNS
from dynaclr.interpretation.stage import (
    CellFeaturesInputs,
    CellFeaturesOutputs,
    InterpretInputs,
    InterpretOutputs,
    cell_features_stage,
    interpret_embeddings_stage,
    track_numbers,
)
from dynaclr.io import ArtifactError, ArtifactKind, make_provenance, read_csv, read_table, write_table
from dynaclr.numerics.bootstrap import ONE_CLUSTER
from dynaclr.numerics.crop import center_crop
from dynaclr.patches import open_patch_store

CONFIG = InterpretationConfig(batch_size=7)


def _features_of(patch: np.ndarray) -> dict[str, float]:
    values = block_cell_features(patch[None, None], CONFIG)[0]
    return dict(zip(CHANNEL_FEATURES, values, strict=True))


def _disc(radius: float, size: int = 64, centre: tuple[float, float] | None = None) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    cy, cx = centre if centre is not None else ((size - 1) / 2, (size - 1) / 2)
    return (np.hypot(y - cy, x - cx) <= radius).astype(np.float64)


@pytest.mark.parametrize("radius", [6.0, 10.0, 16.0])
def test_a_disc_has_its_area_no_eccentricity_and_perimeter_over_area_two_over_r(radius):
    patch = np.stack([_disc(radius)] * 3)  # (Z, Y, X)
    features = _features_of(patch)
    assert features["area_px"] == pytest.approx(np.pi * radius**2, rel=0.05)
    assert features["eccentricity"] < 0.15
    assert features["perimeter_to_area_per_px"] == pytest.approx(2.0 / radius, rel=0.15)
    assert features["mean"] == pytest.approx(_disc(radius).mean())
    assert features["radial_slope"] < 0  # bright centre, dark rim
    assert features["entropy_bits"] == pytest.approx(
        -sum(p * np.log2(p) for p in (_disc(radius).mean(), 1 - _disc(radius).mean()))
    )


def test_an_ellipse_is_eccentric_and_the_central_cell_is_the_one_at_the_centre():
    y, x = np.mgrid[:64, :64]
    ellipse = (((y - 31.5) / 6) ** 2 + ((x - 31.5) / 15) ** 2 <= 1).astype(float)
    neighbour = _disc(5, centre=(6, 6))
    patch = np.stack([ellipse + neighbour] * 3)
    mask = central_cell_mask(patch[1])
    assert mask[31, 31] and not mask[6, 6]
    features = _features_of(patch)
    assert features["eccentricity"] == pytest.approx(np.sqrt(1 - (6 / 15) ** 2), abs=0.05)
    assert features["area_px"] == pytest.approx(np.pi * 6 * 15, rel=0.05)
    off_centre = np.stack([_disc(5, centre=(12, 12))] * 3)  # nothing at the centre: the nearest cell
    assert _features_of(off_centre)["area_px"] == pytest.approx(np.pi * 25, rel=0.1)


def test_constant_and_textured_patches():
    flat = _features_of(np.full((3, 32, 32), 2.0))
    assert (
        flat["area_px"] == 0 and np.isnan(flat["eccentricity"]) and np.isnan(flat["perimeter_to_area_per_px"])
    )
    assert flat["iqr"] == 0 and flat["entropy_bits"] == 0 and flat["radial_slope"] == 0
    stripes = np.tile((np.arange(32) % 2).astype(float), (3, 32, 1))  # alternating columns
    smooth = np.tile(np.linspace(0, 1, 32), (3, 32, 1))
    assert _features_of(stripes)["glcm_contrast"] > _features_of(smooth)["glcm_contrast"]
    assert _features_of(stripes)["glcm_homogeneity"] < _features_of(smooth)["glcm_homogeneity"]
    assert _features_of(stripes)["iqr"] == 1.0


def test_cell_features_stream_in_batches_and_match_the_block_computation():
    rng = np.random.default_rng(0)
    patches = rng.normal(size=(20, 2, 3, 16, 16)).astype(np.float32)
    index = pd.DataFrame({"fov_name": ["A/1/0"] * 20, "track_id": np.arange(20), "t": 0, "other": 1})
    table = cell_features(patches, index, ["Phase3D", "Nuclei"], CONFIG, show_progress=False)
    assert list(table.columns) == ["fov_name", "track_id", "t", *cell_feature_names(["Phase3D", "Nuclei"])]
    np.testing.assert_allclose(table.iloc[:, 3:].to_numpy(), block_cell_features(patches, CONFIG))
    with pytest.raises(ValueError, match=r"C = 1 channels"):
        cell_features(patches, index, ["Phase3D"], CONFIG)


def test_the_batch_size_changes_no_cell_feature():
    """InterpretationConfig.RUN_KEYS holds batch_size (editing it reruns no cell_features job): every
    batch size gives the same table, bit for bit."""
    assert InterpretationConfig.RUN_KEYS == ("batch_size",)
    rng = np.random.default_rng(3)
    patches = rng.normal(size=(13, 2, 3, 16, 16)).astype(np.float32)
    index = pd.DataFrame({"fov_name": "A/1/0", "track_id": np.arange(13), "t": 0})
    tables = [
        cell_features(
            patches, index, ["Phase3D", "Nuclei"], InterpretationConfig(batch_size=size), show_progress=False
        )
        for size in (1, 5, 64)
    ]
    for table in tables[1:]:
        pd.testing.assert_frame_equal(table, tables[0], check_exact=True)


def test_a_component_built_to_track_a_feature_has_rho_near_one():
    rng = np.random.default_rng(1)
    n = 300
    features = pd.DataFrame({"size": rng.normal(size=n), "noise": rng.normal(size=n), "constant": 1.0})
    features.loc[0, "noise"] = np.nan  # left out pairwise
    embeddings = np.column_stack(
        [5.0 * features["size"], rng.normal(scale=0.5, size=n), rng.normal(scale=0.1, size=(n, 3))]
    )
    scores, explained = principal_components(embeddings, n_components=8, seed=0)
    assert scores.shape == (n, 5) and explained[0] > 0.8 and np.all(np.diff(explained) <= 0)
    table = component_feature_correlation(scores, explained, features, np.arange(n) // 3, n_bootstrap=200)
    pc1 = table[table["pc"] == 1].set_index("feature")
    assert abs(pc1.loc["size", "rho"]) > 0.98 and rho_excludes_zero(pc1.loc[["size"]]).all()
    assert pc1.loc["size", "rho_ci_low"] <= pc1.loc["size", "rho"] <= pc1.loc["size", "rho_ci_high"]
    assert abs(pc1.loc["noise", "rho"]) < 0.2 and pc1.loc["noise", "n_observations"] == n - 1
    assert pc1.loc["noise", "n_tracks"] == n // 3 and pc1.loc["size", "rho_ci_missing"] == ""
    assert np.isnan(pc1.loc["constant", "rho"]) and np.isnan(pc1.loc["constant", "rho_ci_low"])
    assert pc1.loc["constant", "rho_ci_missing"] == UNDEFINED_RHO
    assert len(table) == 5 * 3
    again, _ = principal_components(embeddings, n_components=8, seed=0)
    np.testing.assert_array_equal(scores, again)


def test_the_same_cells_seen_at_more_frames_gain_no_certainty():
    """The paper's rho is over observations (a cell at each frame), its uncertainty over tracks: 8
    cells seen at 6 frames each are 8 cells, not 48. Spearman's p-value, counting observations as
    cells, gave p = 0.18 at one frame and p = 0.00017 at six for the same cells."""
    rng = np.random.default_rng(1)
    n_tracks, n_frames = 8, 6
    pc = rng.normal(size=n_tracks)
    feature = pc + rng.normal(scale=1.5, size=n_tracks)
    once = component_feature_correlation(
        pc[:, None], np.array([0.5]), pd.DataFrame({"f": feature}), np.arange(n_tracks)
    ).iloc[0]
    noise = rng.normal(scale=0.01, size=(n_tracks * n_frames, 2))
    repeated = component_feature_correlation(
        np.repeat(pc, n_frames)[:, None] + noise[:, :1],
        np.array([0.5]),
        pd.DataFrame({"f": np.repeat(feature, n_frames) + noise[:, 1]}),
        np.repeat([f"A/1/0/{track}" for track in range(n_tracks)], n_frames),
    ).iloc[0]
    assert (repeated["n_observations"], repeated["n_tracks"]) == (48, 8)
    assert (once["n_observations"], once["n_tracks"]) == (8, 8)
    # the paper's rho over observations, as scipy computes it
    assert repeated["rho"] == pytest.approx(
        spearmanr(np.repeat(pc, n_frames) + noise[:, 0], np.repeat(feature, n_frames) + noise[:, 1]).statistic
    )
    for row in (once, repeated):
        assert row["rho_ci_low"] < 0 < row["rho_ci_high"] and row["rho_ci_missing"] == ""
    assert not rho_excludes_zero(pd.DataFrame([repeated])).any()
    # the repeated frames narrow the interval by no more than the noise added to them
    width = once["rho_ci_high"] - once["rho_ci_low"]
    assert repeated["rho_ci_high"] - repeated["rho_ci_low"] > 0.7 * width


def test_the_track_bootstrap_resamples_tracks_and_reranks_them():
    """A resample's rho is Spearman's of the resampled observations (ties at their mean rank): the
    rank weights equal the resample written out row by row; one track has no interval."""
    rng = np.random.default_rng(2)
    scores = rng.normal(size=(40, 2))
    features = np.round(scores + rng.normal(size=(40, 2)), 1)  # ties
    copies = rng.integers(0, 3, size=40)
    rows = np.repeat(np.arange(40), copies)
    weighted = _weighted_rank_correlation(copies[None].astype(float), _rank_plans(scores, features), 2)[0]
    for k in range(2):
        for f in range(2):
            expected = spearmanr(scores[rows, k], features[rows, f]).statistic
            assert weighted[k, f] == pytest.approx(expected, abs=1e-12)
    one = component_feature_correlation(
        scores, np.ones(2), pd.DataFrame(features, columns=["a", "b"]), np.zeros(40), n_bootstrap=50
    )
    assert one["rho"].notna().all() and one["rho_ci_low"].isna().all()
    assert (one["rho_ci_missing"] == ONE_CLUSTER).all() and (one["n_tracks"] == 1).all()


def _tracked_table(n_tracks: int = 30, n_frames: int = 4) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Cells of ``n_tracks`` tracks over two FOVs seen at ``n_frames`` frames, 2 component scores and
    features with missing values of their own (other finite rows each)."""
    rng = np.random.default_rng(5)
    n = n_tracks * n_frames
    cells = pd.DataFrame(
        {
            "fov_name": np.repeat(["B/2/0", "A/1/0"], n // 2),
            "track_id": np.repeat(np.arange(n_tracks), n_frames) % (n_tracks // 2) + 1,
            "t": np.tile(np.arange(n_frames), n_tracks),
        }
    )
    scores = rng.normal(size=(n, 2))
    features = pd.DataFrame({"a": scores[:, 0] + rng.normal(size=n), "b": rng.normal(size=n)})
    features.loc[rng.choice(n, 9, replace=False), "b"] = np.nan
    return cells, scores, features


def test_the_intervals_do_not_depend_on_the_row_order_nor_on_the_other_features():
    """Tracks were numbered in the order they first appeared and every set of features sharing their
    finite rows drew from one generator in turn: the same cells in another row order got other
    resamples, and adding a feature (with its own missing rows) changed the other features' intervals."""
    cells, scores, features = _tracked_table()
    table = component_feature_correlation(scores, np.ones(2), features, track_numbers(cells), n_bootstrap=100)
    order = np.random.default_rng(0).permutation(len(cells))
    permuted = component_feature_correlation(
        scores[order],
        np.ones(2),
        features.iloc[order].reset_index(drop=True),
        track_numbers(cells.iloc[order].reset_index(drop=True)),
        n_bootstrap=100,
    )
    pd.testing.assert_frame_equal(permuted, table, check_exact=False, rtol=1e-12)
    assert (table["rho_ci_missing"] == "").all()
    # a feature with missing rows of its own, added before the others, leaves their intervals unchanged
    extra = features.assign(c=np.where(np.arange(len(cells)) % 7 == 0, np.nan, scores[:, 1]))
    wider = component_feature_correlation(
        scores, np.ones(2), extra.loc[:, ["c", "a", "b"]], track_numbers(cells), n_bootstrap=100
    )
    kept = wider[wider["feature"] != "c"].sort_values(["pc", "feature"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, table.sort_values(["pc", "feature"]).reset_index(drop=True))


def test_no_bootstrap_gives_rho_without_an_interval_and_says_why():
    cells, scores, features = _tracked_table()
    table = component_feature_correlation(scores, np.ones(2), features, track_numbers(cells), n_bootstrap=0)
    assert table["rho"].notna().all()
    assert table["rho_ci_low"].isna().all() and table["rho_ci_high"].isna().all()
    assert (table["rho_ci_missing"] == "no bootstrap replicate drawn (n_bootstrap 0)").all()
    assert (table["n_bootstrap"] == 0).all()


def test_the_heatmap_calls_no_pair_shown_whose_interval_includes_zero():
    table = pd.DataFrame(
        {
            "pc": [1, 1, 2, 2],
            "explained_variance_ratio": [0.6, 0.6, 0.3, 0.3],
            "feature": ["a", "b", "a", "b"],
            "rho": [0.9, 0.2, -0.1, 0.5],
            "rho_ci_low": [-0.2, 0.1, -0.3, np.nan],
            "rho_ci_high": [0.95, 0.3, 0.1, np.nan],
            "n_observations": 48,
            "n_tracks": 8,
            "confidence": 0.95,
        }
    )
    figure, caption = plot_correlation_heatmap(table, "m, d")
    assert "1 of 4 pairs has a 95 % interval over tracks that excludes 0" in caption
    # crosses (x: feature column, y: PC row) on the pairs whose interval includes 0 or is withheld
    crosses = {tuple(xy) for xy in figure.axes[0].collections[0].get_offsets().tolist()}
    assert crosses == {(0.0, 0.0), (0.0, 1.0), (1.0, 1.0)}
    _, every = plot_correlation_heatmap(table.assign(rho_ci_low=0.05, rho_ci_high=0.99), "m, d")
    assert "4 of 4 pairs have a 95 % interval" in every
    assert "the strongest is PC1 with b (rho 0.20, 0.10 to 0.30)" in caption
    assert "48 cell observations" in caption and "8 tracks" in caption
    _, caption = plot_correlation_heatmap(table.assign(rho_ci_low=-1.0, rho_ci_high=1.0), "m, d")
    assert "No pair's 95 % interval over tracks excludes 0" in caption and "strongest" not in caption


def test_quantile_bins_draw_cells_from_low_to_high():
    values = np.arange(100.0)[::-1]
    drawn = quantile_bin_draw(values, n_bins=5, per_bin=3, rng=0)
    assert [len(d) for d in drawn] == [3] * 5
    for b, members in enumerate(drawn):
        assert np.all((values[members] >= 20 * b) & (values[members] < 20 * (b + 1)))
    assert [len(d) for d in quantile_bin_draw(np.arange(4.0), n_bins=5, per_bin=3)] == [1, 1, 1, 1, 0]


def test_gallery_lays_out_groups_and_bins(tmp_path):
    image = np.arange(64.0).reshape(8, 8)
    groups = [("PC1", [[image] * 2 for _ in range(5)]), ("infected", [[image], [image], [], [], []])]
    figure, caption = plot_gallery(groups, [f"bin {b + 1}" for b in range(5)], "title", "the caption")
    assert caption == "the caption"
    axes = figure.get_axes()
    assert len(axes) == 3 * 5
    assert sum(len(ax.images) for ax in axes) == 10 + 2
    assert axes[0].get_ylabel() == "PC1" and axes[10].get_ylabel() == "infected"
    figure.savefig(tmp_path / "gallery.png")


SPEC = PatchSpec.model_validate(
    {
        "name": "interpret",
        "channels": [
            {"source": "raw", "channel": name, "normalization": "median_p99"}
            for name in ("Brightfield", "Nuclei")
        ],
        "patch_size_yx_px": 32,
    }
)


def _cell_features(config: InterpretationConfig, patches: dict[str, Path], path: Path) -> pd.DataFrame:
    """Rule ``cell_features`` on the patch store ``patches`` (build_patch_store's), its table at ``path``."""
    return cell_features_stage(
        config,
        CellFeaturesInputs(patches_zarr=patches["zarr"], patches_parquet=patches["parquet"]),
        CellFeaturesOutputs(features=path),
    )


def _write_predictions(index: pd.DataFrame, nuclei: np.ndarray, path: Path) -> Path:
    """Infection predictions of the cells of ``index``: infected where their Nuclei mean is above its
    median."""
    predictions = index.loc[:, list(KEY_COLUMNS)].assign(
        task="infection",
        probability=0.5,
        predicted_label=np.where(nuclei > np.median(nuclei), "infected", "uninfected"),
    )
    write_table(predictions, path, make_provenance(ArtifactKind.PREDICTIONS, {}))
    return path


def _outputs(folder: Path) -> InterpretOutputs:
    """Rule ``interpret_embeddings``' outputs under ``folder`` (made)."""
    folder.mkdir(parents=True, exist_ok=True)
    return InterpretOutputs(
        correlation=folder / "correlation.csv",
        heatmap_png=folder / "heatmap.png",
        heatmap_svg=folder / "heatmap.svg",
        gallery_png=folder / "gallery.png",
        gallery_svg=folder / "gallery.svg",
    )


@pytest.fixture(scope="module")
def patch_store(tiny_plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    return build_patch_store(
        {"raw": tiny_plate["plate"]}, tiny_plate["tracks"], SPEC, tmp_path_factory.mktemp("p")
    )


def test_stages_write_the_table_heatmap_and_gallery(patch_store, tmp_path):
    config = InterpretationConfig(batch_size=16, n_components=4, n_bootstrap=200, confidence=0.9)
    features = _cell_features(config, patch_store, tmp_path / "features.parquet")
    stored, provenance = read_table(tmp_path / "features.parquet", ArtifactKind.CELL_FEATURES)
    pd.testing.assert_frame_equal(stored, features)
    store = open_patch_store(patch_store["zarr"], patch_store["parquet"])
    assert len(features) == len(store.index)
    # the keys the rule reads (its params), not the gallery's: editing those reruns no cell_features
    assert provenance.config == {
        **config.rule_params("cell_features"),
        "batch_size": 16,
        "measured_crop_yx_px": [store.patch_size_yx_px] * 2,
    }

    # planted embeddings: the first dimension is the Nuclei mean, so PC1 tracks it
    index = store.index.drop(columns=["row"])
    nuclei = features["raw:Nuclei_mean"].to_numpy()
    rng = np.random.default_rng(0)
    matrix = np.column_stack([10 * (nuclei - nuclei.mean()) / nuclei.std(), rng.normal(size=(len(index), 5))])
    embeddings = tmp_path / "planted.zarr"
    adata = build_anndata(matrix.astype(np.float32), index)
    write_embeddings(
        adata, embeddings, make_provenance(ArtifactKind.EMBEDDINGS, {"model": "planted", "dataset": "tiny"})
    )
    predictions = _write_predictions(index, nuclei, tmp_path / "predictions.parquet")
    outputs = _outputs(tmp_path)
    table = interpret_embeddings_stage(
        config,
        InterpretInputs(
            embeddings=embeddings,
            features=tmp_path / "features.parquet",
            patches_zarr=patch_store["zarr"],
            patches_parquet=patch_store["parquet"],
            predictions=predictions,
        ),
        outputs,
        model="planted",
        dataset="tiny",
    )
    written = read_csv(outputs.correlation, CORRELATION_COLUMNS)
    assert list(written.columns) == list(CORRELATION_COLUMNS) and len(written) == len(table) == 4 * 18
    pc1 = written[written["pc"] == 1].set_index("feature")
    assert abs(pc1.loc["raw:Nuclei_mean", "rho"]) > 0.99
    # the interval is over the plate's tracks, not its cell observations
    n_tracks = len(index.groupby(["fov_name", "track_id"]))
    assert n_tracks < len(index) and (written["n_tracks"] == n_tracks).all()
    assert (written.loc[written["rho"].notna(), "n_observations"] <= len(index)).all()
    # the config's bootstrap (analysis.interpretation.n_bootstrap, confidence), a key of the rule
    assert (written["n_bootstrap"] == 200).all() and (written["confidence"] == 0.9).all()
    assert {"n_bootstrap", "confidence"} <= set(config.rule_params("interpret_embeddings"))
    for path in outputs.model_dump().values():
        assert Path(path).stat().st_size > 0

    # a gallery channel past the store's is refused before anything is written (the last was shown)
    refused = _outputs(tmp_path / "refused")
    with pytest.raises(ValueError, match=r"gallery_channel: expected the index of a channel of .*found 2;"):
        interpret_embeddings_stage(
            config.model_copy(update={"gallery_channel": len(store.channel_names)}),
            InterpretInputs(
                embeddings=embeddings,
                features=tmp_path / "features.parquet",
                patches_zarr=patch_store["zarr"],
                patches_parquet=patch_store["parquet"],
            ),
            refused,
            model="planted",
            dataset="tiny",
        )
    assert not any(Path(path).exists() for path in refused.model_dump().values())


def test_cell_features_are_measured_on_the_network_input_not_the_stored_windows_margin(patch_store, tmp_path):
    """The stored window is wider than patch_size_yx_px (training's rotations and zooms); its margin,
    which no model sees, must change no feature: a bright neighbour there moved Otsu's threshold and
    shrank the central cell's mask (and changed every intensity and texture feature)."""
    store = open_patch_store(patch_store["zarr"], patch_store["parquet"])
    size = store.patch_size_yx_px
    window = store.array.shape[-1]
    assert window > size  # the tiny plate's store keeps a margin
    features = _cell_features(InterpretationConfig(batch_size=16), patch_store, tmp_path / "features.parquet")
    patches = np.asarray(store.array[:], dtype=np.float32)
    measured = cell_features(center_crop(patches, size), store.index, store.channel_names, CONFIG)
    pd.testing.assert_frame_equal(features, measured)

    # the library function: a neighbour in the margin leaves every feature of the central crop alone
    yy, xx = np.mgrid[:window, :window] - (window - 1) / 2
    alone = (np.hypot(yy, xx) < size / 5) + np.random.default_rng(0).normal(0, 0.05, (window, window))
    corner = window / 2 - (window - size) / 4  # the middle of the margin
    neighbour = alone + 3.0 * (np.hypot(yy - corner, xx - corner) < (window - size) / 4)
    two = np.stack([alone, neighbour])[:, None, None].astype(np.float32)
    index = pd.DataFrame({"fov_name": ["A/1/0"] * 2, "track_id": [1, 2], "t": [0, 0]})
    table = cell_features(two, index, ["raw:Nuclei"], CONFIG, show_progress=False, crop_yx=(size, size))
    values = table.drop(columns=list(KEY_COLUMNS)).to_numpy()
    np.testing.assert_allclose(values[0], values[1])
    assert table.loc[0, "raw:Nuclei_area_px"] == pytest.approx(np.pi * (size / 5) ** 2, rel=0.15)


def test_features_measured_on_the_whole_stored_window_are_refused(patch_store, tmp_path):
    """A cell-features table recording no measured crop (written before the features were measured on
    the network input) is refused, naming the file and the rerun, before anything is written."""
    features = _cell_features(InterpretationConfig(batch_size=16), patch_store, tmp_path / "new.parquet")
    older = tmp_path / "older.parquet"
    write_table(features, older, make_provenance(ArtifactKind.CELL_FEATURES, {"texture_gray_levels": 32}))
    index = open_patch_store(patch_store["zarr"], patch_store["parquet"]).index.drop(columns=["row"])
    embeddings = tmp_path / "planted.zarr"
    matrix = np.random.default_rng(0).normal(size=(len(index), 6)).astype(np.float32)
    write_embeddings(
        build_anndata(matrix, index),
        embeddings,
        make_provenance(ArtifactKind.EMBEDDINGS, {"model": "planted", "dataset": "tiny"}),
    )
    outputs = _outputs(tmp_path / "out")
    with pytest.raises(
        ArtifactError, match=r"older.parquet: expected 'measured_crop_yx_px'.*forcerun cell_features"
    ):
        interpret_embeddings_stage(
            InterpretationConfig(n_components=4),
            InterpretInputs(
                embeddings=embeddings,
                features=older,
                patches_zarr=patch_store["zarr"],
                patches_parquet=patch_store["parquet"],
            ),
            outputs,
            model="planted",
            dataset="tiny",
        )
    assert not any(Path(path).exists() for path in outputs.model_dump().values())
