"""The held-out split of cross-modal distillation: whole FOVs, so no track or lineage is on both sides.

A FOV is either *training* (its sparse annotations fit the teacher's head; the head's predictions on
its cells are the student's pseudo-labels) or *held out* (only scored against ground truth). Every
track, and every lineage (a mother and her daughters), lies inside one FOV, so splitting by FOV
keeps correlated observations of one cell on one side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FovSplit:
    """Training and held-out FOVs (disjoint, sorted) and each cell's side."""

    training_fovs: tuple[str, ...]
    heldout_fovs: tuple[str, ...]
    heldout: np.ndarray  # (N,) bool, True for a cell of a held-out FOV

    @property
    def training(self) -> np.ndarray:
        """``(N,)`` bool, True for a cell of a training FOV."""
        return ~self.heldout


def default_heldout_fovs(fov_names: Sequence[str]) -> list[str]:
    """Every second FOV (in name order, the second first) of every well with two FOVs or more.

    ``'B/1/0', 'B/1/1', 'B/1/2'`` hold out ``'B/1/1'``; a well with one FOV stays in training.
    """
    wells: dict[str, list[str]] = {}
    for name in sorted(set(map(str, fov_names))):
        wells.setdefault(name.rsplit("/", 1)[0], []).append(name)
    return [fov for fovs in wells.values() for fov in fovs[1::2]]


def split_by_fov(fov_of_cell: np.ndarray, heldout_fovs: Sequence[str] | None) -> FovSplit:
    """Split cells by their FOV ``fov_of_cell`` ``(N,)`` into training and held-out sides.

    Args:
        fov_of_cell: each cell's ``fov_name``.
        heldout_fovs: the held-out FOVs; ``None``: :func:`default_heldout_fovs`.

    Raises:
        ValueError: a named FOV has no cell, or either side would be empty (the message names
            ``analysis.distillation.heldout_fovs`` and the FOVs present).
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
    training = [fov for fov in present if fov not in chosen]
    if not chosen or not training:
        raise ValueError(
            f"analysis.distillation.heldout_fovs: expected some but not all of the FOVs {present} held out, "
            f"found {chosen} held out"
        )
    return FovSplit(tuple(training), tuple(chosen), np.isin(fov_of_cell, chosen))
