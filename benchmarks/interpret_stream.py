"""Benchmark: peak memory of rule ``interpret_embeddings`` on one synthetic store of demo-like width.

``benchmarks/gathers.py`` cannot drive this stage (it needs a patch store and the cell features of
the store's cells), so this script makes them:

* ``prepare WORKDIR --cells N --features D``: planted embeddings
  (:func:`dynaclr.pseudotime.synthetic.planted_infection_embeddings`, FOVs of 18 tracks of 38
  frames; float32 ``X`` written by :func:`dynaclr.embeddings.write_embeddings`), a patch store of
  the same cells (``--channels`` channels of ``1 x 16 x 16`` patches, left at the fill value but
  the gallery's: no patch data is read besides them), a cell-features table of random values with
  the columns :func:`dynaclr.interpretation.cell_feature_names` gives, and infection predictions
  for the per-state gallery;
* ``run WORKDIR``: :func:`dynaclr.interpretation.stage.interpret_embeddings_stage` with the default
  :class:`~dynaclr.config.analysis.InterpretationConfig` (8 components, the gallery of 2);
  prints the call's wall seconds.

Measure the job's peak resident memory with ``/usr/bin/time -f %M`` (KiB)::

    PYTHONPATH=src python benchmarks/interpret_stream.py prepare /tmp/interp --cells 200000 --features 320
    PYTHONPATH=src /usr/bin/time -f %M python benchmarks/interpret_stream.py run /tmp/interp

``PYTHONPATH`` pointing at another source tree (``git archive <commit> src | tar -x -C /tmp/before``)
measures the stage of that commit on the same inputs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import zarr

TRACKS_PER_FOV, TRACK_FRAMES = 18, 38
CHANNELS = ("Phase3D", "Nuclei", "ERMarker")


def _paths(workdir: Path) -> dict[str, Path]:
    names = {
        "embeddings": "embeddings.zarr",
        "patches_zarr": "patches.zarr",
        "patches_parquet": "patches.parquet",
        "features": "cell_features.parquet",
        "predictions": "predictions.parquet",
    }
    return {key: workdir / name for key, name in names.items()}


def prepare(workdir: Path, n_cells: int, n_features: int, n_channels: int) -> None:
    from dynaclr.embeddings import build_anndata, write_embeddings
    from dynaclr.interpretation import cell_feature_names
    from dynaclr.io import ArtifactKind, make_provenance, write_table, write_zarr_provenance
    from dynaclr.patches.store import create_patch_array
    from dynaclr.pseudotime.synthetic import planted_infection_embeddings

    paths = _paths(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    n_fovs = max(2, round(n_cells / (TRACKS_PER_FOV * TRACK_FRAMES)))
    matrix, truth = planted_infection_embeddings(
        n_fovs=n_fovs, tracks_per_fov=TRACKS_PER_FOV, n_frames=TRACK_FRAMES, dim=n_features, seed=0
    )
    identity = {"model": "planted", "dataset": "wide"}
    write_embeddings(
        build_anndata(matrix, truth), paths["embeddings"], make_provenance(ArtifactKind.EMBEDDINGS, identity)
    )
    del matrix

    channels = list(CHANNELS[:n_channels])
    spec: dict[str, Any] = {"name": "bench", "channels": channels, "patches_per_shard": 1024}
    group = zarr.open_group(str(paths["patches_zarr"]), mode="w", zarr_format=3)
    group.attrs.update(
        {"channel_names": channels, "time_interval_minutes": 30.0, "patch_spec": spec, "patch_size_yx_px": 16}
    )
    create_patch_array(group, len(truth), (n_channels, 1, 16, 16), "float32", 1024)
    write_zarr_provenance(paths["patches_zarr"], make_provenance(ArtifactKind.PATCHES, spec))
    index = truth.loc[:, ["fov_name", "well", "condition", "track_id", "parent_track_id", "lineage_id", "t"]]
    index = index.assign(time_minutes=index["t"] * 30.0, y=truth["y"], x=truth["x"], padded_fraction=0.0)
    index.insert(0, "row", np.arange(len(index)))
    write_table(index, paths["patches_parquet"], make_provenance(ArtifactKind.PATCH_INDEX, spec))

    rng = np.random.default_rng(0)
    keys = truth.loc[:, ["fov_name", "track_id", "t"]]
    names = cell_feature_names([f"raw:{name}" for name in channels])
    features = keys.assign(**{name: rng.normal(size=len(keys)) for name in names})
    # the crop the features are measured on (rule cell_features records it; interpret_embeddings reads it)
    write_table(
        features,
        paths["features"],
        make_provenance(ArtifactKind.CELL_FEATURES, {"measured_crop_yx_px": [16, 16]}),
    )
    predictions = keys.assign(
        task="infection",
        probability=0.5,
        predicted_label=np.where(truth["infected"], "infected", "uninfected"),
    )
    write_table(predictions, paths["predictions"], make_provenance(ArtifactKind.PREDICTIONS, {}))
    print(f"{len(truth)} cells x {n_features} features, {len(names)} cell features in {workdir}")


def run(workdir: Path) -> None:
    from dynaclr.config.analysis import InterpretationConfig
    from dynaclr.interpretation.stage import InterpretInputs, InterpretOutputs, interpret_embeddings_stage

    paths = _paths(workdir)
    out = workdir / "out"
    out.mkdir(exist_ok=True)
    outputs = InterpretOutputs(
        correlation=out / "correlation.csv",
        heatmap_png=out / "heatmap.png",
        heatmap_svg=out / "heatmap.svg",
        gallery_png=out / "gallery.png",
        gallery_svg=out / "gallery.svg",
    )
    started = time.perf_counter()
    interpret_embeddings_stage(
        InterpretationConfig(enabled=True),
        InterpretInputs(**paths),
        outputs,
        model="planted",
        dataset="wide",
    )
    print(f"interpret_embeddings: {time.perf_counter() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=("prepare", "run"))
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--cells", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=320)
    parser.add_argument("--channels", type=int, default=3, choices=(1, 2, 3))
    args = parser.parse_args()
    if args.action == "prepare":
        prepare(args.workdir, args.cells, args.features, args.channels)
    else:
        run(args.workdir)


if __name__ == "__main__":
    main()
