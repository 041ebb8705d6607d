"""Compare predicted and measured nuclear fluorescence (rule ``evaluate_virtual_stain``): Pearson r
per FOV, held-out FOVs marked (those the model never learnt from: with ``virtual_stain.checkpoint``,
the checkpoint's own training FOVs of this plate are not held out).

The table goes to the CSV the rule names (``outputs.table``); its provenance (kind
``virtual_stain_evaluation``) and the mean r of held-out and training FOVs go to the JSON record
the rule names beside it (``outputs.record``). Voxels missing (NaN, ±inf) in either image, e.g. the
frames prediction dropped (:mod:`dynaclr.numerics.missing`), are left out.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from iohub.ngff import open_ome_zarr
from tqdm.auto import tqdm

from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.io import (
    ArtifactError,
    ArtifactKind,
    StageFiles,
    atomic_output,
    make_provenance,
    read_zarr_provenance,
)
from dynaclr.io.chunks import read_block
from dynaclr.io.plate import list_plate_fovs, read_fov_record, write_fov_record
from dynaclr.numerics.missing import missing_mask
from dynaclr.numerics.pearson import PearsonAccumulator
from dynaclr.virtual_stain.plates import (
    checked_fov_records,
    plate_channel,
    plate_image,
    read_target_plate_provenance,
)
from dynaclr.virtual_stain.transfer import (
    TRAINED_ON_FOV_KEY,
    TRAINED_ON_KEY,
    TRAINING_KEY,
    TRAINING_STATE_KEYS,
    same_plate,
)

__all__ = [
    "EVALUATION_COLUMNS",
    "EvaluateVirtualStainInputs",
    "EvaluateVirtualStainOutputs",
    "evaluate_virtual_stain",
    "evaluation_summary",
    "fov_correlation",
    "held_out_fovs",
    "records_training_state",
    "training_state_of_records",
]

logger = logging.getLogger(__name__)

#: Columns of the evaluation table.
EVALUATION_COLUMNS = (
    "fov_name",
    "held_out",
    "pearson_r",
    "pearson_r_frame_mean",
    "n_frames_evaluated",
    "n_voxels",
    # how far the model's training went (the prediction records' training state; empty: unknown, a
    # record of an older dynaclr or weights of your own): stopped_by_time true is a partly trained model
    "stopped_by_time",
    "training_steps",
    "max_steps",
    "max_minutes",
)


class EvaluateVirtualStainInputs(StageFiles):
    """Rule ``evaluate_virtual_stain``: the prediction plate, every FOV's prediction record (proof
    it is filled) and the plate holding the measured nuclear channel."""

    virtual_stain_plate: Path
    records: tuple[Path, ...] = ()
    plate: Path


class EvaluateVirtualStainOutputs(StageFiles):
    """Rule ``evaluate_virtual_stain``: the table of correlations and its record."""

    table: Path
    record: Path


def fov_correlation(
    predicted: Any,
    measured: Any,
    target_channel: int,
    *,
    stores: tuple[str | Path, str | Path] = ("prediction", "target"),
    fov_name: str | None = None,
) -> tuple[PearsonAccumulator, list[float]]:
    """Pearson r of one FOV, pooled over its frames, and each frame's own r.

    ``predicted`` is ``(T, 1, Z, Y, X)`` and ``measured`` ``(T, C, Z, Y, X)`` (zarr or numpy arrays,
    read one frame ``(Z, Y, X)`` at a time); channel ``target_channel`` of ``measured`` is
    compared over the voxels finite in both. Frames where it is constant (no nuclear marker) or
    that have no such voxel (a dropped frame) are skipped. ``stores`` (prediction, target) and
    ``fov_name`` name the arrays in a corrupt-chunk error.
    """
    total, frame_r = PearsonAccumulator(), []
    for t in range(predicted.shape[0]):
        truth = read_block(measured, (t, target_channel), store=stores[1], fov_name=fov_name)
        truth = truth.astype(np.float64)  # (Z, Y, X)
        prediction = read_block(predicted, (t, 0), store=stores[0], fov_name=fov_name).astype(np.float64)
        missing = [mask for mask in (missing_mask(truth), missing_mask(prediction)) if mask is not None]
        if missing:
            keep = ~np.logical_or.reduce(missing)
            truth, prediction = truth[keep], prediction[keep]
        if truth.size == 0 or truth.min() == truth.max():
            continue
        frame = PearsonAccumulator()
        frame.add(prediction, truth)
        total.merge(frame)
        frame_r.append(frame.r())
    return total, frame_r


def records_training_state(records: tuple[Path, ...]) -> dict[str, Any]:
    """The model's training state (:func:`~dynaclr.virtual_stain.checkpoint.recorded_training_state`)
    as the FOVs' prediction ``records`` hold it: every value ``None`` (unknown) where none records
    one (records of an older dynaclr, or no record given).

    Raises:
        ArtifactError: two records hold different states (FOVs predicted by different models).
    """
    return training_state_of_records(
        {path: read_fov_record(path, ArtifactKind.VIRTUAL_STAIN_FOV)[1] for path in records}
    )


def training_state_of_records(metrics: Mapping[Path, dict[str, Any]]) -> dict[str, Any]:
    """:func:`records_training_state` of the prediction records' ``metrics`` already read (by path)."""
    unknown: dict[str, Any] = dict.fromkeys(TRAINING_STATE_KEYS)
    states: dict[Path, dict[str, Any]] = {}
    for path, recorded_metrics in metrics.items():
        recorded = recorded_metrics.get(TRAINING_KEY)
        if isinstance(recorded, dict):
            states[path] = {key: recorded.get(key) for key in TRAINING_STATE_KEYS}
    distinct = {json.dumps(state, sort_keys=True): path for path, state in states.items()}
    if len(distinct) > 1:
        shown = "; ".join(f"{path}: {found}" for found, path in list(distinct.items())[:2])
        raise ArtifactError(
            f"the FOVs' prediction records hold different training states of the model ({shown}): "
            "they were predicted by different models; rerun `snakemake --forcerun predict_virtual_stain`"
        )
    return next(iter(states.values()), unknown)


def held_out_fovs(
    fov_names: list[str],
    train_fovs: list[str],
    records: Mapping[Path, dict[str, Any]],
    target_plate: str | Path,
) -> dict[str, bool]:
    """Whether each FOV was held out of the model's training: not among ``train_fovs`` (the config's
    ``train.train_fovs``) nor a FOV whose prediction record (``records``: each record's metrics by
    path, :func:`~dynaclr.virtual_stain.plates.checked_fov_records`) states the model was trained on it
    (``trained_on_fov``, :func:`~dynaclr.virtual_stain.transfer.trained_on_fov`: a checkpoint given
    back through ``virtual_stain.checkpoint`` to the plate it was trained on), nor one of the
    checkpoint's training FOVs (the record's ``trained_on``) whose measured nuclei it learnt from
    ``target_plate`` (the plate evaluated against: the same cells, whatever phase plate was
    predicted). A FOV whose record does not say (weights from elsewhere, or a record of an older
    dynaclr) and not in ``train_fovs`` is held out, logged at WARNING when no record says."""
    trained: dict[str, bool | None] = {}
    for metrics in records.values():
        fov_name, recorded = metrics.get("fov_name"), metrics.get(TRAINED_ON_FOV_KEY)
        if not isinstance(fov_name, str):
            continue
        trained[fov_name] = recorded if isinstance(recorded, bool) else None
        learnt = metrics.get(TRAINED_ON_KEY)
        if isinstance(learnt, dict) and fov_name in (learnt.get("train_fovs") or ()):
            source = learnt.get("target_plate")
            if isinstance(source, str) and same_plate(source, target_plate):
                trained[fov_name] = True
    held_out = {name: not (name in train_fovs or trained.get(name) is True) for name in fov_names}
    unknown = [name for name in fov_names if held_out[name] and trained.get(name) is None]
    if unknown and not train_fovs:
        logger.warning(
            "the prediction records of FOVs %s do not say whether the model was trained on them (weights "
            "from elsewhere, or predicted by an older dynaclr): they are marked held_out; if the "
            "checkpoint learnt from them, their correlation is not a held-out one (a checkpoint dynaclr "
            "trained records its training FOVs: `snakemake --forcerun predict_virtual_stain` records them)",
            unknown[:10],
        )
    return held_out


def evaluation_summary(table: pd.DataFrame) -> dict[str, Any]:
    """The record's metrics: mean r of the held-out and of the training FOVs (None if there are
    none), and the number of FOVs."""
    held_out = table.loc[table["held_out"], "pearson_r"]
    return {
        "held_out_pearson_r_mean": float(held_out.mean()) if held_out.notna().any() else None,
        "train_pearson_r_mean": float(table.loc[~table["held_out"], "pearson_r"].mean())
        if (~table["held_out"]).any()
        else None,
        "n_fovs": len(table),
    }


def evaluate_virtual_stain(
    config: VirtualStainConfig, inputs: EvaluateVirtualStainInputs, outputs: EvaluateVirtualStainOutputs
) -> pd.DataFrame:
    """Pearson r between the predicted plate and the measured nuclear channel, per FOV.

    Compares every FOV of ``inputs.virtual_stain_plate`` (kind ``virtual_stain_plate``) with
    channel ``config.target_channel`` of ``inputs.plate`` (kind ``raw_plate``, or a plate of your
    own), one frame ``(Z, Y, X)`` at a time (:func:`fov_correlation`); a FOV without any usable
    frame gets NaN. FOVs the model was not trained on are marked ``held_out`` (:func:`held_out_fovs`:
    not in ``config.train.train_fovs`` nor, with ``virtual_stain.checkpoint``, among the training FOVs
    the checkpoint records of this phase plate or of ``inputs.plate``).

    Returns:
        one row per FOV with :data:`EVALUATION_COLUMNS`: ``pearson_r`` over all voxels of all
        evaluated frames, ``pearson_r_frame_mean`` the mean of per-frame r; written to
        ``outputs.table``, with the record (:func:`evaluation_summary`, and ``training``: the model's
        training state, :func:`records_training_state`) at ``outputs.record``. Each row also holds
        that state (``stopped_by_time``, ``training_steps``, ``max_steps``, ``max_minutes``; empty
        where unknown): ``stopped_by_time`` true, the budget stopped the model before ``max_steps``,
        which the report's first page says.
    """
    prediction_path, target_path = inputs.virtual_stain_plate, inputs.plate
    prediction_provenance = read_zarr_provenance(prediction_path, ArtifactKind.VIRTUAL_STAIN_PLATE)
    # each FOV's prediction record read once: its provenance, held-out marking and training state
    records = checked_fov_records(inputs.records, ArtifactKind.VIRTUAL_STAIN_FOV, prediction_provenance)
    target_provenance = read_target_plate_provenance(target_path)
    train_fovs = list(config.train.train_fovs) if config.train is not None else []
    fov_names = list_plate_fovs(prediction_path)
    held_out = held_out_fovs(fov_names, train_fovs, records, target_path)
    rows = []
    with (
        open_ome_zarr(prediction_path, layout="hcs", mode="r") as prediction_plate,
        open_ome_zarr(target_path, layout="hcs", mode="r") as target_plate,
    ):
        for fov_name in tqdm(fov_names, desc="evaluate virtual stain", unit="FOV", mininterval=2.0):
            predicted = plate_image(prediction_plate, fov_name, prediction_path)
            # the FOV's own index: positions may list the channels in other orders
            measured, target_c = plate_channel(target_plate, fov_name, config.target_channel, target_path)
            if (predicted.shape[0], *predicted.shape[2:]) != (measured.shape[0], *measured.shape[2:]):
                raise ArtifactError(
                    f"{fov_name}: prediction {prediction_path} has shape {predicted.shape}, target "
                    f"{target_path} has {measured.shape}; T, Z, Y, X must agree"
                )
            total, frame_r = fov_correlation(
                predicted, measured, target_c, stores=(prediction_path, target_path), fov_name=fov_name
            )
            rows.append(
                {
                    "fov_name": fov_name,
                    "held_out": held_out[fov_name],
                    "pearson_r": total.r(),
                    "pearson_r_frame_mean": float(np.nanmean(frame_r)) if frame_r else float("nan"),
                    "n_frames_evaluated": len(frame_r),
                    "n_voxels": total.n,
                }
            )
    training = training_state_of_records(records)
    table = pd.DataFrame(rows, columns=list(EVALUATION_COLUMNS[:6]))
    for column, key in zip(EVALUATION_COLUMNS[6:], TRAINING_STATE_KEYS, strict=True):
        table[column] = training[key]  # the same on every row; None (unknown) is written empty
    with atomic_output(outputs.table) as tmp:
        table.to_csv(tmp, index=False)
    summary = {**evaluation_summary(table), TRAINING_KEY: training}
    provenance = make_provenance(
        ArtifactKind.VIRTUAL_STAIN_EVALUATION,
        {"fov_names": fov_names, "train_fovs": train_fovs, "target_channel": config.target_channel},
        inputs=[(prediction_path, prediction_provenance), (target_path, target_provenance)],
    )
    write_fov_record(outputs.record, provenance, summary)
    logger.info("virtual staining evaluation: %s", summary)
    if training["stopped_by_time"]:
        logger.warning(
            "%s: the virtual-staining model was stopped by its max_minutes budget (%s) after %s of %s "
            "steps: these correlations are of a partly trained model",
            outputs.table,
            training["max_minutes"],
            training["steps"],
            training["max_steps"],
        )
    return table
