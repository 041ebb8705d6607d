"""The embedding explorer: one self-contained HTML file per (model, dataset), opened offline.

A scatter of every stored projection (PCA, UMAP, PHATE) coloured by any cell column; the pointer
on a cell shows its patch and its track as a strip of patches over time; a click or a drag selects
cells, which are labelled for a task (infection or division) and downloaded as the annotation table
``import_annotations`` reads (``fov_name,track_id,t,task,label``): the paper's annotation in
napari-iohub, without installing a viewer, in a browser next to a cluster. Everything (data,
thumbnails, scripts) is inside the file; it loads nothing from the network.

At most ``max_cells`` cells, drawn as whole tracks (seeded) so every strip is complete.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable, Mapping
from importlib.resources import files
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

#: Columns that identify a cell, kept out of the colour choices.
KEY_COLUMNS: tuple[str, ...] = ("row", "fov_name", "track_id", "t", "y", "x", "parent_track_id", "lineage_id")

#: Labels per task, as the annotation table takes them.
TASK_LABELS: dict[str, list[str]] = {
    "infection": ["infected", "uninfected"],
    "division": ["mitosis", "interphase"],
}


def select_tracks(cells: pd.DataFrame, max_cells: int, seed: int) -> pd.DataFrame:
    """Whole tracks, in a seeded random order, until ``max_cells`` cells; all cells if fewer.

    Raises:
        ValueError: every track has more cells than ``max_cells`` (a long movie): no whole track fits,
            and the page would show none (naming ``analysis.figures.explorer_max_cells`` and the
            shortest track's cells).
    """
    if len(cells) <= max_cells:
        return cells.reset_index(drop=True)
    keys = cells[["fov_name", "track_id"]].drop_duplicates().reset_index(drop=True)
    order = np.random.default_rng(seed).permutation(len(keys))
    sizes = cells.groupby(["fov_name", "track_id"]).size()
    if int(sizes.min()) > max_cells:
        raise ValueError(
            f"analysis.figures.explorer_max_cells: expected at least the cells of one whole track (the "
            f"explorer draws whole tracks), found {max_cells} while the shortest of the {len(sizes)} tracks "
            f"has {int(sizes.min())} cells: the page would show no cell; raise explorer_max_cells to "
            f"{int(sizes.min())} or more"
        )
    chosen, total = [], 0
    for k in order:
        key = (keys.at[k, "fov_name"], keys.at[k, "track_id"])
        if total + sizes[key] > max_cells:
            continue
        chosen.append(key)
        total += int(sizes[key])
    index = pd.MultiIndex.from_tuples(chosen, names=["fov_name", "track_id"])
    mask = cells.set_index(["fov_name", "track_id"]).index.isin(index)
    return cells[mask].reset_index(drop=True)


#: MIME type of the thumbnails: lossy WebP (quality 80) is about 4.5 times smaller than PNG on the
#: demo's patches (0.50 vs 2.26 kB per 64-pixel thumbnail), which keeps a 2,000-cell page and the
#: report that embeds it small; every current browser shows it.
THUMBNAIL_TYPE = "image/webp"


def encode_thumbnails(images: np.ndarray, size_px: int) -> list[str]:
    """Each (Y, X) image as a base64 WebP (:data:`THUMBNAIL_TYPE`) of ``size_px`` square, one window
    for all (1st–99.5th percentile of their pixels) so brightness compares between cells. A
    non-square image (a crop of ``h != w``) is centred on a black square first, not stretched."""
    finite = images[np.isfinite(images)]
    low, high = np.percentile(finite, [1, 99.5]) if finite.size else (0.0, 1.0)
    scaled = np.clip((np.nan_to_num(images, nan=low) - low) / max(high - low, 1e-12), 0, 1)
    height, width = images.shape[-2:]
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    out = []
    for image in (scaled * 255).astype(np.uint8):
        square = np.zeros((side, side), dtype=np.uint8)
        square[top : top + height, left : left + width] = image
        buffer = io.BytesIO()
        Image.fromarray(square).resize((size_px, size_px), Image.Resampling.BILINEAR).save(
            buffer, "WEBP", quality=80, method=6
        )
        out.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    return out


def _json_values(series: pd.Series) -> list[Any]:
    if pd.api.types.is_bool_dtype(series):
        return [str(v) for v in series]
    if pd.api.types.is_numeric_dtype(series):
        return [None if pd.isna(v) else round(float(v), 4) for v in series]
    return [None if pd.isna(v) else str(v) for v in series]


def explorer_data(
    cells: pd.DataFrame,
    thumbnails: Callable[[np.ndarray], np.ndarray],
    *,
    title: str,
    download_name: str,
    thumbnail_px: int = 64,
    axis_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The page's data: projections, colour columns, cell keys, thumbnails (read by patch row)."""
    methods = sorted(
        {c.rsplit("_", 1)[0] for c in cells.columns if c.endswith("_1") and c[:-2] + "_2" in cells}
    )
    projections = {
        m: np.round(cells[[f"{m}_1", f"{m}_2"]].to_numpy(dtype=float), 4).tolist() for m in methods
    }
    skip = set(KEY_COLUMNS) | {c for c in cells.columns if any(c.startswith(f"{m}_") for m in methods)}
    columns = {c: _json_values(cells[c]) for c in cells.columns if c not in skip}
    if "time_minutes" in columns and cells["time_minutes"].notna().any():
        columns["time (h)"] = _json_values(cells["time_minutes"] / 60.0)
        del columns["time_minutes"]
    columns["frame"] = [int(t) for t in cells["t"]]
    default = next(
        (c for c in ("predicted_infection", "true_infected", "time (h)", "frame") if c in columns), "frame"
    )
    return {
        "title": title,
        "download_name": download_name,
        "projections": projections,
        "axis_labels": dict(axis_labels or {}),
        "columns": columns,
        "default_colour": default,
        "cells": {
            "fov_name": [str(v) for v in cells["fov_name"]],
            "track_id": [int(v) for v in cells["track_id"]],
            "t": [int(v) for v in cells["t"]],
        },
        "thumbnails": encode_thumbnails(thumbnails(cells["row"].to_numpy()), thumbnail_px),
        "thumbnail_type": THUMBNAIL_TYPE,
        "task_labels": TASK_LABELS,
    }


def _script(name: str) -> str:
    return files("dynaclr.figures").joinpath(name).read_text()


def explorer_html(data: Mapping[str, Any]) -> str:
    """The self-contained page (data as JSON in the page, scripts inline, no network)."""
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    title = html.escape(str(data["title"]))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}: embedding explorer</title>
<style>
body {{ font: 13px system-ui, sans-serif; margin: 12px; color: #222; }}
#main {{ display: flex; gap: 16px; align-items: flex-start; }}
canvas {{ border: 1px solid #bbb; width: 600px; height: 600px; cursor: crosshair; }}
.controls label {{ margin-right: 10px; }}
.thumb {{ width: 64px; height: 64px; image-rendering: pixelated; margin: 1px;
  border: 2px solid transparent; }}
.thumb.current {{ border-color: #e4007c; }}
#cell .thumb {{ width: 128px; height: 128px; }}
.facts {{ white-space: pre; font-family: monospace; font-size: 12px; }}
#track {{ max-width: 1200px; }}
.swatch {{ margin-right: 10px; }}
.swatch i {{ display: inline-block; width: 10px; height: 10px; margin-right: 3px; }}
</style></head><body>
<h2>{title}</h2>
<p>Point at a cell to see its patch and its track over time. Click to select a cell (again to
deselect); drag to select a rectangle. Label the selection for a task, then download the
annotations as the table <code>import_annotations</code> reads
(<code>datasets.&lt;name&gt;.annotations.table</code>).</p>
<div class="controls">
<label>projection <select id="method"></select></label>
<label>colour by <select id="colour-by"></select></label>
<label>task <select id="task"></select></label>
<label>label <select id="label"></select></label>
<button id="apply">label selected cells</button>
<button id="clear">clear selection</button>
<button id="download">download annotations (CSV)</button>
</div>
<div id="legend"></div><div id="axes"></div><div id="counts"></div>
<div id="main"><canvas id="scatter" width="600" height="600"></canvas><div id="cell"></div></div>
<h3>Track of the cell</h3><div id="track"></div>
<script type="application/json" id="explorer-data">{payload}</script>
<script>{_script("explorer_core.js")}</script>
<script>{_script("explorer_page.js")}</script>
</body></html>
"""
