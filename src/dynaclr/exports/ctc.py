"""One FOV's tracking as a Cell Tracking Challenge result folder.

The CTC format (Ulman et al., Nature Methods 2017; the challenge's "naming and file content
conventions"): one label image per frame, ``mask<t>.tif`` with ``t`` zero-padded to at least three
digits, 2-D (Y, X) or 3-D (Z, Y, X) ``uint16``, background 0; and ``res_track.txt`` with one line
``L B E P`` per track: label ``L``, first and last frame ``B`` and ``E``, parent label ``P`` (0 for
none). A CTC track must be present in every frame from ``B`` to ``E``: a track of this workflow with
frames missing (a cell lost for a frame) is written as one CTC track per unbroken run, each run the
parent of the next, and the runs after the first get new labels above the FOV's largest track id
(this workflow's CTC import merges such runs back into one track:
:func:`~dynaclr.tracking.importing.merge_ctc_continuations`).
A parent ends before its daughter begins (``E`` of ``P`` below ``B``, as the CTC tools and this
workflow's CTC import require): a daughter whose parent track has pixels at or after her first frame
is refused, not written as a lineage no CTC reader accepts.

CTC labels are ``uint16``. A FOV whose labels (track ids and the new labels of runs after a gap) all
fit keeps its track ids as labels; one with a label above 65,535 (a big plate's tracks, tracks
imported from another tool) has its tracks renumbered ``1 .. n`` in track id order, the same in
every frame and in ``res_track.txt``'s ``P``, the runs after a gap from ``n + 1`` on. Either way the
stage writes beside the folder a table from each CTC label back to the track (:data:`LABEL_COLUMNS`);
only a FOV with more than 65,535 CTC tracks is refused.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
from numpy.typing import NDArray
from pydantic import field_validator
from tqdm import tqdm

from dynaclr.io import ArtifactError, StageFiles, atomic_output, read_csv, read_zarr_provenance, write_csv
from dynaclr.io.chunks import read_block
from dynaclr.io.plate import open_plate_position
from dynaclr.tracking.importing import CtcTrack, frame_runs

logger = logging.getLogger(__name__)

#: Columns of the tracks CSV the export reads (rule ``track_fov``'s per-FOV table).
TRACK_COLUMNS: tuple[str, ...] = ("track_id", "t", "parent_track_id")


class ExportCtcInputs(StageFiles):
    """Rule ``export_ctc``: the tracked label plate and the FOV's tracks CSV (rule ``track_fov``)."""

    tracks_plate: Path
    tracks_csv: Path


#: The file by which rule ``export_ctc`` names a CTC result folder: written last and moved into
#: place with the masks, so it exists only for a complete folder (as a zarr store's root file).
LINEAGE_FILE = "res_track.txt"


#: The largest CTC label (masks are ``uint16``).
LARGEST_LABEL = int(np.iinfo(np.uint16).max)
#: Columns of the table from CTC labels back to tracks, one row per ``res_track.txt`` line: the FOV,
#: the label (``L``), the track it is part of (the tracks CSV's ``track_id``; several labels for a
#: track with gaps), its first and last frame (``B``, ``E``) and its parent label (``P``, 0 none).
LABEL_COLUMNS: tuple[str, ...] = ("fov_name", "ctc_label", "track_id", "begin", "end", "ctc_parent")


class ExportCtcOutputs(StageFiles):
    """Rule ``export_ctc``: the FOV's CTC result folder, named by its ``res_track.txt`` (not as a
    ``directory()`` output, which would put Snakemake's ``.snakemake_timestamp`` among the files the
    CTC tools list); the stage writes the whole folder, :attr:`folder`; and beside it (outside the
    folder the CTC tools list) the CSV from each CTC label back to its track (:data:`LABEL_COLUMNS`)."""

    res_track: Path
    labels: Path

    @field_validator("res_track")
    @classmethod
    def _names_the_lineage_file(cls, value: Path) -> Path:
        if value.name != LINEAGE_FILE:
            raise ValueError(f"res_track: expected a folder's {LINEAGE_FILE}, found {value}")
        return value

    @property
    def folder(self) -> Path:
        """The CTC result folder the stage writes whole."""
        return self.res_track.parent


def mask_name(t: int, n_frames: int) -> str:
    """``mask<t>.tif``, ``t`` zero-padded to at least three digits (four from 1,000 frames)."""
    return f"mask{t:0{max(3, len(str(n_frames - 1)))}d}.tif"


def ctc_tracks(
    present: dict[int, set[int]], parents: dict[int, int]
) -> tuple[list[CtcTrack], dict[int, dict[int, int]]]:
    """The CTC tracks of a FOV from the labels present in each frame and each track's parent.

    Args:
        present: per frame, the track ids with pixels in its label image.
        parents: per track id, its parent track id (0 or absent: none).

    Returns:
        ``(tracks, relabel)``: the ``res_track.txt`` lines, and per frame ``{track_id: label}`` for
        the tracks whose run there follows a gap (frames of a track's first run keep the track id).

    Raises:
        ValueError: a track's parent has pixels at or after the track's first frame (naming up to
            ten such tracks, their first frame and their parent's last).
    """
    frames: dict[int, list[int]] = {}
    for t in sorted(present):
        for track_id in present[t]:
            frames.setdefault(track_id, []).append(t)
    next_label = max(frames, default=0) + 1
    first_label: dict[int, int] = {}
    last_label: dict[int, int] = {}
    runs_of: dict[int, list[tuple[int, int, int]]] = {}
    relabel: dict[int, dict[int, int]] = {}
    for track_id in sorted(frames):
        runs = []
        for index, (begin, end) in enumerate(frame_runs(frames[track_id])):
            label = track_id if index == 0 else next_label
            if index:
                next_label += 1
                for t in range(begin, end + 1):
                    relabel.setdefault(t, {})[track_id] = label
            runs.append((label, begin, end))
        runs_of[track_id] = runs
        first_label[track_id], last_label[track_id] = runs[0][0], runs[-1][0]
    late = [
        (track_id, frames[track_id][0], parent, frames[parent][-1])
        for track_id in sorted(frames)
        if (parent := parents.get(track_id, 0)) in frames and frames[parent][-1] >= frames[track_id][0]
    ]
    if late:
        shown = "; ".join(
            f"track {track_id} begins at frame {begin}, its parent {parent} is last at frame {end}"
            for track_id, begin, parent, end in late[:10]
        )
        raise ValueError(
            f"{len(late)} tracks begin before their parent track ends ({shown}); a CTC parent ends "
            "before its daughter begins"
        )
    tracks = []
    for track_id in sorted(runs_of):
        parent = parents.get(track_id, 0)
        previous = last_label.get(parent, 0) if parent > 0 else 0  # a parent without pixels: none
        for label, begin, end in runs_of[track_id]:
            tracks.append(CtcTrack(label, begin, end, previous))
            previous = label
    return tracks, relabel


def _track_parents(tracks: pd.DataFrame) -> dict[int, int]:
    firsts = tracks.sort_values("t").drop_duplicates("track_id")
    parent = pd.to_numeric(firsts["parent_track_id"], errors="coerce").fillna(0).astype(np.int64)
    return {int(k): int(max(v, 0)) for k, v in zip(firsts["track_id"], parent, strict=True)}


def _frame_labels(array: object, t: int, store: Path, fov_name: str) -> NDArray:
    frame = read_block(array, (t, 0), store=store, fov_name=fov_name)
    return frame[0] if frame.shape[0] == 1 else frame  # (1, Y, X) -> (Y, X): a 2-D mask


def export_labels(
    present: dict[int, set[int]], parents: dict[int, int], fov_name: str
) -> tuple[list[CtcTrack], dict[int, dict[int, int]], pd.DataFrame]:
    """The CTC tracks of a FOV (:func:`ctc_tracks`), with ``uint16`` labels.

    The track ids are the labels when every label fits ``uint16`` (the runs after a gap numbered on
    from the largest track id); else the tracks are renumbered ``1 .. n`` in track id order first (each
    parent mapped the same way; a parent without pixels is none, as in :func:`ctc_tracks`).

    Returns:
        ``(tracks, labels, table)``: the ``res_track.txt`` lines; per frame ``{track_id: label}`` for
        every track present; and the table from each label back to its track (:data:`LABEL_COLUMNS`).

    Raises:
        ValueError: as :func:`ctc_tracks`.
        OverflowError: the FOV has more CTC tracks than ``uint16`` labels (naming the FOV and the
            counts).
    """
    found = sorted(set().union(*present.values()))
    tracks, relabel = ctc_tracks(present, parents)
    exported = {track_id: track_id for track_id in found}
    largest = max((track.label for track in tracks), default=0)
    if largest > LARGEST_LABEL:
        if len(tracks) > LARGEST_LABEL:
            raise OverflowError(
                f"FOV {fov_name} has {len(tracks)} CTC tracks ({len(found)} tracks and "
                f"{len(tracks) - len(found)} runs after a gap); CTC masks are uint16 and hold at most "
                f"{LARGEST_LABEL:,} labels"
            )
        exported = {track_id: index for index, track_id in enumerate(found, start=1)}
        present = {t: {exported[track_id] for track_id in ids} for t, ids in present.items()}
        parents = {exported[k]: exported.get(parent, 0) for k, parent in parents.items() if k in exported}
        tracks, relabel = ctc_tracks(present, parents)
        logger.warning(
            "%s: labels (track ids, or runs after a gap) up to %d do not fit CTC's uint16 labels: %d tracks "
            "renumbered 1 .. %d in track id order (the CSV beside the folder maps each label back)",
            fov_name,
            largest,
            len(found),
            len(found),
        )
    track_of = {label: track_id for track_id, label in exported.items()}
    labels: dict[int, dict[int, int]] = {}
    for t, ids in present.items():
        moved = relabel.get(t, {})
        labels[t] = {}
        for label in ids:
            track_id = track_of[label]
            labels[t][track_id] = moved.get(label, label)
            track_of.setdefault(labels[t][track_id], track_id)
    table = pd.DataFrame(
        [(fov_name, k.label, track_of[k.label], k.begin, k.end, k.parent) for k in tracks],
        columns=list(LABEL_COLUMNS),
    )
    return tracks, labels, table


def _ctc_mask(frame: NDArray, labels: dict[int, int]) -> NDArray:
    """The frame's track ids replaced by their CTC labels (``labels``: every id present), as ``uint16``."""
    if all(track_id == label for track_id, label in labels.items()):
        return frame.astype(np.uint16)  # every label fits: the track ids as they are
    values, inverse = np.unique(frame, return_inverse=True)
    exported = np.array([labels.get(int(v), 0) for v in values], dtype=np.uint16)
    return exported[inverse].reshape(frame.shape)


def export_ctc_fov(inputs: ExportCtcInputs, outputs: ExportCtcOutputs, fov_name: str) -> list[CtcTrack]:
    """Write one FOV's label images and lineage as a CTC result folder ``outputs.folder``, its
    ``res_track.txt`` last, the whole folder moved into place at once, after the table from each
    CTC label back to its track (``outputs.labels``).

    Reads the FOV's labels (rule ``track_fov``'s, in the tracks plate) frame by frame, twice: once
    to find which track is present where, once to write the masks. Track ids that do not all fit the
    format's ``uint16`` are renumbered (:func:`export_labels`).

    Raises:
        ArtifactError: the plate is not a tracks plate, the FOV is not in it, a label has no row in
            the tracks CSV, a track begins before its parent ends, or the FOV has more CTC tracks than
            ``uint16`` labels.
    """
    tracks_plate, tracks_csv, output = inputs.tracks_plate, inputs.tracks_csv, outputs.folder
    read_zarr_provenance(tracks_plate, "tracks_plate", fov_name)  # this FOV's copy of the record
    table = read_csv(tracks_csv, TRACK_COLUMNS)
    parents = _track_parents(table)
    with open_plate_position(tracks_plate, fov_name) as position:  # no other FOV's metadata
        array = position["0"]
        n_frames = array.shape[0]
        present: dict[int, set[int]] = {}
        for t in tqdm(range(n_frames), desc=f"{fov_name}: labels", mininterval=5, leave=False):
            labels = np.unique(_frame_labels(array, t, tracks_plate, fov_name))
            present[t] = {int(v) for v in labels if v > 0}
        found = set().union(*present.values())
        unknown = sorted(found - set(parents))
        if unknown:
            raise ArtifactError(
                f"{tracks_plate}: FOV {fov_name} has labels {unknown[:10]} without a row in {tracks_csv}; "
                "rerun `snakemake --forcerun track_fov`"
            )
        try:
            tracks, exported, label_table = export_labels(present, parents, fov_name)
        except ValueError as error:
            raise ArtifactError(
                f"{tracks_plate}: FOV {fov_name} (lineage from {tracks_csv}): {error}; "
                "rerun `snakemake --forcerun track_fov`"
            ) from None
        except OverflowError as error:
            raise ArtifactError(f"{tracks_plate}: {error}") from None
        write_csv(label_table, outputs.labels)
        with atomic_output(output) as tmp:
            tmp.mkdir()
            for t in tqdm(range(n_frames), desc=f"{fov_name}: masks", mininterval=5, leave=False):
                mask = _ctc_mask(_frame_labels(array, t, tracks_plate, fov_name), exported[t])
                tifffile.imwrite(tmp / mask_name(t, n_frames), mask, compression="zlib")
            lines = [f"{track.label} {track.begin} {track.end} {track.parent}" for track in tracks]
            (tmp / LINEAGE_FILE).write_text("\n".join(lines) + ("\n" if lines else ""))
    logger.info(
        "%s: %d CTC tracks of %d tracks (%d runs after a gap given new labels) in %d masks -> %s; labels "
        "back to tracks -> %s",
        fov_name,
        len(tracks),
        len(found),
        len(tracks) - len(found),
        n_frames,
        output,
        outputs.labels,
    )
    return tracks
