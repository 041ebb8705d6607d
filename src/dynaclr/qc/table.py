"""The quality-control table of a dataset (rule ``qc_table``): what every per-FOV job left out.

Reads the per-FOV records of the image stages (``phase_fov``, ``virtual_stain_fov``, ``tracks_fov``,
``patch_fov``) and writes one row per FOV and stage: frames, dropped frames (mostly missing voxels,
:mod:`dynaclr.numerics.missing`), the tracking frames without signal (no nucleus found there),
missing voxels, a status and its reason (each frame under one reason). Tracks imported from Cell
Tracking Challenge folders (rule ``import_tracks``) get a ``tracking`` row per FOV from the tracks
table's record: the frames its folder does not cover are dropped frames (untracked, not frames
without cells), and the FOV is ``reduced``. Every row that is not
``ok`` is logged at WARNING, so a run whose results were silently reduced says so in its log, in
``results/{dataset}/qc.csv`` and in the HTML report.

A FOV that is mostly missing has no row: its job fails (the run does not finish) with an error
naming the FOV and the fix.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from itertools import chain
from pathlib import Path
from typing import Any

import pandas as pd

from dynaclr.io import ArtifactKind, StageFiles, make_provenance, read_table_provenance, write_csv
from dynaclr.io.plate import read_fov_record, write_fov_record
from dynaclr.numerics.missing import BRIGHTFIELD_VOXELS_READ_KEY, FILLED_PADDING_KEY, MIN_FILLED_PADDING_SHARE
from dynaclr.numerics.repeats import CONSTANT_FRAMES_KEY, CONSTANT_SLICES_KEY
from dynaclr.patches.extract import MOSTLY_PADDED_WARNING_SHARE, SATURATED_WARNING_SHARE
from dynaclr.qc.import_warnings import NOT_WARNINGS, import_warnings_table
from dynaclr.tracking.engine import unflagged_frames_without_foreground
from dynaclr.tracking.importing import (
    PLATE_FRAMES,
    TRACKED_FRAMES,
    UNTRACKED_FOVS,
    frame_runs,
    untracked_frames,
)
from dynaclr.tracking.nucleus_size import DIAMETER_UM_KEY, nucleus_size_flagged, nucleus_size_reasons

__all__ = [
    "QC_COLUMNS",
    "STATUSES",
    "QcTableInputs",
    "QcTableOutputs",
    "qc_row",
    "qc_rows",
    "qc_table",
]

logger = logging.getLogger(__name__)

#: Columns of ``qc.csv``: ``dropped_frames`` is the frame list joined with ``;`` (empty: none);
#: ``frames_without_signal`` (``tracking`` rows of ``track_fov``'s records only) the frames, not
#: dropped, where tracking found no nucleus for want of signal: a constant nuclear image
#: (``empty_frames``) or no contrast above the pixel noise (``frames_without_signal``);
#: ``frames_without_foreground`` (``tracking`` rows of ``track_fov``'s records only; empty for a
#: record made before it) every frame where tracking segmented no nucleus, left out of ultrack's solves
#: (:func:`~dynaclr.tracking.engine.solve_frames`): the dropped frames, those without signal, and
#: frames with signal whose nuclei were too dim for the FOV's threshold (listed nowhere else; a FOV
#: with such frames is logged at WARNING by its ``track_fov`` job); empty: every frame tracked;
#: ``nucleus_diameter_um`` (``tracking`` rows of ``track_fov``'s records only) the nuclei's median
#: equivalent diameter in µm at the stated pixel size (:mod:`dynaclr.tracking.nucleus_size`; empty
#: for a record made before it, or without a stated pixel size or a detection);
#: ``nucleus_size_flagged`` (``tracking`` rows of ``track_fov``'s records only) whether that size made
#: the row ``reduced`` (nuclei unusually large or small, or piled up at the segmentation's cap).
QC_COLUMNS: tuple[str, ...] = (
    "fov_name",
    "stage",
    "n_frames",
    "n_dropped_frames",
    "dropped_frames",
    "frames_without_signal",
    "frames_without_foreground",
    "nucleus_diameter_um",
    "nucleus_size_flagged",
    "missing_voxels",
    "missing_share",
    "status",
    "reason",
)

#: ``ok``: nothing left out. ``reduced``: frames dropped (a constant input frame too: ``constant_frames``),
#: brightfield frames over-exposed or holding a constant z slice (``frames_with_constant_slices``), a phase
#: that looks sign-inverted (``phase_sign_inverted``: z axis reversed), tracking
#: frames without signal (no nucleus there), tracking frames with signal but no nucleus segmented
#: (``frames_without_foreground`` neither dropped nor without signal: nuclei below the FOV's threshold),
#: nuclei unusually large or small in µm or piled up
#: at the segmentation's cap (a pixel size misstated? :mod:`dynaclr.tracking.nucleus_size`),
#: missing voxels filled, or more than
#: :data:`~dynaclr.patches.extract.MOSTLY_PADDED_WARNING_SHARE` of the patches mostly padding.
#: ``empty``: the FOV gave no tracks or no patches. ``unknown``: the record predates the
#: missing-data metrics (rerun its rule).
STATUSES: tuple[str, ...] = ("ok", "reduced", "empty", "unknown")

#: The rule of each stage whose per-FOV record lists ``repeated_frames`` (:mod:`dynaclr.numerics.repeats`).
REPEAT_CHECK_RULES = {
    "phase": "reconstruct_phase",
    "virtual_stain": "predict_virtual_stain",
    "tracking": "track_fov",
}


def repeats_not_checked(stage: str) -> str:
    """The reason of a record of ``stage`` (:data:`REPEAT_CHECK_RULES`) made before
    ``repeated_frames`` (its frames never compared)."""
    return (
        "repeated frames not checked (a record made before the check; "
        f"`snakemake --forcerun {REPEAT_CHECK_RULES[stage]}` to check)"
    )


#: The reason of a phase record made before ``repeated_frames``.
REPEATS_NOT_CHECKED = repeats_not_checked("phase")

#: Stage name of each record kind (patches: ``patches:<spec>``).
STAGE_OF_KIND = {
    ArtifactKind.PHASE_FOV: "phase",
    ArtifactKind.VIRTUAL_STAIN_FOV: "virtual_stain",
    ArtifactKind.TRACKS_FOV: "tracking",
    ArtifactKind.PATCH_FOV: "patches",
}


class QcTableInputs(StageFiles):
    """Rule ``qc_table``: every per-FOV record of the dataset, per stage (empty when a stage is off),
    the imported tracks table (``imported_tracks``; None unless the dataset imports its tracks), whose
    record states the frames each CTC folder tracked and the import's warnings, and the imported
    annotations (``imported_annotations``; None unless the dataset imports an annotation table the
    classifiers read), whose record states how well their positions matched the tracked cells, and
    the raw plate converted from TIFF files (``converted_plate``; None unless the dataset's plate is
    one rule ``convert_tiff`` wrote), whose record states the conversion's warnings."""

    phase_records: tuple[Path, ...] = ()
    virtual_stain_records: tuple[Path, ...] = ()
    track_records: tuple[Path, ...] = ()
    patch_records: tuple[Path, ...] = ()
    imported_tracks: Path | None = None
    imported_annotations: Path | None = None
    converted_plate: Path | None = None

    def by_kind(self) -> Iterable[tuple[ArtifactKind, Path]]:
        """``(record kind, path)`` of every record, stage by stage in workflow order."""
        for kind, paths in (
            (ArtifactKind.PHASE_FOV, self.phase_records),
            (ArtifactKind.VIRTUAL_STAIN_FOV, self.virtual_stain_records),
            (ArtifactKind.TRACKS_FOV, self.track_records),
            (ArtifactKind.PATCH_FOV, self.patch_records),
        ):
            for path in paths:
                yield kind, path


class QcTableOutputs(StageFiles):
    """Rule ``qc_table``: the table (CSV), its record (provenance and counts per status) and the
    import warnings (CSV, :data:`~dynaclr.qc.import_warnings.IMPORT_WARNING_COLUMNS`)."""

    table: Path
    record: Path
    import_warnings: Path


def _fov_name_of(path: Path, metrics: dict[str, Any]) -> str:
    """The record's ``fov_name``, else its path's last three parts (``.../{row}/{col}/{fov}.json``)."""
    name = metrics.get("fov_name")
    return str(name) if name else "/".join([*path.parent.parts[-2:], path.stem])


def _frames(metrics: dict[str, Any], key: str, leaving_out: Iterable[int] = ()) -> list[int]:
    """The sorted frames of the record's list ``key`` (absent: none) not in ``leaving_out``."""
    left_out = set(leaving_out)
    return sorted(int(t) for t in metrics.get(key) or () if int(t) not in left_out)


def without_signal(stage: str, metrics: dict[str, Any], dropped: list[int]) -> tuple[list[int], list[int]]:
    """A ``tracking`` record's frames, not ``dropped``, where no nucleus was found for want of
    signal: those whose nuclear image is constant (``empty_frames``) and those with no contrast above
    the pixel noise (``frames_without_signal``), each frame in one list only; none for another stage
    (a patch record's ``empty_frames`` are per channel). A dropped frame carries its drop reason only."""
    if stage != "tracking":
        return [], []
    constant = _frames(metrics, "empty_frames", dropped)
    return constant, _frames(metrics, "frames_without_signal", [*dropped, *constant])


def _reasons(stage: str, metrics: dict[str, Any], dropped: list[int]) -> tuple[str, list[str]]:
    """The status and the reasons of one record's metrics (already known to hold the missing-data
    ones). A frame has one reason: a dropped frame is not also over-exposed or without signal (a
    record made before saturated_frames left dropped frames out may list it there)."""
    reasons = []
    without_light = sorted(int(t) for t in metrics.get("frames_without_brightfield") or ())
    blank = _frames(metrics, CONSTANT_FRAMES_KEY)
    mostly_missing = [t for t in dropped if t not in without_light and t not in blank]
    if mostly_missing:
        reasons.append(f"frames {mostly_missing} dropped (more than half their voxels missing)")
    if without_light:
        reasons.append(f"frames {without_light} dropped (no brightfield intensity)")
    if blank:
        reasons.append(f"frames {blank} dropped (constant input frame: every voxel one value, no signal)")
    saturated = _frames(metrics, "saturated_frames", dropped)
    if saturated:
        reasons.append(
            f"frames {saturated} over-exposed ({'brightfield' if stage == 'phase' else 'input'} saturated)"
        )
    with_constant_slices = _frames(metrics, CONSTANT_SLICES_KEY, dropped)
    if with_constant_slices:
        reasons.append(
            f"frames {with_constant_slices} hold a constant z slice (no brightfield contrast there)"
        )
    repeated = _frames(metrics, "repeated_frames", dropped)
    if repeated:
        reasons.append(f"frames {repeated} repeat the frame before (a frame written twice?)")
    if metrics.get("phase_sign_inverted"):
        reasons.append(
            f"phase looks sign-inverted (median skewness {float(metrics['phase_sign_skewness']):.2f} of the "
            "projected phase): brightfield z axis reversed? flip phase.invert_phase_contrast"
        )
    filled = int(metrics.get("filled_voxels", 0) or 0)
    if filled:
        reasons.append(f"{filled} missing voxel(s) filled")
    elif not dropped and int(metrics.get("missing_voxels", 0) or 0):
        reasons.append(f"{metrics['missing_voxels']} missing voxel(s) left out")
    # phase: brightfield padding of reconstructed frames (a stitched plate's zero padding, dead pixels)
    # filled with the median: no phase there, and the FOV's phase statistics move (FILLED_PADDING_KEY);
    # above MIN_FILLED_PADDING_SHARE of the voxels read only (a few dead pixels: the record's count)
    padding = int(metrics.get(FILLED_PADDING_KEY, 0) or 0)
    voxels_read = int(metrics.get(BRIGHTFIELD_VOXELS_READ_KEY, 0) or 0)  # 0: a record made before it
    if padding and (not voxels_read or padding > MIN_FILLED_PADDING_SHARE * voxels_read):
        reasons.append(
            f"{padding} brightfield padding voxel(s) filled (zero padding or dead pixels: no phase there)"
        )
    constant, noise = without_signal(stage, metrics, dropped)
    if constant:
        reasons.append(f"frames {_shown_runs(constant)} without nuclei (constant nuclear image: no signal)")
    if noise and not metrics.get("noise_only"):  # else the empty reason says it of every frame
        reasons.append(f"frames {_shown_runs(noise)} without nuclei (no contrast above the pixel noise)")
    if stage == "tracking":
        # frames left out of ultrack's solves (no foreground) for no reason above: signal, but no nucleus
        # above the FOV's threshold; no detection there, so the tracks have gaps (cells lost there)
        dim = unflagged_frames_without_foreground(metrics)
        if dim:
            reasons.append(
                f"frames {_shown_runs(dim)} without nuclei though not without signal (no nucleus above the "
                "FOV's foreground threshold: nuclei too dim?): no detection there, the tracks skip them"
            )
        # a pixel size that may be misstated: every later stage sees the wrong size
        reasons.extend(nucleus_size_reasons(metrics))
    if int(metrics.get("n_cells_at_dropped_frames", 0) or 0):
        reasons.append(
            f"{metrics['n_cells_at_dropped_frames']} cell observation(s) at dropped frames got no patch"
        )
    over_exposed = {
        name: share
        for name, share in (metrics.get("saturated_share_per_channel") or {}).items()
        if share > SATURATED_WARNING_SHARE
    }
    if over_exposed:
        reasons.append(
            "voxels at the camera's full scale (saturated): "
            + ", ".join(f"{100.0 * share:.1f}% of {name}" for name, share in over_exposed.items())
        )
    at_constant = {name: n for name, n in (metrics.get("n_cells_at_constant_frames") or {}).items() if n}
    if at_constant:
        reasons.append(
            "cell observation(s) at frames where a channel is constant (no signal; 0 in the patches): "
            + ", ".join(f"{n} in {name}" for name, n in at_constant.items())
        )
    clipped = {name: n for name, n in (metrics.get("clipped_voxels_per_channel") or {}).items() if n}
    if clipped:
        reasons.append(
            "normalised voxel(s) clipped to the storage dtype's range: "
            + ", ".join(f"{n} in {name}" for name, n in clipped.items())
        )
    share = float(metrics.get("mostly_padded_share", 0.0) or 0.0)
    if share > MOSTLY_PADDED_WARNING_SHARE:
        reasons.append(
            f"{metrics['n_mostly_padded_patches']} patch(es) ({100.0 * share:.0f}%) more than half padding"
        )
    if stage == "tracking" and int(metrics.get("n_tracks", 1)) == 0:
        empty = "no detection in any frame: 0 tracks"
        # a noise-only FOV's frames dropped or constant carry their own reasons: the clause names
        # the frames judged for contrast only
        if metrics.get("noise_only") and not constant and not dropped:
            empty += " (no contrast above the pixel noise in any frame of the nuclear image)"
        elif metrics.get("noise_only") and noise:
            judged = _shown_runs(noise)
            empty += f" (no contrast above the pixel noise in frames {judged} of the nuclear image)"
        return "empty", [empty, *reasons]
    if stage.startswith("patches") and int(metrics.get("n_patches", 1)) == 0:
        return "empty", ["no tracked cell: 0 patches", *reasons]
    status = "reduced" if reasons else "ok"
    if stage in REPEAT_CHECK_RULES and "repeated_frames" not in metrics:
        # a record made before the repeated-frame check: its frames were never compared (no rerun
        # for it; the status stays what the record shows, the reason says the check is missing)
        reasons.append(repeats_not_checked(stage))
    return status, reasons


def qc_row(kind: ArtifactKind, path: Path, metrics: dict[str, Any], stage: str) -> dict[str, Any]:
    """One row of the table (:data:`QC_COLUMNS`) from a per-FOV record's metrics."""
    row: dict[str, Any] = {
        "fov_name": _fov_name_of(path, metrics),
        "stage": stage,
        "n_frames": metrics.get("n_frames"),
    }
    if "missing_voxels" not in metrics or "dropped_frames" not in metrics:
        return {
            **row,
            "n_dropped_frames": None,
            "dropped_frames": "",
            "frames_without_signal": "",
            "frames_without_foreground": "",
            "nucleus_diameter_um": None,
            "nucleus_size_flagged": None,
            "missing_voxels": None,
            "missing_share": None,
            "status": "unknown",
            "reason": f"{path} has no missing-data metrics (an older record): rerun "
            f"`snakemake --forcerun {kind.rule}`",
        }
    dropped = sorted(int(t) for t in metrics["dropped_frames"])
    status, reasons = _reasons(stage, metrics, dropped)
    return {
        **row,
        "n_dropped_frames": len(dropped),
        "dropped_frames": ";".join(str(t) for t in dropped),
        "frames_without_signal": ";".join(
            str(t) for t in sorted(chain(*without_signal(stage, metrics, dropped)))
        ),
        "frames_without_foreground": ";".join(
            str(t) for t in (_frames(metrics, "frames_without_foreground") if stage == "tracking" else ())
        ),
        "nucleus_diameter_um": metrics.get(DIAMETER_UM_KEY) if stage == "tracking" else None,
        "nucleus_size_flagged": (
            nucleus_size_flagged(metrics) if stage == "tracking" and DIAMETER_UM_KEY in metrics else None
        ),
        "missing_voxels": int(metrics["missing_voxels"]),
        "missing_share": float(metrics.get("missing_share", 0.0)),
        "status": status,
        "reason": "; ".join(reasons),
    }


def _shown_runs(frames: list[int]) -> str:
    """Sorted frames as runs: ``0 .. 9, 50 .. 99``."""
    return ", ".join(f"{a} .. {b}" if a != b else str(a) for a, b in frame_runs(frames))


def imported_tracking_rows(recorded_config: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    """The ``tracking`` rows (:data:`QC_COLUMNS`) of tracks imported from CTC folders, from the tracks
    table's recorded config (:data:`~dynaclr.tracking.importing.TRACKED_FRAMES`; none for another form):
    per FOV the plate's frames, the untracked ones as dropped, ``reduced`` where there are any, ``empty``
    where the folder holds no cell."""
    tracked = recorded_config.get(TRACKED_FRAMES)
    if not tracked:
        return []
    n_frames = int(recorded_config[PLATE_FRAMES])
    no_cell = set(recorded_config.get(UNTRACKED_FOVS) or ())
    rows = []
    for fov_name, (first, last) in tracked.items():
        dropped = untracked_frames((first, last), n_frames)
        reasons = (
            [
                f"frames {_shown_runs(dropped)} untracked (the CTC folder has label images for frames "
                f"{first} .. {last} only): no cell observation there"
            ]
            if dropped
            else []
        )
        status = "empty" if fov_name in no_cell else "reduced" if dropped else "ok"
        if fov_name in no_cell:
            reasons.insert(0, "no detection in any tracked frame: 0 tracks")
        rows.append(
            {
                "fov_name": fov_name,
                "stage": "tracking",
                "n_frames": n_frames,
                "n_dropped_frames": len(dropped),
                "dropped_frames": ";".join(str(t) for t in dropped),
                "frames_without_signal": "",
                "frames_without_foreground": "",
                "nucleus_diameter_um": None,
                "nucleus_size_flagged": None,
                "missing_voxels": None,
                "missing_share": None,
                "status": status,
                "reason": "; ".join(reasons) + (f" ({path})" if reasons else ""),
            }
        )
    return rows


def qc_rows(inputs: QcTableInputs) -> tuple[pd.DataFrame, list[Any]]:
    """The table (:data:`QC_COLUMNS`, stage by stage in workflow order: phase, virtual staining,
    tracking (the imported tracks' rows in its place), patches; records in input order within a stage)
    and the records' ``(path, provenance)``."""
    rows, recorded = [], []
    for kind, path in inputs.by_kind():
        provenance, metrics = read_fov_record(path, kind)
        stage = STAGE_OF_KIND[kind]
        if kind == ArtifactKind.PATCH_FOV:
            stage = f"patches:{provenance.config.get('name', '?')}"
        rows.append(qc_row(kind, Path(path), metrics, stage))
        recorded.append((path, provenance))
    if inputs.imported_tracks is not None:  # tracking's rows, before the patches'
        provenance = read_table_provenance(inputs.imported_tracks, ArtifactKind.TRACKS)
        at = next((i for i, row in enumerate(rows) if row["stage"].startswith("patches")), len(rows))
        rows[at:at] = imported_tracking_rows(provenance.config, inputs.imported_tracks)
        recorded.insert(len(recorded) - len(inputs.patch_records), (inputs.imported_tracks, provenance))
    table = pd.DataFrame(rows, columns=list(QC_COLUMNS))
    return table.astype(
        {
            "n_frames": "Int64",
            "n_dropped_frames": "Int64",
            "missing_voxels": "Int64",
            "nucleus_diameter_um": "Float64",
            "nucleus_size_flagged": "boolean",
        }
    ), recorded


def qc_table(inputs: QcTableInputs, outputs: QcTableOutputs, *, dataset: str) -> pd.DataFrame:
    """Write the dataset's QC table (``outputs.table``, CSV) and its record (``outputs.record``).

    Every row whose status is not ``ok`` is logged at WARNING with its reason. The record (kind
    ``qc_table``) holds the provenance (the records read) and ``metrics``: ``table`` (the CSV's
    name), ``n_rows``, the count of each status, and ``not_ok`` (``fov_name``, ``stage``,
    ``status``, ``reason`` of every other row), and ``import_warnings`` (``record``, ``warning`` of
    each row of ``outputs.import_warnings``: :func:`~dynaclr.qc.import_warnings.import_warnings_table`,
    each logged at WARNING).
    """
    table, recorded = qc_rows(inputs)
    warned, import_records = import_warnings_table(
        inputs.imported_tracks, inputs.imported_annotations, inputs.converted_plate
    )
    recorded += [(path, provenance) for path, provenance in import_records if path != inputs.imported_tracks]
    for row in warned[~warned["warning"].isin(NOT_WARNINGS)].itertuples(index=False):
        logger.warning("dataset %s, %s: %s", dataset, row.record, row.warning)
    not_ok = table[table["status"] != "ok"]
    for row in not_ok.itertuples(index=False):
        logger.warning(
            "dataset %s, FOV %s, %s: %s (%s)", dataset, row.fov_name, row.stage, row.status, row.reason
        )
    write_csv(table, outputs.table)
    write_csv(warned, outputs.import_warnings)
    counts = table["status"].value_counts()
    metrics = {
        "table": outputs.table.name,
        "n_rows": len(table),
        **{f"n_{status}": int(counts.get(status, 0)) for status in STATUSES},
        "not_ok": not_ok[["fov_name", "stage", "status", "reason"]].to_dict(orient="records"),
        "import_warnings": warned.to_dict(orient="records"),
    }
    provenance = make_provenance(ArtifactKind.QC_TABLE, {"dataset": dataset}, inputs=recorded)
    write_fov_record(outputs.record, provenance, metrics)
    logger.info(
        "dataset %s: QC of %d FOV-stage rows: %s",
        dataset,
        len(table),
        {s: metrics[f"n_{s}"] for s in STATUSES},
    )
    return table
