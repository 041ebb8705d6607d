"""The linear classifier (StandardScaler → balanced LogisticRegression) and its safe JSON format.

A fitted classifier is stored as plain numbers, never as a pickle: the scaler's ``mean`` and
``scale``, the logistic regression's ``coef`` ``(1, D)`` and ``intercept`` ``(1,)``, the class
names ``[negative, positive]`` (encoded 0 and 1), the feature dimension ``D``, the representation
it reads, and the scikit-learn version that fitted it. JSON floats round-trip exactly (Python
writes the shortest repr that parses back to the same float64), so a rebuilt pipeline predicts
bit-identically. One file holds every task's classifier for one (model, dataset):

.. code-block:: json

    {"format": "dynaclr-linear-classifiers", "format_version": 1,
     "dynaclr": {provenance}, "classifiers": {"infection": {...}, "division": {...}}}
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from dynaclr.io import ArtifactError, ArtifactKind, Provenance, atomic_output, check_provenance
from dynaclr.io.provenance import unreadable_artifact

logger = logging.getLogger(__name__)

CLASSIFIER_FORMAT = "dynaclr-linear-classifiers"
CLASSIFIER_FORMAT_VERSION = 1


def build_pipeline(inverse_regularization_strength: float = 1.0, max_iterations: int = 2000) -> Pipeline:
    """``Pipeline(scaler=StandardScaler(), classifier=LogisticRegression(class_weight='balanced'))``."""
    return Pipeline(
        [
            ("scaler", StandardScaler()),
            (
                "classifier",
                LogisticRegression(
                    C=inverse_regularization_strength, class_weight="balanced", max_iter=max_iterations
                ),
            ),
        ]
    )


@dataclass(frozen=True)
class LinearClassifier:
    """A fitted pipeline with what is needed to use it: class names and the matrix it reads."""

    task: str
    pipeline: Pipeline
    class_names: tuple[str, str]
    representation: str

    @property
    def feature_dim(self) -> int:
        return int(self.pipeline.named_steps["scaler"].n_features_in_)

    def positive_probability(self, matrix: np.ndarray) -> np.ndarray:
        """``(N,)`` probability of the positive class (``class_names[1]``) for ``(N, D)`` ``matrix``.

        The pipeline's ``predict_proba(matrix)[:, 1]`` up to rounding, and a row's probability does not
        depend on the other rows passed with it: scoring a matrix a block of rows at a time gives
        the same bits as scoring it whole.
        """
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != self.feature_dim:
            raise ValueError(
                f"{self.task} classifier expects (N, {self.feature_dim}) {self.representation}, "
                f"got shape {matrix.shape}"
            )
        scaler: StandardScaler = self.pipeline.named_steps["scaler"]
        logistic: LogisticRegression = self.pipeline.named_steps["classifier"]
        if list(logistic.classes_) != [0, 1]:
            raise ValueError(f"expected a binary classifier fitted on labels [0, 1], got {logistic.classes_}")
        # predict_proba's arithmetic (scale, linear score, logistic), but each row's score summed in
        # an order of its own: BLAS's matrix-vector product sums a row in an order that depends on
        # the rows around it (and the threads), so a block of rows would not score as the whole matrix
        scaled = (matrix - scaler.mean_) / scaler.scale_
        score = np.einsum("ij,j->i", scaled, logistic.coef_[0]) + logistic.intercept_[0]
        return np.asarray(expit(score), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """Plain-number description (module docstring)."""
        scaler: StandardScaler = self.pipeline.named_steps["scaler"]
        logistic: LogisticRegression = self.pipeline.named_steps["classifier"]
        if list(logistic.classes_) != [0, 1]:
            raise ValueError(f"expected a binary classifier fitted on labels [0, 1], got {logistic.classes_}")
        return {
            "task": self.task,
            "class_names": list(self.class_names),
            "representation": self.representation,
            "feature_dim": self.feature_dim,
            "sklearn_version": sklearn.__version__,
            "scaler": {
                "mean": scaler.mean_.tolist(),
                "scale": scaler.scale_.tolist(),
                "n_samples_seen": int(scaler.n_samples_seen_),
            },
            "logistic_regression": {
                "coef": logistic.coef_.tolist(),
                "intercept": logistic.intercept_.tolist(),
                "C": float(logistic.C),
                "class_weight": "balanced",
                "max_iter": int(logistic.max_iter),
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "classifier") -> LinearClassifier:
        """Rebuild the fitted pipeline from :meth:`to_dict`'s output (no pickle, no refit)."""
        try:
            dim = int(data["feature_dim"])
            mean = np.asarray(data["scaler"]["mean"], dtype=np.float64)
            scale = np.asarray(data["scaler"]["scale"], dtype=np.float64)
            coef = np.asarray(data["logistic_regression"]["coef"], dtype=np.float64)
            intercept = np.asarray(data["logistic_regression"]["intercept"], dtype=np.float64)
            class_names = (str(data["class_names"][0]), str(data["class_names"][1]))
        except (KeyError, TypeError, IndexError) as err:
            raise ArtifactError(f"{source}: malformed classifier description ({err!r})") from err
        if mean.shape != (dim,) or scale.shape != (dim,) or coef.shape != (1, dim) or intercept.shape != (1,):
            raise ArtifactError(
                f"{source}: shapes do not fit feature_dim={dim}: mean {mean.shape}, scale {scale.shape}, "
                f"coef {coef.shape} (expected (1, {dim})), intercept {intercept.shape}"
            )
        if data.get("sklearn_version") != sklearn.__version__:
            logger.info(
                "%s was fitted with scikit-learn %s, rebuilt with %s (plain coefficients, no refit)",
                source,
                data.get("sklearn_version"),
                sklearn.__version__,
            )
        pipeline = build_pipeline(
            float(data["logistic_regression"].get("C", 1.0)),
            int(data["logistic_regression"].get("max_iter", 2000)),
        )
        scaler: StandardScaler = pipeline.named_steps["scaler"]
        scaler.mean_, scaler.scale_, scaler.var_ = mean, scale, scale**2
        scaler.n_features_in_ = dim
        scaler.n_samples_seen_ = int(data["scaler"].get("n_samples_seen", 0))
        logistic: LogisticRegression = pipeline.named_steps["classifier"]
        logistic.coef_, logistic.intercept_ = coef, intercept
        logistic.classes_ = np.array([0, 1])
        logistic.n_features_in_ = dim
        logistic.n_iter_ = np.array([0], dtype=np.int32)
        return cls(
            task=str(data["task"]),
            pipeline=pipeline,
            class_names=class_names,
            representation=str(data["representation"]),
        )


def save_classifiers(
    classifiers: Mapping[str, LinearClassifier], path: str | Path, provenance: Provenance
) -> None:
    """Write every task's classifier to one JSON file (atomically), provenance included."""
    document = {
        "format": CLASSIFIER_FORMAT,
        "format_version": CLASSIFIER_FORMAT_VERSION,
        "dynaclr": json.loads(provenance.model_dump_json()),
        "classifiers": {task: classifier.to_dict() for task, classifier in classifiers.items()},
    }
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(document, indent=1))


def load_classifiers(path: str | Path) -> dict[str, LinearClassifier]:
    """Read a classifier file written by :func:`save_classifiers`; ``{task: LinearClassifier}``."""
    document = _classifier_document(path)
    return {
        task: LinearClassifier.from_dict(data, f"{path} [{task}]")
        for task, data in document.get("classifiers", {}).items()
    }


def read_classifiers_provenance(path: str | Path) -> Provenance:
    """The provenance record of a classifier file written by :func:`save_classifiers` (checked)."""
    return check_provenance(_classifier_document(path).get("dynaclr"), ArtifactKind.CLASSIFIERS, path)


def _classifier_document(path: str | Path) -> dict[str, Any]:
    """The JSON document of a classifier file, its format and provenance checked."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: classifier file not found")
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise unreadable_artifact(path, ArtifactKind.CLASSIFIERS, err) from err
    if (
        document.get("format") != CLASSIFIER_FORMAT
        or document.get("format_version") != CLASSIFIER_FORMAT_VERSION
    ):
        raise ArtifactError(
            f"{path}: expected format {CLASSIFIER_FORMAT!r} version {CLASSIFIER_FORMAT_VERSION}, found "
            f"{document.get('format')!r} version {document.get('format_version')!r}; rerun rule 'classify'"
        )
    check_provenance(document.get("dynaclr"), ArtifactKind.CLASSIFIERS, path)
    return dict(document)
