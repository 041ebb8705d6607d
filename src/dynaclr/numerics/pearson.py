"""Pearson correlation of two variables over data seen in pieces (frames, FOVs, chunks).

Each piece's means and centred second moments are computed on their own and merged with the
pairwise update of Chan, Golub and LeVeque (1979): for pieces ``A`` and ``B`` of sizes ``n_A``,
``n_B`` and ``δ_x = mean_x(B) - mean_x(A)``,

    C_xy(A ∪ B) = C_xy(A) + C_xy(B) + δ_x δ_y n_A n_B / (n_A + n_B),

(likewise ``M2_x``, ``M2_y``) and ``r = C_xy / sqrt(M2_x M2_y)``. Unlike raw sums of ``x``, ``x²``
and ``xy``, this keeps its precision when the data sit on a large offset (e.g. fluorescence on a
camera background of thousands of counts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["PearsonAccumulator"]


@dataclass
class PearsonAccumulator:
    """Streaming Pearson r: :meth:`add` paired samples piece by piece, :meth:`merge` accumulators.

    Attributes:
        n: samples seen.
        mean_x, mean_y: their means.
        m2_x, m2_y: sums of squared deviations from the means.
        c_xy: sum of products of the deviations.
    """

    n: int = 0
    mean_x: float = 0.0
    mean_y: float = 0.0
    m2_x: float = 0.0
    m2_y: float = 0.0
    c_xy: float = 0.0

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        """Add paired samples: ``x`` and ``y`` of the same size, any shape (flattened, float64)."""
        x64 = np.asarray(x, dtype=np.float64).ravel()
        y64 = np.asarray(y, dtype=np.float64).ravel()
        if x64.size != y64.size:
            raise ValueError(
                f"PearsonAccumulator.add needs paired samples; got {x64.size} and {y64.size} values"
            )
        if x64.size == 0:
            return
        mean_x, mean_y = float(x64.mean()), float(y64.mean())
        dx, dy = x64 - mean_x, y64 - mean_y
        self.merge(
            PearsonAccumulator(
                n=x64.size,
                mean_x=mean_x,
                mean_y=mean_y,
                m2_x=float(dx @ dx),
                m2_y=float(dy @ dy),
                c_xy=float(dx @ dy),
            )
        )

    def merge(self, other: PearsonAccumulator) -> None:
        """Fold ``other`` (samples disjoint from this one's) into this accumulator."""
        if other.n == 0:
            return
        n = self.n + other.n
        delta_x, delta_y = other.mean_x - self.mean_x, other.mean_y - self.mean_y
        weight = self.n * other.n / n
        self.m2_x += other.m2_x + delta_x * delta_x * weight
        self.m2_y += other.m2_y + delta_y * delta_y * weight
        self.c_xy += other.c_xy + delta_x * delta_y * weight
        self.mean_x += delta_x * other.n / n
        self.mean_y += delta_y * other.n / n
        self.n = n

    def r(self) -> float:
        """Pearson r; NaN when nothing was added or either variable is constant."""
        denominator = math.sqrt(self.m2_x * self.m2_y)
        return self.c_xy / denominator if denominator > 0 else math.nan
