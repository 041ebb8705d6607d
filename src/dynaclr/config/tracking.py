"""Configuration of nuclear segmentation and tracking with ultrack (rules ``tracks_plate``,
``track_fov``, ``collect_tracks``) and of its evaluation (rule ``evaluate_tracking``).

Units are in the field names: ``_px`` pixels (voxels when tracking in 3D), ``_frames`` time
points. Defaults suit the demo plate: nuclei of radius ~7.7 px (5 µm at 0.65 µm/px, area
~190 px), cells moving ~3.8 px (2.5 µm) per frame RMS, daughters appearing ~9 px from their
mother, 20-30 cells per 256 x 256 px FOV entering and leaving through the borders.

The pipeline per FOV is: read the nuclear channel, reduce Z (projection → 2D tracking, or keep
a slice range → 3D tracking), normalise robustly (percentiles), smooth, derive a foreground
map and a contour map (:mod:`dynaclr.tracking.maps`), then ultrack's segment → link → solve.

The pixel-valued defaults hold for pixels of about :data:`DEFAULTS_PIXEL_SIZE_UM`: on a plate whose
pixels differ from that by more than :data:`PIXEL_SIZE_TOLERANCE` the dry run refuses the keys of
:data:`PIXEL_SCALED_KEYS` left at their defaults, naming the values scaled to the plate
(:meth:`TrackingConfig.unscaled_defaults`); keys given in the config are taken as they are.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from dynaclr.config.base import (
    StrictModel,
    check_fov_pattern,
    fill_fov_pattern,
    fov_placeholders,
    slices_within,
)

#: The pixel size (µm, Y and X) the pixel-valued defaults are tuned for: the demo plate's and the
#: simulator's default.
DEFAULTS_PIXEL_SIZE_UM = 0.65
#: How many times larger or smaller than :data:`DEFAULTS_PIXEL_SIZE_UM` a plate's pixels may be before
#: the keys of :data:`PIXEL_SCALED_KEYS` left at their defaults are refused (and the other sizes in
#: pixels: matching radii, patch sizes). A virtual-staining network given through a checkpoint is
#: refused on a plate sampled beyond the same ratio from its training plate's
#: (:data:`dynaclr.virtual_stain.transfer.REFUSED_SCALE_RATIO` is defined as this value).
PIXEL_SIZE_TOLERANCE = 1.5
#: The keys (section, field) that count pixels of a physical length, and the power of
#: ``DEFAULTS_PIXEL_SIZE_UM / plate pixel size`` their value scales with: 1 a length, 2 an area, -1 a
#: weight per pixel. ``divisions.max_fragment_gap_px`` is not among them: it counts pixels of a gap
#: (1 = adjacent pixels), whatever their size.
PIXEL_SCALED_KEYS: dict[tuple[str, str], int] = {
    ("maps", "smoothing_sigma_px"): 1,
    ("segmentation", "min_area_px"): 2,
    ("segmentation", "max_area_px"): 2,
    ("linking", "max_distance_px"): 1,
    ("linking", "distance_weight_per_px"): -1,
    ("solver", "image_border_px"): 1,
    ("gap_closing", "max_distance_px"): 1,
}
#: The sections of :data:`PIXEL_SCALED_KEYS` (``"section."`` prefixes) that act between frames only: on
#: still images (one frame) they do nothing and are not checked.
LINKING_SECTIONS: tuple[str, ...] = ("linking.", "gap_closing.")
#: Defaults of ``gap_closing`` (measured on the simulator: docs/benchmarks.md, "Gap closing").
GAP_CLOSING_DEFAULT_FRAMES = 1
GAP_CLOSING_DEFAULT_DISTANCE_PX = 15.0
#: Fewest pixels the default largest nucleus (``segmentation.max_area_px`` scaled to a plate's pixels,
#: :meth:`TrackingConfig.unscaled_defaults`) may cover for nuclei to be segmented at that sampling: below
#: it (pixels above ~4.4 µm) a nucleus is a few pixels, and no size in pixels tells it from noise or a
#: neighbour.
MIN_SEGMENTABLE_AREA_PX = 10


class TrackingMapsConfig(StrictModel):
    """How the nuclear image becomes ultrack's foreground and contour maps."""

    z_handling: Literal["max_projection", "mean_projection", "3d"] = Field(
        "max_projection",
        description=(
            "'max_projection' or 'mean_projection' reduce the slices in z_slice_range to one plane "
            "and track in 2D (label images have Z = 1); '3d' tracks in the volume (label images "
            "keep the input's Z, zero outside z_slice_range)."
        ),
    )
    z_slice_range: tuple[int, int] | None = Field(
        None,
        description="[first, stop) slice indices used; null uses every slice.",
    )
    normalization_percentiles: tuple[float, float] = Field(
        (1.0, 99.8),
        description=(
            "Per-FOV percentiles (over all frames of the reduced image) mapped to 0 and 1. Robust "
            "to camera offset and background (raw counts) and to the scale of a virtual stain."
        ),
    )
    smoothing_sigma_px: float = Field(
        1.0, ge=0, description="Gaussian sigma (pixels, YX; in 3D also Z slices) applied after normalising."
    )
    foreground_threshold: float | Literal["otsu"] = Field(
        "otsu",
        description=(
            "Threshold on the normalised, smoothed image separating nuclei from background: a "
            "number, or 'otsu' (Otsu's threshold of the whole FOV, all frames)."
        ),
    )
    minimum_otsu_threshold: float = Field(
        0.15,
        ge=0,
        le=1,
        description=(
            "Lower bound of the Otsu threshold (normalised units), so that a FOV without nuclei "
            "does not turn its noise into foreground."
        ),
    )
    contour_method: Literal["inverted_intensity", "gradient", "distance"] = Field(
        "distance",
        description=(
            "Contour (boundary) map that ultrack's watershed hierarchy is built on: "
            "'inverted_intensity' = 1 - normalised intensity (nuclei brightest at their centre), "
            "'gradient' = Sobel gradient magnitude, 'distance' = 1 - normalised distance to the "
            "background (splits touching round nuclei)."
        ),
    )

    @field_validator("normalization_percentiles")
    @classmethod
    def _percentiles_ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0 <= low < high <= 100:
            raise ValueError(
                f"normalization_percentiles: need 0 <= low < high <= 100, got {list(value)}; e.g. [1, 99.8]"
            )
        return value

    @field_validator("z_slice_range")
    @classmethod
    def _slices_ordered(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and not 0 <= value[0] < value[1]:
            raise ValueError(
                f"z_slice_range: need 0 <= first < stop, got {list(value)}; e.g. [2, 8], or null for all"
            )
        return value

    def z_slices(self, n_z: int) -> slice:
        """Slices of a stack of ``n_z`` slices that ``z_slice_range`` selects (every slice when null).

        Raises:
            ValueError: the range ends past the stack, naming the key, the range and ``n_z``.
        """
        if self.z_slice_range is None:
            return slice(0, n_z)
        return slices_within(*self.z_slice_range, n_z, "tracking.maps.z_slice_range")

    @field_validator("foreground_threshold")
    @classmethod
    def _threshold_in_unit_range(cls, value: float | str) -> float | str:
        if not isinstance(value, str) and not 0 < value < 1:
            raise ValueError(
                f"foreground_threshold: a number must lie in (0, 1) (normalised intensity), got {value}; "
                "or use 'otsu'"
            )
        return value


class UltrackSegmentationConfig(StrictModel):
    """Candidate segments (ultrack's watershed hierarchy): sizes in pixels (2D) or voxels (3D)."""

    min_area_px: int = Field(
        60,
        ge=1,
        description="Smallest candidate nucleus (pixels in 2D, voxels in 3D); simulated nuclei: ~190 px.",
    )
    max_area_px: int = Field(
        450,
        ge=2,
        description="Largest candidate nucleus; keep below two nuclei so merged pairs are not candidates.",
    )
    min_frontier: float = Field(
        0.0,
        ge=0,
        description="Neighbouring regions whose mean contour value between them is below this are merged.",
    )

    @model_validator(mode="after")
    def _areas_ordered(self) -> UltrackSegmentationConfig:
        if self.min_area_px >= self.max_area_px:
            raise ValueError(
                f"min_area_px ({self.min_area_px}) must be smaller than max_area_px ({self.max_area_px})"
            )
        return self


class UltrackLinkingConfig(StrictModel):
    """Candidate links between segments of consecutive frames."""

    max_distance_px: float = Field(
        20.0,
        gt=0,
        description=(
            "Largest centroid displacement between frames (pixels); must cover cell motion and the "
            "mother-to-daughter offset (~9 px with the simulator's defaults)."
        ),
    )
    max_neighbors: int = Field(5, ge=1, description="Candidate links kept per segment (best weights).")
    distance_weight_per_px: float = Field(
        0.01,
        ge=0,
        description=(
            "Link weight is IoU minus this times the centroid distance (pixels). Breaks the tie "
            "between candidate mothers of a daughter that overlaps none of them (IoU 0), in favour "
            "of the nearest; needs solver.link_function 'identity'."
        ),
    )


class UltrackSolverConfig(StrictModel):
    """ultrack's integer linear program choosing segments and links.

    CBC (open source, shipped with python-mip) needs no commercial licence; GUROBI needs one.
    """

    solver_name: Literal["CBC", "GUROBI"] = Field(
        "CBC",
        description="ILP solver: 'CBC' (open source, no licence) or 'GUROBI' (licence required; a job that "
        "cannot load it fails rather than falling back to CBC).",
    )
    appear_weight: float = Field(
        -1.0,
        le=0,
        description=(
            "Cost of a track starting away from the border and the first frame (<= 0). Larger than "
            "the weight of any single link, so the solver keeps a daughter's first frames (small, "
            "fast-moving nuclei overlapping nothing) rather than starting her track a frame or two "
            "later, and prefers a division to a new track."
        ),
    )
    disappear_weight: float = Field(
        -1.0,
        le=0,
        description="Cost of a track ending away from the border and before the last frame (<= 0).",
    )
    division_weight: float = Field(
        0.2,
        description=(
            "Weight of a division in the objective, which the solver maximises: negative is a cost, "
            "positive a reward. A division adds a second link from the mother, weighing IoU - "
            "linking.distance_weight_per_px x distance: negative for a daughter that overlaps no "
            "mother (~0.01 x 9-20 px). Where a new track is free (within image_border_px of the "
            "border) or not needed (a daughter in the last frame, or leaving at once), that link is "
            "kept only when it plus this weight is positive: a reward of about "
            "distance_weight_per_px x max_distance_px finds those divisions too. Larger rewards turn "
            "cells entering beside another, and nuclei cut in two, into false divisions."
        ),
    )
    link_function: Literal["power", "identity"] = Field(
        "identity",
        description=(
            "Transform of the link weights before the ILP: 'power' (weight ** power + bias) or "
            "'identity' (weight + bias). Use 'identity' with a distance penalty: a negative weight "
            "raised to an even power turns positive."
        ),
    )
    power: float = Field(4.0, gt=0, description="Exponent of the 'power' link function.")
    bias: float = Field(0.0, le=0, description="Added to every link weight (<= 0).")
    image_border_px: int = Field(
        10,
        ge=0,
        description="Tracks starting or ending within this many pixels of the YX border are not penalised.",
    )
    time_limit_s: int = Field(
        600,
        ge=1,
        description=(
            "Solver time limit per solve (seconds): a FOV's frames, or each group of them that a run of "
            "frames without foreground longer than gap_closing.max_gap_frames separates."
        ),
    )
    solution_gap: float = Field(0.001, ge=0, lt=1, description="Relative optimality gap at which to stop.")


class TrackingDivisionsConfig(StrictModel):
    """Checks on the divisions ultrack selected (:mod:`dynaclr.tracking.divisions`)."""

    max_fragment_gap_px: float = Field(
        1.5,
        ge=0,
        description=(
            "A division whose two daughters' masks come within this distance (pixels; 1 = "
            "adjacent pixels) is one nucleus cut in two: the daughter nearest the mother continues "
            "her track and the other starts her own. Daughters of a real division move apart "
            "(the simulator: 2 x division.daughter_offset_um, ~18 px apart); where real daughters "
            "still touch in their first frame (a high frame rate), set 0: every division is kept."
        ),
    )


class TrackingGapClosingConfig(StrictModel):
    """Joining tracks across frames without their cell (:mod:`dynaclr.tracking.gaps`), after the solve."""

    max_gap_frames: int = Field(
        GAP_CLOSING_DEFAULT_FRAMES,
        ge=0,
        description=(
            "A track ending (without dividing) and a track starting (without a mother) up to this many "
            "missing frames later are joined into one track with a gap (no rows in the missing frames): "
            "a blank frame, a frame QC dropped, a nucleus missed for a frame no longer cut every track "
            "through it in two. Only continuations: a division during the gap is not recovered (the mother "
            "may be continued by the nearer daughter, the other starts without a mother). Frames without "
            "any foreground (blank, dropped) are not given to ultrack: across up to this many of them in a "
            "row it links as across one frame (linking.max_distance_px; divisions too), longer runs of "
            "them separate solves whose ends are free like the movie's (the frames beside a dropped frame "
            "lost their nuclei). 0: off, every frame without foreground separates solves "
            "(max_distance_px is then not checked against the pixels)."
        ),
    )
    max_distance_px: float = Field(
        GAP_CLOSING_DEFAULT_DISTANCE_PX,
        ge=0,
        description=(
            "Largest distance (pixels; voxels in 3D, a z slice counting as a pixel) from the earlier "
            "track's last centroid to the later one's first; the pairs of one frame are an optimal "
            "one-to-one assignment by distance among the pairs within it."
        ),
    )


class TrackingConfig(StrictModel):
    """Segmentation and tracking of nuclei with ultrack, one job per FOV.

    Sizes are in pixels, their defaults meant for 0.65 µm pixels: on a plate whose pixels are more than
    1.5 times larger or smaller, the dry run refuses those left at their defaults, naming the values
    scaled to its pixels."""

    maps: TrackingMapsConfig = TrackingMapsConfig()
    segmentation: UltrackSegmentationConfig = UltrackSegmentationConfig()
    linking: UltrackLinkingConfig = UltrackLinkingConfig()
    solver: UltrackSolverConfig = UltrackSolverConfig()
    divisions: TrackingDivisionsConfig = TrackingDivisionsConfig()
    gap_closing: TrackingGapClosingConfig = TrackingGapClosingConfig()

    @model_validator(mode="after")
    def _distance_penalty_needs_identity_links(self) -> TrackingConfig:
        if self.linking.distance_weight_per_px > 0 and self.solver.link_function == "power":
            raise ValueError(
                "linking.distance_weight_per_px > 0 makes far links' weights negative, and solver "
                "link_function 'power' can turn them positive; set solver.link_function to 'identity' "
                "or the distance weight to 0"
            )
        return self

    def pixel_defaults_left(self) -> list[str]:
        """The keys of :data:`PIXEL_SCALED_KEYS` (``"section.field"``) the config does not give: at
        their defaults, tuned for pixels of :data:`DEFAULTS_PIXEL_SIZE_UM`. With
        ``gap_closing.max_gap_frames`` 0 nothing is joined and the ``gap_closing`` keys do nothing:
        not among them."""
        return [
            f"{section}.{field}"
            for section, field in PIXEL_SCALED_KEYS
            if field not in getattr(self, section).model_fields_set
            and not (section == "gap_closing" and self.gap_closing.max_gap_frames == 0)
        ]

    def unscaled_defaults(self, pixel_size_um: float) -> dict[str, tuple[float, float | None]]:
        """The keys of :data:`PIXEL_SCALED_KEYS` left at their defaults (not given in the config) where
        ``pixel_size_um`` (the tracking input's pixels, µm) differs from :data:`DEFAULTS_PIXEL_SIZE_UM` by
        more than :data:`PIXEL_SIZE_TOLERANCE`: ``{"section.field": (default, scaled value)}``, the
        value scaled to ``pixel_size_um`` (integers rounded, floats to 3 significant digits); empty
        within the tolerance or when every such key is given. The scaled areas form a valid
        segmentation block: ``min_area_px`` at least 1, ``max_area_px`` at least 2 and above the
        ``min_area_px`` used (given or scaled), and a scaled ``min_area_px`` below a given
        ``max_area_px`` (at most one less: the caller says when that cut the scaled value). In 3D
        (``maps.z_handling``) ``maps.smoothing_sigma_px`` blurs Z slices too, whose size the pixel size
        does not tell: its scaled value is ``None``."""
        ratio = pixel_ratio_beyond_tolerance(pixel_size_um)
        if ratio is None:
            return {}
        unscaled: dict[str, tuple[float, float | None]] = {}
        left = self.pixel_defaults_left()
        for (section, field), power in PIXEL_SCALED_KEYS.items():
            if f"{section}.{field}" not in left:
                continue
            default = getattr(getattr(self, section), field)
            scaled = default * ratio**power
            value: float | None = (
                max(1, round(scaled)) if isinstance(default, int) else float(f"{scaled:.3g}")
            )
            if (section, field) == ("maps", "smoothing_sigma_px") and self.maps.z_handling == "3d":
                value = None
            unscaled[f"{section}.{field}"] = (default, value)
        if "segmentation.min_area_px" in unscaled and "max_area_px" in self.segmentation.model_fields_set:
            default, value = unscaled["segmentation.min_area_px"]
            assert value is not None
            unscaled["segmentation.min_area_px"] = (default, min(value, self.segmentation.max_area_px - 1))
        if "segmentation.max_area_px" in unscaled:
            default, value = unscaled["segmentation.max_area_px"]
            min_area = unscaled.get("segmentation.min_area_px", (0, self.segmentation.min_area_px))[1]
            assert value is not None and min_area is not None
            unscaled["segmentation.max_area_px"] = (default, max(value, 2, min_area + 1))
        return unscaled


def pixel_ratio_beyond_tolerance(pixel_size_um: float) -> float | None:
    """``DEFAULTS_PIXEL_SIZE_UM / pixel_size_um`` (what a length in pixels of the defaults' pixels is
    multiplied by on pixels of ``pixel_size_um`` µm) where the two differ by more than
    :data:`PIXEL_SIZE_TOLERANCE`; ``None`` within it (the pixel-valued defaults hold). Every default
    counted in pixels of a length (tracking's :data:`PIXEL_SCALED_KEYS`, the matching radii
    ``max_match_distance_px``, the patches' ``patch_size_yx_px``) is checked with it."""
    ratio = DEFAULTS_PIXEL_SIZE_UM / pixel_size_um
    return ratio if max(ratio, 1.0 / ratio) > PIXEL_SIZE_TOLERANCE else None


def scaled_default_max_area_px(pixel_size_um: float) -> float:
    """The default ``segmentation.max_area_px`` (the largest nucleus, in pixels of
    :data:`DEFAULTS_PIXEL_SIZE_UM`) scaled to pixels of ``pixel_size_um`` µm, unrounded: below
    :data:`MIN_SEGMENTABLE_AREA_PX` nuclei cannot be segmented at that sampling."""
    default = UltrackSegmentationConfig.model_fields["max_area_px"].default
    return (
        float(default)
        * (DEFAULTS_PIXEL_SIZE_UM / pixel_size_um) ** PIXEL_SCALED_KEYS[("segmentation", "max_area_px")]
    )


class TrackingEvaluationConfig(StrictModel):
    """Comparison of tracks with the ground truth (Cell Tracking Challenge DET/TRA, divisions)."""

    division_frame_tolerance: int = Field(
        1,
        ge=0,
        description=(
            "A predicted division matches a true one when its mother and both daughters match the "
            "true ones and the division frames differ by at most this many frames."
        ),
    )


#: What each ``tracks.format`` reads, in words (the report's first page names it with the path).
TRACKS_FORMAT_NAMES: dict[str, str] = {
    "table": "table",
    "ultrack": "ultrack CSV files",
    "ctc": "Cell Tracking Challenge folders",
    "trackmate": "TrackMate XML files",
}
#: A CTC folder's lineage file and the prefix of its label images ``<prefix><t>.tif``, in the order
#: looked for: a result (``res_track.txt``, ``mask<t>.tif``) or a ground truth's ``TRA`` folder
#: (``man_track.txt``, ``man_track<t>.tif``).
CTC_LAYOUTS: dict[str, str] = {"res_track.txt": "mask", "man_track.txt": "man_track"}
#: File name endings of a ``tracks: {format: table}`` file.
TRACKS_TABLE_SUFFIXES: tuple[str, ...] = (".csv", ".parquet")


class ImportedTracksConfig(StrictModel):
    """Tracks you already have, instead of segmentation and tracking (rule ``import_tracks``).

    ``table``: one CSV or Parquet file with ``fov_name, track_id, t, y, x`` (optional
    ``parent_track_id``, ``z``, ``id``, ``parent_id``; other columns are ignored). ``ultrack``: one
    CSV per FOV as ultrack's ``to_tracks_layer`` writes it (``track_id, t, [z,] y, x, id,
    parent_track_id, parent_id``). ``ctc``: one Cell Tracking Challenge result folder per FOV
    (``res_track.txt`` and ``mask###.tif``, or a ground truth's ``man_track.txt`` and
    ``man_track###.tif``, the same in every FOV; ``.tiff`` and upper-case ``.TIF`` too).
    ``trackmate``: one Fiji TrackMate XML file per FOV (``File > Save``; positions in its calibrated
    units, converted with its own pixel size, which must agree with the plate's). Units: ``t``
    frames of the plate (``frame_step``), centroids pixels (``z`` slices) or micrometres
    (``position_unit``).
    """

    format: Literal["table", "ultrack", "ctc", "trackmate"] = Field(
        description=(
            "'table' (one file, all FOVs), 'ultrack' (a CSV per FOV), 'ctc' (a CTC folder per FOV) or "
            "'trackmate' (a TrackMate XML file per FOV)."
        )
    )
    path: str = Field(
        min_length=1,
        description=(
            "table: the CSV or Parquet file; ultrack, ctc and trackmate: a pattern with {row}, {col} "
            "and {fov} (e.g. tracks/{row}/{col}/{fov}/tracks.csv, ctc/{row}_{col}_{fov}_RES, "
            "trackmate/{row}_{col}_{fov}.xml), expanded over the plate's FOVs; a tiff: dataset's may "
            "instead name each FOV's file by its position, {position} alone (e.g. trackmate/{position}.xml, "
            "Pos0.xml for the FOV tiff.positions maps Pos0 to). Relative to the working directory."
        ),
    )

    position_unit: Literal["px", "um"] = Field(
        "px",
        description=(
            "table and ultrack: the unit of y, x and z: 'px' (pixels of the plate's images, z in slices) or "
            "'um' (micrometres: y, x divided by the plate's pixel size, z by its z step, as its metadata or "
            "acquisition.pixel_size_um and acquisition.z_step_um state them; a z other than 0 on a plate "
            "stating no z step is refused). The import refuses positions that sit on the plate's cells "
            "only when read in micrometres or with x and y swapped."
        ),
    )
    frame_step: int | None = Field(
        None,
        ge=2,
        description=(
            "table and ultrack: set when the tracking used every frame_step-th frame of the plate (t still "
            "counts the plate's frames: 0, k, 2k, ...). Without it, tracks whose consecutive detections "
            "are all k > 1 frames apart (k the greatest common divisor of every track's steps) are "
            "refused where k is the plate's frame interval in minutes or seconds (t in minutes or "
            "seconds: divide t by the interval), else imported with a WARNING; with it, steps that are "
            "multiples of frame_step are expected."
        ),
    )

    def job_params(self) -> dict[str, Any]:
        """:meth:`StrictModel.job_params` without ``frame_step`` where it is unset: a key added after
        configs had been run without it, so that upgrading reruns no import."""
        params = super().job_params()
        if self.frame_step is None:
            params.pop("frame_step", None)
        return params

    def description(self) -> str:
        """What the tracks are read from, for the report's first page: the format's name and the path
        (its pattern, for a file or folder per FOV)."""
        return f"{TRACKS_FORMAT_NAMES[self.format]} {self.path}"

    @model_validator(mode="after")
    def _unit_fits_format(self) -> ImportedTracksConfig:
        if self.position_unit == "um" and self.format not in ("table", "ultrack"):
            raise ValueError(
                f"tracks.position_unit: 'um' is the unit of a table's or ultrack CSV's y, x; format "
                f"{self.format!r} gives pixels (a CTC folder's masks; a TrackMate file's calibration "
                "converts its own): remove position_unit"
            )
        return self

    @model_validator(mode="after")
    def _frame_step_fits_format(self) -> ImportedTracksConfig:
        if self.frame_step is not None and self.format not in ("table", "ultrack"):
            raise ValueError(
                f"tracks.frame_step: the step between a table's or ultrack CSV's frames t; format "
                f"{self.format!r} numbers its frames as the plate's (a CTC folder's file names; a TrackMate "
                "file's FRAME, checked against the plate): remove frame_step"
            )
        return self

    @model_validator(mode="after")
    def _path_fits_format(self) -> ImportedTracksConfig:
        held = fov_placeholders(self.path)
        if self.format == "table":
            if held:
                raise ValueError(
                    f"tracks.path: format 'table' reads one file for all FOVs (column fov_name); found "
                    f"placeholders {held} in {self.path!r}; use format 'ultrack', 'ctc' or 'trackmate' "
                    "for one file or folder per FOV"
                )
            if not self.path.lower().endswith(TRACKS_TABLE_SUFFIXES):
                raise ValueError(
                    f"tracks.path: format 'table' expects a {' or '.join(TRACKS_TABLE_SUFFIXES)} file, "
                    f"found {self.path!r}"
                )
            return self
        check_fov_pattern("tracks.path", self.path, f"format {self.format!r} is one file or folder per FOV")
        if self.format == "ultrack" and not self.path.lower().endswith(".csv"):
            raise ValueError(f"tracks.path: format 'ultrack' expects CSV files, found {self.path!r}")
        if self.format == "trackmate" and not self.path.lower().endswith(".xml"):
            raise ValueError(
                f"tracks.path: format 'trackmate' expects TrackMate XML files (.xml), found {self.path!r}"
            )
        return self

    def fov_path(self, fov_name: str, positions: Mapping[str, str] | None = None) -> str:
        """The file (ultrack, trackmate) or folder (ctc) of FOV ``row/col/fov``: ``path``, placeholders
        filled; ``{position}`` with the FOV's TIFF position, from ``positions`` (``{fov_name:
        position}``, ``DatasetConfig.fov_positions``)."""
        return fill_fov_pattern(self.path, fov_name, positions)

    def ctc_lineage(self, fov_name: str, positions: Mapping[str, str] | None = None) -> str:
        """Format ``ctc``: the lineage file of FOV ``row/col/fov``'s folder (:meth:`fov_path`):
        ``res_track.txt`` (a result), or ``man_track.txt`` where only that is there (a ground truth's
        ``TRA`` folder); ``res_track.txt`` where neither is, so the missing file is named."""
        folder = self.fov_path(fov_name, positions)
        for name in CTC_LAYOUTS:
            if os.path.isfile(os.path.join(folder, name)):
                return os.path.join(folder, name)
        return os.path.join(folder, next(iter(CTC_LAYOUTS)))

    def ctc_lineages(
        self, fov_names: Iterable[str], positions: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Format ``ctc``: :meth:`ctc_lineage` of each FOV, ``{fov_name: path}`` in ``fov_names``'
        order (one look-up per FOV: the caller that needs them twice keeps them)."""
        return {fov_name: self.ctc_lineage(fov_name, positions) for fov_name in fov_names}


def mixed_ctc_layouts(lineages: Mapping[str, str]) -> str | None:
    """Why FOVs whose lineage files (``{fov_name: path}``, :meth:`ImportedTracksConfig.ctc_lineage`)
    are of both layouts cannot be one dataset's tracks: a tracker's results (``res_track.txt``) beside a
    ground truth (``man_track.txt``) would be analysed as one kind; ``None``: one layout (files that do
    not exist are left to the check naming them)."""
    first: dict[str, tuple[str, str]] = {}
    for fov_name, path in lineages.items():
        name = os.path.basename(path)
        if name in CTC_LAYOUTS and name not in first and os.path.isfile(path):
            first[name] = (fov_name, path)
    if len(first) < 2:
        return None
    result, truth = first["res_track.txt"], first["man_track.txt"]
    return (
        f"expected one layout in every FOV's folder, found a result (res_track.txt) in FOV {result[0]} "
        f"({result[1]}) and a ground truth's TRA folder (man_track.txt) in FOV {truth[0]} ({truth[1]}): a "
        "tracker's results and a ground truth would be read as one dataset's tracks; point tracks.path at "
        "one kind of folder (put the others in another dataset)"
    )
