"""The splits of cross-modal distillation: whole FOVs, so no track or lineage is on two sides.

A FOV is *training* (its sparse annotations fit the teacher's head; the head's predictions on its
cells are the student's pseudo-labels), *validation* (a training FOV set aside: it chooses the
student's training length and nothing trains on it) or *held out* (only scored against ground
truth). Every track, and every lineage (a mother and her daughters), lies inside one FOV, so
splitting by FOV keeps correlated observations of one cell on one side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FovSplit:
    """Training, validation and held-out FOVs (pairwise disjoint, each sorted) and each cell's side."""

    training_fovs: tuple[str, ...]
    validation_fovs: tuple[str, ...]
    heldout_fovs: tuple[str, ...]
    validation: np.ndarray  # (N,) bool, True for a cell of a validation FOV
    heldout: np.ndarray  # (N,) bool, True for a cell of a held-out FOV

    @property
    def training(self) -> np.ndarray:
        """``(N,)`` bool, True for a cell of a training FOV (neither validation nor held out)."""
        return ~self.heldout & ~self.validation


def _wells(fov_names: Sequence[str]) -> dict[str, list[str]]:
    """FOV names grouped by well (``'row/column'``), each well's FOVs in name order."""
    wells: dict[str, list[str]] = {}
    for name in sorted(set(map(str, fov_names))):
        wells.setdefault(name.rsplit("/", 1)[0], []).append(name)
    return wells


def default_heldout_fovs(fov_names: Sequence[str]) -> list[str]:
    """Every second FOV (in name order, the second first) of every well with two FOVs or more.

    ``'B/1/0', 'B/1/1', 'B/1/2'`` hold out ``'B/1/1'``; a well with one FOV stays in training.
    """
    return [fov for fovs in _wells(fov_names).values() for fov in fovs[1::2]]


def default_validation_fovs(training_fovs: Sequence[str]) -> list[str]:
    """Every third training FOV (in name order, the third first) of every well with three or more.

    A well keeps at least two thirds of its training FOVs, and at least two; a well with one or two
    training FOVs gives none (the demo's plate, two FOVs per well with one held out, gives none).
    """
    return [fov for fovs in _wells(training_fovs).values() for fov in fovs[2::3]]


def split_by_fov(
    fov_of_cell: np.ndarray,
    heldout_fovs: Sequence[str] | None,
    validation_fovs: Sequence[str] | None = (),
) -> FovSplit:
    """Split cells by their FOV ``fov_of_cell`` ``(N,)`` into training, validation and held-out sides.

    Args:
        fov_of_cell: each cell's ``fov_name``.
        heldout_fovs: the held-out FOVs; ``None``: :func:`default_heldout_fovs`.
        validation_fovs: FOVs of the non-held-out ones set aside for validation; ``None``:
            :func:`default_validation_fovs` of the non-held-out FOVs; empty: none.

    Raises:
        ValueError: a named FOV has no cell, a validation FOV is also held out, or the training side
            would be empty (the message names the ``analysis.distillation`` key and the FOVs present).
    """
    fov_of_cell = np.asarray(fov_of_cell).astype(str)
    present = sorted({str(name) for name in fov_of_cell})
    chosen = default_heldout_fovs(present) if heldout_fovs is None else sorted(set(heldout_fovs))
    unknown = sorted(set(chosen) - set(present))
    if unknown:
        raise ValueError(
            f"analysis.distillation.heldout_fovs: {unknown} have no cell in the embeddings; FOVs are "
            f"{present}"
        )
    not_heldout = [fov for fov in present if fov not in chosen]
    if not chosen or not not_heldout:
        raise ValueError(
            f"analysis.distillation.heldout_fovs: expected some but not all of the FOVs {present} held out, "
            f"found {chosen} held out"
        )
    validating = (
        default_validation_fovs(not_heldout) if validation_fovs is None else sorted(set(validation_fovs))
    )
    problems = []
    if set(validating) - set(present):
        problems.append(f"{sorted(set(validating) - set(present))} have no cell in the embeddings")
    if set(validating) & set(chosen):
        problems.append(f"{sorted(set(validating) & set(chosen))} are also held out ({chosen})")
    training = [fov for fov in not_heldout if fov not in validating]
    if not training and not problems:
        problems.append(f"they leave no training FOV of {not_heldout}")
    if problems:
        raise ValueError(
            f"analysis.distillation.validation_fovs: expected some of the training FOVs {not_heldout}, "
            f"found {validating}: {'; '.join(problems)}"
        )
    return FovSplit(
        training_fovs=tuple(training),
        validation_fovs=tuple(validating),
        heldout_fovs=tuple(chosen),
        validation=np.isin(fov_of_cell, validating),
        heldout=np.isin(fov_of_cell, chosen),
    )
