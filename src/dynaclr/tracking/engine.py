"""Run ultrack (segment → link → solve) on one FOV's foreground and contour maps.

ultrack keeps its candidate segments, links and solution in a SQLite database inside a working
directory; each FOV gets its own (``scratch_dir``), so jobs never share one. The ILP is solved
with CBC by default: open source, bundled with python-mip, no commercial licence needed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dynaclr.config.tracking import TrackingConfig

logger = logging.getLogger(__name__)

#: Columns of ultrack's napari tracks layer (``to_tracks_layer``), in its order, for 2D and 3D.
TRACK_COLUMNS_2D: tuple[str, ...] = ("track_id", "t", "y", "x", "id", "parent_track_id", "parent_id")
TRACK_COLUMNS_3D: tuple[str, ...] = ("track_id", "t", "z", "y", "x", "id", "parent_track_id", "parent_id")

#: ``parent_track_id`` / ``parent_id`` of a track without a parent (ultrack's ``NO_PARENT``).
NO_PARENT = -1

#: ultrack's node ids: ``index + (t + 1) * MAX_SEGMENTS_PER_TIME`` (its ``segment`` default, which
#: :func:`run_ultrack` keeps): a solve over some of the movie's frames (:func:`solve_frames`) numbers
#: them from 0, and :func:`movie_node_ids` gives its ids in the movie's frames.
MAX_SEGMENTS_PER_TIME = 1_000_000

_INTEGER_COLUMNS = ("track_id", "t", "id", "parent_track_id", "parent_id")


def track_columns(is_3d: bool) -> tuple[str, ...]:
    """The tracks-table columns: ``track_id, t, [z,] y, x, id, parent_track_id, parent_id``."""
    return TRACK_COLUMNS_3D if is_3d else TRACK_COLUMNS_2D


def empty_tracks_table(is_3d: bool) -> pd.DataFrame:
    """A schema-valid tracks table without rows (int64 ids and frames, float64 centroids)."""
    return conform_tracks_table(pd.DataFrame({name: [] for name in track_columns(is_3d)}), is_3d)


def conform_tracks_table(tracks: pd.DataFrame, is_3d: bool, by: Sequence[str] = ()) -> pd.DataFrame:
    """Order and type the columns: ids/frames int64, centroids float64; rows sorted by track, t.

    With ``by`` (e.g. ``["fov_name"]`` of several FOVs' rows), those columns come first, as they are,
    and rows are sorted by them first (a categorical column in its categories' order)."""
    columns = track_columns(is_3d)
    missing = [name for name in [*by, *columns] if name not in tracks.columns]
    if missing:
        raise ValueError(f"tracks table lacks columns {missing}; found {list(tracks.columns)}")
    table = tracks.loc[:, [*by, *columns]].reset_index(drop=True)
    for name in columns:
        table[name] = table[name].astype("int64" if name in _INTEGER_COLUMNS else "float64")
    return table.sort_values([*by, "track_id", "t"], kind="stable").reset_index(drop=True)


def frames_without_foreground(foreground: NDArray) -> list[int]:
    """The frames of ``foreground`` ``(T, ...)`` without any foreground pixel, in order: those
    :func:`solve_frames` leaves out of ultrack's solves (dropped as mostly missing, blank, without
    signal, or with nuclei too dim for the FOV's threshold), no detection there. A FOV's maps scan
    their foreground once (:attr:`dynaclr.tracking.maps.TrackingMaps.frames_without_foreground`)."""
    return [t for t in range(len(foreground)) if not np.asarray(foreground[t]).any()]


def unflagged_frames_without_foreground(metrics: Mapping[str, Any]) -> list[int]:
    """A ``tracks_fov`` record's ``frames_without_foreground`` that quality control does not flag
    otherwise, sorted: not dropped (``dropped_frames``), not constant (``empty_frames``) nor without
    contrast above the pixel noise (``frames_without_signal``): frames with signal whose nuclei, if
    any, the FOV's threshold missed (none for a record made before ``frames_without_foreground``).
    The job's WARNING (:func:`dynaclr.tracking.fov.track_fov`) and the QC table's ``reduced`` reason
    (:func:`dynaclr.qc.table.qc_row`) both name these."""
    flagged = {
        int(t)
        for key in ("dropped_frames", "empty_frames", "frames_without_signal")
        for t in metrics.get(key) or ()
    }
    return sorted(int(t) for t in metrics.get("frames_without_foreground") or () if int(t) not in flagged)


def solve_frames(n_frames: int, left_out: Iterable[int], max_gap_frames: int) -> list[list[int]]:
    """The frames of a movie of ``n_frames`` frames each ultrack solve is given, in order: the frames
    holding any foreground (not in ``left_out``: :func:`frames_without_foreground`), those separated
    by at most ``max_gap_frames`` frames without foreground (``tracking.gap_closing.max_gap_frames``)
    in one solve, as consecutive frames.

    ultrack links segments of consecutive frames only, rewards links and charges a track starting or
    ending away from the movie's first and last frame. A frame without foreground (dropped as mostly
    missing, blank, without signal) cut every track through it, yet the frames beside it were charged
    as if their cells appeared or vanished there: a frame between two such frames (or one and the
    movie's end) had no link to pay for its nuclei, two frames one link for one start, and lost them
    with exit 0. Given without the frames between (a gap gap closing would join), ultrack links across
    them as across one frame, each track keeping its gap (no row there). A longer gap separates
    solves, each with its ends free like the movie's (a solve of one frame: a still image)."""
    skipped = set(left_out)
    present = [t for t in range(n_frames) if t not in skipped]
    solves: list[list[int]] = []
    for t in present:
        if solves and t - solves[-1][-1] - 1 <= max_gap_frames:
            solves[-1].append(t)
        else:
            solves.append([t])
    return solves


def movie_node_ids(ids: NDArray | pd.Series | pd.Index, frames: Sequence[int]) -> NDArray[np.int64]:
    """ultrack node ids of a solve given the movie's ``frames`` (its frame ``k`` is ``frames[k]``) as
    the ids of those nodes in the movie's frames (:data:`MAX_SEGMENTS_PER_TIME`); :data:`NO_PARENT`
    kept."""
    ids = np.asarray(ids, dtype=np.int64)
    movie = ids.copy()
    valid = ids != NO_PARENT
    solve_t = ids[valid] // MAX_SEGMENTS_PER_TIME - 1
    movie[valid] = ids[valid] % MAX_SEGMENTS_PER_TIME + (np.asarray(frames, dtype=np.int64)[solve_t] + 1) * (
        MAX_SEGMENTS_PER_TIME
    )
    return movie


def solve_node_ids(ids: NDArray | pd.Series | pd.Index, frames: Sequence[int]) -> NDArray[np.int64]:
    """The inverse of :func:`movie_node_ids`: movie node ids of the frames ``frames`` → the solve's."""
    ids = np.asarray(ids, dtype=np.int64)
    position = {int(t): k for k, t in enumerate(frames)}
    solve_t = np.array([position[int(t)] for t in ids // MAX_SEGMENTS_PER_TIME - 1], dtype=np.int64)
    return ids % MAX_SEGMENTS_PER_TIME + (solve_t + 1) * MAX_SEGMENTS_PER_TIME


def in_movie_frames(tracks: pd.DataFrame, frames: Sequence[int], track_offset: int) -> pd.DataFrame:
    """ultrack's table of a solve given the movie's ``frames`` (:func:`run_ultrack` on them) in the
    movie's terms: ``t`` the movie's frame, node ids (the index, ``id``, ``parent_id``) those of the
    movie's frames, ``track_id`` and ``parent_track_id`` + ``track_offset`` (unique across solves);
    :data:`NO_PARENT` kept."""
    movie = tracks.copy()
    movie["t"] = np.asarray(frames, dtype=np.int64)[movie["t"].to_numpy(dtype=np.int64)]
    movie["id"] = movie_node_ids(movie["id"], frames)
    movie["parent_id"] = movie_node_ids(movie["parent_id"], frames)
    movie.index = pd.Index(movie_node_ids(movie.index, frames))
    movie["track_id"] = movie["track_id"] + track_offset
    parents = movie["parent_track_id"].to_numpy()
    movie["parent_track_id"] = np.where(parents == NO_PARENT, NO_PARENT, parents + track_offset)
    return movie


def links_across_gaps(tracks: pd.DataFrame) -> int:
    """How many consecutive rows of one track lie more than one frame apart (a track joined across
    frames without its cell)."""
    if tracks.empty:
        return 0
    steps = tracks.sort_values(["track_id", "t"]).groupby("track_id")["t"].diff()
    return int((steps > 1).sum())


def ultrack_config(config: TrackingConfig, working_dir: Path, is_3d: bool):  # -> ultrack MainConfig
    """ultrack's ``MainConfig`` for one FOV: our parameters, a SQLite database in ``working_dir``."""
    from ultrack import MainConfig

    main = MainConfig()
    main.data_config.working_dir = Path(working_dir)
    main.data_config.database = "sqlite"
    main.data_config.n_workers = 1

    segmentation = main.segmentation_config
    segmentation.min_area = config.segmentation.min_area_px
    segmentation.max_area = config.segmentation.max_area_px
    segmentation.min_frontier = config.segmentation.min_frontier
    segmentation.threshold = 0.5  # our foreground map is already 0/1
    segmentation.n_workers = 1

    linking = main.linking_config
    linking.max_distance = config.linking.max_distance_px
    linking.max_neighbors = config.linking.max_neighbors
    linking.distance_weight = config.linking.distance_weight_per_px
    linking.n_workers = 1

    solver = main.tracking_config
    solver.solver_name = config.solver.solver_name
    solver.appear_weight = config.solver.appear_weight
    solver.disappear_weight = config.solver.disappear_weight
    solver.division_weight = config.solver.division_weight
    solver.link_function = config.solver.link_function
    solver.power = config.solver.power
    solver.bias = config.solver.bias
    border = config.solver.image_border_px
    solver.image_border_size = ((0, border, border) if is_3d else (border, border)) if border > 0 else None
    solver.time_limit = config.solver.time_limit_s
    solver.solution_gap = config.solver.solution_gap
    solver.n_threads = 1
    return main


def check_solver(solver_name: str) -> None:
    """Raise when the ILP solver ``solver_name`` cannot be loaded.

    ultrack falls back to CBC with only a warning (which the job's console filter hides as advice) when
    Gurobi cannot start, e.g. for want of a licence: the run would not use the solver it was told to.
    """
    if solver_name == "CBC":
        return
    import mip

    try:
        mip.Model(solver_name=solver_name)
    except (mip.exceptions.InterfacingError, FileNotFoundError, OSError) as err:  # no licence / not installed
        raise RuntimeError(
            f"tracking.solver.solver_name {solver_name!r}: the solver cannot be loaded ({err}); install its "
            "licence, or set tracking.solver.solver_name to 'CBC' (open source, no licence needed)"
        ) from err


def run_ultrack(
    foreground: NDArray[np.float32],
    contours: NDArray[np.float32],
    config: TrackingConfig,
    working_dir: str | Path,
):  # -> tuple[pd.DataFrame, ultrack MainConfig]
    """Segment, link and solve; return ultrack's tracks table and the ``MainConfig`` used.

    ``foreground`` and ``contours``: (T, Y, X) or (T, Z, Y, X) float32. The table has the
    columns of :func:`track_columns` (centroids in pixels of the maps, ``parent_track_id`` and
    ``parent_id`` = -1 for none), indexed by ultrack node id; it is empty when nothing was
    selected. Raises RuntimeError when the configured solver cannot be loaded (:func:`check_solver`).
    """
    from ultrack import to_tracks_layer, track
    from ultrack.core.export.utils import solution_dataframe_from_sql

    check_solver(config.solver.solver_name)

    is_3d = foreground.ndim == 4
    still = foreground.shape[0] == 1
    if still:
        # ultrack's objective rewards links only (appearing, disappearing and dividing cost): on one
        # frame its optimum selects no segment. Given the frame twice, each segment links to its own
        # copy, so the solver picks the best non-overlapping segmentation; the copy is dropped below.
        foreground, contours = np.repeat(foreground, 2, axis=0), np.repeat(contours, 2, axis=0)
    working_dir = Path(working_dir)
    working_dir.mkdir(parents=True, exist_ok=True)
    main = ultrack_config(config, working_dir, is_3d)
    track(main, foreground=foreground, contours=contours, overwrite=True)
    if solution_dataframe_from_sql(main.data_config.database_path).empty:
        logger.info("ultrack selected no segment")
        return empty_tracks_table(is_3d), main
    tracks, _ = to_tracks_layer(main)
    if still:  # a track starting at frame 0 has no parent
        tracks = tracks[tracks["t"] == 0]
    return tracks, main


def export_label_frames(
    main, tracks: pd.DataFrame, write_frame: Callable[[int, NDArray], None], n_frames: int
) -> None:
    """Paint each of the movie's ``n_frames`` frames' selected segments with their ``track_id`` and
    hand it to ``write_frame``.

    ``tracks`` must be indexed by ultrack node id (as returned by :func:`run_ultrack`);
    ``write_frame(t, labels)`` receives (Y, X) or (Z, Y, X) integer labels, one frame at a time
    (ultrack's copy of a still image's frame, :func:`run_ultrack`, is not handed on).
    """
    from ultrack.core.export.utils import export_segmentation_generic

    def write_movie_frame(t: int, labels: NDArray) -> None:
        if t < n_frames:
            write_frame(t, labels)

    export_segmentation_generic(main.data_config, tracks, write_movie_frame)
