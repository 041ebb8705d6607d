"""Configuration of the analyses of embeddings: temporal metrics, sparse annotations, classifiers
and DTW pseudo-time (rules ``temporal_metrics``, ``draw_annotations`` or ``import_annotations``,
``classify``, ``align_pseudotime``).

Units are in the field names: ``_frames`` time points, ``_px`` pixels. Every analysis states
which matrix of the embeddings it reads (``representation``): ``features`` (AnnData ``X``, the
backbone's pooled features; the engineered-features baseline stores its features z-scored there,
raw values in ``layers['raw']``, so that no feature dominates by its unit), ``projections``
(``obsm['X_projections']``, the projection head's output) or ``standardized`` (``X`` as well: only the
engineered-features baseline's ``X`` is standardised, so the library reads it for that baseline alone;
a workflow config asking for it is refused at the dry run, since every dataset it analyses is also
embedded by an encoder that stores no such matrix).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from dynaclr.config.base import IntervalsConfig, StrictModel, check_fov_pattern, fov_placeholders

Representation = Literal["features", "projections", "standardized"]
ClassificationTask = Literal["infection", "division"]


class TemporalMetricsConfig(StrictModel):
    """Smoothness and dynamic range (paper appendix C) with track-bootstrap confidence intervals."""

    representation: Representation = Field(
        "features", description="Matrix the cosine distances are computed on (see module docstring)."
    )
    n_bootstrap: int = Field(200, ge=0, description="Bootstrap replicates over tracks; 0 disables the CIs.")
    confidence: float = Field(0.95, gt=0.0, lt=1.0, description="Central coverage of the bootstrap interval.")
    seed: int = Field(0, ge=0, description="Seed of the random pairs and of the bootstrap.")


#: Suffixes of the annotation tables a dataset may name (``annotations.table``).
ANNOTATION_TABLE_SUFFIXES: tuple[str, ...] = (".csv", ".parquet")


class AnnotationConfig(StrictModel):
    """Sparse annotations of a dataset: drawn from ground truth or the tracks' lineage, or your table.

    Without ``table`` (simulated datasets), rule ``draw_annotations`` draws them from the ground
    truth as a person would label a few cells (keys ``fraction_of_cells``, ``positive_class_share``,
    ``infection_visible_translocation``, ``seed``). With ``table`` (any dataset, e.g. a ``plate:``
    one), rule ``import_annotations`` validates that table and writes it in the same layout; the
    drawing keys do not apply and must be left out, and ``tasks`` names the tasks the table holds.
    With ``division_from_lineage`` (any dataset, e.g. one with tracks of its own), rule
    ``annotate_divisions_from_lineage`` draws ``division`` labels from the lineage of the dataset's
    tracks the same way (``mitosis_frames``, ``interphase_margin_frames``).
    """

    table: str | None = Field(
        None,
        description=(
            "Your annotations: a CSV or Parquet file with columns fov_name ('row/column/fov'), "
            "track_id and t (a cell of the workflow's tracks, results/<dataset>/tracks.parquet), task "
            "('infection' or 'division') and label (infection: 'infected'/'uninfected'; division: "
            "'mitosis'/'interphase'; case and surrounding spaces are normalised); optional y, x (pixels) "
            "locate cells not in the tracks. Or the wide layout of napari-iohub's Cell State Annotator / "
            "VisCy (columns infection_state, cell_division_state). Or one file per FOV: a pattern with "
            "{row}, {col} and {fov} (e.g. annotations/{row}_{col}_{fov}.csv), or on a tiff: dataset "
            "{position} alone (annotations/{position}.csv: the FOV's TIFF position), expanded over the "
            "plate's FOVs; the files that exist are read (a FOV without one has no annotations), fov_name is "
            "taken from the path where a file lacks it. Relative to the working directory. "
            "Omit to draw annotations from the ground truth (simulated datasets)."
        ),
    )
    position_unit: Literal["px", "um"] = Field(
        "px",
        description=(
            "With 'table': the unit of its optional y, x columns: 'px' (pixels of the plate's images) or "
            "'um' (micrometres, divided by the plate's pixel size, as its metadata or "
            "acquisition.pixel_size_um states it, when imported). The import refuses a table whose y, x "
            "match the tracked cells only when read in the other unit or with x and y swapped."
        ),
    )
    frame_step: int | None = Field(
        None,
        ge=2,
        description=(
            "With 'table': set when the cells were annotated on every frame_step-th frame of the plate "
            "(t still counts the plate's frames: 0, k, 2k, ...). Without it (nor tracks.frame_step, which "
            "stands for it), a table whose every frame t is a multiple of the plate's frame interval in "
            "minutes or seconds (k, the greatest common divisor of its frames other than 0, the interval "
            "or a whole multiple of it) is refused as t in minutes or seconds where its rows lie on the "
            "tracked cells clearly more often at frame t / interval than at t (divide t by the interval), "
            "and imported with a warning where they cannot tell; with it, frames that are multiples of "
            "frame_step are expected (no check, no warning)."
        ),
    )
    fraction_of_cells: float = Field(
        0.10,
        gt=0.0,
        le=0.10,
        description=(
            "Fraction of all cell observations (cells x frames) annotated per task; at most 0.10, "
            "the sparse-label regime of the paper."
        ),
    )
    tasks: tuple[ClassificationTask, ...] = Field(
        ("infection", "division"),
        min_length=1,
        description="Tasks to annotate; with 'table', the tasks the table holds (each needs rows).",
    )
    positive_class_share: float = Field(
        0.5,
        gt=0.0,
        lt=1.0,
        description=(
            "Target share of the rare/positive class (infected, mitosis) among a task's annotations; "
            "the annotator looks for it as a person looks for mitoses. Capped by availability."
        ),
    )
    infection_visible_translocation: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description=(
            "An annotator calls a cell infected once its viral sensor has moved this fraction of "
            "the way into the nucleus; infected cells before that look uninfected and are left "
            "unannotated (ambiguous). 0 labels every cell from its true infection onset."
        ),
    )
    seed: int = Field(0, ge=0, description="Seed of the annotation draw.")
    division_from_lineage: bool = Field(
        False,
        description=(
            "Draw division annotations from the lineage of the dataset's tracks (results/<dataset>/"
            "tracks.parquet, e.g. tracks you imported) instead of ground truth or a table: 'mitosis' the "
            "last mitosis_frames frames of a mother before its daughters appear, 'interphase' frames at "
            "least interphase_margin_frames from a track's ends; drawn sparsely as from ground truth "
            "(fraction_of_cells, positive_class_share, seed). tasks is then [division]."
        ),
    )
    mitosis_frames: int = Field(
        2,
        ge=1,
        description="With division_from_lineage: frames of a mother track labelled 'mitosis' before its "
        "daughters' first frame.",
    )
    interphase_margin_frames: int = Field(
        4,
        ge=0,
        description="With division_from_lineage: a frame is 'interphase' when at least this many frames lie "
        "between it and its track's last frame, and (for a daughter) its track's first frame.",
    )

    @model_validator(mode="before")
    @classmethod
    def _lineage_tasks(cls, data: Any) -> Any:
        """The lineage gives division labels only: ``tasks`` defaults to ``[division]`` with it."""
        if isinstance(data, dict) and data.get("division_from_lineage") and "tasks" not in data:
            return {**data, "tasks": ["division"]}
        return data

    @model_validator(mode="after")
    def _lineage_keys(self) -> AnnotationConfig:
        lineage_keys = [
            f"{name}={getattr(self, name)!r}"
            for name in ("mitosis_frames", "interphase_margin_frames")
            if getattr(self, name) != type(self).model_fields[name].default
        ]
        if not self.division_from_lineage:
            if lineage_keys:
                raise ValueError(
                    f"annotations: {lineage_keys} are read with division_from_lineage: true only; "
                    "remove them or set it"
                )
            return self
        if self.table is not None:
            raise ValueError(
                "annotations: give either 'table' (your annotations) or division_from_lineage: true, not both"
            )
        if tuple(self.tasks) != ("division",):
            raise ValueError(
                f"annotations.tasks: the lineage gives division labels only; expected [division], found "
                f"{list(self.tasks)}"
            )
        if (
            self.infection_visible_translocation
            != type(self).model_fields["infection_visible_translocation"].default
        ):
            raise ValueError(
                "annotations.infection_visible_translocation does not apply with division_from_lineage: "
                "remove it"
            )
        return self

    @model_validator(mode="after")
    def _table_or_draw(self) -> AnnotationConfig:
        if self.table is None:
            if self.frame_step is not None:
                raise ValueError(
                    f"annotations.frame_step={self.frame_step!r} is the step between your table's frames t; "
                    "it does not apply without 'table': remove it"
                )
            if self.position_unit != type(self).model_fields["position_unit"].default:
                raise ValueError(
                    f"annotations.position_unit={self.position_unit!r} is the unit of your table's y, x; "
                    "it does not apply without 'table': remove it"
                )
            return self
        if not self.table.lower().endswith(ANNOTATION_TABLE_SUFFIXES):
            raise ValueError(
                f"annotations.table must be a {' or '.join(ANNOTATION_TABLE_SUFFIXES)} file; "
                f"got {self.table!r}"
            )
        if fov_placeholders(self.table):
            check_fov_pattern("annotations.table", self.table, "a table per FOV is named by a pattern")
        drawing = [
            f"{name}={getattr(self, name)!r}"
            for name in DRAWING_KEYS
            if getattr(self, name) != type(self).model_fields[name].default
        ]
        if drawing:
            raise ValueError(
                f"annotations.table reads your annotations, so the drawing keys {drawing} do not apply "
                "(they draw annotations from ground truth); remove them or remove 'table'"
            )
        return self

    def job_params(self) -> dict[str, Any]:
        """:meth:`StrictModel.job_params` without ``frame_step`` where it is unset: a key added after
        configs had been run without it, so that upgrading reruns no annotation job."""
        params = super().job_params()
        if self.frame_step is None:
            params.pop("frame_step", None)
        return params

    @property
    def is_imported(self) -> bool:
        """True when the annotations come from the user's ``table`` rather than ground truth."""
        return self.table is not None

    @property
    def table_is_pattern(self) -> bool:
        """True when ``table`` names one file per FOV (a pattern with {row}, {col}, {fov}, or a
        ``tiff:`` dataset's {position})."""
        return self.table is not None and bool(fov_placeholders(self.table))

    @property
    def source(self) -> Literal["ground_truth", "table", "lineage"]:
        """Where the annotations come from: drawn from ground truth (rule ``draw_annotations``), your
        ``table`` (``import_annotations``) or the tracks' lineage (``annotate_divisions_from_lineage``)."""
        if self.table is not None:
            return "table"
        return "lineage" if self.division_from_lineage else "ground_truth"


#: Keys of :class:`AnnotationConfig` that only drawing from ground truth reads.
DRAWING_KEYS: tuple[str, ...] = (
    "fraction_of_cells",
    "positive_class_share",
    "infection_visible_translocation",
    "seed",
)


class ImportedClassifiersConfig(StrictModel):
    """Classifiers fitted in an earlier run (its ``classifiers`` artifact) that predict, unchanged, the
    datasets a model of this run embeds (rule ``transfer_classifiers``, as classifiers of ``train_on``)."""

    file: str = Field(
        description="A classifiers file of an earlier run: "
        "results/evaluation/classifiers/<model>/<dataset>.json (kind 'classifiers', written by rule "
        "'classify'; plain numbers, never a pickle), outside this run's results folder."
    )
    model: str = Field(
        description="The contrastive model (a name in contrastive_models) whose embeddings it reads: "
        "the model the classifiers were fitted on, usually imported from that run's model.ckpt "
        "(checkpoint:; an import of an import keeps the weights). Rule transfer_classifiers compares "
        "the SHA-256 of the weights the file's classifiers were fitted on with that of the weights "
        "this model embedded with, and refuses other weights (a file written before the digest was "
        "recorded is compared by training-config hash only, with a warning); the dry run refuses a "
        "file fitted on a checkpoint of another training config."
    )
    apply_to: list[str] | None = Field(
        None,
        description="Datasets it predicts; null: every dataset the model embeds. Scored where annotated.",
    )


class ClassificationConfig(IntervalsConfig):
    """Logistic regression on embeddings, evaluated with splits grouped by FOV; rule
    ``classification_intervals`` computes the CIs (:class:`~dynaclr.config.base.IntervalsConfig`)."""

    representation: Representation = Field("features", description="Matrix the classifier reads.")
    tasks: tuple[ClassificationTask, ...] = Field(("infection", "division"), min_length=1)
    n_splits: int = Field(
        5,
        ge=2,
        description=(
            "Folds of the FOV-grouped, label-stratified cross-validation; reduced to the number of "
            "annotated FOVs when there are fewer."
        ),
    )
    inverse_regularization_strength: float = Field(
        1.0, gt=0.0, description="LogisticRegression's C (larger = weaker L2 penalty)."
    )
    max_iterations: int = Field(2000, ge=10, description="LogisticRegression's max_iter.")
    match_annotations_on: Literal["position", "track"] = Field(
        "position",
        description=(
            "How annotations find their cell: 'position' (same FOV and frame, nearest patch centre "
            "within max_match_distance_px; works with tracks from the tracking stage) or 'track' "
            "(same fov_name, track_id and t; only when patches come from the annotated tracks)."
        ),
    )
    max_match_distance_px: float = Field(
        6.0, gt=0.0, description="Largest centroid distance (pixels) at which an annotation matches a patch."
    )
    n_bootstrap: int = Field(200, ge=0, description="Bootstrap replicates over tracks for the metric CIs.")
    confidence: float = Field(0.95, gt=0.0, lt=1.0)
    seed: int = Field(0, ge=0, description="Seed of the fold assignment and of the bootstrap.")
    train_on: list[str] | None = Field(
        None,
        description="Datasets whose annotations train classifiers (each cross-validated on its own FOVs); "
        "null: every annotated dataset.",
    )
    apply_to: list[str] | None = Field(
        None,
        description="Datasets the classifiers trained on 'train_on' predict (and, where they have labels, "
        "are scored on); null: every other dataset the same model embeds. [] : none.",
    )

    imported: dict[str, ImportedClassifiersConfig] = Field(
        default_factory=dict,
        description="Classifiers of an earlier run, by a name of your choice (letters, digits, '_', '-'), "
        "applied to this run's embeddings (README: Models and classifiers across datasets).",
    )

    PLANNING_KEYS: ClassVar[tuple[str, ...]] = ("train_on", "apply_to", "imported")


class ReferenceTrackConfig(StrictModel):
    """A reference infection trajectory chosen by a person."""

    dataset: str | None = Field(
        None,
        description=(
            "The dataset the track is of; required when the config has several datasets (the same FOV "
            "name and track id name another cell in another dataset). The other datasets' alignments "
            "choose their reference automatically."
        ),
    )
    fov_name: str = Field(
        pattern=r"^[^/]+/[^/]+/[^/]+$", description="FOV of the reference, 'row/column/fov'."
    )
    track_id: int = Field(
        ge=0,
        description=(
            "Track the reference ends in; its mothers' frames come first (the lineage series from "
            "the root to this track)."
        ),
    )
    t_start: int = Field(ge=0, description="First frame of the reference (inclusive).")
    t_stop: int = Field(ge=1, description="Frame after the last frame of the reference (exclusive).")
    onset_t: int = Field(ge=0, description="Frame of infection onset; pseudo-time 0.")
    y_px: float | None = Field(
        None,
        ge=0.0,
        description=(
            "Centroid row (pixels) of the named track (track_id) at its first frame in t_start..t_stop, "
            "as the tracks give it; with x_px. Not her mother's position where the window starts before "
            "the division: two daughters swapped by a re-tracking share their mother's frames. The "
            "track's centroid there must lie within analysis.pseudotime.max_match_distance_px of it, "
            "and the track must have a frame in the window, else the "
            "stage refuses: a re-tracking (a tracking config edit reruns it) renumbers tracks, and the "
            "same track id then names another cell. null (with x_px): the reference is identified by "
            "FOV and track id only (a WARNING says so)."
        ),
    )
    x_px: float | None = Field(
        None,
        ge=0.0,
        description=(
            "Centroid column (pixels) of the named track at its first frame in t_start..t_stop; see y_px."
        ),
    )

    @model_validator(mode="after")
    def _ordered(self) -> ReferenceTrackConfig:
        if not self.t_start <= self.onset_t < self.t_stop:
            raise ValueError(
                f"reference needs t_start <= onset_t < t_stop (frames); got t_start={self.t_start}, "
                f"onset_t={self.onset_t}, t_stop={self.t_stop}"
            )
        if (self.y_px is None) != (self.x_px is None):
            raise ValueError(
                "reference y_px, x_px: expected both (the named track's centroid at its first frame in "
                "t_start..t_stop) or neither, "
                f"found y_px={self.y_px}, x_px={self.x_px}"
            )
        return self


#: How the log, the figures and the first page name each ``PseudotimeConfig.event`` the lineages
#: were aligned on.
ALIGNED_EVENT_NAMES = {"infection": "infection onset", "division": "division"}

#: Coverage of the DTW onset error's interval (:func:`dynaclr.pseudotime.stage.onset_error_summary`),
#: which the results table's caption states: defined with the config, not in that module, because
#: the plan reads it and importing the module (scikit-learn, SciPy) cost every dry run about 0.25 s
#: of CPU.
ONSET_ERROR_CONFIDENCE = 0.95


class PseudotimeConfig(StrictModel):
    """DTW pseudo-time (paper section 4.5): align every lineage to one reference around an event,
    infection onset or division."""

    event: Literal["infection", "division"] = Field(
        "infection",
        description=(
            "The event lineages are aligned on: 'infection' (its onset from ground truth or the infection "
            "classifier's predictions) or 'division' (a lineage's first division, read from the tracks' "
            "lineage: frames of a daughter track are after it; the paper's mitosis alignment, e.g. ALFI). "
            "The 'onset' keys below mean the event's frame."
        ),
    )
    representation: Representation = Field("features", description="Matrix the trajectories are made of.")
    reference: ReferenceTrackConfig | None = Field(
        None,
        description=(
            "Explicit reference; null picks one automatically: the infected lineage series with the "
            "most frames on both sides of its onset (at least the frames below)."
        ),
    )
    n_references: int = Field(
        1,
        ge=1,
        le=20,
        description=(
            "Automatic references: the best-placed this many lineages (one per root lineage, ranked as the "
            "single one is); every lineage is aligned to each and keeps the alignment of lowest normalised "
            "cost (its nearest reference), as the paper aligns to several representative trajectories. "
            "The pseudo-time artifact's provenance records each reference with the onset error of "
            "aligning everything to it alone. 1 with an explicit reference."
        ),
    )
    reference_frames_before_onset: int = Field(
        3,
        ge=1,
        description=(
            "Automatic reference: frames kept before the onset frame; also the frames of known state a "
            "lineage's own state needs before its step to the event to reach it (fewer: "
            "state_event_position 'unknown', counted in a WARNING). Lowering it changes the reference's "
            "window, so every alignment."
        ),
    )
    reference_frames_after_onset: int = Field(
        4,
        ge=1,
        description=(
            "Automatic reference: frames kept from the onset frame on (onset included); also the frames a "
            "lineage's own state needs from its step to the event on to reach it (fewer: "
            "state_event_position 'unknown', counted in a WARNING): a large value leaves late events "
            "unknown. Lowering it changes the reference's window, so every alignment."
        ),
    )
    min_query_frames: int = Field(6, ge=2, description="Lineage series shorter than this are not aligned.")
    max_interpolated_gap_frames: int = Field(
        3,
        ge=0,
        description=(
            "Lineage series (queries and the reference) that skip frames (a cell the tracker missed, a frame "
            "QC dropped) are put on their regular frame grid before DTW, each missing frame linearly "
            "interpolated between its neighbours, so warping steps frame by frame; interpolated frames are "
            "aligned but never written nor reported as an onset. A query with a gap longer than this many "
            "missing frames is cut there: each part of at least min_query_frames frames (method sliding: "
            "the reference's length) is aligned on its own as part of the query, shorter parts are left "
            "out (counted in the pseudo-time's provenance, frame_gaps, and a WARNING); a reference with "
            "one keeps its observed frames (WARNING). 0 interpolates nothing: every gap cuts."
        ),
    )
    method: Literal["subsequence", "sliding"] = Field(
        "subsequence", description="Subsequence DTW (one pass) or the sliding-window full-DTW reference."
    )
    step_penalty: float = Field(
        0.5,
        ge=0.0,
        description=(
            "dtaidistance penalty for a non-diagonal step; it keeps the reference from collapsing "
            "onto one or two query frames, which smaller penalties allow."
        ),
    )
    normalize: bool = Field(True, description="Unit-normalise every frame (step cost = 2 x cosine distance).")
    pca_components: int | None = Field(
        None,
        ge=1,
        description="Reduce the embeddings to this many principal components first; null keeps all.",
    )
    min_match_frames: int = Field(2, ge=1, description="Shortest matched window (query frames).")
    match_truth_on: Literal["position", "track"] = Field(
        "position", description="How ground-truth cells find their patch (see ClassificationConfig)."
    )
    max_match_distance_px: float = Field(
        6.0,
        gt=0.0,
        description="'position' matching radius in pixels; analysis.figures and the feature "
        "trajectories (rule feature_trajectories, through the pseudo-time's provenance) match the ground "
        "truth with it too, and an explicit reference's y_px, x_px must lie this close to its track.",
    )
    seed: int = Field(0, ge=0, description="Seed of the PCA solver.")

    def job_params(self) -> dict[str, Any]:
        """:meth:`StrictModel.job_params` without the reference's ``y_px, x_px`` where unset: keys added
        after explicit references had been run without them, so that upgrading reruns no alignment."""
        params = super().job_params()
        reference = params.get("reference")
        if reference is not None:
            for axis in ("y_px", "x_px"):
                if reference.get(axis) is None:
                    reference.pop(axis, None)
        return params

    @model_validator(mode="after")
    def _one_explicit_reference(self) -> PseudotimeConfig:
        if self.reference is not None and self.n_references != 1:
            raise ValueError(
                f"n_references: {self.n_references} needs automatic references; with an explicit "
                "reference set n_references: 1 (or remove reference)"
            )
        if self.min_match_frames > self.min_query_frames:
            raise ValueError(
                f"min_match_frames: expected at most min_query_frames ({self.min_query_frames}: a query that "
                f"short must still be able to match), found {self.min_match_frames}; lower min_match_frames "
                "or raise min_query_frames"
            )
        return self


class FiguresConfig(StrictModel):
    """The embedding figures of each (model, dataset) (rule ``embedding_figures``).

    In the workflow config a key left out follows the analysis the figure draws
    (:class:`dynaclr.config.workflow.AnalysisConfig`): the distances follow ``temporal_metrics``,
    the ground-truth matching follows ``pseudotime``.
    """

    distances_representation: Representation = Field(
        "features",
        description="Matrix of the adjacent- vs random-frame distance figure (default: temporal_metrics').",
    )
    distances_seed: int = Field(
        0, ge=0, description="Seed of the distance figure's random pairs (default: temporal_metrics')."
    )
    match_truth_on: Literal["position", "track"] = Field(
        "position",
        description=(
            "How ground-truth cells (simulated datasets) find their tracked cell to colour the "
            "projections: 'position' (same frame, nearest centroid) or 'track' (same track id)."
        ),
    )
    max_match_distance_px: float = Field(6.0, gt=0.0, description="'position' matching radius in pixels.")
    explorer_max_cells: int = Field(
        2000,
        ge=1,
        description="Cells in the interactive explorer (explorer.html), drawn as whole tracks; each "
        "brings a 64-px WebP thumbnail (about 0.7 kB in the page) with it; a cap below every track's length "
        "is refused (the page would hold no cell), naming the shortest track's length.",
    )
    explorer_seed: int = Field(0, ge=0, description="Seed of the tracks the explorer draws.")
    explorer_channel: str | None = Field(
        None,
        min_length=1,
        description="Patch channel of the explorer's thumbnails, its name or 'source:name' (default: the "
        "patch store's first); checked against every embedded patch spec before any job runs.",
    )


class InterpretationConfig(StrictModel):
    """What the principal components of each (model, dataset)'s embeddings capture (paper Fig. 3d, 5b,
    appendix F): rules ``cell_features`` (per dataset and patch spec) and ``interpret_embeddings``
    (per model and dataset). Off by default: it reads every patch once more per dataset.
    """

    enabled: bool = Field(
        False,
        description="Run the interpretation rules (cell features, PC-feature Spearman table and heatmap, "
        "galleries along the PCs) for every embedded (model, dataset).",
    )
    representation: Representation = Field(
        "features", description="Matrix the principal components are fitted on."
    )
    n_components: int = Field(
        8, ge=1, le=64, description="Principal components correlated with the features."
    )
    seed: int = Field(0, ge=0, description="Seed of the gallery's draw of cells (the PCA is exact: no seed).")
    n_bootstrap: int = Field(
        1000,
        ge=0,
        description="Replicates of the bootstrap over tracks that gives each PC-feature rho its interval; 0: "
        "no interval (rho_ci_missing says so). Its time grows somewhat faster than the cell observations: "
        "about 40 s per 1,000 replicates at 50,000 observations, 240 s at 200,000 (8 PCs x 27 features).",
    )
    confidence: float = Field(
        0.95, gt=0.0, lt=1.0, description="Central coverage of the PC-feature rho's bootstrap interval."
    )
    texture_gray_levels: int = Field(
        32, ge=2, le=256, description="Grey levels of the central slice for the GLCM and the entropy."
    )
    radial_rings: int = Field(
        4,
        ge=2,
        le=32,
        description="Equal-width rings from the patch centre; their means give the radial slope.",
    )
    batch_size: int = Field(256, ge=1, description="Patches read from the store at a time.")
    gallery_components: int = Field(2, ge=1, le=8, description="Principal components drawn in the gallery.")
    gallery_bins: int = Field(
        5, ge=2, le=10, description="Equal-count bins of each component's scores (gallery columns)."
    )
    gallery_cells_per_bin: int = Field(3, ge=1, le=10, description="Cells drawn per bin.")
    gallery_channel: int = Field(0, ge=0, description="Channel (index in the patch spec) the gallery shows.")
    trajectory_features: list[str] = Field(
        default_factory=list,
        description="Cell features ('{source}:{channel}_{feature}' as the features table names them, e.g. "
        "raw:ERMarker_radial_slope) followed along DTW "
        "pseudo-time (paper Fig. 5: organelle remodelling), rule feature_trajectories, for every aligned "
        "(model, dataset) whose patch spec holds the channel of at least one of them; empty: no such rule.",
    )
    trajectory_truth_columns: list[str] = Field(
        default_factory=list,
        description="Ground-truth columns of simulated datasets drawn beside the trajectory features "
        "(e.g. er_condensation, sensor_nuclear_fraction).",
    )

    PLANNING_KEYS: ClassVar[tuple[str, ...]] = ("enabled",)
    #: Every cell's features are measured on its patch alone: the patches read at a time change no
    #: value (tests/unit/test_interpretation.py), so editing batch_size reruns no cell_features job.
    RUN_KEYS: ClassVar[tuple[str, ...]] = ("batch_size",)
    #: The keys each rule of the interpretation reads (its ``params.config``, :meth:`rule_params`):
    #: editing a gallery key redraws the gallery without reading every patch again (cell_features).
    #: interpret_embeddings' caption names the features' grey levels (its input, cell_features',
    #: changes with them anyway).
    RULE_KEYS: ClassVar[dict[str, tuple[str, ...]]] = {
        "cell_features": ("texture_gray_levels", "radial_rings"),
        "interpret_embeddings": (
            "texture_gray_levels",
            "representation",
            "n_components",
            "seed",
            "n_bootstrap",
            "confidence",
            "gallery_components",
            "gallery_bins",
            "gallery_cells_per_bin",
            "gallery_channel",
        ),
        "feature_trajectories": ("trajectory_features", "trajectory_truth_columns", "seed"),
    }

    def rule_params(self, rule: str) -> dict[str, Any]:
        """``params.config`` of ``rule`` (:attr:`RULE_KEYS`): only the keys that rule reads, so editing
        a key reruns only the rules that read it (the others take their defaults when validated); the
        :attr:`RUN_KEYS` cell_features reads come as its ``params.run`` (:meth:`run_params`)."""
        return self.model_dump(mode="json", include=set(self.RULE_KEYS[rule]))

    @model_validator(mode="after")
    def _gallery_within_components(self) -> InterpretationConfig:
        if self.gallery_components > self.n_components:
            raise ValueError(
                f"gallery_components ({self.gallery_components}) exceeds n_components ({self.n_components}); "
                "lower it or raise n_components"
            )
        return self


class OcclusionConfig(StrictModel):
    """Occlusion attribution of a trained encoder with a classifier head (paper appendix F): rule
    ``occlusion_attribution``, per (trained model, dataset) whose classifiers were fitted on the
    dataset's own annotations. The encoder is followed by the ``classify`` stage's linear
    classifier of each task, folded into one linear layer; a window of ``window_yx_px`` pixels,
    one channel and every Z slice at a time, slides over the patch (``stride_yx_px``) and is set
    to ``baseline``; the drop of the predicted class's logit is the window's attribution (Captum
    ``Occlusion``). Maps are drawn for one cell through infection and one through a division.
    """

    enabled: bool = Field(
        False,
        description="Run rule occlusion_attribution for every trained model and dataset with its own "
        "classifiers (refused when there is no such pair: no model of 'models' embeds an annotated dataset).",
    )
    models: list[str] | None = Field(
        None,
        description="Models attributed (names in contrastive_models); null: every model with a checkpoint.",
    )
    tasks: tuple[ClassificationTask, ...] = Field(
        ("infection", "division"),
        min_length=1,
        description="Events drawn, each attributed with its own task's classifier: a cell through "
        "infection onset, and a mother dividing into daughters. Left out: classification.tasks.",
    )
    window_yx_px: int = Field(
        8, ge=1, le=256, description="Side of the square occluding window, in patch pixels."
    )
    stride_yx_px: int = Field(4, ge=1, le=256, description="Step of the window, in patch pixels.")
    baseline: float = Field(
        0.0,
        description="Value occluded pixels take, in the patches' normalised units (0: the median or mean).",
    )
    infection_offsets_frames: tuple[int, ...] = Field(
        (-4, -2, 0, 2, 4, 6),
        min_length=1,
        max_length=12,
        description="Time points shown of the infected cell, in frames from its infection onset (the ground "
        "truth's on simulated datasets, else the first frame from which the classifier calls every frame "
        "of the track infected).",
    )
    division_offsets_frames: tuple[int, ...] = Field(
        (-3, -2, -1, 0, 1, 2, 3),
        min_length=1,
        max_length=12,
        description="Time points shown of the dividing cell, in frames from the division: <= 0 the mother "
        "(0 = its last frame), > 0 its first daughter (1 = the daughter's first frame).",
    )
    n_cells: int = Field(
        1,
        ge=1,
        le=50,
        description="Cells drawn per event (each through all its time points, distinct tracks, among those "
        "that show the most time points): the figure shows the first; the summary CSV, the maps and the "
        "caption's statistics (mean and range over cells) cover all. Each cell costs its time points' "
        "maps (about 1 s each on 2 CPU cores for convnext_atto).",
    )
    region_channel: int = Field(
        -1,
        description="Channel (index in the patch spec; negative counts from the end) whose central cell's "
        "Otsu mask is the region the attribution mass is measured in (the viral sensor in the shipped "
        "configs).",
    )
    max_match_distance_px: float | None = Field(
        6.0,
        gt=0.0,
        description="Radius (pixels) within which a simulated dataset's ground-truth cell matches a patch "
        "centre, giving the cells their true infection onset (read only where 'tasks' draw infection "
        "with the dataset's own infection classifier); left at its default there, refused before any job "
        "runs on a plate whose pixels differ from 0.65 µm. null: not read by this job (the workflow "
        "hands null to the jobs that match no ground truth, so editing it reruns none of them; their "
        "provenance records null); refused where a job matches the ground truth.",
    )
    perturbations_per_eval: int = Field(64, ge=1, description="Occluded copies of a patch encoded at a time.")
    device: Literal["auto", "cpu", "cuda"] = Field("cpu", description="Where the encoder runs.")
    seed: int = Field(0, ge=0, description="Seed of the draw among cells that show every time point.")

    PLANNING_KEYS: ClassVar[tuple[str, ...]] = ("enabled", "models")
    #: Captum evaluates every occluded copy on its own (the encoder in eval mode), so the copies per
    #: forward pass change float32 rounding only (tests/unit/test_occlusion.py): editing it reruns no
    #: occlusion_attribution job.
    RUN_KEYS: ClassVar[tuple[str, ...]] = ("perturbations_per_eval",)

    @field_validator("models")
    @classmethod
    def _models_named(cls, value: list[str] | None) -> list[str] | None:
        """An empty list is refused: read as 'no model' it would attribute nothing, and the planning's
        ``models or every model`` took it as every model, the opposite of what it says."""
        if value is not None and not value:
            raise ValueError(
                "models: empty; name at least one model of contrastive_models, write null (or leave the key "
                "out) for every model, or set analysis.occlusion.enabled to false"
            )
        return value

    @model_validator(mode="after")
    def _stride_within_window(self) -> OcclusionConfig:
        if self.stride_yx_px > self.window_yx_px:
            raise ValueError(
                f"stride_yx_px ({self.stride_yx_px}) exceeds window_yx_px ({self.window_yx_px}): pixels "
                "between windows would get no attribution; lower the stride or widen the window"
            )
        for name in ("infection_offsets_frames", "division_offsets_frames"):
            offsets = getattr(self, name)
            if len(set(offsets)) != len(offsets):
                raise ValueError(f"{name} repeats a frame: {list(offsets)}; list each offset once")
        return self
