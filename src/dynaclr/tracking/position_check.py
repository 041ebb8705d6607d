"""Do imported tracks sit on the plate's cells? (rule ``import_tracks``, :func:`check_positions_on_cells`)

A tracks table with x and y swapped, or with positions in µm where the pixels are finer than 1 µm,
stays inside a square image, so the plate's bounds
(:func:`~dynaclr.tracking.importing.imported_tracks_problems`) let it pass, and every patch is then
cut at the wrong place (background or other cells). The image tells them apart: on a few frames of
a few FOVs, each channel's intensity at the detections is compared with its intensity at the same
positions read the other ways (x and y swapped; where the plate states its pixel size, in the other
unit, and that swapped) and at random positions.

The score of a reading on a channel is the median, over the detections checked, of the channel's
local robust z-score at the position (:func:`_robust_z`: the frame smoothed over 3 x 3 px, minus its
local background, over its noise): about 0 at random positions and inside a broad bright area
without cells (glare at a well's edge), large on a channel whose cells are bright where the
detections are. The tracks are accepted where some channel scores them as given at least
:data:`CLEAR_SCORE` and no other reading beats that on the same channel; refused only where every
channel showing cells puts them on the cells read another way and none as given; else a WARNING
(no channel shows cells, or one clearly does but not at the positions: another crop?). Cost:
:data:`CHECKED_FRAMES` frames of :data:`CHECKED_FOVS` FOVs (each FOV opened once), the maximum
projection of at most :data:`CHECKED_SLICES` slices of each channel each; a plate chunked by whole
stacks (1, 1, Z, Y, X) decompresses each frame's stack, so the cost grows with the stack's size.
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
#: maximum projection is scored (a plate chunked by whole stacks, (1, 1, Z, Y, X), still
#: decompresses the frame's whole stack to read them).
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
#: A median absolute deviation at most this share of the largest is a flat background (clipped,
#: background-subtracted): only the filters' rounding.
FLAT_SHARE = 1e-6
#: A reading is scored only where at least this share of its positions lies inside the image.
MIN_INSIDE_SHARE = 0.9

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
    """The frame's local robust z-score: smoothed over 3 x 3 px, minus its local background (the mean
    over :func:`_background_window` px, so a broad bright area without cells, glare at a well's edge,
    scores about 0 inside) and that difference's median, over the smoothed frame's spread (its noise:
    1.4826 MAD about its median, or where the background is flat the objects' median deviation,
    :func:`_spread`).
    None for a flat frame (nothing to see)."""
    smooth = ndimage.uniform_filter(frame.astype(np.float64), 3)
    local = smooth - ndimage.uniform_filter(smooth, _background_window(frame.shape))
    spread = _spread(smooth, float(np.median(smooth)))
    return None if spread == 0 else (local - float(np.median(local))) / spread


def _background_window(shape: tuple[int, ...]) -> int:
    """The local background's window: an eighth of the image's shorter side, at least 31 px (wider
    than a cell at any usual pixel size, narrower than a well's glare)."""
    return max(31, min(shape[-2:]) // 8)


def _spread(values: NDArray, centre: float) -> float:
    """1.4826 times the median absolute deviation from ``centre``; where that is 0 or only the
    filters' rounding (at most :data:`FLAT_SHARE` of the largest deviation: over half the pixels at one
    value, a clipped or background-subtracted frame, whose noise is gone), the median deviation of the
    other pixels (the objects) over ``2 * CLEAR_SCORE``: a detection on a typical object scores twice
    the clear score. 0: a flat frame."""
    deviation = np.abs(values - centre)
    floor = FLAT_SHARE * float(deviation.max())
    mad = 1.4826 * float(np.median(deviation))
    if mad > floor:
        return mad
    objects = deviation[deviation > floor]
    return float(np.median(objects)) / (2 * CLEAR_SCORE) if objects.size else 0.0


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
    another way, on every channel that shows cells (module docstring); a WARNING where no channel
    shows the cells clearly, or one does but not at the positions as given.

    Reads :data:`CHECKED_FRAMES` frames of :data:`CHECKED_FOVS` FOVs, :data:`CHECKED_SLICES` slices
    each, every channel. ``position_unit`` is the unit the tracks were given in (``tracks.position_unit``;
    ``tracks`` are already in pixels), ``pixel_size_um`` the plate's (None: the other unit is not tried),
    ``source`` names the tracks in messages.

    Raises:
        ArtifactError: on every channel showing cells another reading scores at least
            :data:`CLEAR_SCORE` and :data:`BETTER_SCORE_RATIO` times the positions as given, which reach
            :data:`CLEAR_SCORE` on none; the message gives every reading's score, the random
            positions' and the fix.
    """
    sampled = _sampled(tracks)
    checked = [[fov, t] for fov, t, _ in sampled]
    n_detections = sum(len(rows) for *_, rows in sampled)
    tried = list(_readings(np.zeros(0), np.zeros(0), position_unit, pixel_size_um))
    medians, bright = _channel_medians(sampled, plate, position_unit, pixel_size_um)
    record: dict[str, Any] = {
        "frames": checked,
        "detections": n_detections,
        "channel": None,
        "scores": {},
        "channel_scores": {
            name: {k: _rounded(v) for k, v in scores.items()} for name, scores in medians.items()
        },
    }
    if not medians or n_detections < MIN_CHECKED_DETECTIONS:
        record["verdict"] = "undecided"
        return PositionCheck(
            record, _undecided(source, record, "no channel with contrast or too few detections")
        )
    winners = {name: _winner(scores) for name, scores in medians.items()}
    showing = [name for name, scores in medians.items() if _shows_cells(scores)]
    confirming = [name for name in showing if _given(medians[name]) >= CLEAR_SCORE and winners[name] is None]
    if confirming:
        channel = max(confirming, key=lambda name: _given(medians[name]))
        record.update(channel=channel, scores=_rounded_scores(medians[channel]), verdict="given")
        return PositionCheck(record, None)
    refused = bool(showing) and all(
        winners[name] is not None and _given(medians[name]) < CLEAR_SCORE for name in showing
    )
    channel = max(medians, key=lambda name: _best(medians[name]))
    scores = medians[channel]
    record.update(channel=channel, scores=_rounded_scores(scores))
    said = (
        ", ".join(f"{READING_WORDS[name]} {_text(scores[name])}" for name in tried)
        + f", random positions {_text(scores['random'])}"
    )
    best = winners[channel]
    if refused and best is not None:
        others = "; ".join(
            f"{name!r}: {READING_WORDS[won]} {_text(medians[name][won])}, "
            f"as given {_text(medians[name]['given'])}"
            for name in showing
            if name != channel and (won := winners[name]) is not None
        )
        raise ArtifactError(
            f"{source}: the tracks' positions do not sit on the plate's cells ({plate}); on channel "
            f"{channel!r}, the median local robust z-score of the intensity at {n_detections} detections "
            f"({_frames_text(checked)}) read {said}"
            + (f" (every other channel showing cells agrees: {others})" if others else "")
            + f". Expected the positions as given to score highest, found them on the cells read "
            f"{READING_WORDS[best]} (at least {CLEAR_SCORE:g} and {BETTER_SCORE_RATIO:g} times as given) "
            "on every channel that shows cells: patches would be cut at the wrong places. Fix: "
            + _fix(best, pixel_size_um)
            + "; or, if the tracks were made on other images (another crop or orientation), import tracks "
            "made on these"
        )
    record["verdict"] = "undecided"
    clear = [name for name in medians if name in bright and _given(medians[name]) < CLEAR_SCORE]
    if clear:
        return PositionCheck(
            record,
            f"{source}: the positions do not sit on the cells of channel {clear[0]!r}: tracks made on "
            f"another crop, binning or orientation? That channel shows bright objects (its frames' 99.9th "
            f"percentile at least {2 * CLEAR_SCORE:g} robust standard deviations above the local background) "
            f"but the {n_detections} detections ({_frames_text(checked)}) read {said} (none of these "
            f"readings at {CLEAR_SCORE:g}, or channels disagree); imported unchecked: compare a few tracks "
            "with the images (napari) before trusting patches cut at them",
        )
    if showing:
        return PositionCheck(
            record,
            f"{source}: could not check that the tracks' positions sit on the plate's cells: the channels "
            f"showing cells ({', '.join(map(repr, showing))}) disagree or another reading rivals the "
            f"positions as given (best channel {channel!r}: {said}); imported unchecked",
        )
    return PositionCheck(record, _undecided(source, record, f"best channel {channel!r}: {said}"))


def _given(scores: dict[str, float | None]) -> float:
    return scores["given"] if scores["given"] is not None else -np.inf


def _best(scores: dict[str, float | None]) -> float:
    return max((v for name, v in scores.items() if name != "random" and v is not None), default=-np.inf)


def _shows_cells(scores: dict[str, float | None]) -> bool:
    """A channel shows cells where some reading (not the random positions) scores :data:`CLEAR_SCORE`."""
    return _best(scores) >= CLEAR_SCORE


def _winner(scores: dict[str, float | None]) -> str | None:
    """The reading other than as given that beats it on this channel (at least :data:`CLEAR_SCORE` and
    :data:`BETTER_SCORE_RATIO` times as given, as given at or below 0: any clear score); None: none."""
    others = {name: v for name, v in scores.items() if name not in ("given", "random") and v is not None}
    if not others:
        return None
    best = max(others, key=lambda name: others[name])
    threshold = max(CLEAR_SCORE, BETTER_SCORE_RATIO * max(_given(scores), 0.0))
    return best if others[best] >= threshold else None


def _rounded_scores(scores: dict[str, float | None]) -> dict[str, float | None]:
    return {name: _rounded(v) for name, v in scores.items()}


def _channel_medians(
    sampled: list[tuple[str, int, pd.DataFrame]], plate: Path, position_unit: str, pixel_size_um: float | None
) -> tuple[dict[str, dict[str, float | None]], set[str]]:
    """Per channel with contrast, on the ``sampled`` frames (:func:`_sampled`), each reading's score
    (None: outside the image) and ``random``'s; and the channels whose frames hold bright objects (a
    99.9th percentile of the z-score of at least ``2 * CLEAR_SCORE``). Each FOV is opened once."""
    rng = np.random.default_rng(0)
    per_channel: dict[str, dict[str, list[NDArray]]] = {}
    bright: set[str] = set()
    by_fov: dict[str, list[tuple[int, pd.DataFrame]]] = {}
    for fov, t, rows in sampled:
        by_fov.setdefault(fov, []).append((t, rows))
    for fov, frames in by_fov.items():
        with open_plate_position(plate, fov) as position:
            data = position.data
            n_y, n_x = data.shape[-2:]
            channels = [str(channel) for channel in position.channel_names]
            for t, rows in frames:
                y, x = rows["y"].to_numpy(np.float64), rows["x"].to_numpy(np.float64)
                readings = {
                    **_readings(y, x, position_unit, pixel_size_um),
                    "random": (
                        rng.uniform(0, n_y - 1, RANDOM_POSITIONS),
                        rng.uniform(0, n_x - 1, RANDOM_POSITIONS),
                    ),
                }
                stack = np.asarray(data[t, :, _slices(rows, data.shape[2])])
                for c, channel in enumerate(channels):
                    z = _robust_z(stack[c].max(axis=0))
                    if z is None:
                        continue
                    if float(np.percentile(z, 99.9)) >= 2 * CLEAR_SCORE:
                        bright.add(channel)
                    at_readings = per_channel.setdefault(channel, {})
                    for name, (reading_y, reading_x) in readings.items():
                        at = _scores_at(z, reading_y, reading_x)
                        if at is not None:
                            at_readings.setdefault(name, []).append(at)
    names = [*_readings(np.zeros(0), np.zeros(0), position_unit, pixel_size_um), "random"]
    medians = {
        channel: {name: _median(at_readings.get(name)) for name in names}
        for channel, at_readings in per_channel.items()
    }
    return medians, bright


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
