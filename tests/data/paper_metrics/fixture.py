"""The small fixture the paper-definition metrics are checked on (numpy and pandas only, so the
reference implementation's environment can import it): cells drifting along tracks in a
16-dimensional space, a few tracks per FOV, some one frame long, rows grouped by track in time
order as the reference implementation requires.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_fixture(seed: int = 0) -> tuple[np.ndarray, pd.DataFrame]:
    """``(features (N, 16) float32, obs with fov_name, track_id, t)``; deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    rows, features = [], []
    for fov in ("A/1/0", "B/1/0"):
        for track in range(1, 13):
            n_frames = 1 if track % 6 == 0 else int(rng.integers(4, 15))
            start = int(rng.integers(0, 5))
            state = rng.normal(size=16) * 3.0
            step = rng.normal(size=16) * 0.8
            for k in range(n_frames):
                state = state + step + rng.normal(size=16) * 1.5
                features.append(state.copy())
                rows.append({"fov_name": fov, "track_id": track, "t": start + k})
    return np.asarray(features, dtype=np.float32), pd.DataFrame(rows)
