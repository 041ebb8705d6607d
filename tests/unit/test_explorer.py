"""The embedding explorer: a self-contained page whose selection downloads a valid annotation table."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dynaclr.classify.annotation_table import read_annotation_table, validate_annotation_table
from dynaclr.figures.explorer import encode_thumbnails, explorer_data, explorer_html, select_tracks


def _cells(n_tracks: int = 6, n_frames: int = 5) -> pd.DataFrame:
    rows = []
    for k in range(n_tracks):
        for t in range(n_frames):
            rows.append(
                {
                    "row": len(rows),
                    "fov_name": f"A/1/{k % 2}",
                    "track_id": k + 1,
                    "t": t,
                    "y": 10.0,
                    "x": 10.0,
                    "condition": "mock" if k < 3 else "infected",
                    "time_minutes": 30.0 * t,
                    "pca_1": float(k),
                    "pca_2": float(t),
                    "umap_1": float(-k),
                    "umap_2": float(t) / 2,
                }
            )
    return pd.DataFrame(rows)


def _thumbnails(rows: np.ndarray) -> np.ndarray:
    return np.stack([np.full((16, 16), float(r)) for r in rows]).astype(np.float32)


def test_whole_tracks_are_drawn_up_to_the_cap_and_the_draw_is_seeded():
    cells = _cells()
    shown = select_tracks(cells, 12, seed=3)
    assert len(shown) == 10  # two whole tracks of 5; a third would pass 12
    assert shown.groupby("track_id").size().eq(5).all()
    assert shown.equals(select_tracks(cells, 12, seed=3))
    assert len(select_tracks(cells, 1000, seed=0)) == len(cells)


def test_thumbnails_are_webp_of_the_requested_size_on_one_window():
    images = np.stack([np.zeros((16, 16)), np.full((16, 16), 10.0)]).astype(np.float32)
    dark, bright = (Image.open(io.BytesIO(base64.b64decode(p))) for p in encode_thumbnails(images, 32))
    assert dark.format == bright.format == "WEBP"
    dark_pixels, bright_pixels = np.asarray(dark.convert("L")), np.asarray(bright.convert("L"))
    assert dark.size == (32, 32) and dark_pixels.max() <= 2 and bright_pixels.min() >= 253


def test_a_non_square_thumbnail_is_padded_not_stretched():
    """A crop of h != w (crop_size_yx_px) was resized to a square, stretching the cells: it is
    centred on a black square, its aspect kept."""
    images = np.stack([np.zeros((8, 16)), np.full((8, 16), 10.0)]).astype(np.float32)
    _, bright = (Image.open(io.BytesIO(base64.b64decode(p))) for p in encode_thumbnails(images, 32))
    pixels = np.asarray(bright.convert("L"), dtype=float)
    assert bright.size == (32, 32)
    # the 8 x 16 image fills rows 8-23 of the 32 x 32 thumbnail, black above and below
    assert pixels[:6].max() <= 10 and pixels[26:].max() <= 10 and pixels[10:22].min() >= 245


def test_the_page_holds_its_data_and_scripts_and_loads_nothing(tmp_path: Path):
    cells = _cells()
    data = explorer_data(cells, _thumbnails, title="m, d", download_name="annotations_m_d.csv")
    assert sorted(data["projections"]) == ["pca", "umap"]
    assert len(data["projections"]["pca"]) == len(cells) == len(data["thumbnails"])
    assert "condition" in data["columns"] and "time (h)" in data["columns"]
    assert data["columns"]["time (h)"][1] == 0.5 and "track_id" not in data["columns"]
    page = explorer_html(data)
    assert not re.search(r"<script[^>]*\bsrc=|<link[^>]*href=|https?://", page)  # offline: nothing fetched
    embedded = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', page, re.S)
    assert embedded is not None and json.loads(embedded.group(1))["cells"]["track_id"][:2] == [1, 1]
    assert "function annotationsCsv" in page and 'getElementById("scatter")' in page


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_page_logic_picks_cells_and_writes_a_table_import_annotations_accepts(tmp_path: Path):
    core = files("dynaclr.figures").joinpath("explorer_core.js")
    script = f"""
const core = require({json.dumps(str(core))});
const cells = {{fov_name: ["A/1/0", "A/1/0", "B/1/0", "B/1/0"], track_id: [4, 4, 7, 7], t: [1, 0, 0, 1]}};
const tracks = core.trackMembers(cells);
const screen = [[10, 10], [20, 20], [100, 100], [110, 105]];
const annotations = new Map();
core.annotate(annotations, core.inRectangle(screen, 0, 0, 25, 25), "infection", "uninfected");
core.annotate(annotations, [core.nearest(screen, 108, 104, 6)], "infection", "infected");
core.annotate(annotations, [2], "infection", "infected");
console.log(JSON.stringify({{
  track: tracks.get("A/1/0|4"),
  far: core.nearest(screen, 60, 60, 6),
  colours: core.colours(["a", "b", null, "a"]).colour,
  ramp: core.colours([0, 1, NaN]).colour,
  csv: core.annotationsCsv(cells, annotations),
}}));
"""
    result = subprocess.run([NODE, "-e", script], capture_output=True, text=True, check=True)
    out = json.loads(result.stdout)
    assert out["track"] == [1, 0]  # the track's cells in frame order
    assert out["far"] == -1
    assert out["colours"][0] == out["colours"][3] != out["colours"][1] and out["colours"][2] == "#d0d0d0"
    assert out["ramp"][0] != out["ramp"][1] and out["ramp"][2] == "#d0d0d0"
    table_path = tmp_path / "annotations.csv"
    table_path.write_text(out["csv"])
    table = validate_annotation_table(read_annotation_table(table_path), ["infection"], str(table_path))
    assert len(table) == 4
    labels = dict(zip(zip(table["fov_name"], table["t"], strict=True), table["label"], strict=True))
    assert labels == {
        ("A/1/0", 0): "uninfected",
        ("A/1/0", 1): "uninfected",
        ("B/1/0", 0): "infected",
        ("B/1/0", 1): "infected",
    }


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_page_script_runs_on_load_and_on_pointer_events_without_errors(tmp_path: Path):
    """The page's own script on a stand-in DOM (no browser here): it loads, draws every point,
    shows a track on hover, selects on click, labels, and downloads the table."""
    data = explorer_data(_cells(), _thumbnails, title="m, d", download_name="a.csv")
    page = explorer_html(data)
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    payload = re.search(r'id="explorer-data">(.*?)</script>', page, re.S).group(1)
    harness = tmp_path / "harness.js"
    harness.write_text(
        """
const drawn = {arcs: 0};
function element(id) {
  return {id, width: 600, height: 600, value: "", textContent: id === "explorer-data" ? PAYLOAD : "",
    get innerHTML() { return ""; }, set innerHTML(html) { this.children = []; },
    options: [], listeners: {}, children: [], className: "", title: "", src: "",
    add(option) { this.options.push(option); if (!this.value) this.value = option.value; },
    addEventListener(type, f) { this.listeners[type] = f; },
    append(...nodes) { this.children.push(...nodes); }, remove() {}, click() { this.clicked = true; },
    getBoundingClientRect() { return {left: 0, top: 0, width: 600, height: 600}; },
    getContext() { return new Proxy({}, {get: (t, name) => name === "arc" ? () => drawn.arcs++ : () => {},
                                         set: () => true}); }};
}
const elements = {};
global.document = {getElementById: (id) => (elements[id] ??= element(id)),
  createElement: (tag) => element(tag), createTextNode: (text) => ({text}), body: element("body")};
global.Option = function (label, value) { return {label, value}; };
let downloaded = null;
global.Blob = function (parts) { downloaded = parts.join(""); };
global.URL = {createObjectURL: () => "blob:"};
""".replace("PAYLOAD", json.dumps(payload))
        + "\n".join(scripts)
        + """
const canvas = elements["scatter"];
const before = drawn.arcs;
canvas.listeners.mousemove({clientX: 12, clientY: 588});
canvas.listeners.mousedown({clientX: 12, clientY: 588});
canvas.listeners.mouseup({clientX: 12, clientY: 588});
elements["apply"].listeners.click();
elements["download"].listeners.click();
const strip = elements["track"].children;
console.log(JSON.stringify({points: before, track: strip.length, src: strip.length ? strip[0].src : "",
  counts: elements["counts"].textContent, csv: downloaded}));
"""
    )
    result = subprocess.run([NODE, str(harness)], capture_output=True, text=True, check=True)
    out = json.loads(result.stdout)
    assert out["points"] == 30  # every cell drawn on load
    assert out["track"] == 5  # the hovered cell's track: a strip of its 5 frames
    assert out["src"].startswith("data:image/webp;base64,")  # the thumbnail's own type
    assert "1 annotated" in out["counts"]
    assert out["csv"].splitlines()[0] == "fov_name,track_id,t,task,label"
    assert out["csv"].splitlines()[1].endswith(",infection,infected")


@pytest.mark.parametrize(
    ("channel", "shown"), [(None, 0), ("ViralSensor", 1), ("raw:ViralSensor", 1), ("GFP", None)]
)
def test_the_explorer_shows_the_configured_patch_channel(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, channel: str | None, shown: int | None
) -> None:
    """analysis.figures.explorer_channel: the page's thumbnails are that channel of the patches (named
    as the other patch keys name channels); a channel the store lacks fails naming the key."""
    from types import SimpleNamespace

    from dynaclr.config.analysis import FiguresConfig
    from dynaclr.embeddings import ViewedCrop
    from dynaclr.figures import stage

    names = ["phase:Phase3D", "raw:ViralSensor"]
    patches = np.arange(2, dtype=np.float32)[None, :, None, None, None] * np.ones(
        (1, 2, 3, 16, 16), np.float32
    )
    seen: dict[str, object] = {}

    class Reader:
        def __init__(self, path: Path) -> None:
            pass

        def read(self, rows: np.ndarray) -> np.ndarray:
            return np.repeat(patches, len(rows), axis=0)

    def data(cells: pd.DataFrame, thumbnails, title: str, **kwargs: object) -> dict:
        seen["thumbnails"], seen["title"] = thumbnails(cells["row"].to_numpy()), title
        return {}

    store = SimpleNamespace(array=np.zeros((1, 2, 3, 16, 16)), channel_names=names, patch_size_yx_px=16)
    monkeypatch.setattr(stage, "open_patch_store", lambda zarr, parquet: store)
    # no embeddings store here: the model's view is the patch size (tests/unit/test_thumbnail_view.py)
    monkeypatch.setattr(stage, "viewed_crop", lambda embeddings, store: ViewedCrop((16, 16), "all of it"))
    monkeypatch.setattr(stage, "PatchRowReader", Reader)
    monkeypatch.setattr(stage, "explained_variance_ratio", lambda projections: None)
    monkeypatch.setattr(stage, "explorer_data", data)
    monkeypatch.setattr(stage, "explorer_html", lambda data: "<html></html>")
    inputs = stage.EmbeddingFiguresInputs(
        projections=tmp_path / "p.zarr",
        embeddings=tmp_path / "e.zarr",
        patches_zarr=tmp_path / "s.zarr",
        patches_parquet=tmp_path / "s.parquet",
    )
    config = FiguresConfig(explorer_channel=channel)
    if shown is None:
        with pytest.raises(
            ValueError, match=r"analysis.figures.explorer_channel: channel 'GFP' is not one of"
        ):
            stage._write_explorer(config, inputs, tmp_path / "explorer.html", _cells(), None, "m, d")  # type: ignore[arg-type]
        return
    stage._write_explorer(config, inputs, tmp_path / "explorer.html", _cells(), None, "m, d")  # type: ignore[arg-type]
    thumbnails = np.asarray(seen["thumbnails"])
    assert thumbnails.shape[1:] == (16, 16) and np.all(thumbnails == shown)
    assert str(seen["title"]).endswith(f"patches of {names[shown]}")


def test_a_cap_below_every_tracks_length_is_refused_not_an_empty_page():
    """A long movie (every track 300 frames) with ``explorer_max_cells`` 200: no whole track fits, and
    the explorer was written with 0 cells (exit 0); it is refused, naming the key and the shortest
    track's cells."""
    cells = pd.DataFrame(
        [("B/12/003", k, t) for k in (1, 2, 3) for t in range(300 + k)], columns=["fov_name", "track_id", "t"]
    )
    with pytest.raises(ValueError, match=r"explorer_max_cells.*found 200.*has 301 cells"):
        select_tracks(cells, 200, seed=0)
    assert len(select_tracks(cells, 301, seed=0)) == 301  # one whole track fits
