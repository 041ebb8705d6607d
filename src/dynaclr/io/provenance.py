"""Provenance records: what an artifact is, how it was made and from what."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from dynaclr import __version__

logger = logging.getLogger(__name__)

#: Metadata key under which provenance is stored (zarr attributes, Parquet key-value metadata).
PROVENANCE_KEY = "dynaclr"


class ArtifactError(RuntimeError):
    """An artifact is missing, malformed or out of date. The message says what to rerun."""


class ArtifactKind(StrEnum):
    """Every kind of artifact the workflow writes, with its schema version and producing rules.

    A member is its name as a string (``ArtifactKind.EMBEDDINGS == "embeddings"``, stored in every
    provenance record) and carries ``schema_version`` (bump it when the artifact's layout changes:
    readers then refuse older files and say which rule to rerun), ``rule`` (the usual writer),
    ``writers`` (``rule`` then the other rules that write the same kind, e.g. ``import_tracks``:
    readers check the kind, never the writer) and ``description``.
    """

    schema_version: int
    rule: str
    writers: tuple[str, ...]
    description: str

    def __new__(
        cls, value: str, schema_version: int, rule: str, description: str, other_writers: tuple[str, ...] = ()
    ) -> ArtifactKind:
        member = str.__new__(cls, value)
        member._value_ = value
        member.schema_version = schema_version
        member.rule = rule
        member.writers = (rule, *other_writers)
        member.description = description
        return member

    @classmethod
    def of(cls, name: str) -> ArtifactKind:
        """The kind whose name is ``name``; ``ValueError`` listing the kinds for an unknown one."""
        for member in cls:
            if member == name:
                return member
        raise ValueError(f"unknown artifact kind {name!r}; known kinds: {sorted(map(str, cls))}")

    # simulated data and its ground truth
    RAW_PLATE = ("raw_plate", 1, "simulate", "HCS OME-Zarr plate of raw TCZYX images", ("convert_tiff",))
    GROUND_TRUTH_TRACKS = ("ground_truth_tracks", 1, "simulate", "per cell per frame ground truth (Parquet)")
    GROUND_TRUTH_LABELS = (
        "ground_truth_labels",
        1,
        "simulate",
        "HCS OME-Zarr plate of nuclear label volumes",
    )
    GROUND_TRUTH_PHASE = ("ground_truth_phase", 1, "simulate", "HCS OME-Zarr plate of the true phase")
    GROUND_TRUTH_SUMMARY = (
        "ground_truth_summary",
        1,
        "summarize_ground_truth",
        "per-FOV ground-truth statistics",
    )
    # image stages (per-FOV jobs fill a plate created by a dataset-level rule)
    PHASE_TRANSFER_FUNCTION = (
        "phase_transfer_function",
        2,  # 2: mode 3d stores the sign check's thin-phase singular system (sign_check_singular_*)
        "phase_transfer_function",
        "waveorder transfer function",
    )
    PHASE_PLATE = ("phase_plate", 1, "phase_plate", "HCS plate with the Phase3D channel")
    PHASE_FOV = ("phase_fov", 1, "reconstruct_phase", "per-FOV phase reconstruction record")
    PHASE_EVALUATION = ("phase_evaluation", 1, "evaluate_phase", "phase vs ground truth (Pearson r)")
    VIRTUAL_STAIN_MODEL = ("virtual_stain_model", 1, "train_virtual_stain", "virtual staining checkpoint")
    VIRTUAL_STAIN_PLATE = ("virtual_stain_plate", 1, "virtual_stain_plate", "HCS plate, nuclei_prediction")
    VIRTUAL_STAIN_FOV = ("virtual_stain_fov", 1, "predict_virtual_stain", "per-FOV virtual staining record")
    VIRTUAL_STAIN_EVALUATION = (
        "virtual_stain_evaluation",
        1,
        "evaluate_virtual_stain",
        "prediction vs nuclei",
    )
    TRACKS_PLATE = ("tracks_plate", 2, "tracks_plate", "HCS plate of tracked label images")
    TRACKS_FOV = ("tracks_fov", 2, "track_fov", "per-FOV tracking record")
    TRACKS = ("tracks", 1, "collect_tracks", "all FOVs' tracks in one table", ("import_tracks",))
    TRACKING_EVALUATION = ("tracking_evaluation", 2, "evaluate_tracking", "CTC DET/TRA, division P/R")
    QC_TABLE = ("qc_table", 1, "qc_table", "per FOV and stage: frames, dropped frames, missing voxels")
    # contrastive learning
    PATCH_FOV = ("patch_fov", 3, "extract_patches", "per-FOV single-cell patches")
    PATCHES = ("patches", 2, "collect_patches", "single-cell patch store (N, C, Z, Y, X)")
    PATCH_INDEX = ("patch_index", 3, "collect_patches", "patch index table")
    CONTRASTIVE_MODEL = (
        "contrastive_model",
        1,
        "train_contrastive",
        "trained contrastive encoder",
        ("import_model",),
    )
    # embeddings and biology
    EMBEDDINGS = ("embeddings", 4, "embed", "AnnData embeddings of all patches")
    PROJECTIONS = (
        "projections",
        2,
        "project_embeddings",
        "AnnData of every cell's coordinates (obsm X_pca, X_umap, X_phate)",
    )
    ANNOTATIONS = (
        "annotations",
        1,
        "draw_annotations",
        "sparse annotations",
        ("import_annotations", "annotate_divisions_from_lineage"),
    )
    CLASSIFICATION_SCORES = (
        "classification_scores",
        1,
        "classify",
        "classifier point metrics and counts, without CIs",
        ("transfer_classifiers",),
    )
    CLASSIFICATION = (
        "classification",
        3,
        "classification_intervals",
        "classifier metrics with track-bootstrap CIs",
    )
    CLASSIFIERS = ("classifiers", 1, "classify", "fitted linear classifiers (JSON numbers)")
    PREDICTIONS = ("predictions", 2, "classify", "per-cell predictions", ("transfer_classifiers",))
    PSEUDOTIME = (
        "pseudotime",
        1,
        "align_pseudotime",
        "DTW pseudo-time per query frame",
        ("collect_pseudotime",),
    )
    CELL_FEATURES = ("cell_features", 2, "cell_features", "engineered per-cell features of a patch store")
    OCCLUSION_MAPS = (
        "occlusion_maps",
        1,
        "occlusion_attribution",
        "occlusion attribution maps of an encoder with its classifier heads (zarr)",
    )
    DISTILLATION_SCORES = (
        "distillation_scores",
        1,
        "distill",
        "held-out infection point metrics of a phase + sensor teacher, a phase-only student and probe, "
        "without CIs",
    )
    DISTILLATION = (
        "distillation",
        4,
        "distillation_intervals",
        "held-out infection F1 of a phase + sensor teacher, a phase-only student and probe, with "
        "track-bootstrap CIs",
    )
    DISTILLATION_PREDICTIONS = (
        "distillation_predictions",
        1,
        "distill",
        "per held-out cell: ground truth and the teacher's, probe's and student's probabilities",
    )
    EMBEDDINGS_TABLE = (
        "embeddings_table",
        1,
        "export_embeddings",
        "an embeddings store as one Parquet table: the cell index, then a column per feature",
    )
    VISCY_FEATURES = (
        "viscy_features",
        1,
        "export_viscy",
        "an embeddings store as VisCy's xarray features store (features, projections, sample index)",
    )


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


def recorded_input(
    path: str | Path, made_from: Provenance, read: Callable[[], Provenance | None]
) -> Provenance | InputRecord | None:
    """Input ``path`` as the record ``made_from`` of an artifact made from it states it (its kind and
    config hash, checked by the stage that made the artifact), for a per-FOV job to record without
    reading the input's own metadata (a plate's root ``zarr.json``, in each of 10,000 jobs);
    ``read()`` (the input's own record, read and checked) where ``made_from`` names no such path."""
    for record in made_from.inputs:
        if record.path == str(path):
            return record
    return read()


def make_provenance(
    kind: ArtifactKind | str,
    config: dict[str, Any],
    inputs: list[Provenance | tuple[str | Path, Provenance | InputRecord | None] | str | Path] = (),  # type: ignore[assignment]
    *,
    stage: str | None = None,
) -> Provenance:
    """Build the provenance record for a new artifact of ``kind``.

    ``inputs`` are paths, or ``(path, provenance)`` pairs when the input's own provenance is
    known (its kind and config hash are then recorded too; an :class:`InputRecord`, as another
    artifact's record states it, stands for its provenance). ``stage``: the rule writing it, one of
    the kind's ``writers`` (default its usual ``rule``); another one is a ``ValueError``.
    """
    spec = ArtifactKind.of(kind)
    if stage is None:
        stage = spec.rule
    elif stage not in spec.writers:
        raise ValueError(
            f"rule {stage!r} does not write kind {spec.value!r}; its writers: {list(spec.writers)}"
        )
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
        stage=stage,
        config=config,
        config_hash=config_hash(config),
        package_version=__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        inputs=records,
    )


def check_provenance(
    raw: dict[str, Any] | None,
    expected_kind: ArtifactKind | str,
    path: str | Path,
    *,
    expected_config_hash: str | None = None,
) -> Provenance:
    """Validate a provenance record read from ``path`` against what the reader expects: the artifact
    kind and, when given, the hash of the config it must have been made with.

    Raises :class:`ArtifactError` naming the file, what was expected, what was found, and the
    rule to rerun.
    """
    spec = ArtifactKind.of(expected_kind)
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
    if prov.stage in spec.writers:  # the rule that wrote it, e.g. import_tracks for imported tracks
        rerun = f"rerun it with `snakemake --forcerun {prov.stage}`"
    if prov.schema_version != spec.schema_version:
        raise ArtifactError(
            f"{path}: '{expected_kind}' schema version {prov.schema_version} was written by dynaclr "
            f"{prov.package_version}; this version reads schema version {spec.schema_version}. "
            f"The artifact is out of date: {rerun}."
        )
    if expected_config_hash is not None:
        check_expected_config_hash(prov, expected_config_hash, path, fix=rerun)
    return prov


def check_expected_config_hash(
    provenance: Provenance, expected: str, path: str | Path, *, fix: str, what: str = ""
) -> None:
    """Fail when the artifact at ``path`` was made with another config than the one whose hash
    (:func:`config_hash`) is ``expected``; the message names both hashes and ``fix``."""
    if provenance.config_hash != expected:
        subject = f" ({what})" if what else ""
        raise ArtifactError(
            f"{path}{subject}: made with {provenance.stage} config hash {provenance.config_hash}, expected "
            f"{expected} (this job's config): it is out of date or from another run; {fix}"
        )


def config_differences(
    found: dict[str, Any], expected: dict[str, Any], ignored: Sequence[str] = (), prefix: str = ""
) -> list[str]:
    """``key: found X, expected Y`` for every dotted key whose value differs between two configs
    (keys in ``ignored``, dotted below the top level, ``train.seed``, are not compared)."""
    differences = []
    for key in sorted(set(found) | set(expected)):
        name = f"{prefix}{key}"
        if name in ignored:
            continue
        left, right = found.get(key), expected.get(key)
        if isinstance(left, dict) and isinstance(right, dict):
            differences += config_differences(left, right, ignored, prefix=f"{name}.")
        elif left != right:
            differences.append(f"{name}: found {left!r}, expected {right!r}")
    return differences


def check_optional_provenance(
    raw: object, accepted_kinds: Sequence[str], path: str | Path, what: str
) -> Provenance | None:
    """Check the record of an artifact that may come from elsewhere (a plate or table of the user's).

    ``None`` (and an INFO line) when there is no dynaclr record: the caller records the input by
    path only. A record must be of one of ``accepted_kinds`` (another kind means a wrong path in
    the config) and of the current schema, else :class:`ArtifactError` names what was expected.
    """
    if not isinstance(raw, dict):
        logger.info("%s: no dynaclr provenance; used as the %s and recorded by path only", path, what)
        return None
    found = raw.get("kind")
    if found not in accepted_kinds:
        raise ArtifactError(
            f"{path}: the {what} must be of kind {' or '.join(accepted_kinds)} (or one of your own without "
            f"a dynaclr record); found kind {found!r}. Check the path given in the config."
        )
    return check_provenance(raw, str(found), path)


def unreadable_artifact(
    path: str | Path, kinds: ArtifactKind | str | Sequence[ArtifactKind | str], error: BaseException
) -> ArtifactError:
    """The error for an artifact that cannot be parsed at all (cut short or damaged).

    Names the file, what it should be, the parser's complaint and the rule(s) to rerun.
    """
    names = [kinds] if isinstance(kinds, str) else list(kinds)
    specs = [ArtifactKind.of(str(name)) for name in names]
    rules = sorted({spec.rule for spec in specs})
    rerun = " or ".join(f"`snakemake --forcerun {rule}`" for rule in rules)
    what = " or ".join(f"'{spec}'" for spec in specs)
    cause = str(error).splitlines()[0] if str(error) else type(error).__name__
    return ArtifactError(
        f"{path}: cannot be read as a {what} artifact ({type(error).__name__}: {cause}); it is damaged or "
        f"was cut short (a job killed while writing it, or an incomplete copy): rerun it with {rerun}, or "
        "copy it again from where it came from"
    )
