"""Toy embeddings with a planted infection trajectory, for tests and demo-scale measurements.

Every track is a cell followed for ``n_frames`` frames. An infected cell's embedding moves along
a fixed curve as a function of the time since its onset, ``tau = t - onset`` (frames):

``e(t) = R [cos(theta), sin(theta), 0, ...] + offset_track + noise``, with
``theta = (pi / 2) * sigmoid(tau / transition_width_frames)``

so the state turns by 90 degrees around the onset; uninfected cells stay at ``theta = 0``. The
axes are randomly rotated into ``dim`` dimensions; ``offset_track`` (per-track, small) and
``noise`` (per-frame) are Gaussian. A slow per-track drift along a third axis makes adjacent
frames closer than random frames even before the onset. A mitosis (``mitosis`` column) is planted
as a brief excursion along a fourth axis in the last ``mitosis_frames`` frames of some tracks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def planted_infection_embeddings(
    n_fovs: int = 4,
    tracks_per_fov: int = 12,
    n_frames: int = 24,
    dim: int = 16,
    onset_range_frames: tuple[int, int] = (6, 16),
    infected_share: float = 0.7,
    transition_width_frames: float = 1.0,
    noise: float = 0.05,
    track_offset: float = 0.05,
    mitosis_share: float = 0.3,
    mitosis_frames: int = 2,
    seed: int = 0,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Planted embeddings and their ground truth (model in the module docstring).

    Returns:
        ``(N, dim)`` float32 embeddings and an index with ``fov_name, well, condition,
        track_id, parent_track_id, lineage_id, t, y, x, infected, infection_onset_t`` (``-1``:
        never), ``mitosis`` (bool); one row per track and frame, ``N = n_fovs * tracks_per_fov *
        n_frames``. Odd FOVs are the ``mock`` condition (nobody infected).
    """
    rng = np.random.default_rng(seed)
    if dim < 4:
        raise ValueError(f"dim must be >= 4 (four planted axes), got {dim}")
    rotation, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    axes = rotation[:, :4].T  # (4, dim): state axes 0-1, drift axis 2, mitosis axis 3
    frames = np.arange(n_frames)
    embeddings: list[np.ndarray] = []
    rows: list[pd.DataFrame] = []
    for fov in range(n_fovs):
        mock = fov % 2 == 1
        well = f"{'AB'[fov % 2]}/{fov // 2 + 1}"
        for track in range(1, tracks_per_fov + 1):
            infected_track = (not mock) and rng.random() < infected_share
            onset = (
                int(rng.integers(onset_range_frames[0], onset_range_frames[1] + 1)) if infected_track else -1
            )
            tau = frames - onset if infected_track else np.full(n_frames, -1e6)
            theta = (np.pi / 2) / (1.0 + np.exp(-np.clip(tau / transition_width_frames, -50, 50)))
            drift = 0.3 * (frames / max(n_frames - 1, 1)) * rng.choice([-1.0, 1.0])
            divides = rng.random() < mitosis_share
            mitotic = np.zeros(n_frames, dtype=bool)
            if divides:
                mitotic[-mitosis_frames:] = True
            coefficients = np.stack([np.cos(theta), np.sin(theta), drift, 0.6 * mitotic], axis=1)  # (T, 4)
            emb = coefficients @ axes
            emb += track_offset * rng.normal(size=(1, dim)) + noise * rng.normal(size=(n_frames, dim))
            embeddings.append(emb)
            start_yx = rng.uniform(20, 236, size=2)
            path_yx = start_yx + np.cumsum(rng.normal(scale=1.5, size=(n_frames, 2)), axis=0)
            rows.append(
                pd.DataFrame(
                    {
                        "fov_name": f"{well}/0",
                        "well": well,
                        "condition": "mock" if mock else "infected",
                        "track_id": track,
                        "parent_track_id": -1,
                        "lineage_id": track,
                        "t": frames,
                        "y": path_yx[:, 0],
                        "x": path_yx[:, 1],
                        "infected": infected_track & (frames >= onset),
                        "infection_onset_t": onset,
                        "mitosis": mitotic,
                    }
                )
            )
    return np.concatenate(embeddings).astype(np.float32), pd.concat(rows, ignore_index=True)
