"""Contrastive sampling over a patch index (DynaCLR paper, section 3.2), as plain torch samplers.

A sample is a triple of patch rows ``(anchor, positive, negative)`` (``negative = -1`` when the
loss needs none). Who is a positive and who a negative is decided here, on the index only, with a
numpy generator seeded by ``(seed, epoch, batch)``; the dataset just reads rows. So the plan does
not depend on the number of data-loader workers and every rank computes the same plan.

* ``classical``: positive = the anchor's own patch (two augmentations of it); negative = any
  other patch.
* ``cell_aware``: positive = the anchor's own patch; negative = a patch of another lineage at any
  time point (the DynaCLR paper's definition, ``negative_time="any"``) or at the same time point
  (``negative_time="same"``).
* ``time_aware``: positive = the anchor's lineage ``tau`` frames later: the same track, or, after
  a division, one of its descendants (chosen at random). If the lineage is missing at ``t + tau``
  the nearest of ``t + tau + 1, t + tau - 1, ..., ± tolerance`` (later than ``t``) is used; anchors
  without any such patch are not used as anchors. Negative = a patch of another lineage at the
  positive's time point (``negative_time="same"``, the paper's definition) or at any time point.

Several patch stores (one per dataset) are pooled into one index by :func:`pool_patch_indexes`:
rows are numbered across the stores, and FOV names are qualified by the dataset
(``dataset:A/1/0``, :func:`~dynaclr.config.training.qualified_fov_name`), so tracks and lineages,
which are keyed by FOV, never join two stores' cells: time-aware positives stay in the anchor's
store and lineage. ``tau`` may then differ per row (each store's ``tau_minutes`` in its own
frames), and "the same time point" of a negative means the same frame of the same store (the
index's ``store`` column).

Lineages are ``(fov_name, lineage_id)`` pairs, joined where a ``parent_track_id`` links two of them
(:func:`lineage_codes`: a tracks table of one's own giving each track its own ``lineage_id`` still
keeps a mother and her daughters, whom time-aware positives join, in one lineage).
:class:`ContrastiveBatchSampler` forms *global*
batches of ``batch_size * world_size`` anchors (optionally one per lineage, so NT-Xent never
treats a same-lineage patch as a negative, also across ranks whose embeddings are gathered) and
hands rank ``r`` the slice ``[r * batch_size, (r + 1) * batch_size)`` of each: ranks see disjoint
anchors, and the order changes with :meth:`ContrastiveBatchSampler.set_epoch`. Each batch is a
:class:`PlannedBatch`: the list of samples plus the seed of its augmentations, drawn from
``(seed, epoch, batch, rank)``, so a batch is augmented the same way wherever and whenever it is
augmented (in any data-loader worker, or on the training device).
"""

from __future__ import annotations

import copy
import logging
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torch.utils.data import Sampler

from dynaclr.config.training import fov_entries, qualified_fov_name, validation_fov_count

logger = logging.getLogger(__name__)

SamplingMode = Literal["classical", "cell_aware", "time_aware"]
NegativeTime = Literal["same", "any"]

#: A planned sample: patch rows (anchor, positive, negative); negative is -1 when unused.
Sample = tuple[int, int, int]

_NEGATIVE_ATTEMPTS = 8
_AUGMENTATION_STREAM = 2  # EpochSampler.rng streams: 0 the order, 1 the plans, 2 augmentation seeds


class NoAnchorsError(ValueError):
    """A :class:`PairPlanner`'s rows hold no usable anchor (no time-aware positive, or no patch)."""


class PlannedBatch(list[Sample]):
    """One rank's planned samples of one batch, with ``augment_seed``: the seed of their augmentations.

    A plain list otherwise (compares equal to the list of its samples); it travels to data-loader
    workers as the batch's index, so the worker that reads the batch knows its seed.
    """

    def __init__(self, samples: Sequence[Sample] = (), augment_seed: int | None = None) -> None:
        super().__init__(samples)
        self.augment_seed = augment_seed


def split_fovs(
    fov_names: Sequence[str],
    validation_fraction: float,
    seed: int,
    validation_fovs: Sequence[str] | None = None,
) -> tuple[list[str], list[str]]:
    """Split FOVs into (training, validation) lists, deterministic for ``seed``.

    ``validation_fovs`` wins when given; otherwise ``round(fraction * n)`` FOVs (at least one when
    ``fraction > 0``) are drawn at random. Both lists are sorted.
    """
    names = sorted(set(fov_names))
    if validation_fovs is not None:
        unknown = sorted(set(validation_fovs) - set(names))
        if unknown:
            raise ValueError(f"validation_fovs {unknown} are not in the patch index; FOVs are {names}")
        validation = sorted(set(validation_fovs))
    elif validation_fraction > 0:
        n_validation = validation_fov_count(len(names), validation_fraction)
        if n_validation >= len(names):
            raise ValueError(
                f"validation_fraction={validation_fraction} leaves no training FOV among {len(names)} FOV(s) "
                f"{names}; lower it, set 0 to train without validation, or list validation_fovs"
            )
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
        validation = sorted(rng.choice(names, size=n_validation, replace=False).tolist())
    else:
        validation = []
    training = [name for name in names if name not in validation]
    if not training:
        raise ValueError(f"no training FOV left: all of {names} are validation FOVs")
    return training, validation


def pool_patch_indexes(indexes: Sequence[pd.DataFrame], datasets: Sequence[str]) -> pd.DataFrame:
    """One patch index over several stores' indexes (store ``i`` of ``datasets[i]``), in order.

    ``row`` numbers the rows across the stores (store ``i``'s rows follow store ``i - 1``'s),
    ``store`` is the store's number and ``store_row`` the row in it. With several stores
    ``fov_name`` is qualified by the dataset (:func:`~dynaclr.config.training.qualified_fov_name`), so
    that FOVs, tracks and lineages of two stores never share a key; a single store keeps its FOV
    names (its pooled index is its own index plus ``store`` = 0 and ``store_row`` = ``row``).
    """
    if len(indexes) != len(datasets) or not indexes:
        raise ValueError(f"expected one dataset name per index, got {len(datasets)} for {len(indexes)}")
    pooled = []
    start = 0
    for number, (index, dataset) in enumerate(zip(indexes, datasets, strict=True)):
        part = index.copy()
        part["store"] = number
        part["store_row"] = part["row"].to_numpy(dtype=np.int64)
        part["row"] = part["store_row"] + start
        if len(indexes) > 1:
            part["fov_name"] = [qualified_fov_name(dataset, name) for name in part["fov_name"]]
        pooled.append(part)
        start += len(index)
    return pooled[0] if len(pooled) == 1 else pd.concat(pooled, ignore_index=True)


def split_pooled_fovs(
    fovs_per_dataset: Mapping[str, Sequence[str]],
    validation_fraction: float,
    seed: int,
    validation_fovs: Sequence[str] | None = None,
) -> tuple[list[str], list[str]]:
    """Split the FOVs of each dataset (store) into (training, validation), as :func:`split_fovs`.

    ``validation_fraction`` applies to each dataset's FOVs separately, with the same ``seed``; a
    single dataset splits exactly as :func:`split_fovs`. ``validation_fovs`` entries may be
    qualified (``dataset:A/1/0``); an unqualified name is accepted only with a single dataset.
    With explicit ``validation_fovs`` a dataset may be all training or all validation, but some
    FOV must be left for training. FOV names are returned as a pooled index holds them
    (:func:`pool_patch_indexes`): qualified with several datasets, as given with one.
    """
    datasets = list(fovs_per_dataset)
    single = len(datasets) == 1
    chosen: dict[str, list[str]] | None = None
    if validation_fovs is not None:
        chosen = {dataset: [] for dataset in datasets}
        for named in fov_entries("validation_fovs", validation_fovs, datasets):
            chosen[named.dataset].append(named.fov)
    if single:
        dataset = datasets[0]
        return split_fovs(
            fovs_per_dataset[dataset],
            validation_fraction,
            seed,
            None if chosen is None else chosen[dataset],
        )
    training: list[str] = []
    validation: list[str] = []
    for dataset in datasets:
        names = sorted(set(fovs_per_dataset[dataset]))
        if not names and chosen is None:  # every FOV excluded (without_excluded_fovs)
            continue
        if chosen is not None:
            unknown = sorted(set(chosen[dataset]) - set(names))
            if unknown:
                raise ValueError(
                    f"validation_fovs {[qualified_fov_name(dataset, f) for f in unknown]} are not in the "
                    f"patch index of dataset {dataset!r}; its FOVs are {names}"
                )
            held_out = sorted(set(chosen[dataset]))
            trained = [name for name in names if name not in held_out]
        else:
            try:
                trained, held_out = split_fovs(names, validation_fraction, seed)
            except ValueError as err:
                raise ValueError(f"dataset {dataset!r}: {err}") from None
        training += [qualified_fov_name(dataset, name) for name in trained]
        validation += [qualified_fov_name(dataset, name) for name in held_out]
    if not training:
        raise ValueError(f"no training FOV left: all FOVs of datasets {datasets} are validation FOVs")
    return sorted(training), sorted(validation)


def without_excluded_fovs(
    fovs_per_dataset: Mapping[str, Sequence[str]], excluded_fovs: Sequence[str] | None
) -> dict[str, list[str]]:
    """Each dataset's FOVs less ``excluded_fovs`` (``excluded_fovs`` of the training config: FOVs
    neither trained nor validated on), named as ``validation_fovs`` are (``dataset:A/1/0``, or
    unqualified with a single dataset). An entry naming no FOV of the stores is an error, as is an
    exclusion that leaves no FOV."""
    datasets = list(fovs_per_dataset)
    remaining = {dataset: sorted(set(fovs_per_dataset[dataset])) for dataset in datasets}
    unknown = []
    for named in fov_entries("excluded_fovs", excluded_fovs, datasets):
        if named.fov not in fovs_per_dataset[named.dataset]:
            unknown.append(named.entry)
        else:
            remaining[named.dataset] = [name for name in remaining[named.dataset] if name != named.fov]
    if unknown:
        names = [qualified_fov_name(d, f) if len(datasets) > 1 else f for d in datasets for f in remaining[d]]
        raise ValueError(f"excluded_fovs {unknown} name no FOV of the patch index; FOVs left are {names}")
    if not any(remaining.values()):
        excluded = list(excluded_fovs or ())
        raise ValueError(f"excluded_fovs {excluded} leave no FOV of datasets {datasets} to train on")
    return remaining  # every dataset kept: the pooled index's FOV names depend on their number


def _codes(*columns: pd.Series) -> np.ndarray:
    """Dense int codes of the tuples of ``columns`` (row-aligned)."""
    frame = pd.concat([c.reset_index(drop=True) for c in columns], axis=1)
    return frame.groupby(list(frame.columns), sort=True).ngroup().to_numpy(dtype=np.int64)


def lineage_codes(index: pd.DataFrame) -> tuple[np.ndarray, int]:
    """Dense lineage code of every row of ``index`` ``(N,)``, and how many tracks' ``lineage_id``
    disagrees with their parent links.

    A lineage is a cell and its descendants: the ``(fov_name, lineage_id)`` groups, joined where a
    track's ``parent_track_id`` names a track of the index in another group (or a track's rows carry
    several ``lineage_id``). A tracks table of one's own may give each track its own ``lineage_id``;
    time-aware positives follow the parent links from mother to daughter, so the lineages that keep
    mothers and daughters apart as negatives must follow them too. Where the ids follow the links (as
    the patch stage computes them) the codes are those of ``(fov_name, lineage_id)``.
    """
    base = _codes(index["fov_name"], index["lineage_id"])  # (N,)
    if len(index) == 0:
        return base, 0
    track = _codes(index["fov_name"], index["track_id"])  # (N,)
    n_base = int(base.max()) + 1
    n_track = int(track.max()) + 1
    tracks = pd.DataFrame(
        {
            "fov_name": index["fov_name"].to_numpy(),
            "track_id": index["track_id"].to_numpy(),
            "parent_track_id": index["parent_track_id"].to_numpy(),
            "track": track,
            "base": base,
        }
    ).drop_duplicates(["track", "base"])
    parents = tracks.drop_duplicates("track")[["fov_name", "track_id", "track"]].rename(
        columns={"track_id": "parent_track_id", "track": "parent"}
    )
    links = tracks.drop_duplicates("track").merge(parents, on=["fov_name", "parent_track_id"])
    links = links[links["parent"] != links["track"]]
    # nodes: the lineage_id groups (0..n_base-1), then the tracks; edges: a row joins its group and its
    # track, a parent link joins two tracks
    sources = np.concatenate([tracks["base"].to_numpy(), n_base + links["track"].to_numpy()])
    targets = np.concatenate([n_base + tracks["track"].to_numpy(), n_base + links["parent"].to_numpy()])
    graph = coo_matrix(
        (np.ones(len(sources), dtype=np.int8), (sources, targets)), shape=(n_base + n_track,) * 2
    )
    _, component = connected_components(graph, directed=False)
    joined = component[base]
    if len(np.unique(joined)) == n_base:
        return base, 0
    first_base = tracks.drop_duplicates("track").set_index("track")["base"]
    several = int((tracks.groupby("track")["base"].nunique() > 1).sum())
    crossing = int(
        (
            first_base.reindex(links["track"]).to_numpy() != first_base.reindex(links["parent"]).to_numpy()
        ).sum()
    )
    return np.unique(joined, return_inverse=True)[1].astype(np.int64), several + crossing


def descendant_pairs(index: pd.DataFrame) -> pd.DataFrame:
    """``(fov_name, track_id, descendant_track_id)`` for every track and each of its descendants
    (itself included), from the ``parent_track_id`` links."""
    tracks = index.drop_duplicates(["fov_name", "track_id"])[["fov_name", "track_id", "parent_track_id"]]
    children = tracks.rename(columns={"parent_track_id": "descendant_track_id", "track_id": "child_track_id"})
    pairs = pd.DataFrame(
        {
            "fov_name": tracks["fov_name"],
            "track_id": tracks["track_id"],
            "descendant_track_id": tracks["track_id"],
        }
    )
    frontier = pairs
    for _ in range(len(tracks)):  # generations are bounded by the number of tracks
        grown = frontier.merge(children, on=["fov_name", "descendant_track_id"])
        if grown.empty:
            break
        frontier = grown[["fov_name", "track_id", "child_track_id"]].rename(
            columns={"child_track_id": "descendant_track_id"}
        )
        pairs = pd.concat([pairs, frontier], ignore_index=True)
    return pairs.drop_duplicates(ignore_index=True)


class PairPlanner:
    """Choose positives and negatives for anchors among ``rows`` of a patch index.

    Args:
        index: patch index with ``row, fov_name, track_id, parent_track_id, lineage_id, t``, and
            optionally ``store`` (pooled stores, :func:`pool_patch_indexes`: negatives "at the same
            time point" are then drawn from the same store's frame).
        rows: the patch rows that may be sampled (e.g. the training FOVs' rows).
        sampling: ``classical``, ``cell_aware`` or ``time_aware``.
        tau_frames: time offset of time-aware positives (frames, >= 1): one for all rows, or
            ``(N,)``, one per row of ``index`` (the anchor's; pooled stores of other time
            intervals).
        tolerance_frames: accept ``t + tau ± k`` for ``k <= tolerance_frames`` when ``t + tau`` is missing.
        with_negatives: plan explicit negatives (triplet loss); otherwise negatives are -1.
        negative_time: ``cell_aware`` and ``time_aware``: a negative is another lineage's patch at
            the positive's time point (``"same"``) or at any time point (``"any"``). ``classical``
            ignores it (any other patch).
        lineage: ``(N,)`` the :func:`lineage_codes` of ``index`` where the caller holds them (one
            training run's planners share them: 0.4 s per million rows each); computed otherwise.

    Attributes:
        anchors: ``(A,)`` rows usable as anchors (time-aware: those with a positive).
        lineage: ``(N,)`` lineage code of every row of ``index`` (same code = same lineage;
            :func:`lineage_codes`: ``lineage_id`` groups joined through the parent links).
    """

    def __init__(
        self,
        index: pd.DataFrame,
        rows: np.ndarray,
        sampling: SamplingMode,
        tau_frames: int | np.ndarray = 1,
        tolerance_frames: int = 0,
        with_negatives: bool = False,
        negative_time: NegativeTime = "same",
        lineage: np.ndarray | None = None,
    ) -> None:
        if negative_time not in ("same", "any"):
            raise ValueError(f"negative_time must be 'same' or 'any', got {negative_time!r}")
        if not np.array_equal(index["row"].to_numpy(), np.arange(len(index))):
            raise ValueError("patch index rows must be numbered 0..N-1 in order")
        tau_of_row = np.broadcast_to(np.asarray(tau_frames, dtype=np.int64), (len(index),))
        if sampling == "time_aware" and (tau_of_row < 1).any():
            raise ValueError(f"time_aware sampling needs tau_frames >= 1, got {_describe_tau(tau_frames)}")
        self.sampling = sampling
        self.tau_frames = tau_frames
        self.tau_of_row = tau_of_row
        self.tolerance_frames = tolerance_frames
        self.with_negatives = with_negatives
        self.negative_time = negative_time
        self.rows = np.unique(np.asarray(rows, dtype=np.int64))
        if lineage is None:
            lineage, _ = lineage_codes(index)
        elif len(lineage) != len(index):
            raise ValueError(
                f"expected {len(index)} lineage codes, one per row of the patch index, got {len(lineage)}"
            )
        self.lineage = np.asarray(lineage, dtype=np.int64)
        self.t = index["t"].to_numpy(dtype=np.int64)
        # a negative's "time point": the frame, and with pooled stores the store (frames of two
        # stores of other intervals are other times); one store: the frame itself
        self._time_key = self.t.copy()
        if "store" in index.columns and len(index) and index["store"].nunique() > 1:
            span = int(self.t.max() - self.t.min()) + 1
            self._time_key = index["store"].to_numpy(dtype=np.int64) * span + (self.t - self.t.min())
        subset = index.iloc[self.rows]
        if sampling == "time_aware":
            self.anchors, self._candidate_starts, self._candidates = self._time_aware_candidates(subset)
        else:
            self.anchors = self.rows.copy()
            self._candidate_starts = np.zeros(0, dtype=np.int64)
            self._candidates = np.zeros(0, dtype=np.int64)
        # rows of the subset grouped by time point, for negatives "at the positive's time"
        by_time = self.rows[np.argsort(self._time_key[self.rows], kind="stable")]
        self._rows_by_time = by_time
        times, starts = np.unique(self._time_key[by_time], return_index=True)
        self._time_start = dict(zip(times.tolist(), starts.tolist(), strict=True))
        self._time_stop = dict(zip(times.tolist(), [*starts[1:].tolist(), len(by_time)], strict=True))
        if len(self.anchors) == 0:
            raise NoAnchorsError(
                f"no usable anchors among {len(self.rows)} patches for {sampling} sampling"
                + (
                    f" with tau={_describe_tau(tau_frames)} frames (± {tolerance_frames})"
                    if sampling == "time_aware"
                    else ""
                )
                + (
                    self._lineage_span_advice()
                    if sampling == "time_aware"
                    else "; no patches to draw from (check the FOV split and the patch index)"
                )
            )

    def _lineage_span_advice(self) -> str:
        """Why no anchor has a positive, from how many frames the lineages of the rows span: with
        every lineage a single frame, no tau helps (the cells are never linked); else the tau."""
        spans = pd.Series(self.t[self.rows]).groupby(self.lineage[self.rows]).agg(lambda t: t.max() - t.min())
        longest = int(spans.max()) if len(spans) else 0
        if longest == 0:
            return (
                f"; no lineage spans two frames ({len(spans)} lineages, each seen in one frame only): the "
                "cells are never linked from one frame to the next; check the tracking's linking "
                "(its parameters, or the links of imported tracks) and the frame interval"
            )
        return (
            f"; the longest lineage spans {longest} frames ({len(spans)} lineages); use a smaller tau or "
            "more frames"
        )

    def _time_aware_candidates(self, subset: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Anchors with a positive, and their candidate positive rows (CSR: starts, rows)."""
        descendants = descendant_pairs(subset)
        observed = subset[["fov_name", "track_id", "t", "row"]].rename(
            columns={"track_id": "descendant_track_id", "t": "target_t", "row": "positive_row"}
        )
        anchors = subset[["row", "fov_name", "track_id", "t"]].merge(descendants, on=["fov_name", "track_id"])
        anchors["tau"] = self.tau_of_row[anchors["row"].to_numpy(dtype=np.int64)]
        offsets = [0]
        for k in range(1, self.tolerance_frames + 1):
            offsets += [k, -k]
        found: list[pd.DataFrame] = []
        resolved = np.zeros(0, dtype=np.int64)
        for offset in offsets:
            usable = anchors["tau"] + offset >= 1
            if not usable.any():
                continue
            pending = anchors[usable & ~anchors["row"].isin(resolved)]
            pending = pending.assign(target_t=pending["t"] + pending["tau"] + offset)
            hits = pending.merge(observed, on=["fov_name", "descendant_track_id", "target_t"])
            if not hits.empty:
                found.append(hits[["row", "positive_row"]])
                resolved = np.union1d(resolved, hits["row"].to_numpy())
        if not found:
            empty = np.zeros(0, dtype=np.int64)
            return empty, np.zeros(1, dtype=np.int64), empty
        pairs = pd.concat(found).sort_values(["row", "positive_row"], kind="stable")
        anchor_rows, counts = np.unique(pairs["row"].to_numpy(), return_counts=True)
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return anchor_rows.astype(np.int64), starts, pairs["positive_row"].to_numpy(dtype=np.int64)

    def positives(self, anchors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Positive row for each anchor row ``(B,)`` → ``(B,)``."""
        if self.sampling != "time_aware":
            return anchors.copy()
        slot = np.searchsorted(self.anchors, anchors)
        if np.any(slot >= len(self.anchors)) or np.any(
            self.anchors[np.minimum(slot, len(self.anchors) - 1)] != anchors
        ):
            raise ValueError("positives() got rows that are not anchors of this planner")
        starts, stops = self._candidate_starts[slot], self._candidate_starts[slot + 1]
        picks = starts + np.floor(rng.random(len(anchors)) * (stops - starts)).astype(np.int64)
        return self._candidates[picks]

    def negatives(self, anchors: np.ndarray, positives: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Negative row per anchor ``(B,)``; ``-1`` everywhere when negatives are not planned.

        ``classical``: a random other patch. Otherwise a patch of another lineage: with
        ``negative_time="same"`` at the positive's time point, or (if every patch at that time
        belongs to the anchor's lineage) anywhere; with ``"any"`` at any time point.
        """
        if not self.with_negatives:
            return np.full(len(anchors), -1, dtype=np.int64)
        negatives = np.empty(len(anchors), dtype=np.int64)
        for i, (anchor, positive) in enumerate(zip(anchors.tolist(), positives.tolist(), strict=True)):
            negatives[i] = self._one_negative(anchor, positive, rng)
        return negatives

    def _one_negative(self, anchor: int, positive: int, rng: np.random.Generator) -> int:
        if self.sampling == "classical":
            if len(self.rows) < 2:
                raise ValueError("classical sampling with negatives needs at least two patches")
            while True:
                candidate = int(self.rows[rng.integers(len(self.rows))])
                if candidate != anchor:
                    return candidate
        lineage = self.lineage[anchor]
        if self.negative_time == "any":
            for _ in range(_NEGATIVE_ATTEMPTS):
                candidate = int(self.rows[rng.integers(len(self.rows))])
                if self.lineage[candidate] != lineage:
                    return candidate
            others = self.rows[self.lineage[self.rows] != lineage]
            if len(others) == 0:
                raise ValueError("cannot draw a negative: every patch belongs to the anchor's lineage")
            return int(others[rng.integers(len(others))])
        time_point = int(self._time_key[positive])
        start, stop = self._time_start[time_point], self._time_stop[time_point]
        for _ in range(_NEGATIVE_ATTEMPTS):
            candidate = int(self._rows_by_time[rng.integers(start, stop)])
            if self.lineage[candidate] != lineage:
                return candidate
        others = self._rows_by_time[start:stop][self.lineage[self._rows_by_time[start:stop]] != lineage]
        if len(others) == 0:
            others = self.rows[self.lineage[self.rows] != lineage]
        if len(others) == 0:
            raise ValueError("cannot draw a negative: every patch belongs to the anchor's lineage")
        return int(others[rng.integers(len(others))])

    def plan(self, anchors: np.ndarray, rng: np.random.Generator) -> list[Sample]:
        """``(anchor, positive, negative)`` rows for anchor rows ``(B,)``."""
        positives = self.positives(anchors, rng)
        negatives = self.negatives(anchors, positives, rng)
        return list(zip(anchors.tolist(), positives.tolist(), negatives.tolist(), strict=True))


def _describe_tau(tau_frames: int | np.ndarray) -> str:
    """``tau_frames`` for a message: the number, or the distinct per-row values."""
    values = np.unique(np.asarray(tau_frames))
    return str(int(values[0])) if len(values) == 1 else "/".join(str(int(v)) for v in values)


class EpochSampler(Sampler[int]):
    """The global order of anchor rows for one epoch (identical on every rank).

    With ``lineages`` given, the order spreads each lineage's anchors evenly over the epoch and
    keeps at most ``max_per_lineage`` of them, so consecutive batches can hold one patch per
    lineage. ``shuffle=False`` gives the same order every epoch (validation).
    """

    def __init__(
        self,
        anchors: np.ndarray,
        seed: int,
        shuffle: bool = True,
        lineages: np.ndarray | None = None,
        max_per_lineage: int | None = None,
    ) -> None:
        self.anchors = np.asarray(anchors, dtype=np.int64)
        self.seed = seed
        self.shuffle = shuffle
        self.lineages = lineages
        self.max_per_lineage = max_per_lineage
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order :meth:`__iter__` yields (called by Lightning)."""
        self.epoch = int(epoch)

    def rng(self, *stream: int) -> np.random.Generator:
        """Generator for ``(seed, epoch, *stream)``; the epoch is 0 when not shuffling."""
        epoch = self.epoch if self.shuffle else 0
        return np.random.default_rng(np.random.SeedSequence([self.seed, epoch, *stream]))

    def order(self) -> np.ndarray:
        rng = self.rng(0)
        permuted = rng.permutation(self.anchors)
        if self.lineages is None:
            return permuted
        lineage = self.lineages[permuted]
        rank_in_lineage = pd.Series(lineage).groupby(lineage).cumcount().to_numpy()
        keep = rank_in_lineage < (self.max_per_lineage or len(permuted))
        permuted, lineage, rank_in_lineage = permuted[keep], lineage[keep], rank_in_lineage[keep]
        counts = np.bincount(lineage)
        phase = rng.random(len(counts))
        key = (rank_in_lineage + phase[lineage]) / counts[lineage]
        return permuted[np.argsort(key, kind="stable")]

    def __iter__(self) -> Iterator[int]:
        return iter(self.order().tolist())

    def __len__(self) -> int:
        return len(self.order())


def lineage_unique_batches(
    order: np.ndarray, lineages: np.ndarray, batch_size: int, max_batches: int | None = None
) -> list[np.ndarray]:
    """Cut ``order`` into full batches of ``batch_size`` rows with pairwise different lineages.

    Greedy: a row whose lineage is already in the current batch waits (in order) for the next
    batch. Rows left over when no full batch can be formed are dropped. ``max_batches``: stop
    once this many are formed (the first ones of the whole cut).
    """
    batches: list[np.ndarray] = []
    waiting: deque[int] = deque()
    queue = deque(order.tolist())
    current: list[int] = []
    present: set[int] = set()
    while (queue or waiting) and (max_batches is None or len(batches) < max_batches):
        for _ in range(len(waiting)):  # waiting rows first, keeping their order
            row = waiting.popleft()
            if len(current) < batch_size and lineages[row] not in present:
                current.append(row)
                present.add(int(lineages[row]))
            else:
                waiting.append(row)
        while queue and len(current) < batch_size:
            row = queue.popleft()
            if lineages[row] in present:
                waiting.append(row)
            else:
                current.append(row)
                present.add(int(lineages[row]))
        if len(current) < batch_size:
            break  # neither queue nor waiting rows can complete this batch
        batches.append(np.asarray(current, dtype=np.int64))
        current, present = [], set()
    return batches


class ContrastiveBatchSampler(Sampler[PlannedBatch]):
    """Batches of planned ``(anchor, positive, negative)`` rows for one rank.

    Args:
        planner: the :class:`PairPlanner` of the split.
        batch_size: anchors per batch per rank.
        lineage_unique: one anchor per lineage in every *global* batch (all ranks' batches of a
            step together).
        seed: seed of the order and of the positive/negative draws.
        shuffle: new order every epoch (training); ``False`` gives a fixed order (validation).
        rank, world_size: this process's rank and the number of ranks.
        max_batches: keep at most this many batches per epoch.
        epochs: the epochs trained (training with ``lineage_unique`` and ``shuffle``): each epoch's
            order forms its own number of lineage-unique batches (e.g. 77, 77, 76, ...), so every
            epoch is cut to the fewest any of these epochs forms (:attr:`batches_per_epoch`, computed
            once from the anchors, the seed and ``epochs``): every epoch then has the same batches,
            as Lightning (which counts an epoch's batches once) and a resume (which finds its batch
            in the epoch from the step) need. ``None``: each epoch has the batches it forms.

    Every rank gets the same number of full batches (the last incomplete global batch is
    dropped). ``.sampler`` is the :class:`EpochSampler`, whose ``set_epoch`` Lightning calls;
    :meth:`set_epoch` does the same by hand.

    ``position``, when given, is asked at the start of each iteration for ``(epoch, batches
    already done in it)``: the iteration then plans that epoch and starts at that batch, with the
    batches' own numbers (so their pairs and augmentation seeds are those of an uninterrupted run).
    Training passes the trainer's epoch and step, so a run resumed mid-epoch trains the epoch's
    remaining batches instead of replaying its first ones.
    """

    def __init__(
        self,
        planner: PairPlanner,
        batch_size: int,
        lineage_unique: bool,
        seed: int,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        max_batches: int | None = None,
        epochs: int | None = None,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        self.planner = planner
        self.batch_size = batch_size
        self.lineage_unique = lineage_unique
        self.rank = rank
        self.world_size = world_size
        self.max_batches = max_batches
        self.global_batch_size = batch_size * world_size
        n_anchors = len(planner.anchors)
        n_global_batches = n_anchors // self.global_batch_size
        n_lineages = len(np.unique(planner.lineage[planner.anchors])) if lineage_unique else n_anchors
        # a small plate of one's own meets the default batch size after phase, tracking and patches
        # ran: say which key, and the largest value both checks below accept (2 anchors per rank at least)
        largest = min(n_anchors, n_lineages) // world_size
        fix = (
            f"set contrastive_models.<model>.training.batch_size to at most {largest}"
            if largest >= 2
            else "train on more cells or FOVs (a batch needs at least 2 anchors per rank)"
        )
        if n_global_batches == 0:
            raise ValueError(
                f"{n_anchors} anchors (training patches with a positive) cannot fill one global batch of "
                f"{batch_size} x {world_size} rank(s); {fix}"
            )
        if lineage_unique and n_lineages < self.global_batch_size:
            raise ValueError(
                f"a batch of one patch per lineage needs {self.global_batch_size} lineages "
                f"(batch_size {batch_size} x {world_size} rank(s)), the split has {n_lineages}; {fix}, "
                "or set contrastive_models.<model>.training.lineage_unique_batches: false"
            )
        self.sampler = EpochSampler(
            planner.anchors,
            seed,
            shuffle,
            lineages=planner.lineage if lineage_unique else None,
            max_per_lineage=n_global_batches if lineage_unique else None,
        )
        self._cache: tuple[int, list[np.ndarray]] | None = None
        self.position: Callable[[], tuple[int, int]] | None = None
        self.epochs = epochs if lineage_unique and shuffle else None  # other batches never differ
        self._formed_counts: list[int] | None = None  # the batches each of the epochs forms

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def _formed_batches(self, epoch: int) -> list[np.ndarray]:
        """The global batches of anchor rows ``epoch``'s order forms, at most ``max_batches``."""
        sampler = copy.copy(self.sampler)
        sampler.set_epoch(epoch)
        order = sampler.order()
        if self.lineage_unique:
            batches = lineage_unique_batches(
                order, self.planner.lineage, self.global_batch_size, self.max_batches
            )
        else:
            n_full = len(order) // self.global_batch_size
            batches = list(order[: n_full * self.global_batch_size].reshape(n_full, self.global_batch_size))
        if self.max_batches is not None:
            batches = batches[: self.max_batches]
        if not batches:
            raise ValueError(
                f"no full batch of {self.global_batch_size} anchors with distinct lineages could be formed "
                f"from {len(order)} anchors (epoch {epoch}); lower batch_size or set "
                "lineage_unique_batches: false"
            )
        return batches

    @property
    def batches_per_epoch(self) -> int | None:
        """The batches every epoch yields with ``epochs`` given: the fewest that epochs ``0 ..
        epochs - 1`` form (computed once); ``None`` without ``epochs`` (each epoch's own)."""
        if self.epochs is None:
            return None
        if self._formed_counts is None:
            logger.info("lineage-unique batches: forming the %d epochs' batches to count them", self.epochs)
            self._formed_counts = [len(self._formed_batches(epoch)) for epoch in range(self.epochs)]
            if self.batches_left_out:
                logger.warning(
                    "lineage-unique batches: the %d epochs form %d to %d batches; every epoch trains %d, "
                    "leaving out %d batches of %d anchors in all (batches_left_out in the model's summary)",
                    self.epochs,
                    min(self._formed_counts),
                    max(self._formed_counts),
                    min(self._formed_counts),
                    self.batches_left_out,
                    self.global_batch_size,
                )
        return min(self._formed_counts)

    @property
    def batches_left_out(self) -> int:
        """The batches the epochs form beyond :attr:`batches_per_epoch`, summed over the epochs: formed
        but never trained (0 without ``epochs``, or where every epoch forms as many)."""
        fewest = self.batches_per_epoch  # forms the epochs' batches once
        if fewest is None or self._formed_counts is None:
            return 0
        return sum(self._formed_counts) - len(self._formed_counts) * fewest

    def global_batches(self) -> list[np.ndarray]:
        """This epoch's global batches of anchor rows, each ``(batch_size * world_size,)``."""
        if self._cache is not None and self._cache[0] == self.sampler.epoch:
            return self._cache[1]
        batches = self._formed_batches(self.sampler.epoch)[: self.batches_per_epoch]
        self._cache = (self.sampler.epoch, batches)
        return batches

    def augment_seed(self, number: int) -> int:
        """Seed of the augmentations of this rank's batch ``number`` of the current epoch.

        Drawn from ``(seed, epoch, batch, rank)`` (the epoch is 0 when not shuffling, so validation
        batches are augmented the same way every epoch); a 63-bit integer for ``torch.Generator``.
        """
        state = self.sampler.rng(_AUGMENTATION_STREAM, number, self.rank).integers(0, 2**63 - 1)
        return int(state)

    def __iter__(self) -> Iterator[PlannedBatch]:
        first = 0
        if self.position is not None:
            epoch, done = self.position()
            self.set_epoch(epoch)
            first = min(max(done, 0), len(self))
            if first:
                logger.info("epoch %d resumes at batch %d of %d", epoch, first, len(self))
        start = self.rank * self.batch_size
        batches = self.global_batches()
        for number in range(first, len(batches)):
            samples = self.planner.plan(batches[number], self.sampler.rng(1, number))
            yield PlannedBatch(samples[start : start + self.batch_size], self.augment_seed(number))

    def __len__(self) -> int:
        return len(self.global_batches())
