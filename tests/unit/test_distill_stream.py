"""Rule ``distill`` reads the teacher's embeddings by blocks: the same outputs as in memory.

The teacher's head is fitted on the annotated training rows gathered from the store and predicts
every cell a block of rows at a time; the in-memory path it replaced fitted on the rows of the whole
matrix and called ``predict_proba`` on it."""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from test_distill import _outputs, _write_toy_artifacts

from dynaclr.classify import load_classifiers
from dynaclr.config.distillation import DistillationConfig
from dynaclr.distill import distill_stage
from dynaclr.embeddings import MatrixBlocks, open_representation, read_embeddings, representation_matrix
from dynaclr.io import ArtifactKind, read_table

#: Rows per block of the streamed runs: the 144 cells of the toy store make 21 blocks, the last short.
BLOCK_ROWS = 7
FOVS = ("A/1/0", "A/1/1", "A/1/2", "B/1/0", "B/1/1", "B/1/2")
CONFIG = DistillationConfig(
    enabled=True,
    teacher_model="teacher",
    dataset="toy",
    validation_fovs=["A/1/2", "B/1/2"],
    validation_every=2,
    max_steps=4,
    batch_size=8,
    n_bootstrap=10,
)


def _whole_matrix_teacher(classifier, blocks, annotated_training, positive, *, path):
    """The in-memory path: the pipeline refitted on rows of the whole matrix, ``predict_proba`` of it."""
    matrix = representation_matrix(read_embeddings(path), classifier.representation)
    head = clone(classifier.pipeline).fit(matrix[annotated_training], positive.astype(int))
    return head.predict_proba(matrix)[:, 1]


def _never(*args, **kwargs):
    raise AssertionError("the store was read whole")


def test_the_streamed_stage_equals_the_in_memory_one(tmp_path, one_torch_thread, monkeypatch):
    inputs = _write_toy_artifacts(tmp_path, n_tracks=4, n_frames=6, fovs=FOVS)
    monkeypatch.setattr(
        "dynaclr.distill.stage.open_representation",
        functools.partial(open_representation, block_rows=BLOCK_ROWS),
    )
    monkeypatch.setattr("dynaclr.embeddings.store.read_embeddings", _never)
    monkeypatch.setattr("dynaclr.distill.stage.read_embeddings", _never, raising=False)
    streamed_outputs = _outputs(tmp_path / "streamed")
    streamed = distill_stage(CONFIG, inputs, streamed_outputs, model="teacher", dataset="toy")
    monkeypatch.undo()

    monkeypatch.setattr(
        "dynaclr.distill.stage.teacher_probability",
        functools.partial(_whole_matrix_teacher, path=inputs.embeddings),
    )
    memory_outputs = _outputs(tmp_path / "in_memory")
    in_memory = distill_stage(CONFIG, inputs, memory_outputs, model="teacher", dataset="toy")

    assert streamed["validation_metric"].iloc[0] == "annotation_f1"
    pd.testing.assert_frame_equal(streamed, in_memory, check_exact=False, rtol=1e-12)
    streamed_predictions, _ = read_table(streamed_outputs.predictions, ArtifactKind.DISTILLATION_PREDICTIONS)
    memory_predictions, _ = read_table(memory_outputs.predictions, ArtifactKind.DISTILLATION_PREDICTIONS)
    np.testing.assert_allclose(
        streamed_predictions["teacher_probability"],
        memory_predictions["teacher_probability"],
        rtol=0,
        atol=1e-15,
    )
    pd.testing.assert_frame_equal(  # the student's and the probe's probabilities to the bit
        streamed_predictions.drop(columns="teacher_probability"),
        memory_predictions.drop(columns="teacher_probability"),
        check_exact=True,
    )


@pytest.mark.parametrize("representation", ["features", "projections"])
def test_the_teachers_probability_does_not_depend_on_the_block_size(tmp_path, representation):
    from dynaclr.distill.stage import teacher_probability

    inputs = _write_toy_artifacts(tmp_path, n_tracks=4, n_frames=6, fovs=FOVS)
    # refitted: the classifier of classify sets the pipeline and the matrix, not the weights
    classifier = replace(load_classifiers(inputs.classifiers)["infection"], representation=representation)
    predictions, _ = read_table(inputs.predictions, ArtifactKind.PREDICTIONS)
    annotated = np.flatnonzero(predictions["annotated"].to_numpy(dtype=bool))
    positive = predictions["annotation_label"].to_numpy()[annotated] == "infected"
    by_blocks = teacher_probability(
        classifier, open_representation(inputs.embeddings, representation, BLOCK_ROWS), annotated, positive
    )
    matrix = representation_matrix(read_embeddings(inputs.embeddings), representation)
    whole = teacher_probability(classifier, MatrixBlocks(matrix), annotated, positive)
    np.testing.assert_array_equal(by_blocks, whole)
    reference = _whole_matrix_teacher(classifier, None, annotated, positive, path=inputs.embeddings)
    np.testing.assert_allclose(by_blocks, reference, rtol=0, atol=1e-15)
