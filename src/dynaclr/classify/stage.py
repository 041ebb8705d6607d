"""Rule ``classify``: classifiers of every task for one (model, dataset), and the summaries.

Outputs of :func:`classify_stage` for ``{model}/{dataset}``:

* ``results/evaluation/classification_scores/{model}/{dataset}.parquet`` (kind
  ``classification_scores``): one row per task, point metrics and counts, columns
  :data:`SCORE_COLUMNS`;
* ``results/evaluation/predictions/{model}/{dataset}.parquet`` (kind ``predictions``): one row
  per cell and task (see :func:`~dynaclr.classify.evaluate.fit_and_evaluate`);
* ``results/evaluation/classifiers/{model}/{dataset}.json``: the fitted classifiers
  (:mod:`dynaclr.classify.model`); a classifier of a z-scored ``X`` (engineered features) records
  the statistics that z-scored it, its dataset's own (``source_standardization``).

:func:`transfer_classifiers_stage` applies the classifiers fitted on other datasets
(``analysis.classification.train_on``) to one (model, dataset) (``apply_to``): predictions of every
cell and, where the dataset has annotations, scores on them, in
``results/evaluation/transfer_scores/{model}/{dataset}.parquet`` and
``results/evaluation/transfer_predictions/{model}/{dataset}.parquet`` (same kinds and columns;
``train_dataset`` names the source).

:func:`classification_intervals_stage` (rule ``classification_intervals``) adds the track-bootstrap
CIs to a job's scores, computed from its predictions, in
``results/evaluation/classification/{model}/{dataset}.parquet`` (of ``classify``) and
``results/evaluation/transfer/{model}/{dataset}.parquet`` (of ``transfer_classifiers``), kind
``classification``, columns :data:`CLASSIFICATION_COLUMNS`: the CI settings
(``n_bootstrap``, ``confidence``) are in no fitting rule's params, so editing them refits nothing.

:func:`collect_classification` concatenates the per-job tables into
``results/evaluation/classification.csv``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dynaclr.classify.annotations import annotations_drawn, read_annotations
from dynaclr.classify.evaluate import apply_classifiers, classify_cells, score_intervals
from dynaclr.classify.model import (
    LinearClassifier,
    input_differences,
    input_record,
    load_classifiers,
    read_classifiers_provenance,
    save_classifiers,
)
from dynaclr.config.analysis import ClassificationConfig
from dynaclr.config.embeddings import model_kind
from dynaclr.embeddings import (
    open_representation,
    open_restandardized,
    read_cells,
    read_embeddings_provenance,
    read_standardization,
)
from dynaclr.io import (
    ArtifactKind,
    Provenance,
    StageFiles,
    make_provenance,
    read_table,
    read_table_provenance,
    write_csv,
    write_table,
)

logger = logging.getLogger(__name__)

CLASSIFICATION_COLUMNS: tuple[str, ...] = (
    "model",
    "dataset",
    "train_dataset",
    "task",
    "representation",
    "positive_class",
    "f1",
    "f1_ci_low",
    "f1_ci_high",
    "f1_bootstrap_used",
    "f1_ci_missing",
    "auroc",
    "auroc_ci_low",
    "auroc_ci_high",
    "auroc_bootstrap_used",
    "auroc_ci_missing",
    "balanced_accuracy",
    "balanced_accuracy_ci_low",
    "balanced_accuracy_ci_high",
    "balanced_accuracy_bootstrap_used",
    "balanced_accuracy_ci_missing",
    "n_train",
    "n_test",
    "n_test_positive",
    "n_annotated",
    "n_matched",
    "n_folds",
    "n_fovs",
    "n_bootstrap",
    "confidence",
)

#: Columns of ``classification`` that rule ``classification_intervals`` computes (from the
#: predictions, :func:`~dynaclr.classify.evaluate.score_intervals`); the others are the scores'.
INTERVAL_COLUMNS: tuple[str, ...] = (
    *(
        f"{metric}_{part}"
        for metric in ("f1", "auroc", "balanced_accuracy")
        for part in ("ci_low", "ci_high", "bootstrap_used", "ci_missing")
    ),
    "n_bootstrap",
    "confidence",
)

#: Columns of ``classification_scores`` (rules ``classify`` and ``transfer_classifiers``).
SCORE_COLUMNS: tuple[str, ...] = tuple(c for c in CLASSIFICATION_COLUMNS if c not in INTERVAL_COLUMNS)

#: Representations that read a store's ``X``: the engineered-features baseline's is its raw values
#: z-scored with its own cells' statistics (:func:`~dynaclr.embeddings.read_standardization`).
X_REPRESENTATIONS: tuple[str, ...] = ("features", "standardized")

#: Columns of a ``predictions`` table the CIs are computed from.
SCORED_PREDICTION_COLUMNS: tuple[str, ...] = (
    "fov_name",
    "track_id",
    "task",
    "train_dataset",
    "annotated",
    "annotation_label",
    "out_of_fold_probability",
)


class ClassifyInputs(StageFiles):
    """Rule ``classify``: one embeddings store and the annotations of its dataset."""

    embeddings: Path
    annotations: Path


class ClassifyOutputs(StageFiles):
    """Rule ``classify``: scores (metrics without CIs), per-cell predictions and the fitted classifiers."""

    scores: Path
    predictions: Path
    classifiers: Path


def classify_stage(
    config: ClassificationConfig,
    inputs: ClassifyInputs,
    outputs: ClassifyOutputs,
    *,
    model: str,
    dataset: str,
) -> pd.DataFrame:
    """Fit, evaluate and apply a classifier per task of ``config``; write the three outputs above
    (the scores without CIs: rule ``classification_intervals`` adds them,
    :func:`classification_intervals_stage`).

    The store is never read whole: its cells, the annotated cells' rows of the matrix (to fit), and
    every row a block at a time (to predict; :func:`~dynaclr.classify.evaluate.classify_cells`).

    Tasks of ``config`` without a row in the annotations (a dataset whose annotation table holds
    only some tasks) are skipped, with a warning.

    Returns:
        The scores table (one row per task classified, columns :data:`SCORE_COLUMNS`).

    Raises:
        ValueError: the annotations hold none of ``config.tasks``.
    """
    embeddings_path, annotations_path = inputs.embeddings, inputs.annotations
    embeddings_prov = read_embeddings_provenance(embeddings_path)
    annotations = read_annotations(annotations_path)
    annotations_prov = read_table_provenance(annotations_path, "annotations")
    annotated_tasks = set(annotations["task"])
    tasks = [task for task in config.tasks if task in annotated_tasks]
    if not tasks:
        raise ValueError(
            f"{annotations_path}: annotations hold tasks {sorted(annotated_tasks)}, none of "
            f"analysis.classification.tasks {list(config.tasks)}"
        )
    skipped = [task for task in config.tasks if task not in annotated_tasks]
    if skipped:
        logger.warning("%s: no annotations of tasks %s; not classified", annotations_path, skipped)
    # the store's provenance read once (above) for every read of it
    cells = read_cells(embeddings_path, provenance=embeddings_prov)
    blocks = open_representation(  # a block of rows at a time
        embeddings_path, config.representation, provenance=embeddings_prov
    )
    standardization = (
        read_standardization(embeddings_path, provenance=embeddings_prov)
        if config.representation in X_REPRESENTATIONS
        else None
    )
    rows: list[dict[str, Any]] = []
    predictions: list[pd.DataFrame] = []
    classifiers: dict[str, LinearClassifier] = {}
    for task, result in zip(
        tasks,
        classify_cells(
            cells,
            blocks,
            annotations,
            tasks,
            config,
            source=str(annotations_path),
            drawn=annotations_drawn(annotations_prov),
        ),
        strict=True,
    ):
        rows.append({"model": model, "dataset": dataset, "train_dataset": dataset, **result.metrics})
        predictions.append(result.predictions.assign(train_dataset=dataset))
        # X z-scored with this dataset's own statistics (engineered features): recorded, so that a
        # transfer puts another dataset's raw values on this scale (transfer_classifiers_stage)
        classifiers[task] = dataclasses.replace(result.classifier, source_standardization=standardization)
    recorded: list[Any] = [(embeddings_path, embeddings_prov), (annotations_path, annotations_prov)]
    provenance_config = {**config.fit_params(), "model": model, "dataset": dataset}
    scores = pd.DataFrame(rows)[list(SCORE_COLUMNS)]
    write_table(
        scores,
        outputs.scores,
        make_provenance(ArtifactKind.CLASSIFICATION_SCORES, provenance_config, recorded),
    )
    write_table(
        pd.concat(predictions, ignore_index=True),
        outputs.predictions,
        make_provenance(ArtifactKind.PREDICTIONS, provenance_config, recorded),
    )
    save_classifiers(
        classifiers,
        outputs.classifiers,
        make_provenance(
            ArtifactKind.CLASSIFIERS,
            {**provenance_config, "embedded_by": embedded_by(embeddings_prov)},
            recorded,
        ),
    )
    return scores


def embedded_by(embeddings: Provenance) -> dict[str, Any]:
    """What made an embeddings store (its provenance): the model's name, the training-config hash
    of the checkpoint it encoded with and the SHA-256 of the encoder's weights
    (:func:`dynaclr.io.weights.state_dict_sha256`; both ``None`` for engineered features, the digest
    also for a store written before it was recorded) and, where the store
    records them (engineered features), the patch channels its features were computed from, and the
    input the features were computed from (``input``: the channels read, in order with their
    normalisation, and per-time-point normalisation; a store written before it was recorded has none)."""
    encoder = [item.config_hash for item in embeddings.inputs if item.kind == ArtifactKind.CONTRASTIVE_MODEL]
    model = embeddings.config.get("model")
    digest = embeddings.config.get("encoder_weights_sha256")
    made_by: dict[str, Any] = {
        "model": None if model is None else str(model),
        "encoder_config_hash": (encoder or [None])[0],
        "encoder_weights_sha256": None if digest is None else str(digest),
    }
    channels = embeddings.config.get("channel_names")
    if channels is not None:
        made_by["channel_names"] = [str(name) for name in channels]
    model_input = embeddings.config.get("input")
    if model_input is not None:
        made_by["input"] = model_input
    return made_by


def check_classifiers_fit(
    path: Path,
    embeddings_path: Path,
    embeddings: Provenance,
    *,
    imported_from: Sequence[str] | None = None,
) -> None:
    """Fail when the classifier file ``path`` was fitted on embeddings of another model (or of another
    checkpoint of it, or, for features that record them, of other patch channels) than the store
    ``embeddings_path`` (provenance ``embeddings``): its weights would read features that mean
    something else, even at the same width.

    ``imported_from``: for a file of an earlier run (``analysis.classification.imported``), the
    training-config hashes of the checkpoints the store's model.ckpt was imported from (its provenance
    inputs, :func:`checkpoint_sources`). The model's name, that run's, is not compared: the file must
    have been fitted on embeddings of the same weights (``encoder_weights_sha256``, the store's). A
    file that records no digest (written before it was recorded) is checked, with a warning, by
    checkpoint hash instead: the store's or one of ``imported_from``.

    Where both record it, the weights' digest is compared in-run too, and, in-run or not, once the
    weights passed, the input the features were computed from (``input``: the same weights fed the
    channels in another order, or otherwise normalised, give features that mean something else),
    compared as rule ``import_model`` compares a spec's channels: other names or sources at a
    position (a lab's own names) are warned, not refused."""
    fitted = read_classifiers_provenance(path).config
    recorded = fitted.get("embedded_by") or {"model": fitted.get("model"), "encoder_config_hash": None}
    target = embedded_by(embeddings)
    digests = (recorded.get("encoder_weights_sha256"), target["encoder_weights_sha256"])
    if imported_from is not None:
        same_weights = _check_imported_fit(path, embeddings_path, recorded, target, imported_from)
    else:
        _check_in_run_fit(path, embeddings_path, recorded, target)
        same_weights = None not in digests  # compared equal above
    _check_same_input(path, embeddings_path, embeddings, recorded, target, same_weights=same_weights)


def _check_in_run_fit(
    path: Path, embeddings_path: Path, recorded: dict[str, Any], target: dict[str, Any]
) -> None:
    """:func:`check_classifiers_fit` of a file of this run: the model, the weights' digest and the
    checkpoint hash where both record them, and engineered features' channels."""
    digests = (recorded.get("encoder_weights_sha256"), target["encoder_weights_sha256"])
    if recorded.get("model") != target["model"]:
        raise ValueError(
            f"{path}: expected classifiers fitted on {target['model']!r}'s embeddings (those of "
            f"{embeddings_path}), found classifiers fitted on {recorded.get('model')!r}'s: a classifier "
            "only reads the embeddings of the model it was fitted on"
        )
    if None not in digests and digests[0] != digests[1]:
        raise ValueError(
            f"{path}: fitted on embeddings of model {target['model']!r} encoded with weights of SHA-256 "
            f"{digests[0]}, but {embeddings_path} was encoded with weights of SHA-256 {digests[1]}: the "
            "model was trained again since; rerun rule 'classify' for the sources"
        )
    hashes = (recorded.get("encoder_config_hash"), target["encoder_config_hash"])
    if None not in hashes and hashes[0] != hashes[1]:
        raise ValueError(
            f"{path}: fitted on embeddings of model {target['model']!r} encoded with a checkpoint of "
            f"training-config hash {hashes[0]}, but {embeddings_path} was encoded with one of hash "
            f"{hashes[1]}: the model was trained again since; rerun rule 'classify' for the sources"
        )
    channels = (recorded.get("channel_names"), target.get("channel_names"))
    if None not in channels and channels[0] != channels[1]:
        raise ValueError(
            f"{path}: fitted on {target['model']!r} features of patch channels {channels[0]}, but "
            f"{embeddings_path} holds features of channels {channels[1]}: its weights would read one "
            "channel's features as another's"
        )


def _check_same_input(
    path: Path,
    embeddings_path: Path,
    embeddings: Provenance,
    recorded: dict[str, Any],
    target: dict[str, Any],
    *,
    same_weights: bool,
) -> None:
    """Fail when the classifier file ``path`` was fitted on features of another input (``input`` of
    :func:`embedded_by`) than the store ``embeddings_path`` holds, compared as rule ``import_model``
    compares channels (:func:`~dynaclr.classify.model.input_differences`: other names or sources at
    a position are warned); not compared where either records none (written before it was
    recorded). Run last, once the weights were checked: ``same_weights``, their digests compared equal."""
    if recorded.get("input") is None or target.get("input") is None:
        return
    fitted = input_record(recorded["input"], f"{path} (embedded_by.input)")
    found = input_record(target["input"], f"{embeddings_path} (input)")
    dataset = embeddings.config.get("dataset", "<dataset>")
    spec = embeddings.config.get("patch_spec", "<its patch spec>")
    refused, warned = input_differences(
        fitted, found, f"datasets.{dataset}.patches[{spec}]", str(target.get("model", "<model>"))
    )
    for line in warned:
        logger.warning("%s, applied to %s: %s", path, embeddings_path, line)
    if refused:
        weights = "the same weights" if same_weights else "weights"
        raise ValueError(
            f"{path}: fitted on {recorded.get('model')!r} features of another input than {embeddings_path} "
            f"({target['model']!r}) holds: {'; '.join(refused)}: {weights} fed other channels, in another "
            "order or otherwise normalised, give features that mean something else. Embed the dataset "
            "with the patch spec the classifiers were fitted on (its channels in that order and "
            "normalisation; a pretrained backbone's input_channels selecting them in that order)"
        )


def _check_imported_fit(
    path: Path,
    embeddings_path: Path,
    recorded: dict[str, Any],
    target: dict[str, Any],
    imported_from: Sequence[str],
) -> bool:
    """:func:`check_classifiers_fit` of a file of an earlier run: by the weights' digest where the
    file records one, else by checkpoint hash (the store's or one of ``imported_from``), warned.
    Classifiers of a baseline's embeddings (random weights list the model they share an
    architecture with, and so its hash) are refused: they never read a trained model's. Returns
    whether the weights' digests were compared (and are equal)."""
    if model_kind(str(recorded.get("model"))) != "contrastive":
        raise ValueError(
            f"{path}: expected classifiers fitted on a contrastive model's embeddings, found classifiers "
            f"of the baseline {recorded.get('model')!r}: they read only that baseline's embeddings"
        )
    found_digest = recorded.get("encoder_weights_sha256")
    if found_digest is not None:
        expected_digest = target["encoder_weights_sha256"]
        if expected_digest is None:
            raise ValueError(
                f"{path}: records the weights its classifiers were fitted on (SHA-256 {found_digest}), "
                f"but {embeddings_path} (model {target['model']!r}) records none (written before the "
                "digest was recorded, or not a network's embeddings): rerun rule 'embed' for it "
                "(snakemake --forcerun embed)"
            )
        if found_digest != expected_digest:
            raise ValueError(
                f"{path}: expected classifiers fitted on embeddings of model {target['model']!r}'s weights "
                f"(those of {embeddings_path}, SHA-256 {expected_digest}), found classifiers fitted on "
                f"model {recorded.get('model')!r}'s embeddings of weights of SHA-256 {found_digest}: a "
                "classifier reads only the embeddings of the weights it was fitted on; import that run's "
                "model.ckpt (contrastive_models.<model>.checkpoint) and name it as the entry's model"
            )
        return True
    accepted = [target["encoder_config_hash"], *imported_from]
    found = recorded.get("encoder_config_hash")
    if found is None or found not in accepted:
        raise ValueError(
            f"{path}: expected classifiers fitted on the embeddings of a checkpoint of training-config "
            f"hash {' or '.join(str(h) for h in dict.fromkeys(accepted))} (model {target['model']!r} of "
            f"{embeddings_path}, or the file it was imported from), found classifiers fitted on model "
            f"{recorded.get('model')!r}'s embeddings, checkpoint hash {found}: a classifier reads only "
            "the embeddings of the checkpoint it was fitted on; import that run's model.ckpt "
            "(contrastive_models.<model>.checkpoint) and name it as the entry's model"
        )
    logger.warning(
        "%s records no digest of the weights its classifiers were fitted on (written before it was "
        "recorded): the weights could not be compared with those of %s (model %r); accepted by "
        "training-config hash %s only, which another run training the same config on other data shares",
        path,
        embeddings_path,
        target["model"],
        found,
    )
    return False


def checkpoint_sources(checkpoint: Path) -> list[str]:
    """The training-config hashes of the contrastive models ``checkpoint`` (a model.ckpt) was made
    from: the file rule ``import_model`` read, where that was a model.ckpt (its provenance input of
    kind ``contrastive_model``); empty for a model trained here or imported from a VisCy or timm file."""
    from dynaclr.training.checkpoint import load_checkpoint  # torch: only where a checkpoint is read

    _, provenance = load_checkpoint(checkpoint)
    return [
        item.config_hash
        for item in provenance.inputs
        if item.kind == ArtifactKind.CONTRASTIVE_MODEL and item.config_hash is not None
    ]


class TransferClassifiersInputs(StageFiles):
    """Rule ``transfer_classifiers``: one embeddings store, the classifiers fitted on the source
    datasets (same model), and this dataset's annotations when it has some."""

    embeddings: Path
    classifiers: tuple[Path, ...]
    annotations: Path | None = None
    #: the model.ckpt of the embedding model, given with classifiers of an earlier run
    #: (``analysis.classification.imported``) of a model imported from a file: what it was imported from
    checkpoint: Path | None = None


class TransferClassifiersOutputs(StageFiles):
    """Rule ``transfer_classifiers``: scores (rows where the dataset has labels; metrics without
    CIs) and predictions."""

    scores: Path
    predictions: Path


def transfer_classifiers_stage(
    config: ClassificationConfig,
    inputs: TransferClassifiersInputs,
    outputs: TransferClassifiersOutputs,
    *,
    model: str,
    dataset: str,
    sources: list[str],
    imported: Sequence[str] = (),
) -> pd.DataFrame:
    """Apply the classifiers of ``sources`` (one file each, in order) to ``dataset``'s embeddings.

    ``imported``: the sources (of ``sources``) that are files of an earlier run
    (``analysis.classification.imported``, named by :func:`imported_source_label`): their fit is checked
    by the digest of the weights the store was encoded with (or, for a file that records none, by
    checkpoint hash, the store's or one its model.ckpt (``inputs.checkpoint``) was imported from), not
    by model name (:func:`check_classifiers_fit`).

    Every task of ``config.tasks`` a source's file holds predicts every cell; where this dataset
    has annotations of the task, the predictions are scored on them
    (:func:`~dynaclr.classify.evaluate.apply_and_evaluate`). The store is read a block of rows at
    a time, once per representation the classifiers read
    (:func:`~dynaclr.classify.evaluate.apply_classifiers`). A classifier fitted on another dataset's
    ``X`` z-scored with that dataset's own statistics (engineered features; it records them,
    ``source_standardization``) reads this store's raw values z-scored with them
    (:func:`~dynaclr.embeddings.open_restandardized`), not this store's ``X``, centred on its own
    cells (a plate of other proportions would be called otherwise).

    Returns:
        The scores table (columns :data:`SCORE_COLUMNS`; possibly empty: a dataset without labels
        gets predictions only). Rule ``classification_intervals`` adds the CIs.

    Raises:
        ValueError: ``sources`` and ``inputs.classifiers`` differ in length, or a classifier was
            fitted on another model's embeddings (its file's provenance names another model or
            checkpoint, :func:`check_classifiers_fit`, or its width differs), or would read this
            store on another scale than it was fitted on (:func:`_check_scale`: a baseline's file
            written before it recorded its source's statistics, a store without raw values).
        ArtifactError: the store's raw values come without their statistics.
    """
    if len(sources) != len(inputs.classifiers):
        raise ValueError(
            f"{len(sources)} source datasets {sources} for {len(inputs.classifiers)} classifier files"
        )
    target = read_embeddings_provenance(inputs.embeddings)
    recorded: list[Any] = [(inputs.embeddings, target)]
    annotations = None
    drawn = False
    if inputs.annotations is not None:
        annotations = read_annotations(inputs.annotations)
        annotations_prov = read_table_provenance(inputs.annotations, "annotations")
        drawn = annotations_drawn(annotations_prov)
        recorded.append((inputs.annotations, annotations_prov))
    unknown = sorted(set(imported) - set(sources))
    if unknown:
        raise ValueError(f"imported sources {unknown} are not among the sources {sources}")
    lineage = None
    if imported:
        lineage = [] if inputs.checkpoint is None else checkpoint_sources(inputs.checkpoint)
        if inputs.checkpoint is not None:
            recorded.append(inputs.checkpoint)
    applied: list[tuple[str, LinearClassifier]] = []  # (source, classifier), in file and task order
    files = dict(zip(sources, inputs.classifiers, strict=True))
    for source, path in files.items():
        check_classifiers_fit(
            Path(path), inputs.embeddings, target, imported_from=lineage if source in imported else None
        )
        recorded.append(path)
        applied += [(source, c) for task, c in load_classifiers(path).items() if task in config.tasks]
    if not applied:
        raise ValueError(
            f"the classifiers of {sources} hold none of analysis.classification.tasks {list(config.tasks)}"
        )
    # the store's provenance read once (target, above) for every read of it
    own_scale = read_standardization(inputs.embeddings, provenance=target)
    for source, classifier in applied:
        _check_scale(classifier, files[source], inputs.embeddings, own_scale, source, dataset)
    cells = read_cells(inputs.embeddings, provenance=target)
    outcomes: dict[int, tuple[dict[str, Any] | None, pd.DataFrame]] = {}
    # what each classifier reads: its representation and, where it is X of another dataset's
    # statistics, those (None where the store's own X is on its scale: an encoder's features, or
    # engineered features z-scored with the very statistics the classifier records)
    scales = [_rescaling(classifier, own_scale) for _, classifier in applied]
    keys = [
        (classifier.representation, None if scale is None else (scale[0].tobytes(), scale[1].tobytes()))
        for (_, classifier), scale in zip(applied, scales, strict=True)
    ]
    for key in dict.fromkeys(keys):
        # every classifier of one matrix (and, for a z-scored X, one source's scale) predicts in one
        # pass over its blocks
        chosen = [i for i, found in enumerate(keys) if found == key]
        representation, standardization = key[0], scales[chosen[0]]
        if standardization is None:
            blocks = open_representation(inputs.embeddings, representation, provenance=target)
        else:  # X of the source: this dataset's raw values z-scored with the source's statistics
            blocks = open_restandardized(inputs.embeddings, *standardization, provenance=target)
        logger.info(
            "%d classifiers of %s on %s (%s), %s%s",
            len(chosen),
            sorted({applied[i][0] for i in chosen}),
            dataset,
            model,
            representation,
            "" if standardization is None else " (its raw values z-scored with the source's statistics)",
        )
        for source, classifier in (applied[i] for i in chosen):
            if source in imported and classifier.feature_dim != blocks.n_columns:
                raise ValueError(
                    f"{files[source]} (analysis.classification.imported entry of that file, source "
                    f"{source!r}): its {classifier.task} classifier reads {classifier.feature_dim} "
                    f"{representation} dimensions, {inputs.embeddings} (model {model!r}) has "
                    f"{blocks.n_columns}: it was fitted on another model's embeddings; name the model "
                    "they were fitted on as the entry's model"
                )
        results = apply_classifiers(
            cells,
            blocks,
            [applied[i][1] for i in chosen],
            annotations,
            config,
            source=str(inputs.annotations),
            drawn=drawn,
        )
        outcomes |= dict(zip(chosen, results, strict=True))
    rows: list[dict[str, Any]] = []
    predictions: list[pd.DataFrame] = []
    for i, (source, _) in enumerate(applied):
        metrics, predicted = outcomes[i]
        if metrics is not None:
            rows.append({"model": model, "dataset": dataset, "train_dataset": source, **metrics})
        predictions.append(predicted.assign(train_dataset=source))
    provenance_config = {
        **config.fit_params(),
        "model": model,
        "dataset": dataset,
        "sources": sources,
        **({"imported": list(imported)} if imported else {}),
    }
    scores = pd.DataFrame(rows, columns=list(SCORE_COLUMNS))[list(SCORE_COLUMNS)]
    write_table(
        scores,
        outputs.scores,
        make_provenance(
            ArtifactKind.CLASSIFICATION_SCORES, provenance_config, recorded, stage="transfer_classifiers"
        ),
    )
    write_table(
        pd.concat(predictions, ignore_index=True),
        outputs.predictions,
        make_provenance(ArtifactKind.PREDICTIONS, provenance_config, recorded, stage="transfer_classifiers"),
    )
    return scores


def _rescaling(
    classifier: LinearClassifier, own_scale: tuple[np.ndarray, np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The statistics the store's raw values are z-scored with for ``classifier`` (its source's),
    ``None`` where it reads the store's matrix as stored: it records none, or the store's ``X`` was
    z-scored with the very same (``own_scale``: the source dataset itself), read bit for bit as by
    rule ``classify``."""
    scale = classifier.source_standardization
    if scale is None or (
        own_scale is not None and all(np.array_equal(a, b) for a, b in zip(scale, own_scale, strict=True))
    ):
        return None
    return scale


def _check_scale(
    classifier: LinearClassifier,
    path: Path,
    embeddings_path: Path,
    own_scale: tuple[Any, Any] | None,
    source: str,
    dataset: str,
) -> None:
    """Refuse a classifier (of the file ``path``, fitted on ``source``) that would read ``dataset``'s
    store ``embeddings_path`` on another scale than it was fitted on: the store's ``X`` is z-scored
    with its own cells' statistics (``own_scale``, engineered features) and the file records not the
    source's (written before they were recorded), or the file records them and the store has no raw
    values to z-score with them, or records them for another matrix than ``X`` (altered).

    Raises:
        ValueError: naming the file, the task, what was expected and found, and the fix.
    """
    scale = classifier.source_standardization
    reads_x = classifier.representation in X_REPRESENTATIONS
    if scale is not None and not reads_x:
        raise ValueError(
            f"{path}: its {classifier.task} classifier reads {classifier.representation!r} and records the "
            "statistics a z-scored X was standardised with (source_standardization), which only a "
            "classifier of X ('features') records: the file was altered; use the file rule 'classify' wrote"
        )
    if scale is None and reads_x and own_scale is not None:
        raise ValueError(
            f"{path}: its {classifier.task} classifier was fitted on {source}'s X, which holds features "
            f"z-scored with {source}'s own cells' statistics, and the file records not those statistics "
            f"(written before they were recorded); {embeddings_path} holds {dataset}'s X, z-scored with "
            f"{dataset}'s own, so the classifier would read every cell shifted by how the two datasets' "
            f"cells differ (a plate of other infected proportions called otherwise): rerun rule 'classify' "
            f"for {source} (snakemake --forcerun classify), then this transfer"
        )
    if scale is not None and own_scale is None:
        raise ValueError(
            f"{path}: its {classifier.task} classifier was fitted on {source}'s X z-scored with {source}'s "
            f"statistics and reads {dataset}'s raw values z-scored with them, but {embeddings_path} holds no "
            "raw values (layers['raw'] with var['raw_mean'], var['raw_std']): its X is not on that scale; "
            "embed the dataset with the model the classifiers were fitted on (snakemake --forcerun embed)"
        )


class ClassificationIntervalsInputs(StageFiles):
    """Rule ``classification_intervals``: the scores and predictions of one ``classify`` or
    ``transfer_classifiers`` job."""

    scores: Path
    predictions: Path


class ClassificationIntervalsOutputs(StageFiles):
    """Rule ``classification_intervals``: the metrics with their CIs."""

    metrics: Path


def _job_of(provenance: Provenance) -> tuple[Any, ...]:
    """What identifies the job that wrote a table: its rule, config hash and recorded inputs (the
    embeddings and annotations it read, each with its kind and config hash)."""
    recorded = tuple((record.path, record.kind, record.config_hash) for record in provenance.inputs)
    return provenance.stage, provenance.config_hash, recorded


def _describe_job(provenance: Provenance) -> str:
    """The rule, config hash and inputs of :func:`_job_of`, for a message."""
    read = ", ".join(f"{record.path} (config hash {record.config_hash})" for record in provenance.inputs)
    return f"rule {provenance.stage!r}, config hash {provenance.config_hash}, inputs {read or 'none'}"


def check_same_job(
    scores: Path, scores_prov: Provenance, predictions: Path, predictions_prov: Provenance
) -> None:
    """Refuse ``scores`` and ``predictions`` (read with their provenance) that two jobs wrote: their
    recorded rules, configs or inputs differ (:func:`_job_of`). An intervals' rule computes CIs of
    the scores from the predictions, so both must be one fitting job's.

    Raises:
        ValueError: naming both files and each job.
    """
    if _job_of(scores_prov) != _job_of(predictions_prov):
        raise ValueError(
            f"{scores}: expected the scores of the job that wrote {predictions} "
            f"({_describe_job(predictions_prov)}), found those of {_describe_job(scores_prov)}: rerun rule "
            f"{predictions_prov.stage!r} for both"
        )


def check_bootstrap_seed(scores: Path, scores_prov: Provenance, seed: int, key: str) -> None:
    """Refuse ``scores`` recorded with another ``seed`` than the intervals' (config key ``key``): the
    fitting job's seed is the bootstrap's.

    Raises:
        ValueError: naming the file, the key, the seed expected and the one found.
    """
    recorded_seed = scores_prov.config.get("seed")
    if recorded_seed != seed:
        raise ValueError(
            f"{scores}: expected scores of {key} {seed} (the bootstrap's), found seed {recorded_seed}: "
            f"rerun rule {scores_prov.stage!r}"
        )


def classification_intervals_stage(
    config: ClassificationConfig,
    inputs: ClassificationIntervalsInputs,
    outputs: ClassificationIntervalsOutputs,
) -> pd.DataFrame:
    """Add the track-bootstrap CIs (``config.n_bootstrap``, ``confidence``, ``seed``) to each row of
    a ``classification_scores`` table, computed from the scored cells of the ``predictions`` table
    the same job wrote (:func:`~dynaclr.classify.evaluate.score_intervals`: the row's source
    ``train_dataset`` and task); write the ``classification`` table (:data:`CLASSIFICATION_COLUMNS`).

    The CIs read no embeddings and fit nothing: editing ``n_bootstrap`` or ``confidence`` reruns
    this rule alone (and what reads its table). The table records the scores' config with the
    interval keys, the config its rows were computed with.

    Returns:
        The ``classification`` table.

    Raises:
        ArtifactError: an input is not of its kind, or misses a column.
        ValueError: the two files come from different jobs (their recorded rules, configs or inputs
            differ: two runs of one config on another model's embeddings too), the scores were
            computed with another ``seed`` than ``config``'s, or a row's
            cells in the predictions are not those its counts give.
    """
    scores, scores_prov = read_table(inputs.scores, ArtifactKind.CLASSIFICATION_SCORES, SCORE_COLUMNS)
    predictions, predictions_prov = read_table(
        inputs.predictions, ArtifactKind.PREDICTIONS, SCORED_PREDICTION_COLUMNS
    )
    check_same_job(inputs.scores, scores_prov, inputs.predictions, predictions_prov)
    check_bootstrap_seed(inputs.scores, scores_prov, config.seed, "analysis.classification.seed")
    rows: list[dict[str, Any]] = []
    for row in scores.to_dict("records"):
        source = predictions[predictions["train_dataset"] == row["train_dataset"]]
        where = f"{inputs.predictions} (train_dataset {row['train_dataset']!r}) for {inputs.scores}"
        own = row["train_dataset"] == row["dataset"]  # cross-validated; else transferred or imported
        rows.append({**row, **score_intervals(row, source, config, where, cross_validated=own)})
    metrics = pd.DataFrame(rows, columns=list(CLASSIFICATION_COLUMNS))[list(CLASSIFICATION_COLUMNS)]
    provenance_config = {**scores_prov.config, **config.interval_params()}
    recorded: list[Any] = [(inputs.scores, scores_prov), (inputs.predictions, predictions_prov)]
    write_table(
        metrics, outputs.metrics, make_provenance(ArtifactKind.CLASSIFICATION, provenance_config, recorded)
    )
    return metrics


class CollectClassificationInputs(StageFiles):
    """Rule ``collect_classification``: every (model, dataset)'s classification metrics."""

    metrics: tuple[Path, ...]


class CollectClassificationOutputs(StageFiles):
    """Rule ``collect_classification``: one summary CSV."""

    table: Path


def collect_classification(
    inputs: CollectClassificationInputs, outputs: CollectClassificationOutputs
) -> pd.DataFrame:
    """Concatenate per-(model, dataset) ``classification`` tables into ``classification.csv``."""
    if not inputs.metrics:
        raise ValueError("collect_classification needs at least one classification table")
    tables = [
        read_table(path, ArtifactKind.CLASSIFICATION, CLASSIFICATION_COLUMNS)[0] for path in inputs.metrics
    ]
    combined = pd.concat([t for t in tables if len(t)] or tables[:1], ignore_index=True).sort_values(
        ["model", "dataset", "train_dataset", "task"], ignore_index=True
    )
    write_csv(combined[list(CLASSIFICATION_COLUMNS)], outputs.table)
    return combined


def read_predictions(path: str | Path) -> pd.DataFrame:
    """Read a ``predictions`` table (provenance and core columns checked)."""
    table, _ = read_table(
        path,
        ArtifactKind.PREDICTIONS,
        ("fov_name", "track_id", "t", "task", "probability", "predicted_label"),
    )
    return table
