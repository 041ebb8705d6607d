"""Pseudo-time by dynamic time warping of embedding trajectories (paper section 4.5, appendix D).

:mod:`dynaclr.pseudotime.dtw`: subsequence DTW alignment of query tracks to a reference
trajectory (one pass per query, dtaidistance C backend), the sliding-window full-DTW reference
procedure it replaces, and pseudo-time per query frame.
"""

from dynaclr.pseudotime.dtw import (
    Alignment,
    align_tracks,
    c_backend_available,
    fill_frame_gaps,
    path_skew,
    pseudotime_from_path,
    sliding_window_alignment,
    subsequence_alignment,
)

__all__ = [
    "Alignment",
    "align_tracks",
    "c_backend_available",
    "fill_frame_gaps",
    "path_skew",
    "pseudotime_from_path",
    "sliding_window_alignment",
    "subsequence_alignment",
]
