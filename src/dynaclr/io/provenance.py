"""Provenance records: what an artifact is, how it was made and from what."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from dynaclr import __version__

#: Metadata key under which provenance is stored (zarr attributes, Parquet key-value metadata).
PROVENANCE_KEY = "dynaclr"


class ArtifactError(RuntimeError):
    """An artifact is missing, malformed or out of date. The message says what to rerun."""


@dataclass(frozen=True)
class ArtifactKind:
    """A kind of artifact: its current schema version and the rule that produces it."""

    name: str
    schema_version: int
    rule: str
    description: str


#: Registry of every artifact kind the workflow writes. Bump ``schema_version`` when the layout
#: of an artifact changes; readers then refuse older files and say which rule to rerun.
ARTIFACT_KINDS: dict[str, ArtifactKind] = {
    kind.name: kind
    for kind in (
        ArtifactKind("raw_plate", 1, "simulate", "HCS OME-Zarr plate of raw TCZYX images"),
        ArtifactKind("ground_truth_tracks", 1, "simulate", "per cell per frame ground truth (Parquet)"),
        ArtifactKind("ground_truth_labels", 1, "simulate", "HCS OME-Zarr plate of nuclear label volumes"),
        ArtifactKind(
            "ground_truth_phase", 1, "simulate", "HCS OME-Zarr plate of the true phase (cycles/voxel)"
        ),
        ArtifactKind("ground_truth_summary", 1, "summarize_ground_truth", "per-FOV ground-truth statistics"),
        # image stages (per-FOV jobs fill a plate created by a dataset-level rule)
        ArtifactKind("phase_transfer_function", 1, "phase_transfer_function", "waveorder transfer function"),
        ArtifactKind("phase_plate", 1, "phase_plate", "HCS plate with the Phase3D channel"),
        ArtifactKind("phase_fov", 1, "reconstruct_phase", "per-FOV phase reconstruction record"),
        ArtifactKind("phase_evaluation", 1, "evaluate_phase", "phase vs ground truth (Pearson r)"),
        ArtifactKind("virtual_stain_model", 1, "train_virtual_stain", "virtual staining checkpoint"),
        ArtifactKind("virtual_stain_plate", 1, "virtual_stain_plate", "HCS plate, nuclei_prediction"),
        ArtifactKind("virtual_stain_fov", 1, "predict_virtual_stain", "per-FOV virtual staining record"),
        ArtifactKind("virtual_stain_evaluation", 1, "evaluate_virtual_stain", "prediction vs nuclei"),
        ArtifactKind("tracks_plate", 1, "tracks_plate", "HCS plate of tracked label images"),
        ArtifactKind("tracks_fov", 1, "track_fov", "per-FOV tracking record"),
        ArtifactKind("tracks", 1, "collect_tracks", "all FOVs' tracks in one table"),
        ArtifactKind("tracking_evaluation", 1, "evaluate_tracking", "CTC DET/TRA, division P/R"),
        # contrastive learning
        ArtifactKind("patch_fov", 1, "extract_patches", "per-FOV single-cell patches"),
        ArtifactKind("patches", 1, "collect_patches", "single-cell patch store (N, C, Z, Y, X)"),
        ArtifactKind("patch_index", 1, "collect_patches", "patch index table"),
        ArtifactKind("contrastive_model", 1, "train_contrastive", "trained contrastive encoder"),
        # embeddings and biology
        # 2: engineered features z-scored in X, raw in layers['raw'] (1: raw X, obsm['X_standardized'])
        ArtifactKind("embeddings", 2, "embed", "AnnData embeddings of all patches"),
        ArtifactKind("temporal_metrics", 1, "temporal_metrics", "smoothness and dynamic range"),
        ArtifactKind("annotations", 1, "draw_annotations", "sparse annotations"),
        ArtifactKind("classification", 1, "classify", "classifier metrics"),
        ArtifactKind("predictions", 1, "classify", "per-cell predictions"),
        ArtifactKind("pseudotime", 1, "align_pseudotime", "DTW pseudo-time per query frame"),
    )
}


class InputRecord(BaseModel):
    """One input an artifact was made from."""

    model_config = ConfigDict(extra="forbid")

    path: str
    kind: str | None = None
    config_hash: str | None = None


class Provenance(BaseModel):
    """The provenance record stored with every artifact."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    schema_version: int
    stage: str
    config: dict[str, Any]
    config_hash: str
    package_version: str
    created: str
    inputs: list[InputRecord] = []


def config_hash(config: dict[str, Any]) -> str:
    """Stable 16-hex-digit hash of a JSON-serialisable config subtree (key order ignored)."""
    payload = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def make_provenance(
    kind: str,
    config: dict[str, Any],
    inputs: list[Provenance | tuple[str | Path, Provenance | None] | str | Path] = (),  # type: ignore[assignment]
) -> Provenance:
    """Build the provenance record for a new artifact of ``kind``.

    ``inputs`` are paths, or ``(path, provenance)`` pairs when the input's own provenance is
    known (its kind and config hash are then recorded too).
    """
    if kind not in ARTIFACT_KINDS:
        raise ValueError(f"unknown artifact kind {kind!r}; known kinds: {sorted(ARTIFACT_KINDS)}")
    spec = ARTIFACT_KINDS[kind]
    records = []
    for item in inputs:
        if isinstance(item, tuple):
            path, prov = item
            records.append(
                InputRecord(
                    path=str(path),
                    kind=prov.kind if prov else None,
                    config_hash=prov.config_hash if prov else None,
                )
            )
        else:
            records.append(InputRecord(path=str(item)))
    return Provenance(
        kind=kind,
        schema_version=spec.schema_version,
        stage=spec.rule,
        config=config,
        config_hash=config_hash(config),
        package_version=__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        inputs=records,
    )


def check_provenance(raw: dict[str, Any] | None, expected_kind: str, path: str | Path) -> Provenance:
    """Validate a provenance record read from ``path`` against the expected artifact kind.

    Raises :class:`ArtifactError` naming the file, what was expected, what was found, and the
    rule to rerun.
    """
    spec = ARTIFACT_KINDS[expected_kind]
    rerun = f"rerun it with `snakemake --forcerun {spec.rule}`"
    if raw is None:
        raise ArtifactError(
            f"{path}: no '{PROVENANCE_KEY}' provenance metadata found; expected a "
            f"'{expected_kind}' artifact written by rule '{spec.rule}'. If this file was written "
            f"by another tool or an old version, {rerun}."
        )
    try:
        prov = Provenance.model_validate(raw)
    except ValueError as err:
        raise ArtifactError(f"{path}: provenance metadata is malformed ({err}); {rerun}.") from err
    if prov.kind != expected_kind:
        raise ArtifactError(
            f"{path}: expected an artifact of kind '{expected_kind}', found kind '{prov.kind}'. "
            "Check the path given in the config."
        )
    if prov.schema_version != spec.schema_version:
        raise ArtifactError(
            f"{path}: '{expected_kind}' schema version {prov.schema_version} was written by dynaclr "
            f"{prov.package_version}; this version reads schema version {spec.schema_version}. "
            f"The artifact is out of date: {rerun}."
        )
    return prov
