"""Occlusion attribution of an encoder with a linear classifier head (paper appendix F).

The model attributed is the trained encoder followed by one task's classifier from the
``classify`` stage: ``StandardScaler`` then ``LogisticRegression`` on the encoder's ``features``
(or ``projections``), folded exactly into one ``torch.nn.Linear`` (:func:`linear_head`):

    z = coef · (e - mean) / scale + intercept = (coef / scale) · e + (intercept - coef · mean / scale)

with ``z`` scikit-learn's ``decision_function`` (the log-odds of the positive class). The head has
two outputs, ``(-z, z)``: the log-odds of class 0 and class 1 against the other, so that the
*predicted class's* logit is ``|z|`` whatever the prediction.

Occlusion (Zeiler & Fergus 2014; Captum's ``Occlusion``): a window of ``w x w`` pixels, one
channel and every Z slice, slides over the ``(C, Z, Y, X)`` patch with stride ``s``; each position
is set to ``baseline`` and the predicted class's logit is recomputed. A pixel's attribution is the
mean over the windows covering it of ``logit(patch) - logit(occluded patch)``: positive where
hiding the pixel lowers the evidence for the predicted class. Because every window spans all Z
slices, the map is the same on every slice and is returned as ``(C, Y, X)``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from dynaclr.classify.model import LinearClassifier

logger = logging.getLogger(__name__)

#: Encoder outputs a classifier can read: position in ``ContrastiveEncoder``'s ``(features, projections)``.
ENCODER_OUTPUTS: dict[str, int] = {"features": 0, "projections": 1}


def linear_head(classifier: LinearClassifier) -> nn.Linear:
    """The classifier (scaler and logistic regression) as one float64 ``Linear(D, 2)``.

    Output ``(B, 2)`` is ``(-z, z)`` with ``z`` the pipeline's ``decision_function`` (module
    docstring); ``argmax`` is the pipeline's prediction (ties, ``z == 0``, go to class 0 in both).
    """
    scaler = classifier.pipeline.named_steps["scaler"]
    logistic = classifier.pipeline.named_steps["classifier"]
    mean = np.asarray(scaler.mean_, dtype=np.float64)
    scale = np.asarray(scaler.scale_, dtype=np.float64)
    coef = np.asarray(logistic.coef_, dtype=np.float64)[0]
    intercept = float(np.asarray(logistic.intercept_, dtype=np.float64)[0])
    weight = coef / scale  # (D,)
    bias = intercept - float(np.dot(weight, mean))
    head = nn.Linear(classifier.feature_dim, 2, dtype=torch.float64)
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(np.stack([-weight, weight])))
        head.bias.copy_(torch.tensor([-bias, bias], dtype=torch.float64))
    return head.requires_grad_(False)


class ClassifierOnEncoder(nn.Module):
    """``(B, C, Z, Y, X)`` patches → ``(B, 2)`` class logits: encoder, then a :func:`linear_head`.

    The encoder returns ``(features, projections)`` (:class:`~dynaclr.contrastive.ContrastiveEncoder`);
    ``representation`` picks the one the classifier was fitted on. The head runs in float64 on the
    encoder's float32 output.
    """

    def __init__(self, encoder: nn.Module, classifier: LinearClassifier) -> None:
        super().__init__()
        if classifier.representation not in ENCODER_OUTPUTS:
            raise ValueError(
                f"the {classifier.task} classifier reads {classifier.representation!r}; an encoder gives "
                f"{sorted(ENCODER_OUTPUTS)} only"
            )
        self.encoder = encoder
        self.output_index = ENCODER_OUTPUTS[classifier.representation]
        self.head = linear_head(classifier)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        embedding = self.encoder(x)[self.output_index]  # (B, D) float32
        return self.head(embedding.to(torch.float64))  # (B, 2)


@dataclass(frozen=True)
class OcclusionResult:
    """Attribution maps of ``N`` patches.

    Attributes:
        attributions: ``(N, C, Y, X)`` float32, in logit units (module docstring).
        logits: ``(N, 2)`` float64 class logits of the unoccluded patches.
        targets: ``(N,)`` int64, the predicted class attributed (``argmax`` of ``logits``).
    """

    attributions: np.ndarray
    logits: np.ndarray
    targets: np.ndarray


def occlusion_maps(
    model: nn.Module,
    patches: np.ndarray,
    *,
    window_yx_px: int,
    stride_yx_px: int,
    baseline: float = 0.0,
    perturbations_per_eval: int = 64,
    device: torch.device | str = "cpu",
) -> OcclusionResult:
    """Occlusion maps of each patch for its predicted class (module docstring).

    Args:
        model: ``(B, C, Z, Y, X)`` → ``(B, K)`` class logits, e.g. :class:`ClassifierOnEncoder`.
            Put in eval mode here.
        patches: ``(N, C, Z, Y, X)`` float32, already cropped to the model's input size.
        window_yx_px, stride_yx_px: side and step of the occluding window, in pixels.
        baseline: value of occluded pixels.
        perturbations_per_eval: occluded copies evaluated per forward pass.
        device: where the model runs.

    Returns:
        The maps, logits and attributed classes; deterministic on the CPU.
    """
    from captum.attr import Occlusion  # imported for this analysis only

    patches = np.asarray(patches, dtype=np.float32)
    if patches.ndim != 5:
        raise ValueError(f"patches must be (N, C, Z, Y, X), got shape {patches.shape}")
    n, _, depth, height, width = patches.shape
    if window_yx_px > min(height, width):
        raise ValueError(f"window_yx_px {window_yx_px} exceeds the patch (Y, X) = ({height}, {width})")
    device = torch.device(device)
    model = model.to(device).eval()
    occlusion = Occlusion(model)
    attributions, logits, targets = [], [], []
    for i in range(n):
        x = torch.from_numpy(patches[i : i + 1]).to(device)
        with torch.no_grad():
            logit = model(x)  # (1, K)
            target = int(torch.argmax(logit, dim=1).item())
            attribution = occlusion.attribute(
                x,
                sliding_window_shapes=(1, depth, window_yx_px, window_yx_px),
                strides=(1, depth, stride_yx_px, stride_yx_px),
                baselines=baseline,
                target=target,
                perturbations_per_eval=perturbations_per_eval,
            )  # (1, C, Z, Y, X), the same on every Z slice
        attributions.append(attribution[0, :, 0].float().cpu().numpy())
        logits.append(logit[0].double().cpu().numpy())
        targets.append(target)
    return OcclusionResult(
        attributions=np.stack(attributions)
        if attributions
        else np.zeros((0, *patches.shape[1:2], height, width)),
        logits=np.stack(logits) if logits else np.zeros((0, 2)),
        targets=np.asarray(targets, dtype=np.int64),
    )


def region_mass_fraction(attribution: np.ndarray, region: np.ndarray) -> tuple[float, float]:
    """``(mass fraction, area fraction)`` of ``region`` in one ``(Y, X)`` map.

    The mass fraction is the share of the map's absolute attribution inside ``region``, the area
    fraction the share of pixels it covers; a mass fraction above the area fraction means the
    attribution concentrates in the region. NaN mass fraction for an all-zero map.
    """
    attribution = np.abs(np.asarray(attribution, dtype=np.float64))
    region = np.asarray(region, dtype=bool)
    if attribution.shape != region.shape:
        raise ValueError(f"map {attribution.shape} and region {region.shape} differ in shape")
    total = attribution.sum()
    mass = float(attribution[region].sum() / total) if total > 0 else float("nan")
    return mass, float(region.mean())


# ------------------------------------------------------------------ the cells shown
#: Columns of a picked time course: the offset shown, the cell's row in the cell table (-1: not
#: tracked at that frame), its role and frame.
COURSE_COLUMNS: tuple[str, ...] = ("offset_frames", "cell", "role", "fov_name", "track_id", "t")


def _course(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(COURSE_COLUMNS)).astype(
        {"offset_frames": "int64", "cell": "int64", "track_id": "int64", "t": "int64"}
    )


def infection_course(
    cells: pd.DataFrame, onset: pd.Series, offsets: Sequence[int], rng: np.random.Generator
) -> pd.DataFrame:
    """One infected track at ``offsets`` frames from its onset (:data:`COURSE_COLUMNS`).

    Args:
        cells: one row per tracked cell and frame (``fov_name, track_id, t``), fresh index.
        onset: per row of ``cells``, the infection onset frame of that cell (NaN or < 0: never).
        offsets: frames from the onset to show.
        rng: draws one among the tracks that show the most offsets.

    Returns:
        One row per offset (``role`` ``before onset`` / ``onset`` / ``after onset``); empty when
        no track spans its onset.
    """
    courses = infection_courses(cells, onset, offsets, rng, 1)
    return courses[0] if courses else _course([])


def infection_courses(
    cells: pd.DataFrame, onset: pd.Series, offsets: Sequence[int], rng: np.random.Generator, n: int
) -> list[pd.DataFrame]:
    """Up to ``n`` distinct infected tracks, each as :func:`infection_course` gives one; the first is
    the one :func:`infection_course` draws with the same generator state."""
    table = cells.loc[:, ["fov_name", "track_id", "t"]].assign(onset=onset.to_numpy(dtype=np.float64))
    table = table[table["onset"] >= 0]
    best: list[tuple[str, int, int]] = []
    best_count = 0
    for (fov, track), group in table.groupby(["fov_name", "track_id"], sort=True):
        track_onset = int(group["onset"].mode().iloc[0])
        frames = set(group["t"].astype(int))
        if not (min(frames) <= track_onset <= max(frames)):
            continue
        count = sum(track_onset + o in frames for o in offsets)
        if count > best_count:
            best, best_count = [(str(fov), int(track), track_onset)], count
        elif count == best_count and count > 0:
            best.append((str(fov), int(track), track_onset))
    courses = []
    for fov, track, track_onset in _drawn(best, rng, n):
        lookup = _row_lookup(cells, [(fov, track)])
        courses.append(
            _course_at(
                lookup,
                fov,
                track_onset,
                offsets,
                functools.partial(_infection_role, track),
            )
        )
    return courses


def _infection_role(track: int, offset: int) -> tuple[int, str]:
    return track, "onset" if offset == 0 else ("before onset" if offset < 0 else "after onset")


def _division_role(mother: int, daughter: int, offset: int) -> tuple[int, str]:
    return (mother, "mother") if offset <= 0 else (daughter, "daughter")


def _drawn(
    candidates: list[tuple[str, int, int]], rng: np.random.Generator, n: int
) -> list[tuple[str, int, int]]:
    """Up to ``n`` distinct candidates: the first drawn as one draw alone would draw it, the others in
    a random order after it."""
    if not candidates:
        return []
    first = int(rng.integers(len(candidates)))
    if n <= 1:
        return [candidates[first]]
    others = [index for index in range(len(candidates)) if index != first]
    return [candidates[first]] + [candidates[i] for i in rng.permutation(others)[: n - 1]]


def division_course(cells: pd.DataFrame, offsets: Sequence[int], rng: np.random.Generator) -> pd.DataFrame:
    """A mother and its first daughter around a division, from the tracks' lineage (:data:`COURSE_COLUMNS`).

    Args:
        cells: one row per tracked cell and frame with ``fov_name, track_id, parent_track_id, t``.
        offsets: ``<= 0``: the mother's frames (0 = its last); ``> 0``: the daughter's (1 = its first).
        rng: draws one among the divisions that show the most offsets.

    Returns:
        One row per offset (``role`` ``mother`` / ``daughter``); empty when no track has a parent
        tracked in the same FOV.
    """
    courses = division_courses(cells, offsets, rng, 1)
    return courses[0] if courses else _course([])


def division_courses(
    cells: pd.DataFrame, offsets: Sequence[int], rng: np.random.Generator, n: int
) -> list[pd.DataFrame]:
    """Up to ``n`` distinct divisions, each as :func:`division_course` gives one; the first is the one
    :func:`division_course` draws with the same generator state."""
    if "parent_track_id" not in cells.columns:
        raise KeyError("division_course needs parent_track_id in the cell table (the tracks' lineage)")
    spans = cells.groupby(["fov_name", "track_id"], sort=True)["t"].agg(["min", "max"])
    frames = cells.groupby(["fov_name", "track_id"], sort=True)["t"].agg(lambda t: set(t.astype(int)))
    parents = cells.groupby(["fov_name", "track_id"], sort=True)["parent_track_id"].first()
    best: list[tuple[str, int, int]] = []
    best_count = 0
    for (fov, daughter), parent in parents.items():
        if parent < 0 or (fov, parent) not in spans.index:
            continue
        # the first daughter of each mother: the lower track id among its children
        siblings = parents[(parents.index.get_level_values(0) == fov) & (parents == parent)]
        if int(daughter) != int(siblings.index.get_level_values(1).min()):
            continue
        last = int(spans.loc[(fov, parent), "max"])
        mother_frames, daughter_frames = frames.loc[(fov, parent)], frames.loc[(fov, daughter)]
        count = sum((last + o in mother_frames) if o <= 0 else (last + o in daughter_frames) for o in offsets)
        if count > best_count:
            best, best_count = [(str(fov), int(parent), int(daughter))], count
        elif count == best_count and count > 0:
            best.append((str(fov), int(parent), int(daughter)))
    courses = []
    for fov, mother, daughter in _drawn(best, rng, n):
        last = int(spans.loc[(fov, mother), "max"])
        lookup = _row_lookup(cells, [(fov, mother), (fov, daughter)])
        courses.append(
            _course_at(
                lookup,
                fov,
                last,
                offsets,
                functools.partial(_division_role, mother, daughter),
            )
        )
    return courses


def _course_at(
    lookup: dict[tuple[str, int, int], int],
    fov: str,
    start: int,
    offsets: Sequence[int],
    track_and_role: Callable[[int], tuple[int, str]],
) -> pd.DataFrame:
    """One course row per offset: frame ``start + offset`` of the track ``track_and_role`` names."""
    rows = []
    for offset in offsets:
        track, role = track_and_role(offset)
        t = start + offset
        rows.append(
            {
                "offset_frames": offset,
                "cell": lookup.get((fov, track, t), -1),
                "role": role,
                "fov_name": fov,
                "track_id": track,
                "t": t,
            }
        )
    return _course(rows)


def _row_lookup(cells: pd.DataFrame, tracks: Sequence[tuple[str, int]]) -> dict[tuple[str, int, int], int]:
    """``{(fov_name, track_id, t): row of cells}`` for the rows of ``tracks``."""
    wanted = set(tracks)
    lookup: dict[tuple[str, int, int], int] = {}
    for row, (fov, track, t) in enumerate(
        cells.loc[:, ["fov_name", "track_id", "t"]].itertuples(index=False)
    ):
        if (str(fov), int(track)) in wanted:
            lookup[(str(fov), int(track), int(t))] = row
    return lookup


def predicted_onset(cells: pd.DataFrame, infected: np.ndarray) -> pd.Series:
    """Per row of ``cells``, the first frame from which its track is called infected at every frame.

    For datasets without ground truth: a track whose calls (``infected``, one bool per row) switch
    to infected and stay so gets that frame as its onset; a track called infected at every frame,
    or not at its last, gets -1 (no transition seen).
    """
    table = cells.loc[:, ["fov_name", "track_id", "t"]].assign(infected=np.asarray(infected, dtype=bool))
    onset = pd.Series(-1, index=cells.index, dtype="int64")
    for _, group in table.groupby(["fov_name", "track_id"], sort=False):
        ordered = group.sort_values("t")
        calls = ordered["infected"].to_numpy()
        if not calls[-1] or calls.all():
            continue
        first_of_last_run = len(calls) - int(np.argmin(calls[::-1]))  # calls[k:] all True from here
        onset.loc[ordered.index] = int(ordered["t"].iloc[first_of_last_run])
    return onset
