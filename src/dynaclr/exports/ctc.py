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
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
from iohub.ngff import open_ome_zarr
from numpy.typing import NDArray
from pydantic import field_validator
from tqdm import tqdm

from dynaclr.io import ArtifactError, StageFiles, atomic_output, read_csv, read_zarr_provenance
from dynaclr.io.chunks import read_block
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


class ExportCtcOutputs(StageFiles):
    """Rule ``export_ctc``: the FOV's CTC result folder, named by its ``res_track.txt`` (not as a
    ``directory()`` output, which would put Snakemake's ``.snakemake_timestamp`` among the files the
    CTC tools list); the stage writes the whole folder, :attr:`folder`."""

    res_track: Path

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


def export_ctc_fov(inputs: ExportCtcInputs, outputs: ExportCtcOutputs, fov_name: str) -> list[CtcTrack]:
    """Write one FOV's label images and lineage as a CTC result folder ``outputs.folder``, its
    ``res_track.txt`` last, the whole folder moved into place at once.

    Reads the FOV's labels (rule ``track_fov``'s, in the tracks plate) frame by frame, twice: once
    to find which track is present where, once to write the masks. Track ids above 65,535 do not fit
    the format's ``uint16`` and are refused.

    Raises:
        ArtifactError: the plate is not a tracks plate, the FOV is not in it, a label has no row in
            the tracks CSV, a track begins before its parent ends, or a label does not fit ``uint16``.
    """
    tracks_plate, tracks_csv, output = inputs.tracks_plate, inputs.tracks_csv, outputs.folder
    read_zarr_provenance(tracks_plate, "tracks_plate")
    table = read_csv(tracks_csv, TRACK_COLUMNS)
    parents = _track_parents(table)
    with open_ome_zarr(tracks_plate, layout="hcs", mode="r") as plate:
        try:
            array = plate[fov_name]["0"]
        except KeyError:
            raise ArtifactError(
                f"{tracks_plate}: FOV {fov_name} not found (rule track_fov writes it)"
            ) from None
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
            tracks, relabel = ctc_tracks(present, parents)
        except ValueError as error:
            raise ArtifactError(
                f"{tracks_plate}: FOV {fov_name} (lineage from {tracks_csv}): {error}; "
                "rerun `snakemake --forcerun track_fov`"
            ) from None
        if tracks and max(track.label for track in tracks) > np.iinfo(np.uint16).max:
            raise ArtifactError(
                f"{fov_name}: CTC masks are uint16 and this FOV needs labels up to "
                f"{max(track.label for track in tracks)}"
            )
        with atomic_output(output) as tmp:
            tmp.mkdir()
            for t in tqdm(range(n_frames), desc=f"{fov_name}: masks", mininterval=5, leave=False):
                labels = _frame_labels(array, t, tracks_plate, fov_name)
                mask = labels.astype(np.uint16)
                for track_id, label in relabel.get(t, {}).items():
                    mask[labels == track_id] = label
                tifffile.imwrite(tmp / mask_name(t, n_frames), mask, compression="zlib")
            lines = [f"{track.label} {track.begin} {track.end} {track.parent}" for track in tracks]
            (tmp / LINEAGE_FILE).write_text("\n".join(lines) + ("\n" if lines else ""))
    logger.info(
        "%s: %d CTC tracks (%d frames of runs after a gap relabelled) in %d masks -> %s",
        fov_name,
        len(tracks),
        sum(len(moved) for moved in relabel.values()),
        n_frames,
        output,
    )
    return tracks
