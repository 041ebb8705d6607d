"""The figures' patch thumbnails show what the model sees: the central crop of the stored window.

The patch store keeps a window wider than the network input (``initial_patch_size_yx_px``, so that
training's rotations and zooms can crop it); a thumbnail of the whole window covered several cells
on a plate of small pixels, and nobody could tell which was meant. The explorer, the aligned
trajectories' gallery and the interpretation gallery each show, of the central Z slice, the crop the
encoder recorded (``resolved_crop_size_yx_px``), or the one engineered features are measured on
(``crop_size_yx_px``, where null the whole window), or else the central ``patch_size_yx_px``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import build_patch_store
from test_interpretation import SPEC, _outputs

from dynaclr.config.analysis import FiguresConfig, InterpretationConfig
from dynaclr.embeddings import build_anndata, write_embeddings
from dynaclr.figures import stage as figures_stage
from dynaclr.interpretation import stage as interpretation_stage
from dynaclr.io import ArtifactKind, make_provenance
from dynaclr.patches import open_patch_store


@pytest.fixture(scope="module")
def patches(tiny_plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_patch_store(
        {"raw": tiny_plate["plate"]}, tiny_plate["tracks"], SPEC, tmp_path_factory.mktemp("view")
    )


#: What an embeddings store's provenance records of the crop its model read, and the side (px) of the
#: thumbnails that show it: an encoder's crop; engineered features' crop_size_yx_px, where null the
#: whole stored window they are measured on; where neither, the patch store's patch_size_yx_px.
#: The captions say which, claiming "the model sees" only of an encoder's recorded crop.
VIEWS = [
    (
        {},
        SPEC.patch_size_yx_px,
        f"the central {SPEC.patch_size_yx_px} x {SPEC.patch_size_yx_px} px, the patch store's network "
        "input (the embeddings record no crop)",
    ),
    (
        {"kind": "contrastive", "resolved_crop_size_yx_px": [24, 24]},
        24,
        "the central 24 x 24 px the model sees",
    ),
    (
        {"kind": "engineered_features", "crop_size_yx_px": None},
        SPEC.initial_size_px,
        f"the whole {SPEC.initial_size_px} x {SPEC.initial_size_px} px window the features are measured on",
    ),
    (
        {"kind": "engineered_features", "crop_size_yx_px": [24, 24]},
        24,
        "the central 24 x 24 px the features are measured on",
    ),
]


def _embeddings(patches: dict[str, Path], path: Path, recorded: dict[str, Any]) -> Path:
    """An embeddings store of the patch store's cells (with their ``row``), recording ``recorded``."""
    store = open_patch_store(patches["zarr"], patches["parquet"])
    features = np.random.default_rng(0).normal(size=(len(store.index), 4)).astype(np.float32)
    config: dict[str, Any] = {"model": "m", "dataset": "d", **recorded}
    write_embeddings(
        build_anndata(features, store.index), path, make_provenance(ArtifactKind.EMBEDDINGS, config)
    )
    return path


def _expected(patches: dict[str, Path], rows: np.ndarray, channel: int, side: int) -> np.ndarray:
    """The central ``side x side`` pixels of the central Z slice of ``rows``, read whole and cut here."""
    array = np.asarray(open_patch_store(patches["zarr"], patches["parquet"]).array)
    assert array.shape[-1] == SPEC.initial_size_px >= side
    planes = array[rows, channel, array.shape[2] // 2]
    start = (array.shape[-1] - side) // 2
    return planes[..., start : start + side, start : start + side]


@pytest.mark.parametrize(("recorded", "side", "said"), VIEWS)
def test_the_explorer_thumbnails_are_the_model_view(patches, tmp_path, monkeypatch, recorded, side, said):
    embeddings = _embeddings(patches, tmp_path / "e.zarr", recorded)
    cells = open_patch_store(patches["zarr"], patches["parquet"]).index
    seen: dict[str, np.ndarray] = {}

    def data(shown: pd.DataFrame, thumbnails, title: str, **kwargs: object) -> dict:
        seen["rows"] = shown["row"].to_numpy()
        seen["images"] = thumbnails(seen["rows"])
        return {}

    monkeypatch.setattr(figures_stage, "explained_variance_ratio", lambda projections: None)
    monkeypatch.setattr(figures_stage, "explorer_data", data)
    monkeypatch.setattr(figures_stage, "explorer_html", lambda data: "<html></html>")
    inputs = figures_stage.EmbeddingFiguresInputs(
        projections=tmp_path / "p.zarr",
        embeddings=embeddings,
        patches_zarr=patches["zarr"],
        patches_parquet=patches["parquet"],
    )
    config = FiguresConfig(explorer_channel="Nuclei")
    figures_stage._write_explorer(config, inputs, tmp_path / "x.html", cells, None, "m, d")  # type: ignore[arg-type]
    expected = _expected(patches, seen["rows"], 1, side)
    assert seen["images"].shape == (len(seen["rows"]), side, side)
    np.testing.assert_array_equal(seen["images"], expected.astype(np.float32))


@pytest.mark.parametrize(("recorded", "side", "said"), VIEWS)
def test_the_aligned_trajectories_gallery_is_the_model_view(
    patches, tmp_path, monkeypatch, recorded, side, said
):
    embeddings = _embeddings(patches, tmp_path / "e.zarr", recorded)
    seen: dict[str, Any] = {}

    def plot(frames, variance, thumbnails, **kwargs):
        seen["thumbnails"], seen["view"] = thumbnails, kwargs["view"]
        return None, ""

    monkeypatch.setattr(figures_stage, "aligned_frames", lambda pseudotime, cells: cells)
    monkeypatch.setattr(figures_stage, "plot_aligned_trajectories", plot)
    inputs = figures_stage.AlignedTrajectoriesInputs(
        pseudotime=tmp_path / "pt.parquet",
        embeddings=embeddings,
        patches_zarr=patches["zarr"],
        patches_parquet=patches["parquet"],
    )
    figures_stage._aligned_trajectories(inputs, pd.DataFrame(), "infection onset", "m, d", None)  # type: ignore[arg-type]
    rows = np.array([5, 0, 3])
    images = seen["thumbnails"](rows)
    assert images.shape == (3, len(SPEC.channels), side, side)
    np.testing.assert_array_equal(images[:, 1], _expected(patches, rows, 1, side))
    assert seen["view"] == said  # the caption's words for the thumbnails


@pytest.mark.parametrize(("recorded", "side", "said"), VIEWS)
def test_the_interpretation_gallery_is_the_model_view(patches, tmp_path, monkeypatch, recorded, side, said):
    embeddings = _embeddings(patches, tmp_path / "e.zarr", recorded)
    store = open_patch_store(patches["zarr"], patches["parquet"])
    cells = store.index.loc[:, ["fov_name", "track_id", "t"]]
    scores = np.random.default_rng(1).normal(size=(len(cells), 2))
    features = pd.DataFrame({"f": np.arange(len(cells), dtype=float)})
    seen: dict[str, Any] = {}

    def gallery(groups, column_labels, title, caption):
        seen["groups"], seen["caption"] = groups, caption
        raise StopIteration  # the gallery's images are all this test reads

    monkeypatch.setattr(interpretation_stage, "plot_gallery", gallery)
    monkeypatch.setattr(interpretation_stage, "plot_correlation_heatmap", lambda table, label: (None, ""))
    monkeypatch.setattr(interpretation_stage, "save_figure", lambda *args: None)
    config = InterpretationConfig(n_components=2, gallery_components=1, gallery_channel=1)
    outputs = _outputs(tmp_path / "out")
    inputs = interpretation_stage.InterpretInputs(
        embeddings=embeddings,
        features=tmp_path / "f.parquet",
        **{f"patches_{k}": v for k, v in patches.items()},
    )
    with pytest.raises(StopIteration):
        interpretation_stage.interpret_scores(
            config, inputs, outputs, cells, features, scores, np.array([0.6, 0.4]), model="m", dataset="d"
        )
    images = [image for _, columns in seen["groups"] for column in columns for image in column]
    assert images and all(image.shape == (side, side) for image in images)
    planes = _expected(patches, np.arange(len(cells)), 1, side)
    # every image is the model's view of one of the store's cells
    assert all(any(np.array_equal(image, plane) for plane in planes) for image in images)
    assert f"', {said}, each patch" in seen["caption"]
