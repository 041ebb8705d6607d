"""Rule ``align_pseudotime``: DTW pseudo-time of infection (or division) for every lineage (paper
section 4.5).

With ``event: division`` the "onset" below is a division: the per-frame state is 1 in daughter
tracks (read from the tracks' lineage, no classifier needed), so the automatic reference is cut
around a lineage's first division; as a lineage may divide more than once in a movie, a query's
aligned division is scored against the nearest true division observed inside it: the simulator's
(ground truth), else, on imported tracks (``inputs.lineage``), the divisions their parent links
state (:func:`true_division_frames`: the mother's earliest daughter's first frame, for the mother and
both daughters, which is the frame after the mother's last unless the tracks skip frames across the
division). The automatic reference's onset is that frame too, where its daughter is first seen later.

Steps of :func:`pseudotime_stage` for one (model, dataset):

1. **Lineage series** (:func:`lineage_series`): one series per leaf track (a track with no
   daughter among the cells), made of its mothers' frames then its own, in time order; a
   mother's frames thus appear in the series of each daughter. The series is named by its FOV
   and leaf track (``query_id``).
2. **Reference** (:func:`select_reference`): either the config's ``fov_name, track_id, t_start,
   t_stop, onset_t``, or automatically the infected series whose onset is farthest inside it
   (``min(frames before, frames after)``, then the longest, then the first by name; a division seen
   late, whose onset falls in a tracking gap, only where no gap-free series qualifies), cut to
   ``reference_frames_before_onset`` frames before and ``reference_frames_after_onset`` from the
   onset (observed frames: across a gap the cut spans more frames of the movie). The onset of a
   series is the step of a one-step fit to its per-frame infection state
   (ground truth, or the infection classifier's predictions), so noisy predictions work too; a
   series qualifies only with an uninfected frame before that step and an infected one from it on
   (a state that never changes has no event, however few frames are kept around the onset).
   With ``n_references: k`` the ``k`` best-ranked series (one per root lineage) are references
   (:func:`select_references`).
3. **Alignment**: every series with at least ``min_query_frames`` frames is aligned to the
   reference with :func:`dynaclr.pseudotime.dtw.align_tracks` (subsequence DTW by default,
   dtaidistance's C backend). Reference times are frames relative to its onset, so a query
   frame's ``pseudotime`` is its estimated time since infection onset (frames; NaN outside the
   matched window). Series that skip frames (tracking gaps, frames QC dropped), queries and the
   reference's cut alike, are aligned on their frame grid, each missing frame interpolated between
   its neighbours (:func:`~dynaclr.pseudotime.dtw.fill_frame_gaps`), so DTW steps frame by frame and
   its indices are frames; interpolated frames are neither written nor taken for an onset. A query
   with a gap of more than ``max_interpolated_gap_frames`` missing frames is not aligned (a WARNING;
   counted in :class:`FrameGaps`); a reference with one keeps its observed frames, whose times step
   across the gap (a WARNING). With several references
   each series is aligned to every one and keeps the alignment of lowest normalised cost (column
   ``reference``: the reference's rank, 0 first).
4. **Accuracy** (simulated data): a query's aligned onset is the first matched frame whose
   pseudo-time is ``>= 0`` (the frame aligned to the reference's onset); ``onset_error_frames =
   aligned_onset_t - true_onset_t`` for queries whose true onset is observed inside the series
   (``t_first < onset <= t_last``), NaN otherwise; where the frame reaching 0 is interpolated, the
   nearest observed matched frame (:func:`aligned_onsets`). Without ground truth (a plate dataset, whose
   automatic reference comes from the infection classifier's predictions) the table is written
   all the same: each lineage's ``aligned_onset_t`` is the estimate, ``true_onset_t`` and the
   errors are NaN and ``has_observed_onset`` is false, so summaries skip it.

The rule never holds the embeddings' matrix whole (:func:`align_store`): steps 1 and 2 need the
cells only; step 3 gathers the rows of a batch of series at a time from the store's blocks (or from
the ``(N, k)`` coordinates of a PCA computed over blocks). :func:`align_embeddings` is the same
alignment of an AnnData in memory.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple, cast

import anndata as ad
import numpy as np
import pandas as pd
from scipy import stats
from sklearn.decomposition import PCA
from tqdm import tqdm

from dynaclr.config.analysis import (
    ALIGNED_EVENT_NAMES,
    ONSET_ERROR_CONFIDENCE,
    PseudotimeConfig,
    ReferenceTrackConfig,
)
from dynaclr.embeddings import (
    MatrixBlocks,
    attach_ground_truth,
    cell_table,
    kept_components,
    open_representation,
    read_cells,
    read_embeddings_provenance,
    representation_matrix,
    streamed_principal_components,
)
from dynaclr.evaluation.temporal import counted_reason, no_adjacent_pairs_reason, warn_unlinked
from dynaclr.io import ArtifactKind, StageFiles, make_provenance, read_csv, read_table, write_csv, write_table
from dynaclr.io.plate import TIME_INTERVAL_TOLERANCE
from dynaclr.numerics.bootstrap import too_few_clusters
from dynaclr.numerics.timescale import FrameClock
from dynaclr.pseudotime.dtw import align_tracks, fill_frame_gaps

logger = logging.getLogger(__name__)

ALIGNMENT_COLUMNS: tuple[str, ...] = (
    "fov_name",
    "query_id",
    "is_reference_series",
    "n_frames",
    "t_first",
    "t_last",
    "match_start_t",
    "match_end_t",
    "true_onset_t",
    "has_observed_onset",
    "aligned_onset_t",
    "onset_error_frames",
    "abs_onset_error_frames",
    "normalized_cost",
    "skew",
    "reference",
)
"""Per aligned query: what :func:`align_store` gives (:data:`DTW_ACCURACY_COLUMNS` without ``model,
dataset, onset_source``)."""

DTW_ACCURACY_COLUMNS: tuple[str, ...] = (
    "model",
    "dataset",
    *ALIGNMENT_COLUMNS,
    "onset_source",
    "state_source",
    "state_reaches_event",
    "state_event_position",
    "state_onset_t",
    "not_computed",
    "time_interval_minutes",
    "onset_error_hours",
    "abs_onset_error_hours",
)
"""``time_interval_minutes`` is the dataset's frame interval, as its cells' ``time_minutes`` state it
(:func:`frame_interval_minutes`; NaN where the plate records none), and ``onset_error_hours``,
``abs_onset_error_hours`` the onset errors in hours (NaN where the interval is not known): the
collected ``dtw_accuracy.csv`` holds datasets of other intervals, whose frames are other times.
``onset_source`` says what ``true_onset_t`` comes from: :data:`ONSET_FROM_GROUND_TRUTH`,
:data:`ONSET_FROM_LINEAGE` (``event: division`` on imported tracks) or empty (not scored).
``state_source`` says what gave the per-frame state the automatic reference was picked by:
:data:`STATE_FROM_GROUND_TRUTH`, :data:`STATE_FROM_OWN_CLASSIFIERS`, ``infection state predicted
by classifiers transferred from <source>`` (:func:`transferred_state_source`: another dataset's
classifiers, ``analysis.classification.apply_to``, or an earlier run's, ``<dataset> (<file>)``),
:data:`STATE_FROM_LINEAGE` (``event: division``), each a whole phrase naming the state (infection
or division), or empty where ``analysis.pseudotime.reference`` is a track of the dataset (an
explicit reference is picked by no state; a dataset the reference's track is not in picks its own
automatically and says what by).
``state_event_position`` says where the lineage's own state (``state_source``'s) puts its frames
relative to the event, by the rule the automatic reference's onset is found by (:func:`state_events`):
``reaches`` (the event is inside them), ``before`` (never infected, never dividing), ``after``
(infected from its first frame) or ``unknown`` (stray calls at an edge, a step too near one, calls
missing where the event could be, no prediction); ``state_reaches_event`` is true for ``reaches``,
false for ``before`` only, whose ``aligned_onset_t`` is only the best match to the reference's onset,
not an onset (subsequence DTW always finds one; so is an ``after`` lineage's), ``<NA>`` otherwise;
``state_onset_t`` the frame that state puts the event at. All empty where no state names it (an
explicit reference's dataset), and on files written before they existed (:func:`read_dtw_accuracy`).
``not_computed`` is empty on an aligned query's row; a (model, dataset) whose lineages could not be
aligned has instead one row of its own, every alignment column empty, that says why
(:func:`not_aligned_reason`; no cell reaching the event, :func:`_no_event_reason`; no lineage but
the reference's to align, :func:`_only_reference_reason`; as its pseudo-time's provenance
``not_aligned``): the results table's ``dtw_not_computed`` and the first page's DTW line."""

ONSET_FROM_GROUND_TRUTH = "ground truth"
ONSET_FROM_LINEAGE = "imported lineage"
STATE_FROM_GROUND_TRUTH = "infection state from ground truth"
STATE_FROM_OWN_CLASSIFIERS = "infection state predicted by its own classifiers"
STATE_FROM_LINEAGE = "division state from its tracks' lineage"


def transferred_state_source(source: str) -> str:
    """``state_source`` of an infection state predicted by classifiers fitted on ``source`` (another
    dataset, or an imported file's ``<dataset> (<file>)``)."""
    return f"infection state predicted by classifiers transferred from {source}"


@dataclass(frozen=True)
class LineageSeries:
    """One query trajectory: rows of the embeddings, in time order, from the root to a leaf track.

    Attributes:
        fov_name: FOV of the lineage.
        query_id: ``track_id`` of the leaf track that ends the series.
        rows: ``(L,)`` row positions into the embeddings.
        t: ``(L,)`` frames, strictly increasing.
        track_ids: ``(L,)`` the track each frame belongs to.
    """

    fov_name: str
    query_id: int
    rows: np.ndarray
    t: np.ndarray
    track_ids: np.ndarray

    @property
    def key(self) -> tuple[str, int]:
        return (self.fov_name, self.query_id)


@dataclass(frozen=True)
class Reference:
    """The reference trajectory: a cut of one lineage series and its onset."""

    series: LineageSeries
    first: int
    stop: int
    onset_index: int
    event_t: int | None = None
    """The frame of the event where no row of the series is at it (``event: division`` on a daughter
    first seen after her sister: the division is at the sister's first frame); ``None``: the onset
    row's frame."""

    @property
    def rows(self) -> np.ndarray:
        return self.series.rows[self.first : self.stop]

    @property
    def times(self) -> np.ndarray:
        """``(M,)`` reference frame times relative to the onset (frames): each frame's ``t`` minus the
        onset's, so that a frame missing from the reference (a tracking gap) leaves a step of two, not
        a time shifted by one for every frame past the gap."""
        return (self.series.t[self.first : self.stop] - self.onset_t).astype(np.float64)

    @property
    def onset_t(self) -> int:
        return int(self.series.t[self.onset_index]) if self.event_t is None else self.event_t


def lineage_series(obs: pd.DataFrame, min_frames: int = 1) -> list[LineageSeries]:
    """Root-to-leaf series of every leaf track in ``obs`` (see module docstring, step 1).

    Args:
        obs: cells with ``fov_name, track_id, t`` and optionally ``parent_track_id`` (``-1`` or
            a track absent from the FOV: no mother).
        min_frames: drop series with fewer frames.

    Returns:
        Series sorted by ``(fov_name, query_id)``. Frames of a daughter at or before its
        mother's last frame are dropped so that time increases strictly.
    """
    table = pd.DataFrame(
        {
            "fov_name": obs["fov_name"].astype(str).to_numpy(),
            "track_id": obs["track_id"].to_numpy(dtype=np.int64),
            "t": obs["t"].to_numpy(dtype=np.int64),
            "parent": obs["parent_track_id"].to_numpy(dtype=np.int64)
            if "parent_track_id" in obs.columns
            else np.full(len(obs), -1, dtype=np.int64),
            "row": np.arange(len(obs)),
        }
    ).sort_values(["fov_name", "track_id", "t"], kind="stable")
    series: list[LineageSeries] = []
    for fov_name, fov in table.groupby("fov_name", sort=True):
        tracks = {int(track): frame for track, frame in fov.groupby("track_id", sort=True)}
        parents = {track: int(frame["parent"].iloc[0]) for track, frame in tracks.items()}
        has_daughter = {parent for parent in parents.values() if parent in tracks}
        for leaf in sorted(set(tracks) - has_daughter):
            chain = [leaf]
            while parents[chain[-1]] in tracks and parents[chain[-1]] not in chain:
                chain.append(parents[chain[-1]])
            parts = [tracks[track] for track in reversed(chain)]
            frame = pd.concat(parts)
            t = frame["t"].to_numpy()
            keep = t > np.maximum.accumulate(np.concatenate([[np.iinfo(np.int64).min], t[:-1]]))
            frame = frame[keep]
            if len(frame) < min_frames:
                continue
            series.append(
                LineageSeries(
                    fov_name=str(fov_name),
                    query_id=leaf,
                    rows=frame["row"].to_numpy(),
                    t=frame["t"].to_numpy(),
                    track_ids=frame["track_id"].to_numpy(),
                )
            )
    return series


def step_onset(infected: np.ndarray) -> tuple[int, int]:
    """Best one-step fit to a per-frame infection state: ``(onset index, disagreements)``.

    The onset index ``k`` (``1 <= k < L``) minimises ``#infected before k + #uninfected from k``
    (ties: earliest). Unknown frames (NaN) count for neither side.
    """
    state = np.asarray(infected, dtype=np.float64)
    if state.size < 2:
        raise ValueError("a series needs >= 2 frames to have an onset")
    known = np.isfinite(state)
    positive = np.where(known, state >= 0.5, False).astype(np.int64)
    negative = np.where(known, state < 0.5, False).astype(np.int64)
    before = np.cumsum(positive)[:-1]  # infected frames in [0, k) for k = 1..L-1
    after = negative.sum() - np.cumsum(negative)[:-1]  # uninfected frames in [k, L)
    errors = before + after
    k = int(np.argmin(errors))
    return k + 1, int(errors[k])


def onset_error_limit(n_frames: int) -> int:
    """Most disagreements a step fit to a lineage's state may have to be an event (the automatic
    reference's rule, :func:`state_event`): one, or a tenth of the lineage's frames."""
    return max(1, round(0.1 * n_frames))


def state_event(
    item: LineageSeries,
    state: np.ndarray,
    division_frames: dict[tuple[str, int], int] | None = None,
    *,
    frames_before: int,
    frames_after: int,
) -> tuple[int, int, int | None] | None:
    """The event a lineage's own per-frame state shows, by the one rule the automatic reference's onset
    is found by (:func:`_ranked_references`): ``(onset index, disagreements, event_t)`` of
    :func:`step_onset` where the state steps from before the event (``< 0.5``) to after it
    (``>= 0.5``) inside the series with at most :func:`onset_error_limit` disagreements, at least
    ``frames_before`` frames of known state before the step and ``frames_after`` from it
    (``reference_frames_before_onset``/``after_onset``), so that a stray call at an edge of the series
    is no event; ``None`` otherwise (never infected, infected from its first frame, never divided, a
    step too near an edge, fewer than two frames). ``event_t`` (:attr:`Reference.event_t`): with
    ``division_frames`` (:func:`select_reference`), the division's frame where the onset row is a
    daughter first seen after her sister, else ``None`` (the onset row's frame)."""
    if len(item.rows) < 2:
        return None
    onset, errors = step_onset(state)
    if not (np.any(state[:onset] < 0.5) and np.any(state[onset:] >= 0.5)):
        return None
    known = np.isfinite(state)
    if (
        errors > onset_error_limit(len(item.rows))
        or known[:onset].sum() < frames_before
        or known[onset:].sum() < frames_after
    ):
        return None
    event_t = None
    if division_frames is not None:
        # the onset row is a daughter's first in the series; her mother's is the row before it
        divided = division_frames.get((item.fov_name, int(item.track_ids[onset - 1])))
        if divided is not None and divided < item.t[onset]:
            event_t = int(divided)  # her sister was seen first: the division is at the sister's frame
    return onset, errors, event_t


#: Where a lineage's frames lie relative to the event its own state shows (``state_event_position``).
EVENT_POSITIONS: tuple[str, ...] = ("before", "reaches", "after", "unknown")


def _event_position(state: np.ndarray, *, frames_before: int, frames_after: int) -> str:
    """``before`` (never reaches the event: its calls are before it but for at most
    :func:`onset_error_limit` stray ones, the last one before it, fewer than ``frames_after`` frames
    without a call after it), ``after`` (past it from its first frame: the same, mirrored, with
    ``frames_before``) or ``unknown`` for a state that shows no event (:func:`state_event`)."""
    known = np.flatnonzero(np.isfinite(state))
    if known.size == 0:
        return "unknown"
    calls = state[known] >= 0.5
    limit = onset_error_limit(len(state))
    if not calls[-1] and calls.sum() <= limit and len(state) - 1 - known[-1] < frames_after:
        return "before"
    if calls[0] and (~calls).sum() <= limit and known[0] < frames_before:
        return "after"
    return "unknown"


def state_events(
    series: Sequence[LineageSeries],
    state: np.ndarray,
    division_frames: dict[tuple[str, int], int] | None = None,
    *,
    frames_before: int,
    frames_after: int,
) -> pd.DataFrame:
    """Per lineage series (``fov_name, query_id``), where its own state (the one that picks the
    automatic reference: ground truth, predictions, lineage) puts its frames relative to the event
    (``state_event_position``, :data:`EVENT_POSITIONS`): ``reaches`` where it shows the event inside
    them (:func:`state_event`, with the reference's ``frames_before``/``frames_after``), else
    ``before``, ``after`` or ``unknown`` (:func:`_event_position`; no frame with a known state, e.g.
    no prediction: ``unknown``); ``state_reaches_event`` true for ``reaches``, false for ``before``
    (known never to reach it), ``<NA>`` otherwise; ``state_onset_t`` the frame the event is at (NaN
    where it does not reach it)."""
    positions: list[str] = []
    onsets: list[float] = []
    for item in series:
        own = np.asarray(state[item.rows], dtype=np.float64)
        event = state_event(
            item, own, division_frames, frames_before=frames_before, frames_after=frames_after
        )
        if event is None:
            positions.append(_event_position(own, frames_before=frames_before, frames_after=frames_after))
            onsets.append(float("nan"))
        else:
            positions.append("reaches")
            onsets.append(float(item.t[event[0]] if event[2] is None else event[2]))
    reaches = [{"reaches": True, "before": False}.get(position) for position in positions]
    return pd.DataFrame(
        {
            "fov_name": [s.fov_name for s in series],
            "query_id": np.array([s.query_id for s in series], dtype=np.int64),
            "state_reaches_event": pd.array(reaches, dtype="boolean"),
            "state_event_position": positions,
            "state_onset_t": np.array(onsets, dtype=np.float64),
        }
    )


class WindowMisses(NamedTuple):
    """Lineage series whose own state steps to the event (:func:`step_onset` within
    :func:`onset_error_limit`, a call on each side) too near an edge for the automatic reference's
    window: :func:`state_events` calls them ``unknown`` (:func:`event_window_misses`)."""

    n_series: int  # the lineage series looked at
    too_few_before: int  # fewer frames of known state before the step than reference_frames_before_onset
    too_few_after: int  # fewer from it on than reference_frames_after_onset

    @property
    def total(self) -> int:
        return self.too_few_before + self.too_few_after


def event_window_misses(
    series: Sequence[LineageSeries],
    state: np.ndarray,
    division_frames: dict[tuple[str, int], int] | None = None,
    *,
    frames_before: int,
    frames_after: int,
) -> WindowMisses:
    """Of ``series``, those :func:`state_events` calls ``unknown`` whose own state shows the event by
    :func:`state_event`'s rule with a window of one frame on each side but not with
    ``frames_before``/``frames_after`` (the reference's window): a late (or early) event, or stray
    calls at an edge, which the rule cannot tell apart. A series the window puts ``before`` (a stray
    call near its end) or ``after`` is not counted; one short on both sides counts as short after."""
    before = after = 0
    window = {"frames_before": frames_before, "frames_after": frames_after}
    for item in series:
        own = np.asarray(state[item.rows], dtype=np.float64)
        if state_event(item, own, division_frames, **window) is not None:
            continue
        if _event_position(own, **window) != "unknown":
            continue
        if state_event(item, own, division_frames, frames_before=1, frames_after=1) is None:
            continue
        onset, _ = step_onset(own)
        if np.isfinite(own[onset:]).sum() < frames_after:
            after += 1
        else:
            before += 1
    return WindowMisses(len(series), before, after)


def select_reference(
    series: list[LineageSeries],
    infection_state: np.ndarray | None,
    config: PseudotimeConfig,
    division_frames: dict[tuple[str, int], int] | None = None,
    cells: pd.DataFrame | None = None,
) -> Reference:
    """The reference of ``config`` (explicit, or automatic from ``infection_state``; module docstring).

    Args:
        series: all lineage series.
        infection_state: ``(N,)`` per-row infection state of the embeddings (1 infected, 0 not,
            NaN unknown); needed for the automatic choice.
        config: the stage config.
        division_frames: for ``event: division``, per mother track ``(fov_name, track_id)`` the frame
            she divides at (:func:`first_daughter_frames`): an automatic reference's onset is that
            frame, not the first frame of a daughter its series holds, which may be seen later.
        cells: the cells the series' rows index (``y, x`` columns): an explicit reference's ``y_px,
            x_px`` are checked against them (:func:`check_reference_position`).

    Raises:
        ValueError: the explicit reference is not found, is not at its ``y_px, x_px``, or no series
            qualifies automatically; the message says what to change.
    """
    if config.reference is not None:
        return _explicit_reference(series, config, cells)
    return _automatic_reference(series, infection_state, config, division_frames)


def select_references(
    series: list[LineageSeries],
    infection_state: np.ndarray | None,
    config: PseudotimeConfig,
    division_frames: dict[tuple[str, int], int] | None = None,
    cells: pd.DataFrame | None = None,
) -> list[Reference]:
    """The references of ``config``: the explicit one (checked against ``cells`` as
    :func:`select_reference` does), or the ``n_references`` best-ranked automatic ones
    (:func:`select_reference`'s ranking), at most one per root lineage (a lineage's leaves share their
    mothers' frames). Fewer than ``n_references`` qualifying is a WARNING, not an error.
    """
    if config.reference is not None:
        return [_explicit_reference(series, config, cells)]
    ranked = _ranked_references(series, infection_state, config, division_frames)
    chosen: list[Reference] = []
    roots: set[tuple[str, int]] = set()
    for reference in ranked:
        root = (reference.series.fov_name, int(reference.series.track_ids[0]))
        if root in roots:
            continue
        roots.add(root)
        chosen.append(reference)
        if len(chosen) == config.n_references:
            break
    if len(chosen) < config.n_references:
        logger.warning(
            "n_references: %d asked, %d lineages qualify as references; aligning to those",
            config.n_references,
            len(chosen),
        )
    return chosen


def _explicit_reference(
    series: list[LineageSeries], config: PseudotimeConfig, cells: pd.DataFrame | None
) -> Reference:
    """The series and frames ``pseudotime.reference`` names. For ``event: division``, an ``onset_t``
    inside ``t_start..t_stop`` that no row of the series is at, falling in the gap between the
    mother's last row and a daughter's first, is a division seen late (a daughter first seen after her
    sister, :attr:`Reference.event_t`, as an automatic reference records it): the onset row is the
    daughter's first, and the event is at ``onset_t``. A gap within one track is refused. The
    reference's position is then checked (:func:`check_reference_position`)."""
    explicit, event = cast(ReferenceTrackConfig, config.reference), config.event
    candidates = [s for s in series if s.fov_name == explicit.fov_name and explicit.track_id in s.track_ids]
    if not candidates:
        raise ValueError(
            f"reference track {explicit.track_id} of FOV {explicit.fov_name!r} is not among the "
            "embeddings' tracks; check analysis.pseudotime.reference.fov_name/track_id"
        )
    chosen = min(candidates, key=lambda s: (s.query_id != explicit.track_id, s.query_id))
    inside = np.flatnonzero((chosen.t >= explicit.t_start) & (chosen.t < explicit.t_stop))
    onset_at = np.flatnonzero(chosen.t == explicit.onset_t)
    event_t = None
    if onset_at.size == 0 and event == "division" and explicit.t_start <= explicit.onset_t < explicit.t_stop:
        later = np.flatnonzero((chosen.t >= explicit.onset_t) & (chosen.t < explicit.t_stop))[:1]
        # a division seen late only where the row after the onset is a daughter's first, after the
        # mother's last: a gap within one track (a QC-dropped frame) is no division
        if (
            later.size
            and later[0] > 0
            and chosen.track_ids[later[0]] != chosen.track_ids[later[0] - 1]
            and chosen.t[later[0] - 1] < explicit.onset_t
        ):
            onset_at, event_t = later, explicit.onset_t
    if inside.size < 2 or onset_at.size == 0:
        raise ValueError(
            f"reference {explicit.fov_name} track {explicit.track_id} has frames "
            f"{chosen.t.min()}..{chosen.t.max()}; "
            f"analysis.pseudotime.reference.t_start/t_stop/onset_t ({explicit.t_start}, {explicit.t_stop}, "
            f"{explicit.onset_t}) must select >= 2 of them including the onset"
            + (
                " (or, for a division seen late, a gap between the mother's last frame and a daughter's "
                "first)"
                if event == "division"
                else ""
            )
        )
    reference = Reference(chosen, int(inside[0]), int(inside[-1]) + 1, int(onset_at[0]), event_t)
    check_reference_position(reference, explicit, cells, config.max_match_distance_px)
    return reference


def own_first_row(reference: Reference, track_id: int) -> int | None:
    """Index (into the reference's series) of ``track_id``'s first row inside the reference's window,
    ``None`` where the track has no row there (a daughter whose window holds only her mother's frames).
    The reference series puts its mothers' frames first, so the window's first row is often not the
    named track's."""
    own = np.flatnonzero(reference.series.track_ids[reference.first : reference.stop] == track_id)
    return reference.first + int(own[0]) if own.size else None


def check_reference_position(
    reference: Reference, explicit: ReferenceTrackConfig, cells: pd.DataFrame | None, radius_px: float
) -> None:
    """Refuse an explicit reference whose track is not at the config's ``y_px, x_px``.

    The reference is named by FOV and track id; a re-tracking (a tracking config edit reruns it)
    renumbers tracks, and the id then names another cell that may cover the frames as well. With
    ``y_px, x_px`` the NAMED track's centroid at its first frame in ``t_start..t_stop``
    (:func:`own_first_row`; not the window's first frame, which is her mother's where the window
    starts before the division: two daughters swapped by a re-tracking share it) must lie within
    ``radius_px``; without them a WARNING says the reference is identified by its id only.

    Raises:
        ValueError: the centroid is farther (naming the key, the FOV and track, the position expected
            and found, and the track now nearest the position), the named track has no frame in the
            window, or ``cells`` has no ``y, x``.
    """
    if explicit.y_px is None or explicit.x_px is None:
        logger.warning(
            "analysis.pseudotime.reference: FOV %s track %d is identified by its track id only; a "
            "re-tracking (e.g. a tracking config edit reruns it) may renumber the tracks and make it "
            "another cell. Add analysis.pseudotime.reference.y_px and x_px (its centroid at its first "
            "frame in t_start..t_stop, %d..%d) to have the track checked against them",
            explicit.fov_name,
            explicit.track_id,
            explicit.t_start,
            explicit.t_stop,
        )
        return
    key = "analysis.pseudotime.reference.y_px/x_px"
    if cells is None or not {"y", "x"} <= set(cells.columns):
        raise ValueError(
            f"{key}: expected the embeddings' cells to have y, x columns to check the reference's position "
            f"against, found {[] if cells is None else sorted(map(str, cells.columns))}; remove y_px and "
            "x_px or re-embed cells with their centroids"
        )
    at = own_first_row(reference, explicit.track_id)
    if at is None:
        window = reference.series.t[reference.first : reference.stop]
        raise ValueError(
            f"{key}: expected the reference FOV {explicit.fov_name} track {explicit.track_id} to have a "
            f"frame in t_start..t_stop ({explicit.t_start}..{explicit.t_stop}) to check its position at, "
            f"found only frames {int(window.min())}..{int(window.max())} of its lineage's tracks "
            f"{sorted({int(t) for t in reference.series.track_ids[reference.first : reference.stop]})} "
            "there: widen the window to its frames, or name the track whose frames these are"
        )
    row = int(reference.series.rows[at])
    frame = int(reference.series.t[at])
    found_y, found_x = float(cells["y"].iloc[row]), float(cells["x"].iloc[row])
    distance = float(np.hypot(found_y - explicit.y_px, found_x - explicit.x_px))
    if distance <= radius_px:
        return
    same_fov = cells["fov_name"].astype(str) == explicit.fov_name
    same_frame = cells[same_fov & (cells["t"] == frame)]
    offsets = np.hypot(
        same_frame["y"].to_numpy(dtype=float) - explicit.y_px,
        same_frame["x"].to_numpy(dtype=float) - explicit.x_px,
    )
    nearest = ""
    if offsets.size and offsets.min() <= radius_px:
        there = int(same_frame["track_id"].iloc[int(offsets.argmin())])
        mothers = (
            set(cells.loc[same_fov, "parent_track_id"].astype(int))
            if "parent_track_id" in cells.columns
            else set()
        )
        # a mother is no track_id to give for a daughter: the reference would end in one of hers
        nearest = f"; track {there} is there now" + (
            " (a mother: name the daughter the reference follows)"
            if there in mothers and explicit.track_id not in mothers
            else " (set track_id to it)"
        )
    raise ValueError(
        f"{key}: expected the reference FOV {explicit.fov_name} track {explicit.track_id} at y "
        f"{explicit.y_px:g}, x {explicit.x_px:g} px at frame {frame} (its first in t_start..t_stop), "
        f"found it at y {found_y:.1f}, x {found_x:.1f} ({distance:.1f} px away, more than "
        f"analysis.pseudotime.max_match_distance_px {radius_px:g}): the tracks were likely renumbered by a "
        f"re-tracking, and the id names another cell{nearest}"
    )


def reference_position(reference: Reference, cells: pd.DataFrame) -> dict[str, float | None]:
    """``y_px, x_px``: the centroid of the reference's query track at her first frame in its window
    (what :func:`check_reference_position` checks when the reference is given back with
    ``track_id: query_id``); ``None`` without positions or where the window holds none of her frames."""
    at = own_first_row(reference, reference.series.query_id)
    return {
        f"{axis}_px": None
        if at is None or axis not in cells.columns
        else float(cells[axis].iloc[int(reference.series.rows[at])])
        for axis in ("y", "x")
    }


def _automatic_reference(
    series: list[LineageSeries],
    infection_state: np.ndarray | None,
    config: PseudotimeConfig,
    division_frames: dict[tuple[str, int], int] | None = None,
) -> Reference:
    """The infected lineage whose onset is furthest from both of its ends (module docstring)."""
    reference = _ranked_references(series, infection_state, config, division_frames)[0]
    logger.info(
        "Reference: FOV %s, leaf track %d, frames %d..%d, onset at frame %d",
        reference.series.fov_name,
        reference.series.query_id,
        reference.series.t[reference.first],
        reference.series.t[reference.stop - 1],
        reference.onset_t,
    )
    return reference


def _ranked_references(
    series: list[LineageSeries],
    infection_state: np.ndarray | None,
    config: PseudotimeConfig,
    division_frames: dict[tuple[str, int], int] | None = None,
) -> list[Reference]:
    """Every series that qualifies as an automatic reference, best first (module docstring); with
    ``division_frames`` (:func:`select_reference`) the onset is the division's frame."""
    if infection_state is None:
        raise ValueError(
            "automatic reference selection needs an infection state (ground truth or predictions); "
            "give one, or set analysis.pseudotime.reference explicitly"
        )
    before, after = config.reference_frames_before_onset, config.reference_frames_after_onset
    ranked: list[tuple[tuple[bool, int, int, str, int], Reference]] = []
    for item in series:
        if len(item.rows) < before + after:
            continue
        event = state_event(
            item, infection_state[item.rows], division_frames, frames_before=before, frames_after=after
        )
        if event is None:
            continue  # no event by the onset rule (a stray call, a step too near an edge, no step)
        onset, _, event_t = event
        # an onset inside a tracking gap (event_t set), or whose first infected frame follows missing
        # frames (the onset may be up to the gap earlier), ranks after every gap-free one
        score = (
            event_t is not None or int(item.t[onset] - item.t[onset - 1]) > 1,
            -min(onset, len(item.rows) - onset),
            -len(item.rows),
            item.fov_name,
            item.query_id,
        )
        ranked.append((score, Reference(item, onset - before, onset + after, onset, event_t)))
    if not ranked:
        raise ValueError(
            f"no lineage series with an {config.event} event has >= {before} frames before and >= {after} "
            "frames from it; lower analysis.pseudotime.reference_frames_before_onset/after_onset or set "
            "analysis.pseudotime.reference"
        )
    return [reference for _, reference in sorted(ranked, key=lambda item: item[0])]


def aligned_onsets(pseudotime: pd.DataFrame) -> pd.DataFrame:
    """Per query, the first matched frame with ``pseudotime >= 0`` (``aligned_onset_t``; NaN if none).

    With a column ``interpolated`` (frames filled in a tracking gap, :func:`align_rows`), those frames
    are aligned but never the onset nor counted: where the first frame reaching 0 is interpolated the
    onset is the nearest observed matched frame (ties: the later); ``n_frames, t_first, t_last`` and the
    match count observed frames only. A query cut at a long gap (several parts, :func:`align_rows`) has a
    match in each part: the onset, match and ``normalized_cost, skew`` are its best part's (lowest
    normalised cost), as a part wholly before or after the event still matches the whole reference.

    Args:
        pseudotime: output of :func:`dynaclr.pseudotime.dtw.align_tracks` with keys ``fov_name, query_id``.
    """
    keys = ["fov_name", "query_id"]
    cost = pseudotime["normalized_cost"]
    best = cost.groupby([pseudotime[key] for key in keys], sort=False).transform("min")
    best_part = (cost == best) | best.isna()
    pseudotime = pseudotime.assign(_part=best_part, _best=pseudotime["in_match"] & best_part)
    reached = pseudotime[pseudotime["_best"] & (pseudotime["pseudotime"] >= 0)]
    first = reached.groupby(keys, as_index=False)["t"].min().rename(columns={"t": "reached_t"})
    if "interpolated" in pseudotime.columns:
        pseudotime = pseudotime[~pseudotime["interpolated"].astype(bool)]
    nearest = pseudotime[pseudotime["_best"]][[*keys, "t"]].merge(first, on=keys)
    nearest = nearest.assign(distance=(nearest["t"] - nearest["reached_t"]).abs(), later=-nearest["t"])
    onset = (
        nearest.sort_values([*keys, "distance", "later"], kind="stable")
        .drop_duplicates(keys)[[*keys, "t"]]
        .rename(columns={"t": "aligned_onset_t"})
    )
    summary = pseudotime.groupby(keys, as_index=False).agg(
        n_frames=("t", "size"),
        t_first=("t", "min"),
        t_last=("t", "max"),
    )
    costs = pseudotime[pseudotime["_part"]].groupby(keys, as_index=False)[["normalized_cost", "skew"]].first()
    matched = (
        pseudotime[pseudotime["_best"]]
        .groupby(keys, as_index=False)
        .agg(match_start_t=("t", "min"), match_end_t=("t", "max"))
    )
    summary = summary.merge(costs, on=keys, how="left", validate="one_to_one")
    return summary.merge(matched, on=["fov_name", "query_id"], how="left").merge(
        onset, on=["fov_name", "query_id"], how="left"
    )


def _series_true_onset(onsets: np.ndarray) -> float:
    """Most common known onset of a series' cells (``-1``: never infected → NaN)."""
    known = onsets[np.isfinite(onsets)]
    if known.size == 0:
        return float("nan")
    values, counts = np.unique(known, return_counts=True)
    value = float(values[np.argmax(counts)])
    return float("nan") if value < 0 else value


def onset_accuracy(
    accuracy: pd.DataFrame,
    queries: list[LineageSeries],
    true_onset: np.ndarray | None,
    reference: Reference | Sequence[Reference],
) -> pd.DataFrame:
    """Add each query's true onset and the aligned onset's error (frames) to :func:`aligned_onsets`.

    A query has an observed onset when its true onset lies after its first and at or before its
    last frame; only those get an error (``onset_error_frames``, aligned minus true).
    """
    true_by_key = {
        s.key: _series_true_onset(true_onset[s.rows]) if true_onset is not None else float("nan")
        for s in queries
    }
    accuracy["true_onset_t"] = [
        true_by_key[(f, q)] for f, q in zip(accuracy["fov_name"], accuracy["query_id"], strict=True)
    ]
    accuracy["has_observed_onset"] = (accuracy["true_onset_t"] > accuracy["t_first"]) & (
        accuracy["true_onset_t"] <= accuracy["t_last"]
    )
    error = accuracy["aligned_onset_t"] - accuracy["true_onset_t"]
    accuracy["onset_error_frames"] = error.where(accuracy["has_observed_onset"])
    accuracy["abs_onset_error_frames"] = accuracy["onset_error_frames"].abs()
    references = [reference] if isinstance(reference, Reference) else list(reference)
    keys = {item.series.key for item in references}
    accuracy["is_reference_series"] = [
        (f, q) in keys for f, q in zip(accuracy["fov_name"], accuracy["query_id"], strict=True)
    ]
    return accuracy


def read_dtw_accuracy(path: str | Path) -> pd.DataFrame:
    """A DTW accuracy CSV (:data:`DTW_ACCURACY_COLUMNS`). One written before ``onset_source`` existed
    (a results folder older than the column: ``align_pseudotime`` does not rerun for it) scored its
    onsets against the simulator's ground truth only: its rows with an error get
    :data:`ONSET_FROM_GROUND_TRUTH`, the others ``""`` (not scored). One written before
    ``not_computed`` existed holds aligned queries only: ``""`` on every row; one written before
    ``state_source`` existed does not say what gave the state: ``""``; one written before
    ``state_reaches_event`` existed does not say whether a lineage's state reaches the event:
    ``<NA>`` (and ``state_onset_t`` NaN); nor does one written before ``state_event_position``
    existed, by an earlier rule that took a stray call at an edge for an event and a lineage infected
    from its first frame for one never infected: its ``state_reaches_event`` and ``state_onset_t`` are
    read as ``<NA>`` and NaN, ``state_event_position`` as ``""``. One written before the hours existed
    does not say its dataset's frame interval: ``time_interval_minutes``, ``onset_error_hours`` and
    ``abs_onset_error_hours`` NaN (its errors are in frames only)."""
    optional = DTW_ACCURACY_COLUMNS[DTW_ACCURACY_COLUMNS.index("onset_source") :]  # added over time
    required = [column for column in DTW_ACCURACY_COLUMNS if column not in optional]
    table = read_csv(path, required)
    if "state_source" not in table.columns:
        table["state_source"] = ""
    table["state_source"] = table["state_source"].fillna("").astype(str)
    if "not_computed" not in table.columns:
        table["not_computed"] = ""
    table["not_computed"] = table["not_computed"].fillna("").astype(str)
    if "onset_source" not in table.columns:
        scored = np.isfinite(table["abs_onset_error_frames"].to_numpy(dtype=float))
        table["onset_source"] = np.where(scored, ONSET_FROM_GROUND_TRUTH, "")
    table["onset_source"] = table["onset_source"].fillna("").astype(str)
    for column in ("time_interval_minutes", "onset_error_hours", "abs_onset_error_hours"):
        if column not in table.columns:  # written before the hours: not known
            table[column] = np.nan
        table[column] = table[column].astype(np.float64)
    if "state_event_position" not in table.columns:  # written by the earlier rule: not known
        table["state_event_position"] = ""
        table["state_reaches_event"] = pd.NA
        table["state_onset_t"] = np.nan
    table["state_event_position"] = table["state_event_position"].astype("string").fillna("").astype(str)
    table["state_reaches_event"] = table["state_reaches_event"].astype("boolean")
    table["state_onset_t"] = table["state_onset_t"].astype(np.float64)
    return table


#: Columns of :func:`onset_error_summary` (the results table's DTW columns).
ONSET_ERROR_COLUMNS: tuple[str, ...] = (
    "model",
    "dataset",
    "dtw_onset_mae_frames",
    "dtw_onset_mae_frames_ci_low",
    "dtw_onset_mae_frames_ci_high",
    "dtw_n_lineages",
)


def onset_error_summary(accuracy: pd.DataFrame, *, seed: int = 0, n_resamples: int = 2000) -> pd.DataFrame:
    """Per (model, dataset) of a DTW accuracy table (:data:`DTW_ACCURACY_COLUMNS`): the mean
    |aligned - true onset| in frames over the lineages scored (reference excluded), their number,
    and the mean's percentile bootstrap interval over lineages at :data:`ONSET_ERROR_CONFIDENCE`
    (``n_resamples`` resamples, seeded with ``seed``; NaN bounds below
    :data:`~dynaclr.numerics.bootstrap.MIN_BOOTSTRAP_CLUSTERS` lineages, the rule of every cluster
    bootstrap, :func:`~dynaclr.numerics.bootstrap.too_few_clusters`). The one
    computation of the DTW error the results table shows and the first page ranks the models by
    (:data:`ONSET_ERROR_COLUMNS`)."""
    scored = accuracy[~accuracy["is_reference_series"].astype(bool)].dropna(subset=["abs_onset_error_frames"])
    rows = []
    for (model, dataset), errors in scored.groupby(["model", "dataset"], sort=True)["abs_onset_error_frames"]:
        values = errors.to_numpy(dtype=np.float64)
        low = high = float("nan")
        if n_resamples > 0 and not too_few_clusters(
            len(values), n_resamples
        ):  # the lineages are the clusters
            interval = stats.bootstrap(
                (values,),
                np.mean,
                n_resamples=n_resamples,
                confidence_level=ONSET_ERROR_CONFIDENCE,
                method="percentile",
                random_state=seed,
            ).confidence_interval
            low, high = float(interval.low), float(interval.high)
        rows.append((model, dataset, float(values.mean()), low, high, len(values)))
    return pd.DataFrame(rows, columns=list(ONSET_ERROR_COLUMNS))


@dataclass(frozen=True)
class FrameGaps:
    """Lineage series that skip frames, as :func:`align_rows` aligned them (the pseudo-time's provenance
    ``frame_gaps``). Counted over the query series aligned (and, for ``n_series_skipped``, those left
    out for a gap only): a series dropped as too short (``min_query_frames``; with ``method: sliding``
    shorter than the reference) is not counted here.

    Attributes:
        n_series_with_gaps: query series aligned that skip at least one frame.
        n_series_interpolated: of those, the ones with frames interpolated (a gap of at most
            ``max_interpolated_gap_frames`` missing frames inside a part aligned).
        n_series_split: of those, the ones split at a longer gap, each part between such gaps long
            enough aligned on its own (rows of the one query; a cell still gets one row).
        n_segments_dropped: parts of split series too short to align (fewer than ``min_query_frames``
            frames; with ``method: sliding`` shorter than the reference), their cells not written.
        n_series_skipped: series long enough to align but not aligned: split at a longer gap into
            parts all too short.
        n_frames_interpolated: missing frames filled in the parts aligned.
        longest_gap_frames: missing frames of the longest gap of any series counted (0: none).
        n_reference_frames_interpolated: missing frames filled in the references.
        n_references_onset_after_gap: automatic references whose onset follows a missing frame (its
            first infected frame observed after a gap, so the onset may be up to the gap late; chosen
            only where no gap-free candidate qualifies, with a WARNING).
    """

    n_series_with_gaps: int = 0
    n_series_interpolated: int = 0
    n_series_split: int = 0
    n_segments_dropped: int = 0
    n_series_skipped: int = 0
    n_frames_interpolated: int = 0
    longest_gap_frames: int = 0
    n_reference_frames_interpolated: int = 0
    n_references_onset_after_gap: int = 0


def longest_gap(t: np.ndarray) -> int:
    """Missing frames of the longest gap of frames ``t`` (strictly increasing; 0: none)."""
    return int(np.diff(t).max()) - 1 if len(t) > 1 else 0


class Alignment(NamedTuple):
    """What :func:`align_embeddings` returns.

    Attributes:
        pseudotime: the per-frame table (``align_tracks`` columns with keys ``fov_name, query_id``,
            plus ``track_id``, ``is_reference_series`` and ``reference``, the rank of the reference
            the series was aligned to).
        accuracy: the per-query table (:data:`ALIGNMENT_COLUMNS`).
        references: the references, best-ranked first.
        n_too_short: lineage series long enough for ``min_query_frames`` but left out because
            ``method: sliding`` cannot align a series shorter than the reference (0 for subsequence).
        per_reference: one row per reference (:data:`REFERENCE_COLUMNS`): where it is, how many
            series chose it, and the onset error of aligning every series to it alone.
        pca_components: the principal components the series were made of (``pca_components``, fewer
            where the matrix has fewer cells or columns), ``None`` without PCA.
        frame_gaps: the series that skip frames: interpolated, or not aligned (:class:`FrameGaps`).
    """

    pseudotime: pd.DataFrame
    accuracy: pd.DataFrame
    references: list[Reference]
    n_too_short: int
    per_reference: pd.DataFrame
    pca_components: int | None = None
    frame_gaps: FrameGaps | None = None

    @property
    def reference(self) -> Reference:
        """The best-ranked reference."""
        return self.references[0]


#: Columns of :attr:`Alignment.per_reference`.
REFERENCE_COLUMNS: tuple[str, ...] = (
    "reference",
    "fov_name",
    "query_id",
    "t_start",
    "t_stop",
    "onset_t",
    "n_series_nearest",
    "n_scored_alone",
    "median_abs_onset_error_alone",
)


#: The config key of the principal components the series are made of (logged where capped).
PCA_COMPONENTS_KEY = "analysis.pseudotime.pca_components"


def align_embeddings(
    adata: ad.AnnData,
    config: PseudotimeConfig,
    infection_state: np.ndarray | None = None,
    true_onset: np.ndarray | None = None,
    show_progress: bool = True,
    division_events: list[tuple[int, ...]] | None = None,
) -> Alignment:
    """Steps 1-4 of the module docstring on in-memory embeddings (scikit-learn's PCA with
    ``pca_components``); :func:`align_store` gives the same alignment from a store read by blocks.

    Args:
        adata: embeddings (``obs`` with ``fov_name, track_id, t``; ``parent_track_id`` to follow
            divisions).
        config: stage config.
        infection_state: ``(N,)`` per-cell infection state (1/0/NaN) for the automatic reference.
        true_onset: ``(N,)`` per-cell true onset frame (``-1`` never, NaN unknown) for the accuracy.
        division_events: with ``event: division``, per cell the true division frames its lineage
            sees (:func:`true_division_frames`); the accuracy then scores :func:`division_accuracy`.
    """
    matrix = representation_matrix(adata, config.representation)
    n_components = None
    if config.pca_components is not None:
        n_components = kept_components(config.pca_components, matrix.shape, PCA_COMPONENTS_KEY)
        matrix = PCA(n_components=n_components, svd_solver="full", random_state=config.seed).fit_transform(
            matrix
        )
    alignment = align_rows(
        MatrixBlocks(matrix),
        cell_table(adata),
        config,
        infection_state,
        true_onset,
        show_progress=show_progress,
        division_events=division_events,
    )
    return alignment._replace(pca_components=n_components)


def align_store(
    path: str | Path,
    cells: pd.DataFrame,
    config: PseudotimeConfig,
    infection_state: np.ndarray | None = None,
    true_onset: np.ndarray | None = None,
    show_progress: bool = True,
    division_events: list[tuple[int, ...]] | None = None,
    block_rows: int | None = None,
) -> Alignment:
    """:func:`align_embeddings` of the embeddings store ``path``, whose matrix is never held whole.

    ``config.representation`` is read a block of rows at a time
    (:func:`~dynaclr.embeddings.open_representation`); with ``pca_components`` its exact PCA over
    blocks (:func:`~dynaclr.embeddings.streamed_principal_components`, scikit-learn's conventions and
    signs; coordinates equal to rounding) is the ``(N, k)`` matrix aligned. Memory: the cells' table
    and per-cell states, the ``(N, k)`` coordinates with PCA, and a few blocks
    (:func:`align_rows`), never ``N x D``.

    Args:
        path: the embeddings store.
        cells: its cells (:func:`~dynaclr.embeddings.read_cells`).
        block_rows: rows per block (default: :class:`~dynaclr.embeddings.MatrixBlocks`'s).
        config, infection_state, true_onset, show_progress, division_events: as :func:`align_embeddings`.
    """
    blocks = open_representation(path, config.representation, block_rows)
    n_components = None
    if config.pca_components is not None:
        n_components = kept_components(config.pca_components, blocks.shape, PCA_COMPONENTS_KEY)
        coordinates, _ = streamed_principal_components(blocks, n_components, standardize=False)
        blocks = MatrixBlocks(coordinates, blocks.block_rows)  # gathered a batch at a time as well
    alignment = align_rows(
        blocks,
        cells,
        config,
        infection_state,
        true_onset,
        show_progress=show_progress,
        division_events=division_events,
    )
    return alignment._replace(pca_components=n_components)


def query_batches(queries: Sequence[LineageSeries], max_rows: int) -> list[list[LineageSeries]]:
    """``queries`` cut, in order, into runs of at most ``max_rows`` frames in all (a longer series
    alone): the series :func:`align_rows` gathers at once."""
    batches: list[list[LineageSeries]] = []
    rows = 0
    for item in queries:
        if batches and rows + len(item.rows) <= max_rows:
            batches[-1].append(item)
            rows += len(item.rows)
        else:
            batches.append([item])
            rows = len(item.rows)
    return batches


def align_rows(
    blocks: MatrixBlocks,
    cells: pd.DataFrame,
    config: PseudotimeConfig,
    infection_state: np.ndarray | None = None,
    true_onset: np.ndarray | None = None,
    show_progress: bool = True,
    division_events: list[tuple[int, ...]] | None = None,
) -> Alignment:
    """Steps 1-4 of the module docstring on the ``(N, D)`` matrix of ``blocks`` (rows as ``cells``).

    The alignment of one series depends on its own frames and the reference's only, so the query
    series are aligned a batch at a time (:func:`query_batches`, at most ``blocks.block_rows``
    frames): each batch's rows are gathered (:meth:`~dynaclr.embeddings.MatrixBlocks.take`, reading
    only their blocks) and aligned to every reference. The result is the one of aligning every series
    at once, to the bit. Memory: the per-frame tables, and one batch of ``D`` float64 values a frame.

    Args:
        blocks: the matrix the series are made of (representation, or its PCA coordinates).
        cells: ``N`` rows (``fov_name, track_id, t``; ``parent_track_id`` to follow divisions).
        config, infection_state, true_onset, show_progress, division_events: as :func:`align_embeddings`.
    """
    all_series = lineage_series(cells, min_frames=1)
    division_frames = first_daughter_frames(cells) if config.event == "division" else None
    references = select_references(all_series, infection_state, config, division_frames, cells)
    max_gap = config.max_interpolated_gap_frames
    reference_grids = [_reference_on_grid(reference, max_gap) for reference in references]
    shortest = max(len(grid.times) for grid in reference_grids) if config.method == "sliding" else 0
    series_kept, queries, frame_gaps, too_short = _queries_between_gaps(
        all_series, max_gap, config.min_query_frames, shortest
    )
    frame_gaps = dataclasses.replace(
        frame_gaps,
        n_reference_frames_interpolated=sum(int((~grid.observed).sum()) for grid in reference_grids),
        n_references_onset_after_gap=0
        if config.reference is not None
        else sum(_gap_before_onset(reference) > 0 for reference in references),
    )
    if frame_gaps.n_references_onset_after_gap:
        logger.warning(
            "%d automatic reference(s) have their onset right after missing frames (no gap-free candidate "
            "qualifies; e.g. FOV %s, leaf track %d: frames %s missing before the onset at frame %d): the "
            "onset may be up to the gap late, shifting every pseudo-time by as much; set "
            "analysis.pseudotime.reference to a gap-free lineage",
            frame_gaps.n_references_onset_after_gap,
            *next(
                (
                    r.series.fov_name,
                    r.series.query_id,
                    f"{r.onset_t - _gap_before_onset(r)}..{r.onset_t - 1}",
                    r.onset_t,
                )
                for r in references
                if _gap_before_onset(r)
            ),
        )
    if too_short:  # method sliding: its windows are as long as the reference, shorter series cannot match
        logger.warning(
            "method sliding: %d lineage series shorter than the reference (%d frames) are not aligned; "
            "lower reference_frames_before_onset/after_onset to align them",
            too_short,
            shortest,
        )
    if not queries:
        gap_reason = (
            f"all {frame_gaps.n_series_skipped} lineage series long enough to align skip more than {max_gap} "
            "frames in one gap and no part between such gaps is long enough; "
            if frame_gaps.n_series_skipped
            else ""
        )
        raise ValueError(
            f"{gap_reason}no lineage series has >= {config.min_query_frames} frames "
            "(analysis.pseudotime.min_query_frames"
            + (f"; with method sliding the reference's {shortest} frames" if shortest else "")
            + ") between gaps of more than "
            f"{max_gap} missing frames (analysis.pseudotime.max_interpolated_gap_frames): lower "
            "analysis.pseudotime.min_query_frames or raise analysis.pseudotime.max_interpolated_gap_frames"
        )
    options: dict[str, Any] = {"penalty": config.step_penalty, "normalize": config.normalize}
    if config.method == "subsequence":
        options["min_length"] = config.min_match_frames
    for rank, reference in enumerate(references):
        if len(references) > 1:
            logger.info(
                "Reference %d: FOV %s, leaf track %d, frames %d..%d, onset at frame %d",
                rank,
                reference.series.fov_name,
                reference.series.query_id,
                reference.series.t[reference.first],
                reference.series.t[reference.stop - 1],
                reference.onset_t,
            )
    reference_matrices = [
        grid.fill(blocks.take(reference.rows), reference.series.t[reference.first : reference.stop])
        for reference, grid in zip(references, reference_grids, strict=True)
    ]
    # each part between long gaps is aligned on its own, keyed by its position; its rows are the query's
    owners = np.array([s.query_id for s in queries], dtype=np.int64)
    queries = [dataclasses.replace(s, query_id=position) for position, s in enumerate(queries)]
    parts: list[list[pd.DataFrame]] = [[] for _ in references]
    with tqdm(total=len(queries), desc=f"DTW ({config.method})", disable=not show_progress) as progress:
        for batch in query_batches(queries, blocks.block_rows):
            gathered = blocks.take(np.concatenate([s.rows for s in batch]))  # (frames of the batch, D)
            bounds = np.cumsum([0, *(len(s.rows) for s in batch)])
            # each series on its frame grid (gaps interpolated), so DTW indices are frames
            grids = {
                s.key: fill_frame_gaps(gathered[lo:hi], s.t)
                for s, lo, hi in zip(batch, bounds[:-1], bounds[1:], strict=True)
            }
            series: dict[Hashable, np.ndarray] = {key: grid[0] for key, grid in grids.items()}
            observed = np.concatenate([grid[2] for grid in grids.values()])
            for rank, grid in enumerate(reference_grids):
                aligned = align_tracks(
                    reference_matrices[rank],
                    series,
                    reference_times=grid.times,
                    query_times={key: grid[1] for key, grid in grids.items()},
                    method=config.method,
                    key_names=("fov_name", "query_id"),
                    show_progress=False,
                    **options,
                )
                # interpolated frames are aligned, never written nor taken for an onset (aligned_onsets)
                parts[rank].append(aligned.assign(interpolated=~observed))
            progress.update(len(batch))
            del gathered, series
    reference_keys = {reference.series.key for reference in references}
    tables: list[pd.DataFrame] = []
    alone: list[pd.DataFrame] = []
    for rank, part in enumerate(parts):
        table = pd.concat(part, ignore_index=True) if len(part) > 1 else part[0]
        table["track_id"] = np.concatenate([_grid_track_ids(s) for s in queries])
        table["is_reference_series"] = False  # set by _owned, once each part's query_id is its series'
        table["reference"] = rank
        tables.append(table)
        accuracy_alone = onset_accuracy(
            aligned_onsets(_owned(table, owners, reference_keys)), series_kept, true_onset, references
        )
        if division_events is not None:
            accuracy_alone = division_accuracy(accuracy_alone, series_kept, division_events)
        alone.append(accuracy_alone)
    pseudotime = _owned(_nearest_reference(tables), owners, reference_keys)
    accuracy = onset_accuracy(aligned_onsets(pseudotime), series_kept, true_onset, references)
    if division_events is not None:
        accuracy = division_accuracy(accuracy, series_kept, division_events)
    chosen = pseudotime.drop_duplicates(["fov_name", "query_id"])[["fov_name", "query_id", "reference"]]
    accuracy = accuracy.merge(chosen, on=["fov_name", "query_id"], how="left", validate="one_to_one")
    per_reference = _reference_summary(references, alone, chosen)
    pseudotime = pseudotime[~pseudotime["interpolated"]].drop(columns="interpolated").reset_index(drop=True)
    return Alignment(
        pseudotime,
        accuracy[list(ALIGNMENT_COLUMNS)],
        references,
        too_short,
        per_reference,
        frame_gaps=frame_gaps,
    )


def _grid_track_ids(series: LineageSeries) -> np.ndarray:
    """The track of each frame of a series' frame grid: an interpolated frame's is the frame's before it."""
    grid = np.arange(int(series.t[0]), int(series.t[-1]) + 1)
    return series.track_ids[np.searchsorted(series.t, grid, side="right") - 1]


def _owned(table: pd.DataFrame, owners: np.ndarray, reference_keys: set[tuple[str, int]]) -> pd.DataFrame:
    """A table aligned with parts keyed by position (:func:`align_rows`) with each part's ``query_id``
    its series' leaf track (a series split at a long gap: one query of several parts)."""
    table = table.assign(query_id=owners[table["query_id"].to_numpy(dtype=np.int64)])
    table["is_reference_series"] = [
        (fov, query) in reference_keys
        for fov, query in zip(table["fov_name"], table["query_id"], strict=True)
    ]
    return table


def split_at_gaps(series: LineageSeries, max_gap: int) -> list[LineageSeries]:
    """``series`` cut at every gap of more than ``max_gap`` missing frames: the parts in time order,
    each keyed as the series (its cells' rows, frames and tracks)."""
    cuts = np.flatnonzero(np.diff(series.t) - 1 > max_gap) + 1
    if not cuts.size:
        return [series]
    return [
        dataclasses.replace(series, rows=rows, t=t, track_ids=tracks)
        for rows, t, tracks in zip(
            np.split(series.rows, cuts),
            np.split(series.t, cuts),
            np.split(series.track_ids, cuts),
            strict=True,
        )
    ]


def _queries_between_gaps(
    all_series: Sequence[LineageSeries], max_gap: int, min_frames: int, shortest: int
) -> tuple[list[LineageSeries], list[LineageSeries], FrameGaps, int]:
    """The series aligned and their parts to align (:func:`split_at_gaps`, parts of at least
    ``min_frames`` observed frames and ``shortest`` frames on their grid: the reference's with
    ``method: sliding``, else 0), the :class:`FrameGaps` counts and the series left out as shorter
    than ``shortest`` only. A WARNING counts the series split and the ones left out for a gap, an INFO
    the ones interpolated."""

    def fits(part: LineageSeries) -> bool:
        return len(part.rows) >= min_frames and int(part.t[-1] - part.t[0]) + 1 >= shortest

    kept: list[LineageSeries] = []
    parts: list[LineageSeries] = []
    split: list[tuple[LineageSeries, int]] = []
    skipped: list[tuple[LineageSeries, int]] = []
    gaps: list[int] = []
    n_interpolated = n_frames = n_dropped = too_short = 0
    for series in all_series:
        gap = longest_gap(series.t)
        pieces = split_at_gaps(series, max_gap)
        aligned = [part for part in pieces if fits(part)]
        if not aligned:
            if gap > max_gap and len(series.rows) >= min_frames and fits(series):
                skipped.append((series, gap))  # long enough but for the gap
                gaps.append(gap)
            elif len(series.rows) >= min_frames and shortest:
                too_short += 1
            continue
        kept.append(series)
        parts.extend(aligned)
        gaps.append(gap)
        filled = sum(int(part.t[-1] - part.t[0]) + 1 - len(part.t) for part in aligned)
        n_interpolated += filled > 0
        n_frames += filled
        if len(pieces) > 1:
            split.append((series, gap))
            n_dropped += len(pieces) - len(aligned)
    counts = FrameGaps(
        n_series_with_gaps=sum(longest_gap(series.t) > 0 for series in kept),
        n_series_interpolated=n_interpolated,
        n_series_split=len(split),
        n_segments_dropped=n_dropped,
        n_series_skipped=len(skipped),
        n_frames_interpolated=n_frames,
        longest_gap_frames=max(gaps, default=0),
    )
    counted = len(kept) + len(skipped)
    if split:
        logger.warning(
            "%d of %d lineage series skip more than %d frames in one gap: each part between such gaps is "
            "aligned on its own (%d parts too short left out; e.g. FOV, leaf track: %s)",
            len(split),
            counted,
            max_gap,
            n_dropped,
            ", ".join(f"{s.fov_name} {s.query_id} ({gap} frames)" for s, gap in split[:3]),
        )
    if skipped:
        logger.warning(
            "%d of %d lineage series skip more than %d frames in one gap and are not aligned, no part "
            "between such gaps long enough (e.g. FOV, leaf track: %s; longest gap %d frames): raise "
            "analysis.pseudotime.max_interpolated_gap_frames to interpolate across them",
            len(skipped),
            counted,
            max_gap,
            ", ".join(f"{s.fov_name} {s.query_id} ({gap} frames)" for s, gap in skipped[:3]),
            counts.longest_gap_frames,
        )
    if n_interpolated:
        logger.info(
            "%d of %d lineage series skip frames (gaps of at most %d frames): %d missing frames interpolated "
            "so that DTW steps frame by frame; they are neither written nor taken for an onset",
            n_interpolated,
            counted,
            max_gap,
            n_frames,
        )
    return kept, parts, counts, too_short


def _gap_before_onset(reference: Reference) -> int:
    """Missing frames just before a reference's onset row (0: the frame before it is observed, or an
    event frame of its own, ``event_t``)."""
    at = reference.onset_index
    if reference.event_t is not None or at == 0:
        return 0
    return int(reference.series.t[at] - reference.series.t[at - 1]) - 1


@dataclass(frozen=True)
class _ReferenceGrid:
    """The frames DTW aligns of a reference: its cut's frame grid, or its observed frames where a gap
    is longer than ``max_interpolated_gap_frames``."""

    times: np.ndarray
    observed: np.ndarray

    def fill(self, values: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The reference's ``(M, D)`` values on these frames."""
        return fill_frame_gaps(values, t)[0] if not self.observed.all() else values


def _reference_on_grid(reference: Reference, max_gap: int) -> _ReferenceGrid:
    """The reference's frames for DTW, its times since the onset (:attr:`Reference.times`): the frame
    grid of its cut where every gap is at most ``max_gap`` missing frames; else its observed frames,
    whose times step across the gap, and a WARNING."""
    t = reference.series.t[reference.first : reference.stop]
    gap = longest_gap(t)
    if gap > max_gap:
        logger.warning(
            "The reference (FOV %s, leaf track %d) skips %d frames in one gap, more than "
            "max_interpolated_gap_frames (%d): DTW aligns its observed frames one after the other, its times "
            "stepping across the gap",
            reference.series.fov_name,
            reference.series.query_id,
            gap,
            max_gap,
        )
        return _ReferenceGrid(reference.times, np.ones(len(t), dtype=bool))
    grid = np.arange(int(t[0]), int(t[-1]) + 1)
    observed = np.isin(grid, t)
    return _ReferenceGrid((grid - reference.onset_t).astype(np.float64), observed)


def _nearest_reference(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Each series' rows from the table (one per reference) where its normalised cost is lowest
    (ties: the better-ranked reference), in the series order of the tables."""
    if len(tables) == 1:
        return tables[0]
    keys = ["fov_name", "query_id"]
    costs = pd.concat(
        [
            table.groupby(keys, sort=False, as_index=False).agg(
                cost=("normalized_cost", "first"), reference=("reference", "first")
            )
            for table in tables
        ],
        ignore_index=True,
    )
    costs["cost"] = costs["cost"].fillna(np.inf)
    best = costs.sort_values(["cost", "reference"], kind="stable").drop_duplicates(keys)[[*keys, "reference"]]
    merged = pd.concat(tables, ignore_index=True).merge(best, on=[*keys, "reference"], how="inner")
    order = (
        tables[0][keys]
        .drop_duplicates()
        .reset_index(drop=True)
        .reset_index()
        .rename(columns={"index": "_order"})
    )
    merged = merged.merge(order, on=keys, how="left").sort_values(["_order", "t"], kind="stable")
    return merged.drop(columns="_order").reset_index(drop=True)


def _reference_summary(
    references: list[Reference], alone: list[pd.DataFrame], chosen: pd.DataFrame
) -> pd.DataFrame:
    """:data:`REFERENCE_COLUMNS`: each reference, the series nearest to it, and the median absolute
    onset error of aligning every series to it alone (reference series and unobserved onsets left out)."""
    rows = []
    for rank, (reference, accuracy) in enumerate(zip(references, alone, strict=True)):
        scored = accuracy[~accuracy["is_reference_series"].astype(bool)]["abs_onset_error_frames"].dropna()
        rows.append(
            {
                "reference": rank,
                "fov_name": reference.series.fov_name,
                "query_id": int(reference.series.query_id),
                "t_start": int(reference.series.t[reference.first]),
                "t_stop": int(reference.series.t[reference.stop - 1]) + 1,
                "onset_t": reference.onset_t,
                "n_series_nearest": int((chosen["reference"] == rank).sum()),
                "n_scored_alone": len(scored),
                "median_abs_onset_error_alone": float(scored.median()) if len(scored) else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=list(REFERENCE_COLUMNS))


class AlignPseudotimeInputs(StageFiles):
    """Rule ``align_pseudotime``: one embeddings store, and what says which cells are infected:
    the ground truth (simulated data), the infection classifier's predictions, or neither (the
    config names the reference). ``lineage``: with ``event: division``, the dataset's own imported
    tracks (``results/{dataset}/tracks.parquet``), whose parent links state the true divisions
    where there is no ground truth."""

    embeddings: Path
    tracks: Path | None = None
    predictions: Path | None = None
    lineage: Path | None = None


class AlignPseudotimeOutputs(StageFiles):
    """Rule ``align_pseudotime``: pseudo-time per query frame and DTW accuracy per query."""

    pseudotime: Path
    accuracy: Path


def _truth_of_cells(
    obs: pd.DataFrame, truth: pd.DataFrame, config: PseudotimeConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Each embeddings cell's true infection state (NaN unmatched) and true onset frame."""
    cells = attach_ground_truth(
        obs,
        truth,
        ("infected", "infection_onset_t"),
        on=config.match_truth_on,
        max_distance_px=config.max_match_distance_px,
    )
    return cells["infected"].to_numpy(), cells["infection_onset_t"].to_numpy()


def _predicted_infection(
    obs: pd.DataFrame, predictions: pd.DataFrame, path: Path, dataset: str, order: Sequence[str] = ()
) -> tuple[np.ndarray, str]:
    """Each embeddings cell's predicted infection state (1, 0; NaN where it has no prediction) and its
    ``state_source``. The table (rule ``classify``'s, or ``transfer_classifiers``' of classifiers
    fitted elsewhere) holds one prediction per cell, task and source (``train_dataset``): the
    infection predictions of its first source give the state, in ``order`` (the ``sources`` its
    provenance records, the rule's order: this run's datasets by name, then the imported files; a
    source it does not name after those, by name); the others are named in the log.

    Raises:
        ValueError: the table holds no infection prediction (the classifiers hold no infection
            classifier), or two of one cell from one source.
    """
    tasks = sorted(predictions["task"].astype(str).unique())
    infected = predictions[predictions["task"] == "infection"]
    if not len(infected):
        raise ValueError(
            f"{path}: expected 'infection' predictions of the cells of dataset {dataset!r} (the infection "
            f"state DTW picks its reference by), found tasks {tasks}: the classifiers that predicted it hold "
            "no infection classifier; annotate infection where they are fitted, or set "
            "analysis.pseudotime.reference"
        )
    source = ""
    if "train_dataset" in infected.columns:
        found = set(infected["train_dataset"].astype(str))
        sources = [s for s in order if s in found] + sorted(found - set(order))
        source = sources[0]
        infected = infected[infected["train_dataset"].astype(str) == source]
        if len(sources) > 1:
            logger.info(
                "%s holds the infection predictions of %d sources %s: the infection state is %r's",
                path,
                len(sources),
                sources,
                source,
            )
    keys = ["fov_name", "track_id", "t"]
    repeated = infected[infected.duplicated(keys, keep=False)]
    if len(repeated):
        first = repeated.iloc[0]
        raise ValueError(
            f"{path}: expected one infection prediction per cell of one source, found "
            f"{len(repeated)} rows of repeated cells (e.g. FOV {first['fov_name']} track "
            f"{first['track_id']} frame {first['t']}); the table is not one rule wrote"
        )
    state_source = STATE_FROM_OWN_CLASSIFIERS if source in ("", dataset) else transferred_state_source(source)
    merged = obs[keys].merge(
        infected[["fov_name", "track_id", "t", "predicted_label"]],
        on=keys,
        how="left",
    )
    state = np.where(
        merged["predicted_label"].isna(), np.nan, (merged["predicted_label"] == "infected").astype(float)
    )
    return state, state_source


def division_state(obs: pd.DataFrame) -> np.ndarray:
    """Each cell's state for ``event: division``: 1 in a daughter track (its mother is a track of the
    FOV), 0 otherwise. Along a root-to-leaf lineage series it steps from 0 to 1 at the first division."""
    if "parent_track_id" not in obs.columns:
        return np.zeros(len(obs))
    tracks = set(zip(obs["fov_name"].astype(str), obs["track_id"].astype(np.int64), strict=True))
    return np.array(
        [
            float((fov, int(parent)) in tracks)
            for fov, parent in zip(obs["fov_name"].astype(str), obs["parent_track_id"], strict=True)
        ]
    )


def _track_links(
    cells: pd.DataFrame,
) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int], dict[tuple[str, int], int]]:
    """Per track ``(fov_name, track_id)`` of ``cells``: its parent's track id, its first frame, and,
    for a mother (a track that is the parent of a track of the FOV), the first frame of her earliest
    daughter (the frame she divides at)."""
    keys = list(zip(cells["fov_name"].astype(str), cells["track_id"].astype(np.int64), strict=True))
    parent_of = dict(zip(keys, cells["parent_track_id"].astype(np.int64), strict=True))
    first = cells.assign(key=keys).groupby("key")["t"].min().to_dict()
    daughters_from: dict[tuple[str, int], int] = {}
    for (fov, track), parent in parent_of.items():
        mother = (fov, int(parent))
        if mother in first:
            daughters_from[mother] = min(daughters_from.get(mother, first[(fov, track)]), first[(fov, track)])
    return parent_of, first, daughters_from


def first_daughter_frames(cells: pd.DataFrame) -> dict[tuple[str, int], int]:
    """Per mother track ``(fov_name, track_id)`` of ``cells``, the frame she divides at: her earliest
    daughter's first frame (a daughter first seen later, after a tracking gap, divides with her
    sister). Empty without ``parent_track_id``."""
    if "parent_track_id" not in cells.columns:
        return {}
    return {key: int(frame) for key, frame in _track_links(cells)[2].items()}


def true_division_frames(truth: pd.DataFrame) -> dict[tuple[str, int], tuple[int, ...]]:
    """Per ground-truth track ``(fov_name, track_id)``, the frames its lineage divides at as seen
    from it: the division of its mother and of each ancestor's mother, and, when it has daughters,
    its own; a division is at the first frame of the mother's earliest daughter
    (:func:`first_daughter_frames`: the frame after the mother's last one, unless the tracks skip
    frames across the division, imported tracks that close a gap there; a daughter first seen after
    her sister divided at her sister's first frame)."""
    parent_of, first, daughters_from = _track_links(truth)
    divisions = {}
    for key in first:
        events, current, seen = [], key, {key}
        while (current[0], int(parent_of[current])) in first:
            current = (current[0], int(parent_of[current]))
            events.append(int(daughters_from[current]))
            if current in seen:
                break
            seen.add(current)
        if key in daughters_from:
            events.append(int(daughters_from[key]))
        divisions[key] = tuple(sorted(set(events)))
    return divisions


def division_accuracy(
    accuracy: pd.DataFrame, queries: list[LineageSeries], events_of_rows: list[tuple[int, ...]]
) -> pd.DataFrame:
    """The onset columns of ``accuracy`` for ``event: division``: a lineage may divide several times
    in a movie, so a query's aligned division is scored against the nearest true division observed
    inside it (``t_first < frame <= t_last``); queries without one get NaN."""
    events = {s.key: sorted({f for row in s.rows for f in events_of_rows[row]}) for s in queries}
    true_onsets = []
    for fov, query, first, last, aligned in zip(
        accuracy["fov_name"],
        accuracy["query_id"],
        accuracy["t_first"],
        accuracy["t_last"],
        accuracy["aligned_onset_t"],
        strict=True,
    ):
        inside = [f for f in events[(fov, query)] if first < f <= last]
        if not inside:
            true_onsets.append(float("nan"))
        elif not np.isfinite(aligned):
            true_onsets.append(float(inside[0]))
        else:
            true_onsets.append(float(min(inside, key=lambda f: (abs(f - aligned), f))))
    accuracy["true_onset_t"] = true_onsets
    accuracy["has_observed_onset"] = accuracy["true_onset_t"].notna()
    error = accuracy["aligned_onset_t"] - accuracy["true_onset_t"]
    accuracy["onset_error_frames"] = error.where(accuracy["has_observed_onset"])
    accuracy["abs_onset_error_frames"] = accuracy["onset_error_frames"].abs()
    return accuracy


#: The per-frame columns of the pseudo-time table (``model, dataset`` first; :func:`pseudotime_stage`).
PSEUDOTIME_COLUMNS: tuple[str, ...] = (
    "model",
    "dataset",
    "fov_name",
    "query_id",
    "t",
    "frame",
    "pseudotime",
    "in_match",
    "match_start",
    "match_end",
    "normalized_cost",
    "cost",
    "skew",
    "track_id",
    "is_reference_series",
    "reference",
    "state_reaches_event",
    "time_interval_minutes",
    "pseudotime_hours",
)
"""``state_reaches_event``: the query's (:data:`DTW_ACCURACY_COLUMNS`) on each of its frames;
``time_interval_minutes`` the dataset's frame interval and ``pseudotime_hours`` the pseudo-time in hours
(NaN where the plate records no interval), as in :data:`DTW_ACCURACY_COLUMNS`."""


def _fov_interval(minutes: np.ndarray, t: np.ndarray, fov: str, source: str | Path) -> float | None:
    """One FOV's frame interval (the median of ``time_minutes / t`` over its later frames; ``None``
    where every cell is at frame 0), its times ``t`` x that interval within
    :data:`~dynaclr.io.plate.TIME_INTERVAL_TOLERANCE` (relative)."""
    later = t > 0
    if not later.any():
        return None
    ratios = minutes[later] / t[later]
    interval = float(np.median(ratios))
    tolerance = TIME_INTERVAL_TOLERANCE * abs(interval) * np.maximum(t, 1)  # relative, per cell
    if not interval > 0 or (np.abs(minutes - t * interval) > tolerance).any():
        at_zero = "" if (minutes[~later] == 0).all() else "; and times other than 0 at frame 0"
        raise ValueError(
            f"{source}: obs column time_minutes: expected t x one positive frame interval (the plate's, "
            f"in minutes) in FOV {fov}, found intervals from {ratios.min():.10g} to {ratios.max():.10g} min "
            f"(time_minutes / t{at_zero}); "
            "extract_patches writes each FOV's times as t x one interval, so these were written otherwise "
            "(changed after it, or by another tool); rerun `snakemake --forcerun extract_patches` for this "
            "dataset"
        )
    return interval


def frame_interval_minutes(obs: pd.DataFrame, source: str | Path) -> float | None:
    """The frame interval (minutes) of the cells ``obs`` (``fov_name``, ``t`` and, from a patch store,
    ``time_minutes`` = ``t`` x the plate's frame interval: :data:`dynaclr.patches.store.INDEX_COLUMNS`);
    ``None`` where they state none (no ``time_minutes``, all NaN: the plate records no interval; or
    every cell at frame 0: one time point).

    Each FOV's interval is its own (``extract_patches`` takes a FOV's from its position's T scale
    where the plate has no ``time_interval_minutes`` attribute, and the plate check lets positions'
    scales differ by rounding): FOVs within :data:`~dynaclr.io.plate.TIME_INTERVAL_TOLERANCE`
    (relative) of the FOVs' median interval are one interval, the median returned.

    Raises:
        ValueError: naming ``source`` (the embeddings store) and the FOVs, where a FOV's times are not
            ``t`` x one positive interval, FOVs differ beyond the tolerance (naming the FOVs off the
            median with their intervals), or some FOVs state times and others none: the pseudo-time in
            hours would be wrong for some of them.
    """
    if "time_minutes" not in obs.columns:
        return None
    minutes = pd.to_numeric(obs["time_minutes"], errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(minutes).any():
        return None
    fovs = obs["fov_name"].astype(str).to_numpy() if "fov_name" in obs.columns else np.full(len(obs), "")
    t = obs["t"].to_numpy(dtype=np.float64)
    unstated = sorted(set(fovs[~np.isfinite(minutes)]))
    if unstated:
        raise ValueError(
            f"{source}: obs column time_minutes: expected every FOV's cells to state their times (one plate "
            f"states one interval for all its positions), found {len(unstated)} FOV"
            f"{'s' if len(unstated) > 1 else ''} without times ({', '.join(unstated[:10])}"
            f"{', ...' if len(unstated) > 10 else ''}) beside {len(set(fovs)) - len(unstated)} with them: "
            "the store was written from other states of the plate; make the plate state its interval (its "
            "time_interval_minutes attribute, or every position's T scale) and rerun "
            "`snakemake --forcerun extract_patches` for this dataset"
        )
    intervals: dict[str, float] = {}
    # each FOV's rows from one grouping (a mask per FOV would cost FOVs x cells: hours at 10,000 FOVs)
    for fov, rows in pd.Series(fovs).groupby(fovs, sort=False).indices.items():
        interval = _fov_interval(minutes[rows], t[rows], str(fov), source)
        if interval is not None:
            intervals[fov] = interval
    if not intervals:
        return None
    median = float(np.median(list(intervals.values())))
    off = {
        fov: value
        for fov, value in intervals.items()
        if abs(value - median) > TIME_INTERVAL_TOLERANCE * median
    }
    if off:
        listed = ", ".join(f"{fov} ({value:.10g} min)" for fov, value in list(off.items())[:10])
        raise ValueError(
            f"{source}: obs column time_minutes: expected one frame interval for every FOV (within "
            f"{TIME_INTERVAL_TOLERANCE:g} relative), found FOV{'s' if len(off) > 1 else ''} {listed}"
            f"{', ...' if len(off) > 10 else ''} off the {len(intervals)} FOVs' median of {median:.10g} min "
            f"({len(intervals) - len(off)} within it): their "
            "patches were extracted from positions of other T scales (a plate without a "
            "time_interval_minutes attribute gives each FOV its own); make the plate state one interval "
            "(its time_interval_minutes attribute, or every position's T scale) and rerun "
            "`snakemake --forcerun extract_patches` for this dataset"
        )
    return median


def frames_in_hours(frames: pd.Series | np.ndarray, interval_minutes: float | None) -> np.ndarray:
    """``frames`` in hours at ``interval_minutes`` per frame (:class:`FrameClock`); NaN where the interval
    is not known (where the clock would keep frames: a table's hours column holds hours or nothing)."""
    clock = FrameClock.of(interval_minutes)
    return clock(frames) if clock.known else np.full(np.shape(frames), np.nan)


def not_aligned_reason(obs: pd.DataFrame) -> str | None:
    """Why no lineage of ``obs`` (``fov_name, track_id, t``, optionally ``parent_track_id``) can be
    aligned, or ``None``: every lineage series one frame long (a movie whose tracks are single
    detections: a tracker that links nothing, imported tracks without links) has nothing to align.
    The reason is :func:`~dynaclr.evaluation.temporal.no_adjacent_pairs_reason`'s, with the counts."""
    track_sizes = obs.groupby(["fov_name", "track_id"]).size()
    if len(track_sizes) and track_sizes.max() >= 2:  # a track of two frames: a series to align
        return None
    # single-detection tracks may still be linked into longer series by their parents
    if max((len(s.rows) for s in lineage_series(obs, min_frames=1)), default=0) >= 2:
        return None
    return counted_reason(no_adjacent_pairs_reason(obs) or "no lineage spans two frames", obs)


def _no_event_reason(
    config: PseudotimeConfig,
    infection_state: np.ndarray | None,
    state_source: str,
    inputs: AlignPseudotimeInputs,
    dataset: str,
) -> str | None:
    """Why an automatic reference cannot be picked: the state calls no cell infected (``event:
    infection``: the ground truth, or the predictions of a plate or TIFF dataset) or no cell a daughter
    (``event: division``: tracks without a division, e.g. imported without parent links, or a movie
    shorter than a cell cycle), so no lineage steps to the event, whatever the reference's window
    (``None`` where some cell does, or the reference is explicit). Known only once the state is read,
    after embedding: a not-aligned result, not an error."""
    if config.reference is not None or infection_state is None:
        return None
    if np.any(infection_state == 1):
        return None
    if config.event == "division":
        lineage = inputs.lineage if inputs.lineage is not None else inputs.embeddings
        return (
            f"no cell of dataset {dataset!r} is a daughter: no track of its lineage ({lineage}) is named as "
            "another's parent_track_id, so no lineage divides"
        )
    source = inputs.tracks if inputs.tracks is not None else inputs.predictions
    return f"no cell of dataset {dataset!r} is infected by its {state_source} ({source})"


def _only_reference_reason(alignment: Alignment, config: PseudotimeConfig) -> str | None:
    """Why an alignment scores and draws nothing although it ran: every series aligned is a reference's
    own (aligned to itself), as where the reference's lineage is the only one of ``min_query_frames``
    frames between long gaps (one cell followed through a short movie whose other tracks break off);
    ``None`` where some other lineage was aligned. Without this the accuracy table would hold the
    reference's rows only, which the results table and the first page read as nothing at all."""
    if (~alignment.accuracy["is_reference_series"].astype(bool)).any():
        return None
    named = ", ".join(
        f"FOV {reference.series.fov_name}, leaf track {reference.series.query_id}"
        for reference in alignment.references
    )
    return (
        f"no lineage but the reference's ({named}) has >= {config.min_query_frames} frames "
        "(analysis.pseudotime.min_query_frames) between gaps of more than "
        f"{config.max_interpolated_gap_frames} missing frames "
        "(analysis.pseudotime.max_interpolated_gap_frames): nothing to align to it"
    )


def _write_not_aligned(
    config: PseudotimeConfig,
    outputs: AlignPseudotimeOutputs,
    recorded: list[Any],
    reason: str,
    *,
    model: str,
    dataset: str,
    why: Literal["unlinked", "no_event", "only_reference"] = "unlinked",
    interval_minutes: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An empty pseudo-time table for a store with nothing to align, its provenance's ``not_aligned``
    and a WARNING saying why, and an accuracy table of one row, ``model, dataset`` and that reason in
    ``not_computed`` (no query, every alignment column empty), from which the results table and the
    first page say so too. ``why``: ``unlinked``, the reason is the tracks' linking (the WARNING says
    to check it); ``no_event``, no cell reaches the event (:func:`_no_event_reason`); ``only_reference``,
    no lineage but the reference's long enough to align (:func:`_only_reference_reason`)."""
    if why == "unlinked":
        warn_unlinked(
            logger,
            "DTW pseudo-time",
            "it aligns a lineage's frames over time",
            reason,
            model=model,
            dataset=dataset,
        )
    elif why == "no_event":
        other = (
            "set analysis.pseudotime.event to division to align its lineages to their divisions"
            if config.event == "infection"
            else "set analysis.pseudotime.reference, or give tracks with their divisions"
        )
        logger.warning(
            "DTW pseudo-time of dataset %r (model %r) not computed: %s; its automatic reference is a "
            "lineage stepping to the %s (lowering reference_frames_before_onset/after_onset cannot "
            "help); %s",
            dataset,
            model,
            reason,
            ALIGNED_EVENT_NAMES.get(config.event, config.event),
            other,
        )
    else:
        logger.warning("DTW pseudo-time of dataset %r (model %r) not computed: %s", dataset, model, reason)
    pseudotime = pd.DataFrame(columns=list(PSEUDOTIME_COLUMNS))
    accuracy = pd.DataFrame(
        [{"model": model, "dataset": dataset, "is_reference_series": False, "has_observed_onset": False}],
        columns=list(DTW_ACCURACY_COLUMNS),
    ).assign(
        onset_source="",
        state_source="",
        not_computed=reason,
        time_interval_minutes=np.nan if interval_minutes is None else interval_minutes,
    )
    provenance_config = {**config.model_dump(mode="json"), "model": model, "dataset": dataset}
    provenance_config["time_interval_minutes"] = interval_minutes
    provenance_config["not_aligned"] = reason
    write_table(
        pseudotime, outputs.pseudotime, make_provenance(ArtifactKind.PSEUDOTIME, provenance_config, recorded)
    )
    write_csv(accuracy, outputs.accuracy)
    return pseudotime, accuracy


def never_reach_event(accuracy: pd.DataFrame) -> pd.Series:
    """Per row of a DTW accuracy table, whether its lineage's own state is known never to reach the
    event (``state_reaches_event`` false; ``<NA>`` or a table without the column: not known)."""
    if "state_reaches_event" not in accuracy.columns:
        return pd.Series(False, index=accuracy.index)
    return (~accuracy["state_reaches_event"].astype("boolean")).fillna(False).astype(bool)


def _lineage_state_events(
    obs: pd.DataFrame, state: np.ndarray | None, config: PseudotimeConfig
) -> tuple[dict[tuple[str, int], tuple[bool | None, str, float]], WindowMisses]:
    """Per lineage series ``(fov_name, query_id)`` of ``obs``: ``(state_reaches_event,
    state_event_position, state_onset_t)`` (:func:`state_events`); ``(None, "", NaN)`` for every one
    where no state names it. With the series whose step the reference's window does not fit around
    (:func:`event_window_misses`; none where no state names them)."""
    series = lineage_series(obs, min_frames=1)
    if state is None:
        return {s.key: (None, "", float("nan")) for s in series}, WindowMisses(len(series), 0, 0)
    division_frames = first_daughter_frames(obs) if config.event == "division" else None
    window = {
        "frames_before": config.reference_frames_before_onset,
        "frames_after": config.reference_frames_after_onset,
    }
    events = state_events(series, state, division_frames, **window)
    misses = event_window_misses(series, state, division_frames, **window)
    return {
        (str(fov), int(query)): (None if pd.isna(reached) else bool(reached), position, float(onset))
        for fov, query, reached, position, onset in events.itertuples(index=False)
    }, misses


def _log_window_misses(
    misses: WindowMisses, config: PseudotimeConfig, *, model: str, dataset: str, path: str | Path
) -> None:
    """A WARNING where the automatic reference's window (``reference_frames_before_onset``,
    ``reference_frames_after_onset``) left lineages whose own state steps to the event ``unknown``
    (:func:`event_window_misses`), naming the key(s), how many lineages and the accuracy table."""
    if not misses.total:
        return
    short = [
        f"{count} fewer than analysis.pseudotime.{key} = {frames} frames {side}"
        for count, key, frames, side in (
            (
                misses.too_few_after,
                "reference_frames_after_onset",
                config.reference_frames_after_onset,
                "from it to their last",
            ),
            (
                misses.too_few_before,
                "reference_frames_before_onset",
                config.reference_frames_before_onset,
                "before it",
            ),
        )
        if count
    ]
    logger.warning(
        "DTW pseudo-time of model %r on dataset %r: %d of %d lineages' own state steps to the %s too near "
        "an edge of their frames for the automatic reference's window (%s): state_event_position "
        "'unknown' in %s (state_onset_t NaN; not counted as reaching the event nor as showing none), "
        "aligned all the same. A late (or early) event, or stray calls at an edge: the window cannot "
        "tell them apart. The key also sets the automatic reference's window (the frames it keeps "
        "around its onset): lowering it changes the reference and so every lineage's alignment, and "
        "counts a step this near an edge, stray calls included, as the event",
        model,
        dataset,
        misses.total,
        misses.n_series,
        ALIGNED_EVENT_NAMES.get(config.event, config.event),
        "; ".join(short),
        path,
    )


def no_event_counts(queries: pd.DataFrame) -> tuple[int, int]:
    """``(never, past)`` of ``queries`` (rows of a DTW accuracy table): the lineages whose own state
    is known never to reach the event (:func:`never_reach_event`) and those past it from their first
    frame (``state_event_position`` ``after``); together, those that show no event inside their frames."""
    never = int(never_reach_event(queries).sum())
    past = int((queries["state_event_position"] == "after").sum()) if "state_event_position" in queries else 0
    return never, past


def never_reached_statement(queries: pd.DataFrame, event: str, state_source: str = "") -> str:
    """``N of M aligned lineages never reach the <event> by the <state_source>: their aligned onsets
    are matches, not onsets`` for ``queries`` (one row per aligned lineage, the reference excluded,
    with ``state_reaches_event``: :func:`never_reach_event`), or ``""`` where none is known not to.
    Where ``state_event_position`` (the accuracy table's) has lineages past the event from their
    first frame (``after``, e.g. a plate imaged from after infection), ``N of M aligned lineages show
    no <event> inside their frames by the <state_source>: X never reach it, K are past it from their
    first frame; their aligned onsets are matches, not onsets`` (counts: :func:`no_event_counts`).
    ``event`` as the readers name it (``infection onset``, ``division``)."""
    never, past = no_event_counts(queries)
    if not never + past:
        return ""
    by = f" by the {state_source}" if state_source else " by their own state"
    if not past:
        return (
            f"{never} of {len(queries)} aligned lineages never reach the {event}{by}: their aligned onsets "
            "are matches, not onsets"
        )
    return (
        f"{never + past} of {len(queries)} aligned lineages show no {event} inside their frames{by}: {never} "
        f"never reach it, {past} are past it from their first frame; their aligned onsets are matches, not "
        "onsets"
    )


def _log_never_reached(
    accuracy: pd.DataFrame, state_source: str, event: str, *, scored: bool, path: str | Path
) -> None:
    """Count the aligned lineages of one (model, dataset) whose own state shows no event inside their
    frames (:func:`never_reached_statement`), naming the model, dataset and ``path`` (the accuracy
    table written). A WARNING where no true onset scores the alignment (the table is all a reader
    has), INFO where one does (only lineages with an observed true onset are scored)."""
    named = ALIGNED_EVENT_NAMES.get(event, event)  # as the first page names it
    statement = never_reached_statement(
        accuracy[~accuracy["is_reference_series"].astype(bool)], named, state_source
    )
    if statement:
        logger.log(
            logging.INFO if scored else logging.WARNING,
            "DTW pseudo-time of model %r on dataset %r: %s (state_event_position before/after in %s; "
            "aligned_onset_t is the best match to the reference's onset)",
            str(accuracy["model"].iloc[0]),
            str(accuracy["dataset"].iloc[0]),
            statement,
            path,
        )


def pseudotime_stage(
    config: PseudotimeConfig,
    inputs: AlignPseudotimeInputs,
    outputs: AlignPseudotimeOutputs,
    *,
    model: str,
    dataset: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Align every lineage of one embeddings store and write pseudo-time and DTW accuracy.

    ``outputs.pseudotime`` is a Parquet table (kind ``pseudotime``): one row per query frame, with
    ``model, dataset``, keys ``fov_name, query_id``, ``track_id, t, frame, pseudotime`` (frames
    since the reference's onset), ``in_match, match_start, match_end, normalized_cost, cost, skew,
    is_reference_series``. ``outputs.accuracy`` has one row per aligned query, columns
    :data:`DTW_ACCURACY_COLUMNS`. The infection state that picks the automatic reference comes from
    ``inputs.tracks`` (ground truth, which also gives the true onsets the accuracy needs) or
    ``inputs.predictions`` (the ``infection`` classifier; no accuracy then). The embeddings' matrix
    is read a block of rows at a time, never whole (:func:`align_store`).

    Returns:
        The two tables.
    """
    if config.reference is not None and config.reference.dataset not in (None, dataset):
        logger.info(
            "analysis.pseudotime.reference is a track of dataset %r: %s chooses its reference automatically",
            config.reference.dataset,
            dataset,
        )
        config = config.model_copy(update={"reference": None})  # recorded so in the provenance
    recorded: list[Any] = [(inputs.embeddings, read_embeddings_provenance(inputs.embeddings))]
    obs = read_cells(inputs.embeddings)  # the matrix stays on disk: align_store reads it by blocks
    interval = frame_interval_minutes(obs, inputs.embeddings)
    not_aligned = not_aligned_reason(obs)
    if not_aligned is not None:
        return _write_not_aligned(
            config, outputs, recorded, not_aligned, model=model, dataset=dataset, interval_minutes=interval
        )
    infection_state: np.ndarray | None = None
    true_onset: np.ndarray | None = None
    division_events: list[tuple[int, ...]] | None = None
    onset_source = ONSET_FROM_GROUND_TRUTH if inputs.tracks is not None else ""
    state_source = ""
    if config.event == "division":
        infection_state = division_state(obs)
        state_source = STATE_FROM_LINEAGE
        if inputs.tracks is not None:
            truth, truth_prov = read_table(inputs.tracks, "ground_truth_tracks")
            recorded.append((inputs.tracks, truth_prov))
            divisions = true_division_frames(truth)
            matched = attach_ground_truth(
                obs,
                truth.assign(truth_track=truth["track_id"]),
                ("truth_track",),
                on=config.match_truth_on,
                max_distance_px=config.max_match_distance_px,
            )
            division_events = [
                divisions.get((str(fov), int(track)), ()) if np.isfinite(track) else ()
                for fov, track in zip(matched["fov_name"], matched["truth_track"], strict=True)
            ]
        elif inputs.lineage is not None:
            # the embeddings' cells are the imported tracks' own: their (fov_name, track_id) are the keys
            lineage, lineage_prov = read_table(inputs.lineage, "tracks")
            recorded.append((inputs.lineage, lineage_prov))
            divisions = true_division_frames(lineage)
            division_events = [
                divisions.get((str(fov), int(track)), ())
                for fov, track in zip(obs["fov_name"], obs["track_id"], strict=True)
            ]
            onset_source = ONSET_FROM_LINEAGE
    elif inputs.tracks is not None:
        truth, truth_prov = read_table(inputs.tracks, "ground_truth_tracks")
        recorded.append((inputs.tracks, truth_prov))
        infection_state, true_onset = _truth_of_cells(obs, truth, config)
        state_source = STATE_FROM_GROUND_TRUTH
    elif inputs.predictions is not None:
        predictions, predictions_prov = read_table(inputs.predictions, "predictions")
        recorded.append((inputs.predictions, predictions_prov))
        infection_state, state_source = _predicted_infection(
            obs, predictions, inputs.predictions, dataset, predictions_prov.config.get("sources", [])
        )
    no_event = _no_event_reason(config, infection_state, state_source, inputs, dataset)
    if no_event is not None:
        return _write_not_aligned(
            config,
            outputs,
            recorded,
            no_event,
            model=model,
            dataset=dataset,
            why="no_event",
            interval_minutes=interval,
        )
    if config.reference is not None:
        state_source = ""  # the explicit reference is picked by no state (DTW_ACCURACY_COLUMNS)
    if true_onset is None and division_events is None:
        logger.info(
            "no ground truth%s: %s gets each lineage's aligned onset, but true onsets and onset errors "
            "are NaN",
            " and no imported lineage" if config.event == "division" else "",
            outputs.accuracy,
        )
    alignment = align_store(
        inputs.embeddings, obs, config, infection_state, true_onset, division_events=division_events
    )
    only_reference = _only_reference_reason(alignment, config)
    if only_reference is not None:
        return _write_not_aligned(
            config,
            outputs,
            recorded,
            only_reference,
            model=model,
            dataset=dataset,
            why="only_reference",
            interval_minutes=interval,
        )
    pseudotime, accuracy, reference = alignment.pseudotime, alignment.accuracy, alignment.reference
    pseudotime.insert(0, "dataset", dataset)
    pseudotime.insert(0, "model", model)
    accuracy.insert(0, "dataset", dataset)
    accuracy.insert(0, "model", model)
    accuracy["onset_source"] = np.where(accuracy["has_observed_onset"].astype(bool), onset_source, "")
    accuracy["state_source"] = state_source
    events, window_misses = _lineage_state_events(obs, infection_state if state_source else None, config)
    _log_window_misses(window_misses, config, model=model, dataset=dataset, path=outputs.accuracy)
    keys = list(zip(accuracy["fov_name"].astype(str), accuracy["query_id"].astype(np.int64), strict=True))
    accuracy["state_reaches_event"] = pd.array([events[key][0] for key in keys], dtype="boolean")
    accuracy["state_event_position"] = [events[key][1] for key in keys]
    accuracy["state_onset_t"] = np.array([events[key][2] for key in keys], dtype=np.float64)
    accuracy["not_computed"] = ""
    accuracy["time_interval_minutes"] = np.nan if interval is None else interval
    accuracy["onset_error_hours"] = frames_in_hours(accuracy["onset_error_frames"], interval)
    accuracy["abs_onset_error_hours"] = frames_in_hours(accuracy["abs_onset_error_frames"], interval)
    accuracy = accuracy[list(DTW_ACCURACY_COLUMNS)]
    reaches = dict(zip(keys, accuracy["state_reaches_event"], strict=True))
    pseudotime["state_reaches_event"] = pd.array(
        [
            reaches[(str(fov), int(query))]
            for fov, query in zip(pseudotime["fov_name"], pseudotime["query_id"], strict=True)
        ],
        dtype="boolean",
    )
    pseudotime["time_interval_minutes"] = np.nan if interval is None else interval
    pseudotime["pseudotime_hours"] = frames_in_hours(pseudotime["pseudotime"], interval)
    _log_never_reached(
        accuracy,
        state_source,
        config.event,
        scored=true_onset is not None or division_events is not None,
        path=outputs.accuracy,
    )
    provenance_config = {
        **config.model_dump(mode="json"),
        "model": model,
        "dataset": dataset,
        # the frame interval the cells' time_minutes state (frame_interval_minutes; None: not recorded)
        "time_interval_minutes": interval,
        "state_source": state_source,
        "chosen_reference": {
            "fov_name": reference.series.fov_name,
            "query_id": reference.series.query_id,
            "t_start": int(reference.series.t[reference.first]),
            "t_stop": int(reference.series.t[reference.stop - 1]) + 1,
            "onset_t": reference.onset_t,
            # the query track's centroid at its first frame in the window, to give back as
            # reference.y_px, x_px (None without positions, or where the window holds only her mothers')
            **reference_position(reference, obs),
        },
        # method sliding: lineage series left out as shorter than the reference (logged at WARNING)
        "n_series_shorter_than_reference": alignment.n_too_short,
        # every reference (n_references), with the error of aligning everything to it alone
        "references": json.loads(alignment.per_reference.to_json(orient="records")),
        # pca_components is what the config asks; fewer where the matrix has fewer cells or columns
        "pca_components_used": alignment.pca_components,
        # series that skip frames: on their frame grid, or not aligned (max_interpolated_gap_frames)
        "frame_gaps": dataclasses.asdict(alignment.frame_gaps or FrameGaps()),
        # lineages whose state steps to the event too near an edge for the reference's window
        # (state_event_position unknown; logged at WARNING): event_window_misses
        "event_window_misses": {
            "too_few_frames_before_onset": window_misses.too_few_before,
            "too_few_frames_after_onset": window_misses.too_few_after,
        },
    }
    write_table(
        pseudotime, outputs.pseudotime, make_provenance(ArtifactKind.PSEUDOTIME, provenance_config, recorded)
    )
    write_csv(accuracy, outputs.accuracy)
    if len(alignment.references) > 1:
        for row in alignment.per_reference.itertuples():
            logger.info(
                "Reference %d (FOV %s, leaf track %d): nearest for %d series; aligned alone, median |onset "
                "error| %.1f frames over %d",
                row.reference,
                row.fov_name,
                row.query_id,
                row.n_series_nearest,
                row.median_abs_onset_error_alone,
                row.n_scored_alone,
            )
    observed = accuracy["onset_error_frames"].dropna()
    if len(observed):
        clock = FrameClock.of(interval)
        logger.info(
            "DTW onset error over %d queries with an observed onset: mean |error| %.2f frames%s, median %.1f "
            "(%s)",
            len(observed),
            observed.abs().mean(),
            clock.in_hours(observed.abs().mean()),
            observed.median(),
            f"one frame = {interval:g} min" if interval is not None else "frame interval not recorded",
        )
    return pseudotime, accuracy
