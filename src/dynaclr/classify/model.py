"""The linear classifier (StandardScaler → balanced LogisticRegression) and its safe JSON format.

A fitted classifier is stored as plain numbers, never as a pickle: the scaler's ``mean`` and
``scale``, the logistic regression's ``coef`` ``(1, D)`` and ``intercept`` ``(1,)``, the class
names ``[negative, positive]`` (encoded 0 and 1), the feature dimension ``D``, the representation
it reads, and the scikit-learn version that fitted it; where the matrix it was fitted on is a
z-scored copy of raw values with the statistics of the source dataset's own cells (the
engineered-features baseline's ``X``), also those statistics (``source_standardization``: ``mean``
and ``std``), so that another dataset's raw values are put on the source's scale before the
classifier reads them (rule ``transfer_classifiers``). JSON floats round-trip exactly (Python
writes the shortest repr that parses back to the same float64), so a rebuilt pipeline predicts
bit-identically. One file holds every task's classifier for one (model, dataset):

.. code-block:: json

    {"format": "dynaclr-linear-classifiers", "format_version": 1,
     "dynaclr": {provenance}, "classifiers": {"infection": {...}, "division": {...}}}
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import sklearn
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from dynaclr.classify.annotations import TASK_LABELS, task_classes
from dynaclr.config.embeddings import model_kind
from dynaclr.config.patches import channel_indices, channels_difference, label_normalization
from dynaclr.io import ArtifactError, ArtifactKind, Provenance, atomic_output, check_provenance, config_hash
from dynaclr.io.provenance import unreadable_artifact
from dynaclr.numerics.normalization import is_standardization

if TYPE_CHECKING:
    from dynaclr.config.workflow import WorkflowConfig

logger = logging.getLogger(__name__)

CLASSIFIER_FORMAT = "dynaclr-linear-classifiers"
CLASSIFIER_FORMAT_VERSION = 1
#: Key of a classifier description holding the statistics that z-scored the matrix it was fitted on
#: (:attr:`LinearClassifier.source_standardization`); absent where that matrix is no such copy.
SOURCE_STANDARDIZATION_KEY = "source_standardization"


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
    #: ``(mean, std)``, each ``(D,)``, where the matrix the classifier was fitted on is the source
    #: store's raw values z-scored with these statistics of its own cells (engineered features'
    #: ``X``, :func:`dynaclr.embeddings.read_standardization`): another dataset's ``X`` is z-scored
    #: with its own, so it reads that dataset's raw values z-scored with these instead
    #: (:func:`dynaclr.embeddings.open_restandardized`). ``None``: a matrix that is the same function
    #: of a cell in every dataset (an encoder's features), or a file written before it was recorded.
    source_standardization: tuple[np.ndarray, np.ndarray] | None = field(default=None, compare=False)

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
        description: dict[str, Any] = {
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
        if self.source_standardization is not None:
            mean, std = self.source_standardization
            description[SOURCE_STANDARDIZATION_KEY] = {
                "mean": np.asarray(mean, dtype=np.float64).tolist(),
                "std": np.asarray(std, dtype=np.float64).tolist(),
            }
        return description

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], source: str = "classifier", key: str | None = None
    ) -> LinearClassifier:
        """Rebuild the fitted pipeline from :meth:`to_dict`'s output (no pickle, no refit).

        The description's ``task`` must be a task of the workflow, its ``class_names`` that task's
        ``[negative, positive]`` (:func:`~dynaclr.classify.annotations.task_classes`, in that order:
        column 1 of the coefficients is read as the positive class) and, where it is an entry of a
        classifier file, ``key`` (the entry's name, which the file's readers take as its task) its
        ``task``: a hand-edited or foreign file whose names disagree would be applied to the wrong
        task or score the negative class as the positive, with exit 0.

        Raises:
            ArtifactError: a malformed description, or names that disagree, naming ``source`` (the
                file and entry), what was expected and what was found.
        """
        try:
            dim = int(data["feature_dim"])
            mean = np.asarray(data["scaler"]["mean"], dtype=np.float64)
            scale = np.asarray(data["scaler"]["scale"], dtype=np.float64)
            coef = np.asarray(data["logistic_regression"]["coef"], dtype=np.float64)
            intercept = np.asarray(data["logistic_regression"]["intercept"], dtype=np.float64)
            if len(data["class_names"]) != 2:
                raise IndexError(f"class_names holds {len(data['class_names'])} names, expected 2")
            class_names = (str(data["class_names"][0]), str(data["class_names"][1]))
            task = str(data["task"])
        except (KeyError, TypeError, IndexError) as err:
            raise ArtifactError(f"{source}: malformed classifier description ({err!r})") from err
        if key is not None and key != task:
            raise ArtifactError(
                f"{source}: the entry {key!r} of 'classifiers' holds a classifier of task {task!r}; expected "
                f"its 'task' to be {key!r} (the entry's name is the task it is applied to), found {task!r}: "
                "the file was altered; use the file rule 'classify' wrote"
            )
        if task not in TASK_LABELS:
            raise ArtifactError(
                f"{source}: expected 'task' one of {sorted(TASK_LABELS)}, found {task!r}; use the file rule "
                "'classify' wrote"
            )
        expected = task_classes(task)
        if class_names != expected:
            raise ArtifactError(
                f"{source}: expected 'class_names' {list(expected)} for task {task!r} ([negative, positive]: "
                f"column 1 of the coefficients is the positive class), found {list(class_names)}: the file "
                "was altered (its classifier would score the wrong class as the positive); use the file "
                "rule 'classify' wrote"
            )
        if mean.shape != (dim,) or scale.shape != (dim,) or coef.shape != (1, dim) or intercept.shape != (1,):
            raise ArtifactError(
                f"{source}: shapes do not fit feature_dim={dim}: mean {mean.shape}, scale {scale.shape}, "
                f"coef {coef.shape} (expected (1, {dim})), intercept {intercept.shape}"
            )
        standardization = _source_standardization(data.get(SOURCE_STANDARDIZATION_KEY), dim, source)
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
            task=task,
            pipeline=pipeline,
            class_names=class_names,
            representation=str(data["representation"]),
            source_standardization=standardization,
        )


def _source_standardization(value: Any, dim: int, source: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The ``source_standardization`` entry of a classifier description (``None`` where absent),
    checked: ``dim`` finite means and ``dim`` finite stds, none below 0.

    Raises:
        ArtifactError: malformed, naming ``source``."""
    if value is None:
        return None
    try:
        mean = np.asarray(value["mean"], dtype=np.float64)
        std = np.asarray(value["std"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as err:
        raise ArtifactError(
            f"{source}: expected {SOURCE_STANDARDIZATION_KEY!r} to be {{'mean': [{dim} numbers], 'std': "
            f"[{dim} numbers]}}, found {value!r:.200}: the file was altered; use the file rule "
            "'classify' wrote"
        ) from err
    if not is_standardization(mean, std, dim):
        raise ArtifactError(
            f"{source}: expected {SOURCE_STANDARDIZATION_KEY!r} to hold {dim} finite means and {dim} finite "
            f"stds (>= 0), one per feature, found shapes {mean.shape} and {std.shape}: the file was "
            "altered; use the file rule 'classify' wrote"
        )
    return mean, std


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
        task: LinearClassifier.from_dict(data, f"{path} [{task}]", key=task)
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
        document = json.loads(path.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:  # a pickle is no UTF-8 text
        raise unreadable_artifact(path, ArtifactKind.CLASSIFIERS, err) from err
    if not isinstance(document, dict):
        raise ArtifactError(
            f"{path}: expected a JSON object of format {CLASSIFIER_FORMAT!r}, "
            f"found a {type(document).__name__}"
        )
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


def imported_source_label(path: str | Path) -> str:
    """How the results name the classifiers of a file of an earlier run (their ``train_dataset``):
    ``<dataset it was fitted on> (<file>)``, never a bare dataset name (this run's dataset of that
    name would read it as its own cross-validated classifier)."""
    fitted = read_classifiers_provenance(path).config.get("dataset")
    return f"{fitted} ({path})" if fitted is not None else str(path)


def input_record(value: Any, owner: str) -> dict[str, Any]:
    """The ``input`` an embeddings store or a classifier file records (the channels the network
    read, ``source:name (normalization)`` in order, and ``normalize_per_time_point``; for a
    pretrained backbone's selection, ``channel_indices``: each channel's index in the patch spec's
    ``channels``, recorded since it names the key to change), checked.

    Raises:
        ValueError: ``value`` is not such a record, naming ``owner`` (the file)."""
    channels = value.get("channels") if isinstance(value, Mapping) else None
    per_time_point = value.get("normalize_per_time_point") if isinstance(value, Mapping) else None
    indices = value.get("channel_indices") if isinstance(value, Mapping) else None
    if (
        not isinstance(channels, list)
        or not all(isinstance(label, str) for label in channels)
        or not isinstance(per_time_point, bool)
        or (
            indices is not None
            and (
                not isinstance(indices, list)
                or len(indices) != len(channels)
                or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in indices)
            )
        )
    ):
        raise ValueError(
            f"{owner}: expected an input record {{'channels': [<source:name (normalization)>, ...], "
            f"'normalize_per_time_point': <true or false>}} (and, for a selection of the spec's channels, "
            f"'channel_indices': one index per channel), found {value!r}: the file was altered or "
            "written by another program; use the file rule 'classify' or 'embed' wrote"
        )
    record: dict[str, Any] = {"channels": list(channels), "normalize_per_time_point": per_time_point}
    if indices is not None:
        record["channel_indices"] = list(indices)
    return record


def input_differences(
    fitted: Mapping[str, Any], found: Mapping[str, Any], key: str, model: str
) -> tuple[list[str], list[str]]:
    """How the input ``found`` (a store's, or a patch spec's at planning) differs from the input
    classifiers were ``fitted`` on (records of :func:`input_record`), compared as rule
    ``import_model`` compares a spec with a model (:func:`~dynaclr.config.patches.channels_difference`):
    refused (first list), another number of channels, their order (or a channel named in both at
    another position), another normalisation at a position, another ``normalize_per_time_point``;
    warned (second list), other names or sources at a position (a lab's own names). Each line names
    the key of ``key`` (``datasets.<dataset>.patches[<spec>]``) to change: ``channels[i]``, ``i`` the
    channel's index in the spec's ``channels`` (``found``'s ``channel_indices`` where the network
    reads a selection, a pretrained backbone's ``input_channels``: a store written before they were
    recorded gives its position among the channels read). Where the network reads a selection, the
    number and order of the channels it reads are ``contrastive_models.<model>.training.input_channels``'
    (``model``: the embedding model), so another count, order or a moved channel names that key: the
    spec's order does not change what the network reads."""
    refused: list[str] = []
    warned: list[str] = []
    learnt, given = fitted["channels"], found["channels"]
    indices = found.get("channel_indices")
    selection = f"contrastive_models.{model}.training.input_channels"
    read = (
        f" (the network reads the spec's channels {indices}, selected and ordered by {selection})"
        if indices is not None
        else ""
    )

    def channel(at: int) -> str:
        """The spec key of the channel at position ``at`` among those the network reads."""
        return f"{key}.channels[{at if indices is None else indices[at]}]"

    difference = channels_difference(learnt, given)
    if difference is not None and difference.kind == "count":
        refused.append(
            f"{f'{key}.channels' if indices is None else selection}: expected the {len(learnt)} channels "
            f"the classifiers were fitted on, {learnt}, found {len(given)}: {given}{read}"
        )
    elif difference is not None and difference.kind == "order":
        refused.append(
            f"{channel(difference.at) + '.name' if indices is None else selection}: expected the channels "
            f"the classifiers were fitted on in their order, {learnt}, found them in another order, "
            f"{given}{read}"
        )
    elif difference is not None and difference.kind == "moved":
        fix = (
            "list the channels in that order, or give a channel the name it had there (`name:`)"
            if indices is None
            else f"list {selection} in that order, or give a channel the name it had there (`name:` "
            f"of {key}.channels[i])"
        )
        refused.append(
            f"{channel(difference.at) + '.name' if indices is None else selection}: expected channel "
            f"{difference.name!r} at position {difference.learnt_at + 1}, as the classifiers were fitted "
            f"on it ({learnt}), found it at position {difference.at + 1} ({given}){read}; {fix}"
        )
    elif difference is not None and difference.kind == "normalization":
        at = difference.at
        refused.append(
            f"{channel(at)}.normalization: expected {label_normalization(learnt[at])!r} "
            f"({learnt[at]}, as the classifiers were fitted on it), found {label_normalization(given[at])!r} "
            f"({given[at]})"
        )
    elif difference is not None:
        warned.extend(
            f"{channel(i)}.name/source: the classifiers were fitted on {learnt[i]}, found {given[i]} "
            "(the same position and normalisation: a renamed channel is fine if it holds the same signal)"
            for i in difference.renamed
        )
    if fitted["normalize_per_time_point"] != found["normalize_per_time_point"]:
        refused.append(
            f"{key}.normalize_per_time_point: expected {fitted['normalize_per_time_point']}, as the "
            f"classifiers were fitted on it, found {found['normalize_per_time_point']}"
        )
    return refused, warned


def imported_classifier_problems(config: WorkflowConfig) -> list[str]:
    """Every way a file of ``analysis.classification.imported`` does not fit the model it names, one
    line each, for the dry run: not a ``classifiers`` artifact of this format (a pickle, another kind,
    another version), fitted on no contrastive model's embeddings, fitted on another checkpoint than
    the model's (training-config hash; a model imported from a model.ckpt may match the hash that
    file records instead, read here, as rule ``transfer_classifiers`` accepts it; where the file
    records the weights it was fitted on, a model imported from a model.ckpt is compared by those
    weights instead, any number of imports back; a model.ckpt this run has not made yet is left to
    that job), holding none of
    ``analysis.classification.tasks``, or reading a projection head of another width than the
    model's. The width of encoder features (and of projections for ``projection_dim: 0``, whose
    head is the identity) is checked by the job (it is the backbone's), and so are the weights: the
    job compares the digest the file records with the one the embeddings store records."""
    problems = []
    classification = config.analysis.classification
    for name, entry in classification.imported.items():
        key = f"analysis.classification.imported.{name}"
        try:
            fitted = read_classifiers_provenance(entry.file).config
            classifiers = load_classifiers(entry.file)
        except ArtifactError as err:
            problems.append(f"{key}.file: expected a classifiers file of rule 'classify', {err}")
            continue
        model = config.contrastive_models[entry.model]
        accepted = [config_hash(model.training.job_params())]
        lineage_known = True  # every hash the job accepts is known here
        digest = (fitted.get("embedded_by") or {}).get("encoder_weights_sha256")
        checkpoint = model.checkpoint if model.checkpoint_format == "dynaclr" else None
        if checkpoint is not None and digest is not None and Path(checkpoint).is_file():
            # the file records the weights it was fitted on, and the job compares them: so does the
            # dry run, on the model.ckpt the model is imported from (an import of an import keeps its
            # tensors, whatever the training sections of the runs in between)
            try:
                weights = _model_file_digest(checkpoint)
            except Exception as err:  # an unreadable file or one this version cannot build: named, not raised
                problems.append(
                    f"contrastive_models.{entry.model}.checkpoint: expected a model.ckpt this version "
                    f"reads, {checkpoint} could not be read as one ({type(err).__name__}: {err})"
                )
                continue
            if weights != digest:
                problems.append(
                    f"{key}.file: expected classifiers fitted on embeddings of the weights of "
                    f"contrastive_models.{entry.model}.checkpoint ({model.checkpoint}, weights digest "
                    f"{weights[:16]}), found {entry.file} fitted on model {fitted.get('model')!r}'s of "
                    f"weights digest {str(digest)[:16]}: import the model.ckpt of the run that fitted them"
                )
            lineage_known = False  # compared by weights, not by training-config hash
        elif checkpoint is not None:
            # imported from a model.ckpt: the job also accepts that file's own hash (the hash the
            # classifiers of the run that wrote it record); a file this run makes is not there yet
            if Path(checkpoint).is_file():
                try:
                    accepted.append(_model_file_hash(checkpoint))
                except ArtifactError as err:
                    problems.append(
                        f"contrastive_models.{entry.model}.checkpoint: expected a model.ckpt, {err}"
                    )
                    continue
            else:
                lineage_known = False
        found = (fitted.get("embedded_by") or {}).get("encoder_config_hash")
        hashes = " or ".join(dict.fromkeys(accepted))
        embedded = (fitted.get("embedded_by") or {}).get("model", fitted.get("model"))
        if found is None or model_kind(str(embedded)) != "contrastive":
            problems.append(
                f"{key}.file: expected classifiers fitted on a contrastive model's embeddings (checkpoint "
                f"hash {hashes}, model {entry.model!r}), found {entry.file} fitted on "
                f"{embedded!r}'s, " + ("a baseline's" if found is not None else "which records no checkpoint")
            )
        elif found not in accepted and lineage_known:
            problems.append(
                f"{key}.file: expected classifiers fitted on embeddings of model {entry.model!r}'s "
                f"checkpoint, training-config hash {hashes}, found {entry.file} fitted on model "
                f"{fitted.get('model')!r}'s of hash {found}: import the model.ckpt of the run that "
                "fitted them "
                f"(contrastive_models.{entry.model}.checkpoint)"
            )
        problems.extend(
            _imported_input_problems(config, entry.model, entry.apply_to, fitted, entry.file, key)
        )
        tasks = [task for task in classifiers if task in classification.tasks]
        if not tasks:
            problems.append(
                f"{key}.file: expected classifiers of analysis.classification.tasks "
                f"{list(classification.tasks)}, found {entry.file} holding {sorted(classifiers)}"
            )
        head = model.training.projection_dim
        for task in tasks:
            classifier = classifiers[task]
            # projection_dim 0: the head is the identity, the projections are the backbone's
            # features, whose width the job checks
            if classifier.representation == "projections" and head and classifier.feature_dim != head:
                problems.append(
                    f"{key}.file: the {task} classifier of {entry.file} reads {classifier.feature_dim} "
                    f"projections, expected the {head} of "
                    f"contrastive_models.{entry.model}.training.projection_dim"
                )
    return problems


def _imported_input_problems(
    config: WorkflowConfig,
    model_name: str,
    apply_to: list[str] | None,
    fitted: Mapping[str, Any],
    file: str,
    key: str,
) -> list[str]:
    """The dry run's :func:`input_differences` of a file of an earlier run that records the input
    it was fitted on: each dataset it predicts is embedded from its patch spec (the channels the
    model reads, in order with their normalisation, and ``normalize_per_time_point``), known at
    planning; the job compares the store's again. Refusals only (the job warns renamed channels)."""
    recorded = (fitted.get("embedded_by") or {}).get("input")
    if recorded is None:  # written before the input was recorded: not compared, as by the job
        return []
    try:
        learnt = input_record(recorded, f"{file} (embedded_by.input)")
    except ValueError as err:
        return [f"{key}.file: {err}"]
    model = config.contrastive_models[model_name]
    embedded = config.embedded_datasets(model_name)
    problems: list[str] = []
    for dataset in [d for d in (embedded if apply_to is None else apply_to) if d in embedded]:
        spec = config.datasets[dataset].patch_spec(model.training.patch_spec)
        labels = spec.channel_labels()
        try:
            indices = channel_indices(spec, model.training.input_channels or [])
        except ValueError:  # refused by the config's own checks
            continue
        given: dict[str, Any] = {
            "channels": [labels[i] for i in indices] if model.training.input_channels else labels,
            "normalize_per_time_point": spec.normalize_per_time_point,
        }
        if model.training.input_channels:  # as rule embed records it (PatchStore.model_input)
            given["channel_indices"] = indices
        refused, _ = input_differences(learnt, given, f"datasets.{dataset}.patches[{spec.name}]", model_name)
        problems.extend(
            f"{key}.file: expected classifiers fitted on the input model {model_name!r} reads on "
            f"{dataset}, found {file} fitted on another: {line}"
            for line in refused
        )
    return problems


def _file_version(path: str | Path) -> tuple[Path, int, int]:
    """``path`` resolved, with its size and mtime (ns): the cache key of what is read from a
    model.ckpt at planning, so a file replaced in place is read again."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return resolved, stat.st_size, stat.st_mtime_ns


def _model_file_digest(path: str | Path) -> str:
    """The digest of the encoder weights a model.ckpt holds, as rule ``embed`` records it for the
    embeddings the model encodes (:func:`dynaclr.io.weights.state_dict_sha256` of the encoder loaded
    from the file): the digest classifiers fitted on those embeddings record. Computed once per file
    version and process (several entries may name one model)."""
    return _file_digest(*_file_version(path))


@functools.lru_cache(maxsize=16)
def _file_digest(path: Path, size: int, mtime_ns: int) -> str:
    """:func:`_model_file_digest` of ``path`` as it is at ``size`` and ``mtime_ns`` (the cache key)."""
    from dynaclr.io.weights import state_dict_sha256
    from dynaclr.training.checkpoint import read_contrastive_checkpoint  # torch: only here

    return state_dict_sha256(read_contrastive_checkpoint(path).encoder().state_dict())


def _model_file_hash(path: str | Path) -> str:
    """The training-config hash a model.ckpt of this workflow records (its provenance): the hash the
    embeddings it encodes, and so the classifiers fitted on them, record (``embedded_by``). Read
    once per file version and process, as :func:`_model_file_digest` (several entries may name one
    model; each read loads the whole file)."""
    return _file_hash(*_file_version(path))


@functools.lru_cache(maxsize=16)
def _file_hash(path: Path, size: int, mtime_ns: int) -> str:
    """:func:`_model_file_hash` of ``path`` as it is at ``size`` and ``mtime_ns`` (the cache key); a
    file that cannot be read raises each time (lru_cache keeps no exception)."""
    from dynaclr.training.checkpoint import load_checkpoint  # torch: only where a checkpoint is read

    return load_checkpoint(path)[1].config_hash
