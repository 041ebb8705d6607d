"""A trained model's encoder read from ``model.ckpt`` without Lightning.

``model.ckpt`` (kind ``contrastive_model``, written by :func:`~dynaclr.training.train_contrastive`)
holds the :class:`~dynaclr.training.ContrastiveModule`'s arguments under ``hyper_parameters`` and
its weights under ``state_dict``, the encoder's prefixed ``encoder.``. Embedding needs the encoder
and its architecture only; rebuilding them here spares an embedding job importing Lightning.
:func:`~dynaclr.training.load_contrastive_model` loads the whole module instead.

The ``dynaclr_training`` summary records the model's name in the workflow config (``model_name``);
:func:`check_checkpoint_identity` refuses a ``model.ckpt`` of another model or another config.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dynaclr.config.training import ContrastiveModelConfig
from dynaclr.contrastive.encoder import ContrastiveEncoder, recorded_mean_std
from dynaclr.io import ArtifactError, Provenance, check_provenance
from dynaclr.io.provenance import PROVENANCE_KEY, check_expected_config_hash
from dynaclr.io.weights import load_weights_file, require_tensors

logger = logging.getLogger(__name__)

_ENCODER_PREFIX = "encoder."
#: Key of ``model.ckpt`` holding the training summary (:func:`~dynaclr.training.train_contrastive`).
TRAINING_SUMMARY_KEY = "dynaclr_training"


@dataclass(frozen=True)
class ContrastiveCheckpoint:
    """The architecture and encoder weights of a trained contrastive model.

    Attributes:
        config: the model's training config (backbone, head, seed, ...).
        in_channels, in_stack_depth: patch channels ``C`` and slices ``Z``.
        patch_size_yx_px: network input size ``S`` (the training centre crop).
        encoder_state: the encoder's ``state_dict``.
        provenance: the checkpoint's provenance record.
        model_name: the model's name in the workflow config (``None``: not recorded).
        channel_indices: the patch channels a pretrained backbone sees (``stem: backbone``,
            ``input_channels``); ``None``: all.
        input_channels: the patch channels the model learnt from, in order
            (:meth:`~dynaclr.config.patches.PatchSpec.channel_labels`: ``source:channel
            (normalization)``); ``None``: not recorded (an older dynaclr, or a VisCy or timm file).
        input_channels_verified: whether ``input_channels`` are the channels the weights learnt from
            as the file that made them states them (a model trained here); ``False``: the patch spec's
            channels assumed at import from a file that does not state them (a VisCy or timm file, or
            a model.ckpt imported from one).
        input_normalize_per_time_point: whether the patches it learnt from normalised each time
            point with its own statistics (``normalize_per_time_point`` of their spec; an imported
            copy records the spec's at import); ``None``: not recorded (an older dynaclr).
        input_normalize_per_time_point_verified: ``True``: stated by the file that made the weights
            (a model trained here, or imported from a file recording it); ``False``: the patch spec's
            assumed at import from a file that does not state it (a VisCy or timm file, a dynaclr
            file of an older version, or a model.ckpt imported from one).
        training_sampling: the sampling of the datasets the weights learnt from, one record each in
            training order (:meth:`~dynaclr.config.transfer_checks.DatasetSampling.to_json`);
            ``None``: not recorded (an older dynaclr, a VisCy or timm file, or a model.ckpt imported
            from one).
        training_sampling_verified: as rule ``import_model`` recorded it: ``False`` where the file
            imported records no sampling (the import warned that it could not be checked);
            ``None``: not an imported copy (or imported before it was recorded).
        training_state: how far training went (:func:`recorded_training_state`): whether the
            ``max_minutes`` budget stopped it before its epochs, the epochs trained of those
            configured, the optimiser steps taken of those the schedule planned.
        imported_format: the format of the file rule ``import_model`` read the weights from
            (``dynaclr``, ``viscy``, ``timm``); ``None``: trained here.
        weights_read: a timm import's record of how the file was read (the summary's
            ``weights_read``, with the normalisation resolved then); ``None``: none recorded.
        input_normalisation: ``stem: backbone``: the input normalisation the weights expect, as the
            checkpoint records it (``hyper_parameters.input_normalisation``, or a timm import's
            ``weights_read`` of session 25): ``pretrained_tag``, ``input_mean``, ``input_std``; the
            encoder is built with it, not with what the installed timm gives the tag. ``None``: not
            recorded (the z-fold stem, or a checkpoint of an older dynaclr: timm's, with a warning).
    """

    config: ContrastiveModelConfig
    in_channels: int
    in_stack_depth: int
    patch_size_yx_px: int
    encoder_state: dict[str, torch.Tensor]
    provenance: Provenance
    model_name: str | None = None
    channel_indices: list[int] | None = None
    input_channels: list[str] | None = None
    input_channels_verified: bool = True
    input_normalize_per_time_point: bool | None = None
    input_normalize_per_time_point_verified: bool = True
    training_sampling: list[dict[str, Any]] | None = None
    training_sampling_verified: bool | None = None
    training_state: dict[str, Any] | None = None
    imported_format: str | None = None
    weights_read: dict[str, Any] | None = None
    input_normalisation: dict[str, Any] | None = None

    def encoder_arguments(self) -> dict[str, Any]:
        """:class:`~dynaclr.contrastive.ContrastiveEncoder` arguments of this architecture."""
        if self.config.stem == "backbone" and self.input_normalisation is None:
            logger.warning(
                "model %s (backbone %r) records no input normalisation (written by an older dynaclr): "
                "its input is normalised with the mean and std the installed timm gives the name; "
                "import or train it again to record them",
                self.model_name,
                self.config.backbone,
            )
        return {
            "in_channels": self.in_channels,
            "in_stack_depth": self.in_stack_depth,
            "channel_indices": self.channel_indices,
            "input_normalisation": self.input_normalisation,
            **self.config.encoder_arguments(),
        }

    def encoder(self) -> ContrastiveEncoder:
        """The trained encoder, in eval mode."""
        encoder = ContrastiveEncoder(**self.encoder_arguments())
        encoder.load_state_dict(self.encoder_state)
        return encoder.eval()


def _rerun(path: Path) -> str:
    return f"retrain it with `snakemake --forcerun {path}` (or copy that model's own model.ckpt again)"


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> tuple[dict[str, Any], Provenance]:
    """The raw ``model.ckpt`` dictionary (tensors only, ``weights_only``) and its checked provenance.

    Raises:
        ArtifactError: the file is missing, truncated or corrupt, or not a ``contrastive_model``.
    """
    path = Path(path)
    checkpoint = load_weights_file(
        path, what="contrastive model", fix=_rerun(path), map_location=map_location
    )
    if not isinstance(checkpoint, dict):
        raise ArtifactError(
            f"{path}: expected a model checkpoint (a dict), found {type(checkpoint).__name__}"
        )
    return checkpoint, check_provenance(checkpoint.get(PROVENANCE_KEY), "contrastive_model", path)


def check_checkpoint_identity(
    checkpoint: ContrastiveCheckpoint,
    path: str | Path,
    *,
    expected_model: str,
    expected_config_hash: str | None = None,
) -> None:
    """Fail unless ``path`` is model ``expected_model``'s ``model.ckpt`` (and made with its config).

    Args:
        checkpoint: the checkpoint read from ``path``.
        expected_model: the model name the workflow config gives it.
        expected_config_hash: :func:`~dynaclr.io.config_hash` of that model's training config, or
            ``None`` to check the name only.

    Raises:
        ArtifactError: naming both models (or config hashes) and the command that rebuilds the file.
    """
    found = checkpoint.model_name
    if found is None:
        raise ArtifactError(
            f"{path}: does not record which model it is (written by another tool or an older dynaclr); "
            f"expected model {expected_model!r}: {_rerun(Path(path))}"
        )
    if found != expected_model:
        raise ArtifactError(
            f"{path}: holds model {found!r}, expected model {expected_model!r} (the file was replaced or "
            f"copied from another model's directory): {_rerun(Path(path))}"
        )
    if expected_config_hash is not None:
        check_expected_config_hash(
            checkpoint.provenance, expected_config_hash, path, fix=_rerun(Path(path)), what=f"model {found!r}"
        )


def recorded_config(hyper_parameters: Mapping[str, Any], path: str | Path) -> ContrastiveModelConfig:
    """The training config a ``model.ckpt`` (or ``last.ckpt``) at ``path`` records
    (``hyper_parameters.config``), as this version reads it.

    A config an earlier dynaclr accepted and that changed nothing trained is read without the
    setting: ``negative_time`` with ``loss: ntxent`` (refused in a new config since session 26; NT-Xent
    draws no explicit negatives, so the value had no effect on the weights).

    Raises:
        ArtifactError: the recorded config is missing or not one this version reads, naming the file,
            what was found and how to rebuild it.
    """
    raw = hyper_parameters.get("config")
    if not isinstance(raw, Mapping):
        raise ArtifactError(
            f"{path}: expected a training config (a dict) at hyper_parameters.config, found "
            f"{type(raw).__name__}; {_rerun(Path(path))}"
        )
    config = dict(raw)
    if config.get("loss") == "ntxent" and config.get("negative_time") is not None:
        # legal before session 26 and without effect under NT-Xent: the weights are those of null
        del config["negative_time"]
    try:
        return ContrastiveModelConfig.model_validate(config)
    except ValueError as err:  # pydantic's ValidationError
        raise ArtifactError(
            f"{path}: the training config it records (hyper_parameters.config) is not one this version "
            f"reads: {err}; {_rerun(Path(path))}"
        ) from None


def read_contrastive_checkpoint(path: str | Path, map_location: str = "cpu") -> ContrastiveCheckpoint:
    """``model.ckpt`` (kind ``contrastive_model``, provenance checked) as a :class:`ContrastiveCheckpoint`."""
    checkpoint, provenance = load_checkpoint(path, map_location)
    require_tensors(checkpoint["state_dict"], path, "its 'state_dict'")
    hyper_parameters = checkpoint["hyper_parameters"]
    state = {
        name[len(_ENCODER_PREFIX) :]: tensor
        for name, tensor in checkpoint["state_dict"].items()
        if name.startswith(_ENCODER_PREFIX)
    }
    config = recorded_config(hyper_parameters, path)
    normalisation = recorded_input_normalisation(checkpoint)
    try:
        recorded_mean_std(normalisation)
    except ValueError as err:
        raise ArtifactError(f"{path}: {err}; {_rerun(Path(path))}") from None
    return ContrastiveCheckpoint(
        config=config,
        in_channels=int(hyper_parameters["in_channels"]),
        in_stack_depth=int(hyper_parameters["in_stack_depth"]),
        patch_size_yx_px=int(hyper_parameters["patch_size_yx_px"]),
        encoder_state=state,
        provenance=provenance,
        model_name=_recorded_model_name(checkpoint),
        channel_indices=hyper_parameters.get("channel_indices"),
        input_channels=_recorded_input_channels(checkpoint),
        input_channels_verified=_recorded_input_channels_verified(checkpoint),
        input_normalize_per_time_point=_recorded_normalize_per_time_point(checkpoint),
        input_normalize_per_time_point_verified=_recorded_normalize_per_time_point_verified(checkpoint),
        training_sampling=_recorded_training_sampling(checkpoint),
        training_sampling_verified=_recorded_training_sampling_verified(checkpoint),
        training_state=recorded_training_state(checkpoint, config),
        imported_format=_recorded_imported_format(checkpoint),
        weights_read=_recorded_weights_read(checkpoint),
        input_normalisation=normalisation,
    )


#: The keys of an input normalisation record (:meth:`ContrastiveEncoder.input_normalisation`).
_NORMALISATION_KEYS = ("pretrained_tag", "input_mean", "input_std")


def recorded_input_normalisation(checkpoint: Mapping[str, Any]) -> dict[str, Any] | None:
    """The input normalisation a raw ``model.ckpt`` records for a ``stem: backbone`` network:
    ``hyper_parameters.input_normalisation`` (every checkpoint since session 26), else the
    ``weights_read`` of a timm import of session 25 (its ``pretrained_tag``, ``input_mean`` and
    ``input_std``); ``None`` where neither holds it."""
    hyper_parameters = checkpoint.get("hyper_parameters")
    record = hyper_parameters.get("input_normalisation") if isinstance(hyper_parameters, Mapping) else None
    if isinstance(record, Mapping) and record:
        return dict(record)
    summary = checkpoint.get(TRAINING_SUMMARY_KEY)
    read = summary.get("weights_read") if isinstance(summary, Mapping) else None
    if isinstance(read, Mapping) and "input_mean" in read and "input_std" in read:
        return {key: read.get(key) for key in _NORMALISATION_KEYS}
    return None


def check_trained_on(
    checkpoint: ContrastiveCheckpoint, path: str | Path, patches: Provenance, store: str | Path
) -> None:
    """Fail when ``path`` was trained on ``store`` (``patches`` is its provenance) as it was made with
    another patch spec: the store was rebuilt since, so the weights would read patches they never saw.

    A store the model did not train on (another dataset's) is not compared: its spec may differ in
    storage and focus (``z_range``), and the dry run checked that it gives the model's input
    (:func:`dynaclr.config.patches.spec_contract`)."""
    here = Path(store).resolve()
    recorded = [
        item
        for item in checkpoint.provenance.inputs
        if item.kind == patches.kind and Path(item.path).resolve() == here
    ]
    if recorded and recorded[0].config_hash != patches.config_hash:
        raise ArtifactError(
            f"{path}: trained on patches made with patch-spec config hash {recorded[0].config_hash} "
            f"({recorded[0].path}), expected {patches.config_hash}, the hash of {store}: the patch store was "
            f"rebuilt with another spec since; {_rerun(Path(path))}"
        )


def _recorded_input_channels(checkpoint: dict[str, Any]) -> list[str] | None:
    summary = checkpoint.get(TRAINING_SUMMARY_KEY)
    channels = summary.get("input_channels") if isinstance(summary, dict) else None
    return [str(channel) for channel in channels] if isinstance(channels, list) else None


def _recorded_input_channels_verified(checkpoint: dict[str, Any]) -> bool:
    """The summary's ``input_channels_verified``; a model.ckpt imported before it was recorded says
    so by its ``checkpoint_format`` (a VisCy or timm file states no channels)."""
    summary = checkpoint.get(TRAINING_SUMMARY_KEY)
    summary = summary if isinstance(summary, dict) else {}
    verified = summary.get("input_channels_verified")
    if isinstance(verified, bool):
        return verified
    return summary.get("checkpoint_format") not in ("viscy", "timm")


def _recorded_normalize_per_time_point(checkpoint: dict[str, Any]) -> bool | None:
    summary = checkpoint.get(TRAINING_SUMMARY_KEY)
    value = summary.get("input_normalize_per_time_point") if isinstance(summary, dict) else None
    return value if isinstance(value, bool) else None


def _recorded_normalize_per_time_point_verified(checkpoint: dict[str, Any]) -> bool:
    """As :func:`_recorded_input_channels_verified`: recorded by import_model; a file without the
    flag is taken as stating it unless it was imported from a VisCy or timm file."""
    summary = checkpoint.get(TRAINING_SUMMARY_KEY)
    if not isinstance(summary, dict):
        return True
    flag = summary.get("input_normalize_per_time_point_verified")
    if isinstance(flag, bool):
        return flag
    return summary.get("checkpoint_format") not in ("viscy", "timm")


def _recorded_training_sampling(checkpoint: dict[str, Any]) -> list[dict[str, Any]] | None:
    summary = checkpoint.get(TRAINING_SUMMARY_KEY)
    records = summary.get("training_sampling") if isinstance(summary, dict) else None
    if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
        return None
    return [dict(record) for record in records]


def _recorded_training_sampling_verified(checkpoint: dict[str, Any]) -> bool | None:
    summary = checkpoint.get(TRAINING_SUMMARY_KEY)
    verified = summary.get("training_sampling_verified") if isinstance(summary, dict) else None
    return verified if isinstance(verified, bool) else None


def recorded_training_state(checkpoint: Mapping[str, Any], config: ContrastiveModelConfig) -> dict[str, Any]:
    """How far the training that made ``checkpoint`` (a raw ``model.ckpt``) went, as its
    ``dynaclr_training`` summary records it, with the configured ``epochs`` and ``max_minutes`` of
    ``config`` (the checkpoint's training config): ``stopped_by_time`` (``True``: the ``max_minutes``
    budget ended training before its ``epochs``, the model is partly trained), ``epochs_completed``,
    ``global_step`` and ``planned_steps`` (the optimiser steps taken, and those the schedule planned).

    A value the summary does not record is ``None``, read as unknown, never as a failed or a complete
    training: a model.ckpt of an older dynaclr (before ``stopped_by_time``), or one imported from a
    file (rule ``import_model``: trained elsewhere, its epochs are not this config's).
    """
    summary = checkpoint.get(TRAINING_SUMMARY_KEY)
    summary = summary if isinstance(summary, dict) else {}
    imported = "checkpoint_format" in summary  # rule import_model: trained elsewhere

    def recorded(key: str, kind: type) -> Any:
        value = None if imported else summary.get(key)
        if kind is int and isinstance(value, bool):
            return None
        return value if isinstance(value, kind) else None

    return {
        "stopped_by_time": recorded("stopped_by_time", bool),
        "epochs_completed": recorded("epochs_completed", int),
        "epochs": None if imported else int(config.epochs),
        "max_minutes": None if imported else config.max_minutes,
        "global_step": recorded("global_step", int),
        "planned_steps": recorded("planned_steps", int),
    }


def _recorded_imported_format(checkpoint: dict[str, Any]) -> str | None:
    summary = checkpoint.get(TRAINING_SUMMARY_KEY)
    fmt = summary.get("checkpoint_format") if isinstance(summary, dict) else None
    return fmt if isinstance(fmt, str) else None


def _recorded_weights_read(checkpoint: dict[str, Any]) -> dict[str, Any] | None:
    summary = checkpoint.get(TRAINING_SUMMARY_KEY)
    read = summary.get("weights_read") if isinstance(summary, dict) else None
    return read if isinstance(read, dict) else None


def _recorded_model_name(checkpoint: dict[str, Any]) -> str | None:
    summary = checkpoint.get(TRAINING_SUMMARY_KEY)
    name = summary.get("model_name") if isinstance(summary, dict) else None
    return str(name) if name is not None else None


def non_finite_weights(tensors: Mapping[str, torch.Tensor]) -> str | None:
    """Where the floating-point tensors of ``tensors`` (a state dict) hold NaN or infinite values:
    ``"N NaN or infinite values in 'key' (M tensors hold such values, T values in all)"`` naming the
    first; ``None`` when every value is finite."""
    bad = {
        key: int((~torch.isfinite(tensor)).sum())
        for key, tensor in tensors.items()
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    }
    if not bad:
        return None
    key, count = next(iter(bad.items()))
    return (
        f"{count} NaN or infinite values in {key!r} ({len(bad)} tensors hold such values, "
        f"{sum(bad.values())} values in all)"
    )
