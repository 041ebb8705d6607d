"""Rules ``classify`` and ``transfer_classifiers`` read the store by blocks: the same outputs as in memory."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dynaclr.classify import (
    CLASSIFICATION_COLUMNS,
    SCORE_COLUMNS,
    ClassificationIntervalsInputs,
    ClassificationIntervalsOutputs,
    ClassifyInputs,
    ClassifyOutputs,
    LinearClassifier,
    TransferClassifiersInputs,
    TransferClassifiersOutputs,
    apply_and_evaluate,
    classification_intervals_stage,
    classify_stage,
    draw_annotations,
    fit_and_evaluate,
    load_classifiers,
    read_predictions,
    transfer_classifiers_stage,
)
from dynaclr.config.analysis import AnnotationConfig, ClassificationConfig
from dynaclr.embeddings import (
    MatrixBlocks,
    build_anndata,
    open_representation,
    read_embeddings,
    representation_matrix,
    write_embeddings,
)
from dynaclr.io import ArtifactKind, make_provenance, write_table
from dynaclr.pseudotime.synthetic import planted_infection_embeddings

#: Rows per block of the streamed runs: the 432 cells of the store make 62 blocks, the last short.
BLOCK_ROWS = 7


def _store(path: Path, representation: str, seed: int) -> Path:
    """An embeddings store whose ``representation`` is a (noisy) planted matrix of 23 columns."""
    features, truth = planted_infection_embeddings(
        n_fovs=6, tracks_per_fov=6, n_frames=12, dim=23, noise=0.3, seed=seed
    )
    rng = np.random.default_rng(seed)
    if representation == "standardized":  # engineered features: X z-scores the raw values
        raw = (features * rng.uniform(1, 50, size=features.shape[1]) + 10).astype(np.float32)
        mean, std = raw.mean(axis=0, dtype=np.float64), raw.std(axis=0, dtype=np.float64)
        adata = build_anndata((raw - mean) / std, truth, raw=raw, raw_mean=mean, raw_std=std)
    else:
        projections = features @ rng.normal(size=(features.shape[1], 11)) + rng.normal(size=(len(truth), 11))
        adata = build_anndata(features, truth, projections=projections)
    provenance = make_provenance(ArtifactKind.EMBEDDINGS, {"model": "planted", "dataset": path.stem})
    write_embeddings(adata, path, provenance)
    return path


def _annotations(store: Path, path: Path, tasks: tuple[str, ...] = ("infection", "division")) -> Path:
    truth = read_embeddings(store).obs.reset_index(drop=True)  # the planted truth's columns
    annotations = draw_annotations(truth, AnnotationConfig(fraction_of_cells=0.1, seed=4, tasks=tasks))
    write_table(annotations, path, make_provenance(ArtifactKind.ANNOTATIONS, {}))
    return path


@pytest.fixture
def small_blocks(monkeypatch) -> None:
    """The stages read their stores :data:`BLOCK_ROWS` rows at a time."""
    monkeypatch.setattr(
        "dynaclr.classify.stage.open_representation",
        functools.partial(open_representation, block_rows=BLOCK_ROWS),
    )


def _classifier_numbers(path: Path) -> dict:
    """The classifiers of a classifier file (not its provenance, which records when it was written)."""
    return json.loads(path.read_text())["classifiers"]


def _write_predictions(frames: list[pd.DataFrame], path: Path) -> pd.DataFrame:
    """``frames`` concatenated, through the stage's parquet writer and reader."""
    write_table(pd.concat(frames, ignore_index=True), path, make_provenance(ArtifactKind.PREDICTIONS, {}))
    return read_predictions(path)


def _intervals(config, scores, predictions, metrics):
    """Rule classification_intervals: the CIs of ``scores`` from ``predictions``, as ``metrics``."""
    return classification_intervals_stage(
        config,
        ClassificationIntervalsInputs(scores=scores, predictions=predictions),
        ClassificationIntervalsOutputs(metrics=metrics),
    )


@pytest.mark.parametrize("representation", ["features", "projections", "standardized"])
def test_streamed_classify_and_transfer_equal_the_in_memory_path(representation, small_blocks, tmp_path):
    """The stages (store read by blocks of 7 rows, annotated rows gathered) give the bits that
    ``fit_and_evaluate`` / ``apply_and_evaluate`` give on the whole store read into memory."""
    config = ClassificationConfig(representation=representation, n_bootstrap=25, n_splits=3)
    source = _store(tmp_path / "source.zarr", representation, seed=1)
    annotations_path = _annotations(source, tmp_path / "annotations.parquet")
    outputs = ClassifyOutputs(
        scores=tmp_path / "s.parquet", predictions=tmp_path / "p.parquet", classifiers=tmp_path / "c.json"
    )
    scores = classify_stage(
        config,
        ClassifyInputs(embeddings=source, annotations=annotations_path),
        outputs,
        model="planted",
        dataset="source",
    )

    adata = read_embeddings(source)
    annotations = pd.read_parquet(annotations_path)
    in_memory = [fit_and_evaluate(adata, annotations, task, config) for task in config.tasks]
    expected = pd.DataFrame(
        [{"model": "planted", "dataset": "source", "train_dataset": "source", **r.metrics} for r in in_memory]
    )[list(CLASSIFICATION_COLUMNS)]
    pd.testing.assert_frame_equal(scores, expected[list(SCORE_COLUMNS)], check_exact=True)
    pd.testing.assert_frame_equal(
        pd.read_parquet(outputs.scores), expected[list(SCORE_COLUMNS)], check_exact=True
    )
    metrics = _intervals(config, outputs.scores, outputs.predictions, tmp_path / "m.parquet")
    pd.testing.assert_frame_equal(metrics, expected, check_exact=True)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "m.parquet"), expected, check_exact=True)
    pd.testing.assert_frame_equal(
        read_predictions(outputs.predictions),
        _write_predictions(
            [r.predictions.assign(train_dataset="source") for r in in_memory], tmp_path / "expected.parquet"
        ),
        check_exact=True,
    )
    # a z-scored X (engineered features): each classifier records the statistics of its source's
    recorded = (
        {
            "source_standardization": {
                "mean": adata.var["raw_mean"].tolist(),
                "std": adata.var["raw_std"].tolist(),
            }
        }
        if representation == "standardized"
        else {}
    )
    assert _classifier_numbers(outputs.classifiers) == {
        r.classifier.task: {**r.classifier.to_dict(), **recorded} for r in in_memory
    }

    # another dataset, labelled for one task, gets both tasks' classifiers of two sources
    target = _store(tmp_path / "target.zarr", representation, seed=7)
    target_annotations = _annotations(target, tmp_path / "target.parquet", tasks=("infection",))
    other = ClassificationConfig(representation=representation, n_bootstrap=0, n_splits=2, seed=3)
    other_classifiers = tmp_path / "other.json"
    classify_stage(
        other,
        ClassifyInputs(embeddings=target, annotations=_annotations(target, tmp_path / "both.parquet")),
        ClassifyOutputs(
            scores=tmp_path / "om.parquet",
            predictions=tmp_path / "op.parquet",
            classifiers=other_classifiers,
        ),
        model="planted",
        dataset="target",
    )
    transfer = TransferClassifiersOutputs(scores=tmp_path / "ts.parquet", predictions=tmp_path / "tp.parquet")
    transferred = transfer_classifiers_stage(
        config,
        TransferClassifiersInputs(
            embeddings=target,
            classifiers=[outputs.classifiers, other_classifiers],
            annotations=target_annotations,
        ),
        transfer,
        model="planted",
        dataset="target",
        sources=["source", "target"],
    )
    target_adata = read_embeddings(target)
    target_labels = pd.read_parquet(target_annotations)
    # the source's classifiers of a z-scored X read the target's raw values z-scored with the source's
    # statistics; the target's own classifiers its X as stored
    source_scale = target_adata.copy()
    if representation == "standardized":
        raw = np.asarray(target_adata.layers["raw"], dtype=np.float64)
        mean, std = adata.var["raw_mean"].to_numpy(), adata.var["raw_std"].to_numpy()
        source_scale.X = np.where(std > 0, (raw - mean) / np.where(std > 0, std, 1.0), 0.0)
    rows, predictions = [], []
    for name, path in (("source", outputs.classifiers), ("target", other_classifiers)):
        for classifier in load_classifiers(path).values():
            read = source_scale if name == "source" else target_adata
            applied, predicted = apply_and_evaluate(read, classifier, target_labels, config)
            if applied is not None:
                rows.append({"model": "planted", "dataset": "target", "train_dataset": name, **applied})
            predictions.append(predicted.assign(train_dataset=name))
    expected = pd.DataFrame(rows)[list(CLASSIFICATION_COLUMNS)]
    assert list(expected["train_dataset"]) == ["source", "target"]  # infection only
    pd.testing.assert_frame_equal(transferred, expected[list(SCORE_COLUMNS)], check_exact=True)
    transferred = _intervals(config, transfer.scores, transfer.predictions, tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(transferred, expected, check_exact=True)
    pd.testing.assert_frame_equal(
        read_predictions(transfer.predictions),
        _write_predictions(predictions, tmp_path / "expected_transfer.parquet"),
        check_exact=True,
    )


def test_classifiers_of_two_representations_transfer_in_one_stage(small_blocks, tmp_path):
    """Classifiers reading features and projections apply to one store: each reads its own matrix,
    and the predictions keep the order of the classifier files."""
    store = _store(tmp_path / "store.zarr", "projections", seed=2)
    annotations = _annotations(store, tmp_path / "annotations.parquet")
    files = []
    for representation in ("projections", "features"):
        config = ClassificationConfig(representation=representation, n_bootstrap=0, n_splits=2)
        files.append(tmp_path / f"{representation}.json")
        classify_stage(
            config,
            ClassifyInputs(embeddings=store, annotations=annotations),
            ClassifyOutputs(
                scores=tmp_path / f"{representation}_m.parquet",
                predictions=tmp_path / f"{representation}_p.parquet",
                classifiers=files[-1],
            ),
            model="planted",
            dataset="store",
        )
    outputs = TransferClassifiersOutputs(scores=tmp_path / "t.parquet", predictions=tmp_path / "tp.parquet")
    config = ClassificationConfig(n_bootstrap=0)
    transfer_classifiers_stage(
        config,
        TransferClassifiersInputs(embeddings=store, classifiers=files, annotations=annotations),
        outputs,
        model="planted",
        dataset="store",
        sources=["p", "f"],
    )
    predictions = read_predictions(outputs.predictions)
    adata = read_embeddings(store)
    expected = []
    for name, path in zip(("p", "f"), files, strict=True):
        for classifier in load_classifiers(path).values():
            predicted = apply_and_evaluate(adata, classifier, pd.read_parquet(annotations), config)[1]
            expected.append(predicted.assign(train_dataset=name))
    pd.testing.assert_frame_equal(
        predictions, _write_predictions(expected, tmp_path / "expected.parquet"), check_exact=True
    )


def test_a_cell_scores_the_same_in_any_block_and_matches_predict_proba():
    """``positive_probability`` sums each row in its own order (BLAS's matrix-vector product does
    not: there a row's last bits depend on the rows around it); it is ``predict_proba`` up to rounding."""
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(1001, 320)).astype(np.float32)
    truth = matrix[:, :3].sum(axis=1) + rng.normal(size=len(matrix)) > 0
    from dynaclr.classify import build_pipeline

    pipeline = build_pipeline().fit(matrix[:400].astype(np.float64), truth[:400].astype(int))
    classifier = LinearClassifier("infection", pipeline, ("uninfected", "infected"), "features")
    whole = classifier.positive_probability(matrix)
    for block_rows in (1, 3, 64, 1000):
        blocks = MatrixBlocks(matrix, block_rows)
        parts = np.concatenate([classifier.positive_probability(block) for _, block in blocks])
        assert np.array_equal(parts, whole)
    rows = rng.permutation(len(matrix))[:50]
    assert np.array_equal(MatrixBlocks(matrix, 7).take(rows), matrix[rows].astype(np.float64))
    np.testing.assert_allclose(
        whole, pipeline.predict_proba(matrix.astype(np.float64))[:, 1], rtol=0, atol=1e-12
    )


def test_take_reads_only_the_blocks_of_its_rows():
    reads: list[int] = []

    class Counting(np.ndarray):
        def __getitem__(self, key):
            if isinstance(key, slice):
                reads.append(key.start)
            return super().__getitem__(key)

    matrix = np.arange(40.0).reshape(20, 2).view(Counting)
    taken = MatrixBlocks(matrix, 4).take([17, 1, 2, 17])
    assert np.array_equal(taken, np.asarray(matrix)[[17, 1, 2, 17]])
    assert reads == [0, 16]
    assert MatrixBlocks(matrix, 4).take([]).shape == (0, 2)
    with pytest.raises(ValueError, match=r"rows must be in \[0, 20\)"):
        MatrixBlocks(matrix, 4).take([20])


def test_representation_matrix_is_what_a_store_streams(tmp_path):
    store = _store(tmp_path / "store.zarr", "standardized", seed=3)
    adata = read_embeddings(store)
    blocks = open_representation(store, "standardized", block_rows=BLOCK_ROWS)
    streamed = np.concatenate([block for _, block in blocks])
    assert np.array_equal(streamed, representation_matrix(adata, "standardized"))
