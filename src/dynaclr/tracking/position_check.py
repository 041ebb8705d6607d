"""Do imported tracks sit on the plate's cells? (rule ``import_tracks``, :func:`check_positions_on_cells`)

A tracks table with x and y swapped, or with positions in µm where the pixels are finer than 1 µm,
stays inside a square image, so the plate's bounds
(:func:`~dynaclr.tracking.importing.imported_tracks_problems`) let it pass, and every patch is then
cut at the wrong place (background or other cells). The image tells them apart: on a few frames of
a few FOVs, each channel's intensity at the detections is compared with its intensity at the same
positions read the other ways (x and y swapped; where the plate states its pixel size, in the other
unit, and that swapped) and at random positions.

The score of a reading on a channel is the median, over the detections checked, of the channel's
robust z-score at the position (the frame smoothed over 3 x 3 px, minus its median, over 1.4826
times its median absolute deviation): about 0 at random positions, large on a channel whose cells
are bright where the detections are. The channel whose best reading scores highest decides. Cost:
:data:`CHECKED_FRAMES` frames of :data:`CHECKED_FOVS` FOVs, at most :data:`CHECKED_SLICES` slices of
each channel each, whatever the plate's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import ndimage

from dynaclr.io import ArtifactError
from dynaclr.io.plate import open_plate_position

#: FOVs checked (those with the most detections) and frames of each (those with the most detections).
CHECKED_FOVS = 2
CHECKED_FRAMES = 2
#: Slices read per frame at most (around the detections' median z, or the stack's middle): their
#: maximum projection is scored, so a frame of a deep stack is not read whole.
CHECKED_SLICES = 5
#: Random positions scored per frame checked (the baseline; the generator is seeded).
RANDOM_POSITIONS = 200
#: Fewer detections checked than this: the check cannot decide (a WARNING).
MIN_CHECKED_DETECTIONS = 5
#: A reading "shows cells" where its score reaches this (median detection this many robust standard
#: deviations above the frame's median). Where no reading on any channel does, the check cannot decide.
CLEAR_SCORE = 5.0
#: Another reading is refused in favour of where it scores at least CLEAR_SCORE and this many times
#: the score as given (as given at or below 0: any clear score).
BETTER_SCORE_RATIO = 4.0
#: A reading is scored only where at least this share of its positions lies inside the image.
MIN_INSIDE_SHARE = 0.9
#: Key of the tracks record's ``config``: the check's channel, detections, frames and scores.
POSITION_READINGS = "position_readings"

OTHER_UNIT = {"px": "um", "um": "px"}
READING_WORDS = {
    "given": "as given",
    "swapped": "with x and y swapped",
    "um": "in µm (divided by the pixel size)",
    "um_swapped": "in µm with x and y swapped",
    "px": "in pixels",
    "px_swapped": "in pixels with x and y swapped",
}


@dataclass(frozen=True)
class PositionCheck:
    """What :func:`check_positions_on_cells` found: the record's entry and a WARNING (None: none)."""

    record: dict[str, Any]
    warning: str | None


def _readings(
    y: NDArray, x: NDArray, position_unit: str, pixel_size_um: float | None
) -> dict[str, tuple[NDArray, NDArray]]:
    """The positions read each way, in pixels: as given (already in pixels), swapped and, where the
    pixel size is known, in the other unit (given in pixels: read as µm, divided by the pixel size;
    given in µm and divided: read as pixels, the division undone)."""
    readings = {"given": (y, x), "swapped": (x, y)}
    if pixel_size_um is not None:
        other = OTHER_UNIT[position_unit]
        factor = 1 / pixel_size_um if other == "um" else pixel_size_um
        readings[other] = (y * factor, x * factor)
        readings[f"{other}_swapped"] = (x * factor, y * factor)
    return readings


def _robust_z(frame: NDArray) -> NDArray | None:
    """The smoothed frame's robust z-score; None for a flat frame (nothing to see)."""
    smooth = ndimage.uniform_filter(frame.astype(np.float64), 3)
    centre = float(np.median(smooth))
    spread = 1.4826 * float(np.median(np.abs(smooth - centre))) or float(smooth.std())
    return None if spread == 0 else (smooth - centre) / spread


def _sampled(tracks: pd.DataFrame) -> list[tuple[str, int, pd.DataFrame]]:
    """The (FOV, frame, detections) checked: :data:`CHECKED_FOVS` x :data:`CHECKED_FRAMES`."""
    counts = tracks.groupby("fov_name", observed=True).size().sort_values(ascending=False, kind="stable")
    picked: list[tuple[str, int, pd.DataFrame]] = []
    for fov in counts.index[:CHECKED_FOVS]:
        rows = tracks[tracks["fov_name"] == fov]
        frames = rows.groupby("t").size().sort_values(ascending=False, kind="stable").index[:CHECKED_FRAMES]
        picked.extend((str(fov), int(t), rows[rows["t"] == t]) for t in sorted(frames))
    return picked


def _slices(rows: pd.DataFrame, n_z: int) -> slice:
    centre = round(float(rows["z"].median())) if "z" in rows.columns else n_z // 2
    first = min(max(centre - CHECKED_SLICES // 2, 0), max(n_z - CHECKED_SLICES, 0))
    return slice(first, first + CHECKED_SLICES)


def _scores_at(z: NDArray, y: NDArray, x: NDArray) -> NDArray | None:
    """The z-scores at the positions inside the image; None where too few lie inside."""
    row, col = np.round(y).astype(np.int64), np.round(x).astype(np.int64)
    inside = (row >= 0) & (row < z.shape[0]) & (col >= 0) & (col < z.shape[1])
    if inside.sum() < MIN_INSIDE_SHARE * len(row):
        return None
    return z[row[inside], col[inside]]


def check_positions_on_cells(
    tracks: pd.DataFrame, plate: Path, *, position_unit: str, pixel_size_um: float | None, source: str
) -> PositionCheck:
    """Refuse ``tracks`` (conformed, in pixels) whose positions sit on the plate's cells only when read
    another way (module docstring); a WARNING where no channel shows the cells clearly.

    Reads :data:`CHECKED_FRAMES` frames of :data:`CHECKED_FOVS` FOVs, :data:`CHECKED_SLICES` slices
    each, every channel. ``position_unit`` is the unit the tracks were given in (``tracks.position_unit``;
    ``tracks`` are already in pixels), ``pixel_size_um`` the plate's (None: the other unit is not tried),
    ``source`` names the tracks in messages.

    Raises:
        ArtifactError: another reading scores at least :data:`CLEAR_SCORE` and
            :data:`BETTER_SCORE_RATIO` times the positions as given; the message gives every reading's
            score, the random positions' and the fix.
    """
    sampled = _sampled(tracks)
    checked = [[fov, t] for fov, t, _ in sampled]
    n_detections = sum(len(rows) for *_, rows in sampled)
    tried = list(_readings(np.zeros(0), np.zeros(0), position_unit, pixel_size_um))
    medians = _channel_medians(sampled, plate, position_unit, pixel_size_um)
    record: dict[str, Any] = {"frames": checked, "detections": n_detections, "channel": None, "scores": {}}
    if not medians or n_detections < MIN_CHECKED_DETECTIONS:
        record["verdict"] = "undecided"
        return PositionCheck(
            record, _undecided(source, record, "no channel with contrast or too few detections")
        )
    channel = max(
        medians, key=lambda name: max((v for v in medians[name].values() if v is not None), default=-np.inf)
    )
    scores: dict[str, float | None] = medians[channel]
    record.update(channel=channel, scores={name: _rounded(v) for name, v in scores.items()})
    said = (
        ", ".join(f"{READING_WORDS[name]} {_text(scores[name])}" for name in tried)
        + f", random positions {_text(scores['random'])}"
    )
    given = scores["given"] if scores["given"] is not None else -np.inf
    others = {name: v for name, v in scores.items() if name not in ("given", "random") and v is not None}
    best = max(others, key=lambda name: others[name]) if others else None
    if best is not None and others[best] >= max(CLEAR_SCORE, BETTER_SCORE_RATIO * max(given, 0.0)):
        raise ArtifactError(
            f"{source}: the tracks' positions do not sit on the plate's cells ({plate}); on channel "
            f"{channel!r}, the median robust z-score of the intensity at {n_detections} detections "
            f"({_frames_text(checked)}) read {said}. Expected the positions as given to score highest, found "
            f"them on the cells read {READING_WORDS[best]} (at least {CLEAR_SCORE:g} and "
            f"{BETTER_SCORE_RATIO:g} times as given): patches would be cut at the wrong places. Fix: "
            + _fix(best, pixel_size_um)
            + "; or, if the tracks were made on other images (another crop or orientation), import tracks "
            "made on these"
        )
    if given >= CLEAR_SCORE:
        record["verdict"] = "given"
        return PositionCheck(record, None)
    record["verdict"] = "undecided"
    return PositionCheck(record, _undecided(source, record, f"best channel {channel!r}: {said}"))


def _channel_medians(
    sampled: list[tuple[str, int, pd.DataFrame]], plate: Path, position_unit: str, pixel_size_um: float | None
) -> dict[str, dict[str, float | None]]:
    """Per channel with contrast, on the ``sampled`` frames (:func:`_sampled`), each reading's score
    (None: outside the image) and ``random``'s."""
    rng = np.random.default_rng(0)
    per_channel: dict[str, dict[str, list[NDArray]]] = {}
    for fov, t, rows in sampled:
        y, x = rows["y"].to_numpy(np.float64), rows["x"].to_numpy(np.float64)
        with open_plate_position(plate, fov) as position:
            data = position.data
            n_y, n_x = data.shape[-2:]
            readings = {
                **_readings(y, x, position_unit, pixel_size_um),
                "random": (
                    rng.uniform(0, n_y - 1, RANDOM_POSITIONS),
                    rng.uniform(0, n_x - 1, RANDOM_POSITIONS),
                ),
            }
            for c, channel in enumerate(position.channel_names):
                z = _robust_z(np.asarray(data[t, c, _slices(rows, data.shape[2])]).max(axis=0))
                if z is None:
                    continue
                at_readings = per_channel.setdefault(str(channel), {})
                for name, (reading_y, reading_x) in readings.items():
                    at = _scores_at(z, reading_y, reading_x)
                    if at is not None:
                        at_readings.setdefault(name, []).append(at)
    names = [*_readings(np.zeros(0), np.zeros(0), position_unit, pixel_size_um), "random"]
    return {
        channel: {name: _median(at_readings.get(name)) for name in names}
        for channel, at_readings in per_channel.items()
    }


def _fix(best: str, pixel_size_um: float | None) -> str:
    fixes = []
    if best.endswith("swapped"):
        fixes.append("swap the table's columns y and x (rename y to x and x to y)")
    if best.startswith("um"):
        fixes.append(
            f"set tracks.position_unit: um (y, x are divided by the plate's pixel size, {pixel_size_um:g} µm)"
        )
    if best.startswith("px"):
        fixes.append("set tracks.position_unit: px (y, x are the image's pixels)")
    return " and ".join(fixes)


def _frames_text(checked: list[list[Any]]) -> str:
    """``FOV A/1/0 frames 3, 5; FOV B/1/0 frames 6, 7``."""
    frames: dict[str, list[str]] = {}
    for fov, t in checked:
        frames.setdefault(fov, []).append(str(t))
    return "; ".join(f"FOV {fov} frames {', '.join(ts)}" for fov, ts in frames.items())


def _undecided(source: str, record: dict[str, Any], why: str) -> str:
    return (
        f"{source}: could not check that the tracks' positions sit on the plate's cells (x and y swapped, "
        f"or µm for pixels, would go unseen): no channel shows cells at {CLEAR_SCORE:g} robust standard "
        f"deviations above the frame at any reading of {record['detections']} detections ({why})"
    )


def _median(values: Sequence[NDArray] | None) -> float | None:
    return None if not values else float(np.median(np.concatenate(values)))


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _text(value: float | None) -> str:
    return "outside the image" if value is None else f"{value:.1f}"
