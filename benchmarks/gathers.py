"""Benchmark: the dataset-level gathers against the number of FOVs: wall time and peak memory.

From one FOV of a finished run (``--results``, ``--dataset``, ``--fov``, ``--spec``: its tracks
CSV and record, the label plate's metadata, its patch store and index), builds ``max(--fovs)``
copies under distinct FOV names (``prepare``: files hard-linked where they need no change, records,
metadata and indices rewritten; the patch store cut to ``--patches-per-fov`` patches of the FOV's
first tracks, so every copy is tiny). The plate of N FOVs is the first N copies. Then, for each N
of ``--fovs``, runs in order, each in a fresh Python process through the library function its
workflow shim calls:

* ``collect_tracks``: :func:`dynaclr.tracking.collect_tracks` of the N records and CSVs;
* ``collect_patches``: :func:`dynaclr.patches.collect_patches` of the N stores
  (``--collect-threads``);
* ``embed``: the embed stage's encoder path on that store: :func:`dynaclr.patches.open_patch_store`,
  :func:`dynaclr.embeddings.encode_patches` (a randomly initialised ``--backbone`` on the CPU,
  patches centre-cropped to ``--crop``), :func:`dynaclr.embeddings.build_anndata`,
  :func:`dynaclr.embeddings.write_embeddings` (what :func:`dynaclr.embeddings.embed_stage` does
  once it has read a checkpoint);
* ``temporal_metrics``: :func:`dynaclr.evaluation.stage.temporal_metrics_stage` of those
  embeddings (the demo's config: 200 bootstrap replicates).

A job's peak memory is its ``ru_maxrss`` from ``os.wait4``; its time is the library call's wall
time (the job prints it) and the process's (imports included). An ``imports`` job per stage (its
imports, no call) gives what the interpreter and libraries take. The table gives, per stage and
N, wall seconds, peak MiB, and the growth exponent between consecutive N (``log(ratio) /
log(N ratio)``: 0 flat, 1 linear) of the wall time and of the peak above the imports job's.

Usage::

    python benchmarks/gathers.py --workdir /tmp/gathers --fovs 100 1000 10000 --results results

The per-stage jobs are started by this script itself as ``--job STAGE``; the workdir is removed at
the end unless ``--keep``.

``--wide-cells N --wide-features D`` measures instead ``temporal_metrics`` on one synthetic store
of demo-like width (float32 ``X`` streamed in chunks of 65,536 rows as rule ``embed`` writes it;
FOVs of 18 tracks of 38 frames, 684 cells, rows frame by frame within a FOV), each job in a fresh
process:

* ``in_memory``: what the stage did before it streamed: ``read_embeddings``,
  ``representation_matrix``, then the in-memory ``temporal_metrics_with_replicates`` (200
  replicates) and ``paper_temporal_metrics`` of the matrix. ``--in-memory-src DIR`` runs it on
  another source tree (e.g. ``git worktree add /tmp/before <commit>``, ``--in-memory-src
  /tmp/before/src``: the implementation before the streaming);
* ``streamed``: :func:`dynaclr.evaluation.stage.temporal_metrics_stage` of the store;

and prints their peaks and times side by side, and the largest relative difference of their values::

    python benchmarks/gathers.py --workdir /tmp/wide --wide-cells 300000 --wide-features 768

``--analysis-cells N [N ...] --analysis-features D`` measures instead the peak memory of the rules
that read a whole embeddings store, and of ``classify`` and ``transfer_classifiers``, which stream
it (:data:`ANALYSIS_STAGES`; their ``mem_mb`` in ``workflow/rules/analysis_common.smk`` comes from
it). For each N, an ``analysis_store`` job writes
the planted embeddings of :func:`dynaclr.pseudotime.synthetic.planted_infection_embeddings` (whole
FOVs of 18 tracks of 38 frames, N rounded to a multiple of 684 cells; ``D`` features), their ground
truth and the annotations :func:`dynaclr.classify.draw_annotations_stage` draws from it; then each
stage's library function runs in a fresh process on that store, in this order (each stage's inputs
are the earlier stages' outputs): ``classify``, ``classification_intervals`` (the CIs of its
scores, from its predictions table, read whole), ``transfer_classifiers`` (the classifiers just
fitted), ``project_embeddings`` (``pca`` only: UMAP and PHATE are not measured),
``align_pseudotime`` (reference from the ground truth), ``embedding_figures`` (without the explorer
page, which needs a patch store), ``aligned_trajectories_figure`` (the aligned trajectories of
``align_pseudotime``'s table, without the gallery, which needs a patch store; ``pseudotime_figure``
before the accuracy figure went to a rule of its own), ``export_embeddings``
(``.h5ad``, Parquet and VisCy's store, with the projections where ``project_embeddings`` ran; the
store job writes a tracks table numbering the planted cells' nodes). The table gives per stage and N
the peak MiB, the imports job's, and the bytes per stored value above the imports
(``(peak - imports) / (N x D)``) and between consecutive N::

    python benchmarks/gathers.py --workdir /tmp/mem --analysis-cells 50000 200000 --analysis-features 320
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

STAGES = ("collect_tracks", "collect_patches", "embed", "temporal_metrics")
WIDE_JOBS = ("wide_store", "wide_in_memory", "wide_streamed")
#: FOVs of the wide store: 18 tracks of 38 frames, 684 cells (the demo's density).
WIDE_TRACKS_PER_FOV, WIDE_TRACK_FRAMES = 18, 38


def _paths(workdir: Path, n_fovs: int) -> dict[str, Path]:
    """Inputs (copies) and per-N outputs of the benchmark in ``workdir``."""
    out = workdir / f"n{n_fovs}"
    return {
        "copies": workdir / "copies",
        "tracks_plate": workdir / "copies" / "tracks.zarr",
        "tracks": out / "tracks.parquet",
        "patches_zarr": out / "patches.zarr",
        "patches_parquet": out / "patches.parquet",
        "embeddings": out / "embeddings.zarr",
        "metrics": out / "temporal_metrics.csv",
        "comparison": out / "temporal_comparison.csv",
    }


def prepare(args: argparse.Namespace) -> None:
    """``max(--fovs)`` copies of the FOV's tracks, record and (cut) patch store, in ``copies/``."""
    from collect_patches_speed import copy_fov_patch_stores, fov_name_of, truncated_fov_store

    results, dataset, fov = args.results, args.dataset, args.fov
    n_max = max(args.fovs)
    copies = _paths(args.workdir, n_max)["copies"]
    shutil.rmtree(copies, ignore_errors=True)
    (copies / "tracks.zarr").mkdir(parents=True)
    shutil.copy(results / dataset / "tracks.zarr" / "zarr.json", copies / "tracks.zarr" / "zarr.json")
    csv = results / dataset / "tracks" / fov / f"tracks_{fov.replace('/', '_')}.csv"
    record = json.loads((results / dataset / "records" / "tracks" / f"{fov}.json").read_text())
    for number in range(n_max):
        target = copies / "tracks" / str(number)
        target.mkdir(parents=True)
        os.link(csv, target / "tracks.csv")
        metrics = {
            **record["metrics"],
            "fov_name": fov_name_of(number),
            "tracks_csv": str(target / "tracks.csv"),
        }
        (target / "record.json").write_text(json.dumps({**record, "metrics": metrics}))
    source = results / dataset / "patches" / args.spec / "fovs" / f"{fov}.zarr"
    tiny, _ = truncated_fov_store(source, copies / "tiny_fov", args.patches_per_fov)
    copy_fov_patch_stores(tiny, copies / "patches", n_max)


def run_job(stage: str, args: argparse.Namespace, imports_only: bool) -> float:
    """Run ``stage`` for ``--n`` FOVs (or only its imports); returns the call's wall seconds."""
    n_fovs = args.n
    paths = _paths(args.workdir, n_fovs)
    copies = paths["copies"]
    paths["tracks"].parent.mkdir(parents=True, exist_ok=True)
    if stage == "collect_tracks":
        from dynaclr.tracking import CollectTracksInputs, CollectTracksOutputs, collect_tracks

        if imports_only:
            return 0.0
        folders = [copies / "tracks" / str(number) for number in range(n_fovs)]
        started = time.perf_counter()
        collect_tracks(
            CollectTracksInputs(
                tracks_plate=paths["tracks_plate"],
                records=tuple(folder / "record.json" for folder in folders),
                tracks_csvs=tuple(folder / "tracks.csv" for folder in folders),
            ),
            CollectTracksOutputs(tracks=paths["tracks"]),
        )
    elif stage == "collect_patches":
        from dynaclr.patches import CollectPatchesInputs, CollectPatchesOutputs, collect_patches

        if imports_only:
            return 0.0
        stores = [copies / "patches" / f"{number}.zarr" for number in range(n_fovs)]
        started = time.perf_counter()
        collect_patches(
            CollectPatchesInputs(
                zarrs=tuple(stores), parquets=tuple(store.with_suffix(".parquet") for store in stores)
            ),
            CollectPatchesOutputs(zarr=paths["patches_zarr"], parquet=paths["patches_parquet"]),
            threads=args.collect_threads,
        )
    elif stage == "embed":
        import torch

        from dynaclr.baselines import random_encoder
        from dynaclr.config.embeddings import EmbeddingConfig
        from dynaclr.embeddings import build_anndata, encode_patches, write_embeddings
        from dynaclr.io import ArtifactKind, make_provenance
        from dynaclr.patches import open_patch_store

        if imports_only:
            return 0.0
        torch.set_num_threads(1)
        started = time.perf_counter()
        store = open_patch_store(paths["patches_zarr"], paths["patches_parquet"])
        n_channels, n_slices = store.array.shape[1:3]
        encoder = random_encoder(
            seed=0,
            backbone=args.backbone,
            in_channels=n_channels,
            in_stack_depth=n_slices,
            stem_kernel_z=n_slices,
        )
        config = EmbeddingConfig(device="cpu", crop_size_yx_px=(args.crop, args.crop))
        features, projections = encode_patches(
            encoder,
            store.array,
            store.index,
            config,
            crop_size_yx=(args.crop, args.crop),
            partial_path=paths["embeddings"].with_suffix(".partial"),
            show_progress=False,
            lazy=True,
        )
        info = {"model": "random_weights", "dataset": "gathers", "kind": "random_weights"}
        adata = build_anndata(features, store.index, projections=projections, info=info)
        recorded: list[Any] = [(paths["patches_zarr"], store.provenance)]
        provenance_config = {**config.model_dump(mode="json"), **info}
        write_embeddings(
            adata, paths["embeddings"], make_provenance(ArtifactKind.EMBEDDINGS, provenance_config, recorded)
        )
        shutil.rmtree(paths["embeddings"].with_suffix(".partial"), ignore_errors=True)
    elif stage == "temporal_metrics":
        from dynaclr.config.analysis import TemporalMetricsConfig
        from dynaclr.evaluation.stage import (
            TemporalMetricsInputs,
            TemporalMetricsOutputs,
            temporal_metrics_stage,
        )

        if imports_only:
            return 0.0
        started = time.perf_counter()
        temporal_metrics_stage(
            TemporalMetricsConfig(n_bootstrap=200),
            TemporalMetricsInputs(embeddings=(paths["embeddings"],)),
            TemporalMetricsOutputs(metrics=paths["metrics"], comparison=paths["comparison"]),
        )
    else:
        raise ValueError(f"unknown stage {stage!r}; stages: {STAGES}")
    return time.perf_counter() - started


def _wide_index(n_cells: int) -> Any:
    """FOVs of 18 tracks of 38 frames, each FOV's rows frame by frame (``t``-major), as patches are stored."""
    import numpy as np
    import pandas as pd

    row = np.arange(n_cells)
    per_fov = WIDE_TRACKS_PER_FOV * WIDE_TRACK_FRAMES
    fov, within = row // per_fov, row % per_fov
    names = np.array([f"A/{number // 1000}/{number % 1000}" for number in range(int(fov.max()) + 1)])
    return pd.DataFrame(
        {"fov_name": names[fov], "track_id": within % WIDE_TRACKS_PER_FOV, "t": within // WIDE_TRACKS_PER_FOV}
    )


def wide_job(job: str, args: argparse.Namespace) -> float:
    """One job of the wide comparison (module docstring); returns the call's wall seconds."""
    store = args.workdir / "wide.zarr"
    if job == "wide_store":
        import numpy as np
        import zarr

        from dynaclr.embeddings import build_anndata, write_embeddings
        from dynaclr.embeddings.store import STREAMED_CHUNK_ROWS
        from dynaclr.io import ArtifactKind, make_provenance

        started = time.perf_counter()
        index = _wide_index(args.wide_cells)
        shape = (args.wide_cells, args.wide_features)
        partial = zarr.create_array(
            str(args.workdir / "wide.partial"),
            shape=shape,
            dtype="float32",
            chunks=(STREAMED_CHUNK_ROWS, shape[1]),
        )
        rng = np.random.default_rng(0)
        track_code = index.groupby(["fov_name", "track_id"], sort=False).ngroup().to_numpy()
        centres = rng.normal(size=(int(track_code.max()) + 1, shape[1])).astype(np.float32)
        for start in range(0, shape[0], STREAMED_CHUNK_ROWS):
            codes = track_code[start : start + STREAMED_CHUNK_ROWS]
            noise = rng.normal(scale=0.5, size=(codes.size, shape[1])).astype(np.float32)
            partial[start : start + codes.size] = centres[codes] + noise
        info = {"model": "wide", "dataset": "wide"}
        write_embeddings(
            build_anndata(partial, index, info=info), store, make_provenance(ArtifactKind.EMBEDDINGS, info)
        )
        shutil.rmtree(args.workdir / "wide.partial")
    elif job == "wide_in_memory":
        from dynaclr.embeddings import cell_table, read_embeddings, representation_matrix
        from dynaclr.evaluation.paper import paper_temporal_metrics
        from dynaclr.evaluation.temporal import temporal_metrics_with_replicates

        if args.imports_only:
            return 0.0
        started = time.perf_counter()
        adata = read_embeddings(store)
        matrix = representation_matrix(adata, "features")
        cells = cell_table(adata)
        track_pairs, _ = temporal_metrics_with_replicates(matrix, cells, n_bootstrap=200, seed=0)
        paper = paper_temporal_metrics(matrix, cells)
        values = {"track_pairs": track_pairs["smoothness"], "paper": paper["smoothness"]}
        (args.workdir / "in_memory.json").write_text(json.dumps(values))
    elif job == "wide_streamed":
        import pandas as pd

        from dynaclr.config.analysis import TemporalMetricsConfig
        from dynaclr.evaluation.stage import (
            TemporalMetricsInputs,
            TemporalMetricsOutputs,
            temporal_metrics_stage,
        )

        if args.imports_only:
            return 0.0
        started = time.perf_counter()
        metrics = args.workdir / "metrics.csv"
        temporal_metrics_stage(
            TemporalMetricsConfig(n_bootstrap=200),
            TemporalMetricsInputs(embeddings=(store,)),
            TemporalMetricsOutputs(metrics=metrics, comparison=args.workdir / "comparison.csv"),
        )
        table = pd.read_csv(metrics).set_index("definition")["smoothness"]
        (args.workdir / "streamed.json").write_text(
            json.dumps({name: float(table[name]) for name in table.index})
        )
    else:
        raise ValueError(f"unknown job {job!r}; jobs: {WIDE_JOBS}")
    return time.perf_counter() - started


def wide_comparison(args: argparse.Namespace) -> None:
    """The in-memory and streamed temporal metrics of one wide store, side by side (module docstring)."""
    args.workdir.mkdir(parents=True, exist_ok=True)
    size = ["--wide-cells", str(args.wide_cells), "--wide-features", str(args.wide_features)]
    seconds, _, _ = _launch(args, ["--job", "wide_store", *size])
    gigabytes = args.wide_cells * args.wide_features * 4 / 1e9
    print(
        f"wrote {args.wide_cells:,} x {args.wide_features} float32 ({gigabytes:.1f} GB) in {seconds:.0f} s",
        flush=True,
    )
    environment = None
    if args.in_memory_src:
        environment = {**os.environ, "PYTHONPATH": str(args.in_memory_src.resolve())}
    rows = []
    for job, env in (("wide_in_memory", environment), ("wide_streamed", None)):
        _, _, imports = _launch(args, ["--job", job, "--imports-only", *size], env)
        call, process, peak = _launch(args, ["--job", job, *size], env)
        rows.append((job.removeprefix("wide_"), call, process, peak, imports))
        print(f"  {job}: {call:.1f} s (process {process:.1f} s), {peak:,.0f} MiB", flush=True)
    before = json.loads((args.workdir / "in_memory.json").read_text())
    after = json.loads((args.workdir / "streamed.json").read_text())
    print("| path | cells | features | wall (s) | process (s) | peak MiB | imports MiB | above imports |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, call, process, peak, imports in rows:
        size_columns = f"{args.wide_cells:,} | {args.wide_features}"
        print(
            f"| {name} | {size_columns} | {call:.1f} | {process:.1f} | {peak:,.0f} | "
            f"{imports:,.0f} | {peak - imports:,.0f} |"
        )
    for definition in ("track_pairs", "paper"):
        difference = abs(after[definition] - before[definition]) / abs(before[definition])
        print(
            f"{definition} smoothness: in memory {before[definition]!r}, streamed {after[definition]!r}, "
            f"relative difference {difference:.1e}"
        )
    if not args.keep:
        shutil.rmtree(args.workdir)


#: Stages of ``--analysis-cells``: each rule that reads a whole embeddings store (or did: classify and
#: transfer_classifiers stream it now), in the order their inputs are made (classify writes the
#: classifiers transfer_classifiers applies and the predictions the figures colour by;
#: project_embeddings the projections the figures draw), and classification_intervals, which reads
#: classify's predictions table whole.
ANALYSIS_STAGES = (
    "classify",
    "classification_intervals",
    "transfer_classifiers",
    "project_embeddings",
    "align_pseudotime",
    "embedding_figures",
    "aligned_trajectories_figure",
    "export_embeddings",
)
ANALYSIS_JOBS = ("analysis_store", *(f"analysis_{stage}" for stage in ANALYSIS_STAGES))


def _analysis_cells(requested: int) -> tuple[int, int]:
    """(FOVs, cells) of the analysis store nearest ``requested`` cells: whole FOVs of the demo's density."""
    per_fov = WIDE_TRACKS_PER_FOV * WIDE_TRACK_FRAMES
    n_fovs = max(2, round(requested / per_fov))
    return n_fovs, n_fovs * per_fov


def _analysis_paths(workdir: Path, n_cells: int) -> dict[str, Path]:
    """Inputs and outputs of the analysis jobs of the ``n_cells`` store."""
    out = workdir / f"analysis{n_cells}"
    names = {
        "embeddings": "embeddings.zarr",
        "truth": "ground_truth_tracks.parquet",
        "tracks": "tracks.parquet",
        "annotations": "annotations.parquet",
        "projections": "projections.zarr",
    }
    return {"out": out, **{key: out / name for key, name in names.items()}}


def _tracker_table(truth: Any) -> Any:
    """The tracks table of the planted cells, for VisCy's store: node ids numbered row by row, each
    node's parent the previous detection of its track (-1 for a track's first)."""
    tracks = truth[["fov_name", "track_id", "t", "y", "x", "parent_track_id"]].copy()
    tracks = tracks.sort_values(["fov_name", "track_id", "t"]).reset_index(drop=True)
    tracks["id"] = range(len(tracks))
    tracks["parent_id"] = tracks.groupby(["fov_name", "track_id"])["id"].shift(1).fillna(-1).astype("int64")
    return tracks


def analysis_job(job: str, args: argparse.Namespace) -> float:
    """One job of the analysis comparison (module docstring); returns the call's wall seconds."""
    n_fovs, n_cells = _analysis_cells(args.n)
    paths = _analysis_paths(args.workdir, n_cells)
    out = paths["out"]
    model, dataset = "planted", "wide"
    if job == "analysis_store":
        from dynaclr.classify import AnnotationsOutputs, DrawAnnotationsInputs, draw_annotations_stage
        from dynaclr.config.analysis import AnnotationConfig
        from dynaclr.embeddings import build_anndata, write_embeddings
        from dynaclr.io import ArtifactKind, make_provenance, write_table
        from dynaclr.pseudotime.synthetic import planted_infection_embeddings

        started = time.perf_counter()
        out.mkdir(parents=True, exist_ok=True)
        features, truth = planted_infection_embeddings(
            n_fovs=n_fovs,
            tracks_per_fov=WIDE_TRACKS_PER_FOV,
            n_frames=WIDE_TRACK_FRAMES,
            dim=args.analysis_features,
            seed=0,
        )
        info = {"model": model, "dataset": dataset}
        write_embeddings(
            build_anndata(features, truth),
            paths["embeddings"],
            make_provenance(ArtifactKind.EMBEDDINGS, info),
        )
        write_table(truth, paths["truth"], make_provenance(ArtifactKind.GROUND_TRUTH_TRACKS, {}))
        write_table(_tracker_table(truth), paths["tracks"], make_provenance(ArtifactKind.TRACKS, {}))
        draw_annotations_stage(
            AnnotationConfig(seed=0),
            DrawAnnotationsInputs(tracks=paths["truth"]),
            AnnotationsOutputs(annotations=paths["annotations"]),
        )
        return time.perf_counter() - started
    stage = job.removeprefix("analysis_")
    if stage == "classify":
        from dynaclr.classify import ClassifyInputs, ClassifyOutputs, classify_stage
        from dynaclr.config.analysis import ClassificationConfig

        if args.imports_only:
            return 0.0
        started = time.perf_counter()
        classify_stage(
            ClassificationConfig(),
            ClassifyInputs(embeddings=paths["embeddings"], annotations=paths["annotations"]),
            ClassifyOutputs(
                scores=out / "classification_scores.parquet",
                predictions=out / "predictions.parquet",
                classifiers=out / "classifiers.json",
            ),
            model=model,
            dataset=dataset,
        )
    elif stage == "classification_intervals":
        from dynaclr.classify import (
            ClassificationIntervalsInputs,
            ClassificationIntervalsOutputs,
            classification_intervals_stage,
        )
        from dynaclr.config.analysis import ClassificationConfig

        if args.imports_only:
            return 0.0
        started = time.perf_counter()
        metrics = classification_intervals_stage(
            ClassificationConfig(n_bootstrap=args.analysis_n_bootstrap),
            ClassificationIntervalsInputs(
                scores=out / "classification_scores.parquet", predictions=out / "predictions.parquet"
            ),
            ClassificationIntervalsOutputs(metrics=out / "classification.parquet"),
        )
        print(  # what the bootstrap resamples (the rule's runtime is per scored row and replicate)
            f"classification_intervals: {int(metrics['n_test'].sum()):,} scored rows, "
            f"n_bootstrap {args.analysis_n_bootstrap}",
            file=sys.stderr,
        )
    elif stage == "transfer_classifiers":
        from dynaclr.classify import (
            TransferClassifiersInputs,
            TransferClassifiersOutputs,
            transfer_classifiers_stage,
        )
        from dynaclr.config.analysis import ClassificationConfig

        if args.imports_only:
            return 0.0
        started = time.perf_counter()
        transfer_classifiers_stage(
            ClassificationConfig(),
            TransferClassifiersInputs(
                embeddings=paths["embeddings"],
                classifiers=(out / "classifiers.json",),
                annotations=paths["annotations"],
            ),
            TransferClassifiersOutputs(
                scores=out / "transfer_scores.parquet", predictions=out / "transfer_predictions.parquet"
            ),
            model=model,
            dataset=dataset,
            sources=[dataset],
        )
    elif stage == "project_embeddings":
        from dynaclr.config.embeddings import ProjectionConfig
        from dynaclr.embeddings import ProjectionInputs, ProjectionOutputs, projection_stage

        if args.imports_only:
            return 0.0
        started = time.perf_counter()
        projection_stage(
            ProjectionConfig(methods=("pca",)),
            ProjectionInputs(embeddings=paths["embeddings"]),
            ProjectionOutputs(projections=paths["projections"]),
        )
    elif stage == "align_pseudotime":
        from dynaclr.config.analysis import PseudotimeConfig
        from dynaclr.pseudotime.stage import AlignPseudotimeInputs, AlignPseudotimeOutputs, pseudotime_stage

        if args.imports_only:
            return 0.0
        started = time.perf_counter()
        pseudotime_stage(
            PseudotimeConfig(reference_frames_before_onset=3, reference_frames_after_onset=8),
            AlignPseudotimeInputs(embeddings=paths["embeddings"], tracks=paths["truth"]),
            AlignPseudotimeOutputs(pseudotime=out / "pseudotime.parquet", accuracy=out / "dtw_accuracy.csv"),
            model=model,
            dataset=dataset,
        )
    elif stage == "embedding_figures":
        from dynaclr.config.analysis import FiguresConfig
        from dynaclr.figures.stage import EmbeddingFiguresInputs, EmbeddingFiguresOutputs, embedding_figures

        if args.imports_only:
            return 0.0
        started = time.perf_counter()
        embedding_figures(
            FiguresConfig(),
            EmbeddingFiguresInputs(
                projections=paths["projections"],
                embeddings=paths["embeddings"],
                tracks=paths["truth"],
                predictions=out / "predictions.parquet",
            ),
            EmbeddingFiguresOutputs(
                projections_png=out / "projections.png",
                projections_svg=out / "projections.svg",
                distances_png=out / "distances.png",
                distances_svg=out / "distances.svg",
            ),
            model=model,
            dataset=dataset,
        )
    elif stage == "aligned_trajectories_figure":
        from dynaclr.figures.stage import (
            AlignedTrajectoriesInputs,
            AlignedTrajectoriesOutputs,
            aligned_trajectories_figure,
        )

        if args.imports_only:
            return 0.0
        started = time.perf_counter()
        aligned_trajectories_figure(
            AlignedTrajectoriesInputs(pseudotime=out / "pseudotime.parquet", embeddings=paths["embeddings"]),
            AlignedTrajectoriesOutputs(
                trajectories_png=out / "aligned_trajectories.png",
                trajectories_svg=out / "aligned_trajectories.svg",
            ),
            model=model,
            dataset=dataset,
        )
    elif stage == "export_embeddings":
        from dynaclr.exports.embeddings import (
            ExportEmbeddingsInputs,
            ExportEmbeddingsOutputs,
            export_embeddings,
        )

        if args.imports_only:
            return 0.0
        started = time.perf_counter()
        projections = paths["projections"] if paths["projections"].exists() else None
        export_embeddings(
            ExportEmbeddingsInputs(
                embeddings=paths["embeddings"], tracks=paths["tracks"], projections=projections
            ),
            ExportEmbeddingsOutputs(
                h5ad=out / "export.h5ad", parquet=out / "export.parquet", viscy=out / "export.viscy.zarr"
            ),
        )
    else:
        raise ValueError(f"unknown job {job!r}; jobs: {ANALYSIS_JOBS}")
    return time.perf_counter() - started


def analysis_comparison(args: argparse.Namespace) -> None:
    """Peak memory of each analysis stage against the store size (module docstring)."""
    args.workdir.mkdir(parents=True, exist_ok=True)
    width = ["--analysis-features", str(args.analysis_features)]
    width += ["--analysis-n-bootstrap", str(args.analysis_n_bootstrap)]
    imports = {
        stage: _launch(args, ["--job", f"analysis_{stage}", "--imports-only", *width])[2]
        for stage in args.analysis_stages
    }
    sizes = sorted({_analysis_cells(requested)[1] for requested in args.analysis_cells})
    measured: dict[str, list[tuple[float, float]]] = {stage: [] for stage in args.analysis_stages}
    for n_cells in sizes:
        seconds, _, _ = _launch(args, ["--job", "analysis_store", "--n", str(n_cells), *width])
        print(
            f"wrote {n_cells:,} x {args.analysis_features} planted embeddings in {seconds:.0f} s", flush=True
        )
        for stage in args.analysis_stages:
            call, _, peak = _launch(args, ["--job", f"analysis_{stage}", "--n", str(n_cells), *width])
            measured[stage].append((call, peak))
            print(f"  {stage} {n_cells:,} cells: {call:.1f} s, {peak:,.0f} MiB", flush=True)
        shutil.rmtree(_analysis_paths(args.workdir, n_cells)["out"], ignore_errors=True)
    columns = ["stage", "cells", "wall (s)", "peak MiB", "imports MiB", "above imports"]
    columns += ["bytes per value", "bytes per added value"]
    print("| " + " | ".join(columns) + " |")
    print("| --- " * len(columns) + "|")
    for stage in args.analysis_stages:
        for index, (n_cells, (call, peak)) in enumerate(zip(sizes, measured[stage], strict=True)):
            above = peak - imports[stage]
            per_value = above * 2**20 / (n_cells * args.analysis_features)
            added = ""
            if index:
                previous_cells, (_, previous_peak) = sizes[index - 1], measured[stage][index - 1]
                values = (n_cells - previous_cells) * args.analysis_features
                added = f"{(peak - previous_peak) * 2**20 / values:.1f}"
            print(
                f"| {stage} | {n_cells:,} | {call:.1f} | {peak:,.0f} | {imports[stage]:,.0f} | "
                f"{above:,.0f} | {per_value:.1f} | {added} |"
            )
    if not args.keep:
        shutil.rmtree(args.workdir)


def _launch(
    args: argparse.Namespace, extra: list[str], env: dict[str, str] | None = None
) -> tuple[float, float, float]:
    """Run this script with ``extra`` in a new process; its (call seconds, process seconds, peak MiB)."""
    command = [sys.executable, __file__, "--workdir", str(args.workdir), *extra]
    command += ["--collect-threads", str(args.collect_threads), "--backbone", args.backbone]
    command += ["--crop", str(args.crop)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{output[-2000:]}")
    call_seconds = float(json.loads(output.strip().splitlines()[-1])["seconds"])
    return call_seconds, time.perf_counter() - started, usage.ru_maxrss / 1024


def _exponent(values: list[float], sizes: list[int], index: int) -> str:
    """Growth exponent between sizes ``index - 1`` and ``index`` (blank for the first size)."""
    if index == 0 or values[index - 1] <= 0 or values[index] <= 0:
        return ""
    return f"{math.log(values[index] / values[index - 1]) / math.log(sizes[index] / sizes[index - 1]):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--fovs", type=int, nargs="+", default=[10, 100], help="plate sizes (FOVs)")
    parser.add_argument("--results", type=Path, default=Path("results"), help="a finished run's results")
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--fov", default="A/1/0")
    parser.add_argument("--spec", default="phase_sensor")
    parser.add_argument("--patches-per-fov", type=int, default=4)
    parser.add_argument("--collect-threads", type=int, default=2)
    parser.add_argument("--backbone", default="convnext_atto")
    parser.add_argument("--crop", type=int, default=32, help="centre crop (px) the encoder sees")
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--keep", action="store_true", help="keep the workdir")
    parser.add_argument("--wide-cells", type=int, default=0, help="cells of the wide store (0: no wide run)")
    parser.add_argument("--wide-features", type=int, default=768, help="features of the wide store")
    parser.add_argument("--in-memory-src", type=Path, help="source tree the in-memory job imports")
    parser.add_argument(
        "--analysis-cells", type=int, nargs="+", default=[], help="cells of the analysis stores"
    )
    parser.add_argument("--analysis-features", type=int, default=320, help="features of the analysis stores")
    parser.add_argument(
        "--analysis-stages", nargs="+", default=list(ANALYSIS_STAGES), choices=ANALYSIS_STAGES
    )
    parser.add_argument(
        "--analysis-n-bootstrap", type=int, default=200, help="classification_intervals' replicates"
    )
    parser.add_argument(
        "--job", choices=[*STAGES, *WIDE_JOBS, *ANALYSIS_JOBS, "prepare"], help=argparse.SUPPRESS
    )
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--imports-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.job == "prepare":
        started = time.perf_counter()
        prepare(args)
        print(json.dumps({"seconds": time.perf_counter() - started}))
        return
    if args.job in WIDE_JOBS:
        print(json.dumps({"seconds": wide_job(args.job, args)}))
        return
    if args.job in ANALYSIS_JOBS:
        print(json.dumps({"seconds": analysis_job(args.job, args)}))
        return
    if args.job:
        print(json.dumps({"seconds": run_job(args.job, args, args.imports_only)}))
        return
    if args.wide_cells:
        wide_comparison(args)
        return
    if args.analysis_cells:
        analysis_comparison(args)
        return

    sizes = sorted(args.fovs)
    args.workdir.mkdir(parents=True, exist_ok=True)
    prepare_args = ["--job", "prepare", "--results", str(args.results.resolve()), "--dataset", args.dataset]
    prepare_args += ["--fov", args.fov, "--spec", args.spec, "--patches-per-fov", str(args.patches_per_fov)]
    prepare_seconds, _, _ = _launch(args, [*prepare_args, "--fovs", *map(str, sizes)])
    print(f"prepared {sizes[-1]} FOV copies in {prepare_seconds:.0f} s", flush=True)
    imports = {stage: _launch(args, ["--job", stage, "--imports-only"])[2] for stage in args.stages}
    measured: dict[str, list[tuple[float, float, float]]] = {stage: [] for stage in args.stages}
    for n_fovs in sizes:
        for stage in args.stages:
            measured[stage].append(_launch(args, ["--job", stage, "--n", str(n_fovs)]))
            call, process, peak = measured[stage][-1]
            print(f"  {stage} N={n_fovs}: {call:.2f} s (process {process:.1f} s), {peak:.0f} MiB", flush=True)
        shutil.rmtree(_paths(args.workdir, n_fovs)["tracks"].parent, ignore_errors=True)

    columns = ["stage", "FOVs", "wall (s)", "process (s)", "peak MiB", "above imports"]
    columns += ["time exponent", "memory exponent"]
    print("| " + " | ".join(columns) + " |")
    print("| --- " * len(columns) + "|")
    for stage in args.stages:
        print(f"| {stage} | imports | | | {imports[stage]:,.0f} | | | |")
        calls = [call for call, _, _ in measured[stage]]
        above = [peak - imports[stage] for _, _, peak in measured[stage]]
        for index, (n_fovs, (call, process, peak)) in enumerate(zip(sizes, measured[stage], strict=True)):
            print(
                f"| {stage} | {n_fovs:,} | {call:.2f} | {process:.1f} | {peak:,.0f} | {above[index]:,.0f} | "
                f"{_exponent(calls, sizes, index)} | {_exponent(above, sizes, index)} |"
            )
    if not args.keep:
        shutil.rmtree(args.workdir)


if __name__ == "__main__":
    main()
