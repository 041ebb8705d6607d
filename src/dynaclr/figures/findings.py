"""The report's first page: what was run on what, the key numbers, and a one-line finding for each.

:func:`findings` turns the run's evaluation tables into :class:`Finding` rows (topic, dataset,
statement); :func:`findings_rst` writes them as the reStructuredText that Snakemake's report shows
on its landing page. A difference between models is stated only where its confidence interval
excludes 0 (smoothness: the paired track bootstrap of ``temporal_comparison.csv``) or where the two
models' intervals do not overlap (classifier F1, DTW onset error); otherwise the statement says the
models are not told apart, and a model is called best only where its interval clears every other's
(else: "No model is clearly best at ...").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dynaclr.classify.annotations import task_classes
from dynaclr.config.analysis import ALIGNED_EVENT_NAMES, ONSET_ERROR_CONFIDENCE
from dynaclr.config.reasons import NO_CELL_SCORED, ONE_TIME_POINT, no_annotations, not_configured
from dynaclr.evaluation.temporal import CHECK_LINKING
from dynaclr.figures.table import epochs_trained, partly_trained, percent, recorded_count
from dynaclr.numerics.timescale import FrameClock
from dynaclr.pseudotime.stage import never_reached_statement, onset_error_summary
from dynaclr.qc.import_warnings import NO_POSITION_CHECK, NOT_WARNINGS

#: Columns of the findings table (``findings.csv``).
FINDINGS_COLUMNS: tuple[str, ...] = ("section", "topic", "dataset", "statement")

#: Snakemake's report centres its landing view vertically in a scrolling box (its template's
#: ``ContentDisplay``: ``flex items-center h-screen overflow-auto``), so a first page taller than
#: the window overflows above the box's top, where no scrolling reaches: the title and the first
#: sections could not be read. This style, in the page itself (and so only while it is shown), starts
#: that box at the top.
REPORT_PAGE_STYLE: str = """.. raw:: html

   <style>div.h-screen.overflow-auto.items-center { align-items: flex-start; }</style>
"""

#: Columns of ``qc.csv`` the first page reads where they exist: a results folder upgraded from a
#: dynaclr whose ``qc.csv`` lacks them (``frames_without_signal``, ``frames_without_foreground`` are
#: newer than the table; rule ``qc_table`` does not rerun on an upgrade) still gives a first page,
#: reading them as empty (the dropped frames counted from ``n_dropped_frames``, see
#: :func:`_n_dropped_frames`).
QC_OPTIONAL_COLUMNS: tuple[str, ...] = (
    "dropped_frames",
    "frames_without_signal",
    "frames_without_foreground",
    "nucleus_diameter_um",
    "nucleus_size_flagged",
)

#: Below this many positive cells among those an F1 is scored on, the finding says so.
FEW_POSITIVE_CELLS = 10

#: What the first page calls the smoothness it compares (temporal_comparison.csv's, the results
#: table's "Smoothness, track pairs" column), not the paper's smoothness the table shows beside it.
SMOOTHNESS_NAME = "track-pair smoothness"

#: The terms the first page uses, defined once at its top for a reader who is not a specialist.
TERMS: tuple[tuple[str, str], ...] = (
    ("FOV", "field of view, one imaged position of the plate"),
    (
        "track",
        "one cell followed from frame to frame (a lineage: a cell's track with those of its ancestors)",
    ),
    (
        SMOOTHNESS_NAME,
        "how much a cell's embedding changes between adjacent frames relative to between two random "
        "frames of the same cell (mean cosine distance of the first over that of the second, lower is "
        "smoother: the results table's 'Smoothness, track pairs' column, not its paper columns, whose "
        "random pairs are of different cells)",
    ),
    ("observation", "a cell at one frame (a cell annotated at several frames counts once at each)"),
    ("F1", "the harmonic mean of a classifier's precision and recall on the positive class, 0 to 1"),
    (
        "pseudo-time",
        "each lineage aligned to a reference lineage by dynamic time warping (DTW), whose error is how "
        "many frames the alignment puts the event away from the true one, early or late alike "
        "(|aligned − true|)",
    ),
    ("CI", "bootstrap confidence interval, at the level given with it"),
)

#: What a classifier is scored on: a cell at one frame (one patch), not a distinct cell (a cell
#: annotated at several frames counts at each; :data:`TERMS` says so).
OBSERVATIONS = "observations"

#: Sections in the order the first page shows them.
SECTIONS: tuple[str, ...] = ("What was run", "Image stages", "Embeddings")


@dataclass(frozen=True)
class Finding:
    """One line of the first page."""

    section: str
    topic: str
    dataset: str
    statement: str


def _fovs(n: int) -> str:
    return f"{n} FOV" + ("" if n == 1 else "s")


def _r_summary(table: pd.DataFrame, column: str = "pearson_r") -> str:
    """A correlation over a dataset's FOVs: the pooled value of the table's ``all`` row whenever it has
    one (else the mean of the FOVs with a value), the FOVs' range, and how many FOVs have no value
    (NaN: e.g. a constant image); the pooled row is never counted as a FOV."""
    pooled = table.loc[table["fov_name"].astype(str) == "all", column].dropna()
    fovs = table.loc[table["fov_name"].astype(str) != "all", column]
    values = fovs.dropna()
    n, missing = len(values), len(fovs) - len(values)
    if len(fovs) == 1 and n == 1:
        return f"{values.iloc[0]:.3f} (1 FOV)"
    if len(pooled):
        head = f"{pooled.iloc[0]:.3f}, {_fovs(len(fovs))} pooled"
    elif n:
        head = f"{values.mean():.3f}, mean of {_fovs(n)}" if n > 1 else f"{values.iloc[0]:.3f} from 1 FOV"
    else:
        return f"not computed ({_fovs(missing)} without r)"
    details = []
    if n > 1:
        details.append(f"per FOV {values.min():.3f} to {values.max():.3f}")
    elif n == 1 and len(pooled):
        details.append(f"1 FOV with r, {values.iloc[0]:.3f}")
    if missing:
        details.append(f"{_fovs(missing)} without r")
    return f"{head} ({'; '.join(details)})" if details else head


def _has_ci(low: float, high: float) -> bool:
    """Whether a confidence interval was computed (NaN bounds: n_bootstrap 0, or no replicate defined it)."""
    return bool(np.isfinite(low) and np.isfinite(high))


def _level(confidence: object) -> str:
    """``95 %`` for a coverage of 0.95 (the level a table or the config states); ``""`` where none is
    stated (a missing value): the page then says the level is not recorded rather than assume one."""
    value = pd.to_numeric(pd.Series([confidence]), errors="coerce").iloc[0]
    return percent(value) if pd.notna(value) else ""


def _ci(low: float, high: float, missing: object = "", confidence: object = 0.95, n: str = "") -> str:
    """``95 % CI low to high`` (at the level ``confidence`` the interval was computed at; ``CI (level
    not recorded) low to high`` where it is missing); where it was
    withheld, why (``missing``, a table's ``{metric}_ci_missing``, shortened: :func:`_short_reason`) or,
    without a reason, ``no confidence interval computed``. An interval of one value (its bounds the
    same to the digits shown: every resample inside it gave that value, e.g. an F1 of 1 on a few
    dozen observations) says so, with the sample ``n`` it rests on (e.g. ``78 observations``), as
    it cannot show the uncertainty."""
    if _has_ci(low, high):
        level = _level(confidence)
        text = (
            f"{level} CI {low:.3f} to {high:.3f}"
            if level
            else f"CI (level not recorded) {low:.3f} to {high:.3f}"
        )
        if f"{low:.3f}" != f"{high:.3f}":
            return text
        sample = f"; n = {n}" if n else ""
        return (
            f"{text}: every resample inside it gave {low:.3f}{sample}: the interval cannot show the "
            "uncertainty"
        )
    reason = _short_reason(missing)
    return f"no confidence interval: {reason}" if reason else "no confidence interval computed"


def _short_reason(missing: object) -> str:
    """The first clause of a ``{metric}_ci_missing`` reason without its long asides:
    ``undefined in 36 of 200 bootstrap replicates (resamples without a positive or a negative cell),
    over the 10% limit: ...`` reads ``undefined in 36 of 200 bootstrap replicates``; ``""`` for none."""
    if not isinstance(missing, str) or not missing.strip():
        return ""
    first = re.split(r"[,:;]\s", missing.strip(), maxsplit=1)[0]
    return re.sub(r"\s*\([^)]{25,}\)", "", first).strip()


def _qc_column(qc: pd.DataFrame, column: str) -> pd.Series:
    """A frame-list column of ``qc.csv`` as strings (``""``: none); all empty where an older table
    lacks it (:data:`QC_OPTIONAL_COLUMNS`)."""
    if column not in qc.columns:
        return pd.Series("", index=qc.index, dtype=object)
    return qc[column].fillna("").astype(str)


def _n_dropped_frames(qc: pd.DataFrame) -> int:
    """Frames quality control dropped: distinct ``(fov_name, t)`` over every stage's row (a frame
    dropped by phase is dropped again by each stage after it; ``dropped_frames``, ``;``-separated).
    A table without ``dropped_frames`` counts per FOV the most ``n_dropped_frames`` of one stage
    (frames a later stage drops beyond an earlier one's may be missed)."""
    if "dropped_frames" not in qc.columns:
        counts = pd.to_numeric(qc["n_dropped_frames"], errors="coerce").fillna(0)
        return int(counts.groupby(qc["fov_name"].astype(str)).max().sum())
    dropped = {
        (str(fov), int(t))
        for fov, frames in zip(qc["fov_name"], _qc_column(qc, "dropped_frames"), strict=True)
        for t in frames.split(";")
        if t.strip()
    }
    return len(dropped)


def _only_without_signal(rows: pd.DataFrame) -> pd.Series:
    """Rows of :func:`~dynaclr.qc.table.qc_rows` flagged ``reduced`` for frames without nuclei for
    want of signal only: frames that may hold no cell (before cells enter), not data left out.

    Read from the columns, not the reason text: ``frames_without_signal`` is set on ``tracking``
    rows of ``track_fov`` records only, whose other reasons are dropped frames and missing voxels
    (filled or left out: ``missing_voxels`` counts both); a row with neither is reduced for its frames
    without signal alone (:func:`~dynaclr.qc.table.qc_row`), unless ``nucleus_size_flagged`` (where
    the table has it) says its nuclei's size made it reduced too (a pixel size misstated?), as
    :mod:`dynaclr.tracking.nucleus_size` judged it when the record was written, or
    ``frames_without_foreground`` (where the table has it) lists a frame neither dropped nor without
    signal (nuclei too dim for the FOV's threshold: cells lost there). Those are the frames
    :func:`~dynaclr.tracking.engine.unflagged_frames_without_foreground` names in the QC reason:
    ``frames_without_signal`` holds the constant nuclear frames (``empty_frames``) not dropped too
    (:func:`~dynaclr.qc.table.without_signal`)."""
    missing = pd.to_numeric(rows["missing_voxels"], errors="coerce").fillna(0)
    dropped = pd.to_numeric(rows["n_dropped_frames"], errors="coerce").fillna(0)
    # frames without foreground that are neither dropped nor without signal: nuclei too dim for the
    # FOV's threshold, cells lost there (qc_row's reason), not frames that may hold no cell
    dim = [
        bool(set(_frame_list(left_out)) - set(_frame_list(signal)) - set(_frame_list(gone)))
        for left_out, signal, gone in zip(
            _qc_column(rows, "frames_without_foreground"),
            _qc_column(rows, "frames_without_signal"),
            _qc_column(rows, "dropped_frames"),
            strict=True,
        )
    ]
    flags = rows.get("nucleus_size_flagged", pd.Series(None, index=rows.index, dtype=object))
    size_flagged = flags.astype(object).map(lambda flag: str(flag).lower() == "true")  # NA, empty: no
    return (
        (rows["status"] == "reduced")
        & (_qc_column(rows, "frames_without_signal") != "")
        & (_qc_column(rows, "dropped_frames") == "")
        & (dropped == 0)
        & (missing == 0)
        & ~size_flagged
        & ~pd.Series(dim, index=rows.index, dtype=bool)
    )


def _frame_list(frames: str) -> list[str]:
    """The frames of a ``;``-separated frame list of ``qc.csv`` (``""``: none)."""
    return [t.strip() for t in frames.split(";") if t.strip()]


def run_findings(
    datasets: Mapping[str, str],
    models: Mapping[str, str],
    qc: Mapping[str, pd.DataFrame],
    import_warnings: Mapping[str, pd.DataFrame] | None = None,
) -> list[Finding]:
    """What was run on what: one line per dataset (FOVs, frames, what QC dropped), each followed by
    the lines of its imports' warnings (``import_warnings``: :func:`import_warning_findings`), and
    per model (a line saying so where no model embedded anything)."""
    imported = dict(import_warnings or {})
    rows = []
    for name, description in datasets.items():
        table = qc.get(name)
        text = description[:1].upper() + description[1:]  # the dataset column names it
        if table is not None and len(table):
            n_fovs = table["fov_name"].nunique()
            n_frames = int(table["n_frames"].max())
            not_ok = table[table["status"] != "ok"]
            signal_only = _only_without_signal(not_ok)
            flagged = not_ok[~signal_only]  # rows that left data out, or are empty
            dropped = _n_dropped_frames(table)
            fovs, frames = ("FOV" if n_fovs == 1 else "FOVs"), ("frame" if n_frames == 1 else "frames")
            text += f"; {n_fovs} {fovs} × {n_frames} {frames}"
            if len(flagged) or dropped:
                stages = ", ".join(sorted(flagged["stage"].unique())) or "none"
                text += (
                    f"; quality control dropped {dropped} frame(s) and flagged "
                    f"{flagged['fov_name'].nunique()} "
                    f"FOV(s) (stages: {stages}; see qc.csv)"
                )
            else:
                text += "; quality control dropped no frame and no FOV"
            signal_fovs = set(not_ok.loc[signal_only, "fov_name"]) - set(flagged["fov_name"])
            if signal_fovs:
                text += (
                    f"; {len(signal_fovs)} FOV(s) with frames without nuclei for want of signal (see qc.csv)"
                )
        rows.append(Finding("What was run", "dataset", name, text + "."))
        if name in imported:
            rows += import_warning_findings({name: imported.pop(name)})
    rows += import_warning_findings(imported)  # of a dataset without a line (none the workflow plans)
    for name, description in models.items():
        rows.append(Finding("What was run", "model", "", f"{name}: {description}."))
    if not models:
        rows.append(
            Finding(
                "What was run",
                "model",
                "",
                "No model embedded any dataset (no contrastive model in contrastive_models embeds one, and "
                "the baselines embed only datasets a model embeds), so this page has no embedding findings.",
            )
        )
    return rows


def training_findings(results: pd.DataFrame) -> list[Finding]:
    """A line per model whose ``max_minutes`` budget stopped its training before its epochs
    (``stopped_by_time`` true in the results table, its ``epochs_completed`` of ``epochs``): its
    numbers are of a partly trained model. Nothing for a model that trained every epoch, nor for one
    whose training state is not known (an empty ``stopped_by_time``, or a table without it)."""
    stopped = results[partly_trained(results)].drop_duplicates("model")
    return [
        Finding(
            "What was run",
            "model",
            "",
            f"Model {row['model']} was stopped by its max_minutes budget after "
            f"{epochs_trained(row)}: its numbers on this page and in the results table are of a "
            "partly trained model, not comparable with a fully trained one's (raise its "
            "training.max_minutes, or set it null, to train every epoch).",
        )
        for _, row in stopped.iterrows()
    ]


def _virtual_stain_stopped(dataset: str, steps: str, max_steps: str) -> Finding:
    """The "What was run" line of a dataset whose virtual-staining model the ``max_minutes`` budget
    stopped after ``steps`` of ``max_steps`` (``?`` for a count not recorded)."""
    return Finding(
        "What was run",
        "virtual staining",
        dataset,
        f"The virtual-staining model was stopped by its max_minutes budget after {steps} of {max_steps} "
        "steps: its virtual staining (and what was tracked from it) is of a partly trained "
        "model (raise virtual_stain.train.max_minutes to train every step).",
    )


def virtual_stain_training_findings(virtual_stain: Mapping[str, pd.DataFrame]) -> list[Finding]:
    """A line per dataset whose virtual-staining model the ``max_minutes`` budget stopped before its
    ``max_steps`` (``stopped_by_time`` true in its ``virtual_stain.csv``, with ``training_steps`` of
    ``max_steps``): its virtual staining, and what was tracked from it, is of a partly trained model.
    Nothing for a model that trained every step, nor where the state is not known (an empty
    ``stopped_by_time``, or a table written before it was recorded). A dataset without ground truth
    (no evaluation table): :func:`virtual_stain_record_findings`."""
    rows = []
    for dataset, table in virtual_stain.items():
        stopped = table[partly_trained(table)]
        if stopped.empty:
            continue
        row = stopped.iloc[0]
        rows.append(
            _virtual_stain_stopped(
                dataset, recorded_count(row, "training_steps"), recorded_count(row, "max_steps")
            )
        )
    return rows


def virtual_stain_record_findings(states: Mapping[str, Any]) -> list[Finding]:
    """:func:`virtual_stain_training_findings` for datasets without ground truth, whose virtual
    staining no evaluation table covers: per dataset, the model's training state as one FOV's
    prediction record holds it (its metrics' ``training``, every FOV predicted by the one model:
    ``stopped_by_time``, ``steps``, ``max_steps``, ``max_minutes``). A line where ``stopped_by_time``
    is true, with ``steps`` of ``max_steps``; nothing for a model that trained every step, nor where
    the state is not known (no ``training``, a record of an older dynaclr; ``stopped_by_time`` null,
    weights of your own given by ``virtual_stain.checkpoint``)."""
    return [
        _virtual_stain_stopped(dataset, recorded_count(state, "steps"), recorded_count(state, "max_steps"))
        for dataset, state in states.items()
        if isinstance(state, Mapping) and state.get("stopped_by_time") is True
    ]


def _scored_frames_note(tracked: Mapping[str, Sequence[int]] | None) -> str:
    """`` (scored on frames 3 .. 8 only: ...)`` where the tracks cover part of the movie (``tracked``:
    per FOV ``[first, last]``); empty where none is recorded."""
    if not tracked:
        return ""
    spans = sorted({(int(first), int(last)) for first, last in tracked.values()})
    frames = (
        f"frames {spans[0][0]} .. {spans[0][1]}"
        if len(spans) == 1
        else "each FOV's tracked frames ("
        + ", ".join(f"{fov}: {first} .. {last}" for fov, (first, last) in list(tracked.items())[:3])
        + (" ..." if len(tracked) > 3 else "")
        + ")"
    )
    return (
        f" (scored on {frames} only: the CTC folders have label images for no other frame, whose "
        "true cells are not counted as missed)"
    )


def _tracking_score(value: object, name: str) -> str:
    """``DET 0.990``; where the score is not defined (NaN: no true cell in the scored frames,
    :class:`~dynaclr.tracking.ctc.TrackingScores`) ``DET not defined (no true cell)``, never ``nan``."""
    number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return f"{name} {number:.3f}" if pd.notna(number) else f"{name} not defined (no true cell)"


def _division_scores(precision: object, recall: object, of_divisions: str) -> str:
    """The division precision and recall of a tracking line (``of_divisions``: ``of the divisions
    found``), each stated only where defined (:class:`~dynaclr.tracking.ctc.TrackingScores` gives NaN
    precision where no division was found and NaN recall where the truth has none): the page says
    which is not defined and why rather than print ``nan%``."""
    p, r = pd.to_numeric(pd.Series([precision, recall]), errors="coerce")
    if pd.notna(p) and pd.notna(r):
        return f"{of_divisions} {p:.0%} are real (precision) and {r:.0%} of the real ones are found (recall)"
    if pd.notna(p):
        return f"{of_divisions} {p:.0%} are real (precision); recall not defined (no true division)"
    if pd.notna(r):
        return f"no division found (precision not defined) and {r:.0%} of the real ones found (recall)"
    return "no division found and no true division: division precision and recall not defined"


def image_findings(
    phase: Mapping[str, pd.DataFrame],
    virtual_stain: Mapping[str, pd.DataFrame],
    tracking: Mapping[str, pd.DataFrame],
    *,
    unscored: Mapping[str, Sequence[str]] | None = None,
    imported_tracks: Sequence[str] = (),
    scored_frames: Mapping[str, Mapping[str, Sequence[int]]] | None = None,
) -> list[Finding]:
    """Phase, virtual staining and tracking (ultrack's or imported tracks) against the simulated
    ground truth; a line for each dataset of ``unscored`` (a dataset without ground truth: per
    dataset, the image stages of :data:`UNSCORED_STAGES` it ran) saying what ran on it and that it is
    not scored, where the page said nothing of them (and, in a run without a simulated dataset, had
    no image section at all). The tracking line of a dataset of ``imported_tracks``
    says the imported tracks were scored (nothing was segmented nor tracked by the workflow), and
    where ``scored_frames`` gives the dataset's tracked frames (per FOV ``[first, last]``, the
    evaluation record's ``tracked_frames``: CTC folders made on part of the movie), that only those
    were scored."""
    rows = []
    for dataset, table in phase.items():
        rows.append(
            Finding(
                "Image stages",
                "phase",
                dataset,
                f"Reconstructed phase vs the simulated phase, Pearson r (1 is perfect): {_r_summary(table)}.",
            )
        )
    for dataset, table in virtual_stain.items():
        held = table[table["held_out"].astype(bool)]
        seen = table[~table["held_out"].astype(bool)]
        parts = []
        if len(held):
            parts.append(f"FOVs held out of its training {_r_summary(held)}")
        if len(seen):
            parts.append(f"training FOVs {_r_summary(seen)}")
        rows.append(
            Finding(
                "Image stages",
                "virtual staining",
                dataset,
                "Virtual nuclei vs the true nuclei, Pearson r (1 is perfect): " + "; ".join(parts) + ".",
            )
        )
    for dataset, table in tracking.items():
        row = table[table["fov_name"] == "all"]
        row = (table if row.empty else row).iloc[-1]
        det, tra = _tracking_score(row["det"], "DET"), _tracking_score(row["tra"], "TRA")
        imported = dataset in imported_tracks
        scored = (
            f"detections ({det}) and links ({tra}) of the imported tracks "
            "against the true tracks, each detection matched to the true cell at its position (1 is "
            "perfect); "
            if imported
            else f"Cells detected ({det}) and linked ({tra}) against the true tracks (1 is perfect); "
        )
        divisions = _division_scores(
            row["division_precision"],
            row["division_recall"],
            "of their divisions" if imported else "of the divisions found",
        )
        rows.append(
            Finding(
                "Image stages",
                "tracking",
                dataset,
                f"{scored[0].upper()}{scored[1:]}{divisions}, "
                f"{int(row['n_reference_divisions'])} true divisions with both daughters in the FOV"
                f"{_scored_frames_note((scored_frames or {}).get(dataset))}.",
            )
        )
    for dataset, stages in (unscored or {}).items():
        rows += _unscored_image_stages(dataset, stages)
    return rows


#: The image stages a dataset without ground truth may run (the findings rule's ``unscored``): what
#: the first page says ran, and what the simulated datasets' lines score of it.
UNSCORED_STAGES: dict[str, tuple[str, str]] = {
    "phase": ("phase reconstructed", "phase"),
    "virtual_stain": ("nuclei virtually stained", "virtual staining"),
    "tracking": ("cells tracked by ultrack", "detection, linking and divisions"),
    "imported_tracks": ("tracks imported", "detection, linking and divisions"),
}


def import_warning_findings(tables: Mapping[str, pd.DataFrame]) -> list[Finding]:
    """Per dataset that imports files, a line per warning its imports recorded, naming the record
    (``import_warnings.csv``, :mod:`dynaclr.qc.import_warnings`), or one line "no import warnings"."""
    rows = []
    for dataset, table in tables.items():
        warned = table[~table["warning"].isin(NOT_WARNINGS)]
        if warned.empty:
            records = _listed(
                sorted(
                    f"{row.record}: {NO_POSITION_CHECK}"
                    if row.warning == NO_POSITION_CHECK
                    else str(row.record)
                    for row in table.drop_duplicates().itertuples(index=False)
                )
            )
            said = f"No import warnings ({records})." if records else "No import warnings (nothing imported)."
            rows.append(Finding("What was run", "import warnings", dataset, said))
        for row in warned.itertuples(index=False):
            text = str(row.warning).rstrip(".")
            rows.append(
                Finding("What was run", "import warning", dataset, f"{text} (from the {row.record}).")
            )
    return rows


def _unscored_image_stages(dataset: str, stages: Sequence[str]) -> list[Finding]:
    """The line of a dataset without ground truth: the image stages it ran (``stages``, keys of
    :data:`UNSCORED_STAGES`), not scored (topic ``tracking`` where it only imported its tracks, else
    ``image stages``); none where it ran none."""
    unknown = sorted(set(stages) - set(UNSCORED_STAGES))
    if unknown:
        raise ValueError(
            f"findings: unscored[{dataset!r}]: unknown image stage(s) {unknown}; expected some of "
            f"{sorted(UNSCORED_STAGES)}"
        )
    ran = [UNSCORED_STAGES[stage] for stage in UNSCORED_STAGES if stage in stages]
    if not ran:
        return []
    done = _listed([what for what, _ in ran])
    metrics = list(dict.fromkeys(metric for _, metric in ran))
    verb = "is" if len(metrics) == 1 and "," not in metrics[0] else "are"
    topic = "tracking" if list(stages) == ["imported_tracks"] else "image stages"
    return [
        Finding(
            "Image stages",
            topic,
            dataset,
            f"{done[:1].upper()}{done[1:]}, not scored: no ground truth ({_listed(metrics)} {verb} "
            "scored only on a simulated dataset).",
        )
    ]


def still_image_findings(datasets: Sequence[str]) -> list[Finding]:
    """A line per dataset of one time point (still images): no smoothness, dynamic range nor DTW
    pseudo-time, each of which compares or aligns a cell's frames."""
    return [
        Finding(
            "Embeddings",
            "smoothness",
            dataset,
            "Smoothness, dynamic range and DTW pseudo-time not computed: one time point (still images; "
            "they compare or align a cell's frames over time).",
        )
        for dataset in datasets
    ]


def not_run_findings(not_run: Mapping[str, str]) -> list[Finding]:
    """A line per analysis the plan runs on no dataset (``not_run``: its topic, ``infection
    classifier`` or ``pseudo-time``, and why), where the report would otherwise hold no section of it
    and the first page say nothing."""
    titles = {"infection classifier": "Infection classifier", "pseudo-time": "DTW pseudo-time"}
    return [
        Finding("Embeddings", topic, "", _not_run_statement(titles.get(topic, topic), reason))
        for topic, reason in not_run.items()
        if reason
    ]


def _not_run_statement(title: str, reason: str) -> str:
    """``<title> not computed on any dataset: <reason>.``; for infection left out of
    ``analysis.classification.tasks``, the run's scope, not a missing result (a division-only plate's
    first page read "Infection classifier not computed"): the results table has no infection column
    either. Panels are not spoken for: they follow each dataset's data (an infected plate's ground
    truth is still drawn)."""
    if reason == not_configured("infection"):
        return f"Infection is not a task of this run ({reason}): no infection classifier or column."
    return f"{title} not computed on any dataset: {reason}."


def unlinked_movie_findings(table: pd.DataFrame) -> list[Finding]:
    """A line per movie whose smoothness and dynamic range were not computed at run time (the results
    table's ``temporal_not_computed`` and ``track_pairs_not_computed`` other than the plan's ``one time
    point``, from ``temporal_metrics.csv``): tracks that never hold two adjacent frames (neither
    definition, and what to check), or none spanning three frames (the track pairs' only; the paper's
    definition is measured). The DTW pseudo-time is not spoken for: these reasons do not say whether
    it was planned on the dataset nor whether it aligned its lineages."""
    lines = []
    for dataset, rows in table.groupby("dataset", sort=True):
        both, track_pairs = (
            _run_reason(rows, column) for column in ("temporal_not_computed", "track_pairs_not_computed")
        )
        if both:
            statement = (
                f"Smoothness and dynamic range not computed: {both}: no cell is followed from one frame to "
                f"the next; {CHECK_LINKING}."
            )
        elif track_pairs:
            statement = (
                f"Smoothness and dynamic range of track pairs not computed: {track_pairs}; the paper's "
                "definition (random pairs over all cells) is measured."
            )
        else:
            continue
        lines.append(Finding("Embeddings", "smoothness", str(dataset), statement))
    return lines


def _run_reason(rows: pd.DataFrame, column: str) -> str:
    """The first reason of ``column`` among a dataset's ``rows`` other than the plan's ``one time
    point`` (empty: none)."""
    if column not in rows.columns:
        return ""
    reasons = [r for r in rows[column].fillna("").astype(str) if r and r != ONE_TIME_POINT]
    return reasons[0] if reasons else ""


#: The samplings the paper compares (``training.sampling``), the first page's key smoothness pair.
KEY_SAMPLINGS: tuple[str, str] = ("time_aware", "classical")


def _pair_statement(pair: Any) -> str:
    """One pair of ``temporal_comparison.csv``: which is smoother where the paired CI of the
    difference excludes 0, else that the two are not told apart."""
    a, b = pair.model_a, pair.model_b
    sa, sb = pair.smoothness_a, pair.smoothness_b
    low, high = pair.difference_ci_low, pair.difference_ci_high
    n_tracks = getattr(pair, "n_tracks", None)
    over = f", over {int(n_tracks)} tracks" if n_tracks is not None and pd.notna(n_tracks) else ""
    level = getattr(pair, "confidence", None)  # none recorded: the page says so (_ci)
    if high < 0 or low > 0:
        smoother, rougher = (a, b) if high < 0 else (b, a)
        s_smooth, s_rough = (sa, sb) if high < 0 else (sb, sa)
        bounds = min(abs(low), abs(high)), max(abs(low), abs(high))
        return (
            f"{smoother} is smoother in time than {rougher}: {SMOOTHNESS_NAME} {s_smooth:.3f} vs "
            f"{s_rough:.3f} (lower is smoother), difference {abs(pair.difference):.3f} "
            f"({_ci(*bounds, confidence=level)}{over})."
        )
    why = "which includes 0" if _has_ci(low, high) else "so no difference is claimed"
    return (
        f"{a} and {b} are not told apart in {SMOOTHNESS_NAME}: {sa:.3f} vs {sb:.3f}, difference "
        f"{pair.difference:+.3f} ({_ci(low, high, confidence=level)}, {why}{over})."
    )


def _smoothest(table: pd.DataFrame) -> str:
    """Which model is smoothest: the lowest smoothness, called smoothest only where the paired CI of
    its difference with every other model excludes 0 in its favour; the models it is not told apart
    from, not compared with (no CI) or has no paired comparison with (no row of the pair:
    ``temporal_comparison.csv`` leaves out pairs of models embedding different cells) are named, and
    each model's value is listed."""
    scores = (
        pd.concat(
            [
                table[["model_a", "smoothness_a"]].set_axis(["model", "s"], axis=1),
                table[["model_b", "smoothness_b"]].set_axis(["model", "s"], axis=1),
            ]
        )
        .groupby("model", sort=False)["s"]
        .first()
        .sort_values(kind="stable")
    )
    best = str(scores.index[0])
    clear, tied, blind = [], [], []
    for pair in table[(table["model_a"] == best) | (table["model_b"] == best)].itertuples(index=False):
        other = pair.model_b if pair.model_a == best else pair.model_a
        low, high = pair.difference_ci_low, pair.difference_ci_high
        if not _has_ci(low, high):
            blind.append(str(other))
        elif (high < 0) if pair.model_a == best else (low > 0):  # difference = a - b
            clear.append(str(other))
        else:
            tied.append(str(other))
    compared = {best, *clear, *tied, *blind}
    unpaired = [str(model) for model in scores.index if str(model) not in compared]
    values = ", ".join(f"{model} {value:.3f}" for model, value in scores.items())
    listing = f"Each model's {SMOOTHNESS_NAME} (lower is smoother): {values}."
    if not tied and not blind and not unpaired:
        return (
            f"{best} is the smoothest in time: smoother than {_listed(clear)}, each difference's CI "
            f"excluding 0. {listing}"
        )
    reasons = []
    if tied:
        reasons.append(f"{best}, the lowest, is not told apart from {_listed(tied, 'or')} (CI includes 0)")
    if blind:
        reasons.append(f"{best} is not compared with {_listed(blind, 'or')} (no confidence interval)")
    if unpaired:
        reasons.append(
            f"{best} has no paired comparison with {_listed(unpaired, 'or')} (no row of the pair: the "
            "models embed different cells)"
        )
    verdict = "No model is clearly smoothest in time: " + "; ".join(reasons)
    if clear:
        verdict += f"; {best} is smoother than {_listed(clear)} (CI excludes 0)"
    return f"{verdict}. {listing}"


def smoothness_findings(
    comparison: pd.DataFrame, *, samplings: Mapping[str, str] | None = None
) -> list[Finding]:
    """Per dataset, the key smoothness comparisons: each pair of a time-aware and a classical model
    (``samplings``: per model trained by the workflow, its ``training.sampling``), then, with more
    than two models, which model is smoothest (:func:`_smoothest`) and where every pair is
    (``temporal_comparison.csv``). Two models: their one pair. A difference is claimed only where
    the paired track-bootstrap CI of the difference excludes 0."""
    samplings = samplings or {}
    rows = []
    for dataset, table in comparison.groupby("dataset", sort=False):
        if "representation" in table.columns and (table["representation"] == "features").any():
            table = table[table["representation"] == "features"]
        kinds = [
            {samplings.get(a), samplings.get(b)}
            for a, b in zip(table["model_a"], table["model_b"], strict=True)
        ]
        for pair, kind in zip(table.itertuples(index=False), kinds, strict=True):
            if kind == set(KEY_SAMPLINGS) or len(table) == 1:
                prefix = "Time-aware vs classical sampling: " if kind == set(KEY_SAMPLINGS) else ""
                rows.append(Finding("Embeddings", "smoothness", str(dataset), prefix + _pair_statement(pair)))
        if len(table) == 1:
            continue
        text = (
            f"{_smoothest(table)} Every pair's difference with its CI ({len(table)} pairs): the report's "
            "temporal_comparison.csv."
        )
        rows.append(Finding("Embeddings", "smoothness", str(dataset), text))
    return rows


def _listed(items: Sequence[str], conjunction: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c`` (or with ``conjunction`` ``"or"``)."""
    items = list(items)
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def _ranked(
    entries: list[tuple[str, float, float, float]],
    *,
    lower_is_better: bool,
    activity: str,
    missing: Mapping[str, object] | None = None,
    confidence: float = 0.95,
    unit: str = "",
    hours_per_unit: float | None = None,
    samples: Mapping[str, str] | None = None,
) -> str:
    """Models' values with CIs, best first, and a verdict that claims only what the intervals show.

    The top model is called clearly best at ``activity`` (e.g. ``"classifying infection"``) only
    where its interval clears every other model's; otherwise the verdict says no model is clearly
    best and why (the models whose intervals overlap the top one's, the models without an interval),
    and names the models it is still shown better than (intervals apart). ``missing``: per model, why
    its interval was withheld (quoted, shortened, where it has none). ``confidence``: the level the
    intervals were computed at. ``unit`` follows each value (e.g. ``frames``) and, with
    ``hours_per_unit``, the value in hours. ``samples``: per model, what its interval rests on
    (``78 observations``), stated where the interval is of one value (:func:`_ci`).
    """
    missing = missing or {}
    samples = samples or {}
    entries = sorted(entries, key=lambda e: e[1], reverse=not lower_is_better)

    def value(v: float) -> str:
        text = f"{v:.3f}" + (f" {unit}" if unit else "")
        return text + (f" = {v * hours_per_unit:.2f} h" if hours_per_unit is not None else "")

    listing = "; ".join(
        f"{m} {value(v)} ({_ci(lo, hi, missing.get(m, ''), confidence, samples.get(m, ''))})"
        for m, v, lo, hi in entries
    )
    best, _, low, high = entries[0]
    if len(entries) == 1:
        return f"{listing}."
    clear = [m for m, _, lo, hi in entries[1:] if (high < lo if lower_is_better else low > hi)]
    blind = [m for m, _, lo, hi in entries[1:] if not (_has_ci(low, high) and _has_ci(lo, hi))]
    tied = [m for m, *_ in entries[1:] if m not in clear and m not in blind]
    if not tied and not blind:
        whose = "that" if len(clear) == 1 else "those"
        return (
            f"{best} is clearly best at {activity}: its interval clears {whose} of {_listed(clear)}. "
            f"{listing}."
        )
    reasons = []
    if tied:
        reasons.append(
            f"{best}, the top value, is not told apart from {_listed(tied, 'or')} (intervals overlap)"
        )
    if blind:
        reasons.append(
            f"{best} is not compared with {_listed(blind, 'or')} (no confidence interval to compare)"
        )
    verdict = f"No model is clearly best at {activity}: " + "; ".join(reasons)
    if clear:
        verdict += f"; {best} is shown better than {_listed(clear)} (intervals apart)"
    return f"{verdict}. {listing}."


def _scored_on(group: pd.DataFrame, column: str, positive: str) -> str:
    """How many annotated cells the F1 of ``column`` is scored on, and how many are ``positive``
    (per model where the models differ); empty when the table does not carry the counts."""
    n_test, n_positive = f"{column}_n_test", f"{column}_n_test_positive"
    if n_test not in group.columns or n_positive not in group.columns:
        return ""
    counts = {
        str(r["model"]): (int(r[n_test]), int(r[n_positive]))
        for _, r in group.iterrows()
        if pd.notna(r[n_test]) and pd.notna(r[n_positive])
    }
    if not counts:
        return ""
    if len(set(counts.values())) == 1:
        n, k = next(iter(counts.values()))
        text = f"{n} annotated {OBSERVATIONS}, {k} of them {positive}"
    else:
        text = "; ".join(f"{m}: {n} annotated {OBSERVATIONS}, {k} {positive}" for m, (n, k) in counts.items())
    fewest = min(k for _, k in counts.values())
    if fewest < FEW_POSITIVE_CELLS:
        text += f" (fewer than {FEW_POSITIVE_CELLS} {positive}: a value and interval of few observations)"
    return f" Scored on {text}."


def classifier_findings(table: pd.DataFrame, *, confidence: float = 0.95) -> list[Finding]:
    """Per dataset and task, the F1 of each model's linear classifier with its CI (cross-validated on
    the dataset's own labels, and, where classifiers were fitted on another dataset, transferred)
    and the annotated cells it is scored on; the best model is said to beat another only where
    their intervals do not overlap. A model whose F1 could not be computed (no positive, or no
    negative, among the scored cells, or no annotated cell scored, with the job's reason: every
    fold's training FOVs held one class) gets a line saying so instead of being left out, as does a
    configured task that got no classifier on a dataset (``f1_<task>_not_computed``: no annotations
    of it). ``confidence``:
    the level of the F1 intervals (``analysis.classification.confidence``)."""
    rows = []
    for task in ("infection", "division"):
        positive = task_classes(task)[1]
        for kind in ("", "_transferred"):
            column = f"f1_{task}{kind}"
            if column not in table.columns:
                continue
            for dataset, group in _by_source(table, column, kind):
                topic = f"{task} classifier" + (", transferred" if kind else "")
                where = "on held-out FOVs"
                if kind:
                    sources = sorted(group[f"{column}_from"].dropna().astype(str).unique())
                    where = f"fitted on {', '.join(sources) or 'another dataset'} and applied here"
                unclassified = _unclassified(group, column, task, str(dataset)) if not kind else ""
                if unclassified:
                    rows.append(
                        Finding(
                            "Embeddings",
                            topic,
                            str(dataset),
                            f"F1 of a linear classifier {where} not computed: {unclassified}.",
                        )
                    )
                unscored = _unscored(group, column, positive)
                if unscored:
                    rows.append(
                        Finding(
                            "Embeddings",
                            topic,
                            str(dataset),
                            f"F1 of a linear classifier {where} not computed: {unscored}.",
                        )
                    )
                group = group.dropna(subset=[column])
                if group.empty:
                    continue
                entries = [
                    (str(r["model"]), r[column], r[f"{column}_ci_low"], r[f"{column}_ci_high"])
                    for _, r in group.iterrows()
                ]
                rows.append(
                    Finding(
                        "Embeddings",
                        topic,
                        str(dataset),
                        f"F1 of a linear classifier trained on sparse labels, {where} (1 is perfect): "
                        + _ranked(
                            entries,
                            lower_is_better=False,
                            activity=f"classifying {task}",
                            confidence=confidence,
                            missing={
                                str(r["model"]): r.get(f"{column}_ci_missing", "")
                                for _, r in group.iterrows()
                            },
                            samples=_observations(group, column),
                        )
                        + _scored_on(group, column, positive),
                    )
                )
    return rows


def _observations(group: pd.DataFrame, column: str) -> dict[str, str]:
    """Per model, the annotated observations its F1 of ``column`` is scored on (``78 observations``;
    none where the table does not carry the count)."""
    if f"{column}_n_test" not in group.columns:
        return {}
    counts = group[["model", f"{column}_n_test"]].dropna()
    return {str(model): f"{int(n)} {OBSERVATIONS}" for model, n in counts.itertuples(index=False)}


def _by_source(table: pd.DataFrame, column: str, kind: str) -> list[tuple[object, pd.DataFrame]]:
    """The rows of each dataset, and for a transferred F1 (``kind``), of each dataset it was fitted on
    (the results table has a row per source: a model's F1s from two sources are two lines, each
    ranking the models transferred from that source)."""
    if not kind or f"{column}_from" not in table.columns:
        return list(table.groupby("dataset", sort=False))
    rows = table.dropna(subset=[column, f"{column}_from"], how="all")
    return [
        (dataset, group)
        for (dataset, _), group in rows.groupby(["dataset", rows[f"{column}_from"].fillna("")], sort=False)
    ]


def _unclassified(group: pd.DataFrame, column: str, task: str, dataset: str) -> str:
    """Why the models of ``group`` have no classifier of ``column``'s task although
    ``analysis.classification.tasks`` names it and they classify ``dataset``'s other tasks: the results
    table's ``<column>_not_computed`` ``no <task> annotations in <dataset>``
    (:func:`~dynaclr.config.reasons.no_annotations`; a dataset without annotations, or a task not
    configured, is no finding): ``<reason> (<models>)``; empty: none such."""
    reasons = group.get(f"{column}_not_computed", pd.Series("", index=group.index)).fillna("").astype(str)
    skipped = no_annotations(dataset, task)
    models = sorted(group.loc[reasons == skipped, "model"].astype(str))
    if not models:
        return ""
    return (
        f"{skipped} ({', '.join(models)}); "
        "the task is configured (analysis.classification.tasks) but rule classify skipped it"
    )


def _unscored(group: pd.DataFrame, column: str, positive: str) -> str:
    """Why the models of ``group`` with a classification row but a NaN F1 have none (empty: none such)."""
    n_test, n_positive = f"{column}_n_test", f"{column}_n_test_positive"
    if n_test not in group.columns or n_positive not in group.columns:
        return ""
    missing = group[group[column].isna() & group[n_test].notna()]
    reasons: dict[str, list[str]] = {}  # reason -> the models it is of, stated once for them all
    for _, row in missing.iterrows():
        model, n, k = row["model"], int(row[n_test]), int(row[n_positive])
        if n == 0:
            # the job's reason (dynaclr.config.reasons.single_class_folds), as the results table has it
            why = next(
                (
                    str(row[name])
                    for name in (f"{column}_not_computed", f"{column}_ci_missing")
                    if isinstance(row.get(name), str) and row[name]
                ),
                None,
            )
            # the reason says no annotated cell was scored; without one, say it
            reason = why or f"{NO_CELL_SCORED} (no reason recorded in classification.csv)"
        elif k == 0:
            reason = (
                f"the {n} scored annotated {OBSERVATIONS} hold no {positive} one (F1 needs at least one; "
                "annotate both classes in several FOVs)"
            )
        elif k == n:
            # no negative: no call can be false, so a classifier calling every cell positive scores 1
            reason = (
                f"the {n} scored annotated {OBSERVATIONS} are all {positive} (F1 needs a negative one too: "
                f"without, a classifier calling every cell {positive} would score 1; annotate both classes "
                "in several FOVs)"
            )
        else:
            continue
        reasons.setdefault(reason, []).append(str(model))
    return "; ".join(f"{_listed(models)}: {reason}" for reason, models in reasons.items())


def _onset_source(scored: pd.DataFrame) -> str:
    """`` (true onsets from ...)`` naming where the scored lineages' true onsets come from
    (``onset_source`` of dtw_accuracy.csv: the simulator's ground truth or, for divisions on imported
    tracks, their lineage), or nothing when the table does not say."""
    if "onset_source" not in scored.columns:
        return ""
    sources = sorted(str(s) for s in scored["onset_source"].dropna().unique() if str(s))
    return f" (true onsets from the {_listed(sources)})" if sources else ""


def _state_source(group: pd.DataFrame) -> str:
    """`` on the infection state predicted by ...`` (or ``division state from ...``) naming what
    picked the aligned lineages' reference (``state_source`` of dtw_accuracy.csv, a whole phrase,
    e.g. classifiers transferred from another dataset), or nothing when the table does not say."""
    if "state_source" not in group.columns:
        return ""
    sources = sorted(str(s) for s in group["state_source"].dropna().unique() if str(s))
    return f" on the {_listed(sources)}" if sources else ""


def _never_reached(group: pd.DataFrame, what: str) -> str:
    """``; N of M aligned lineages never reach the ... (model)`` per model of one dataset's aligned
    lineages (reference excluded) whose own state (``state_reaches_event``) never reaches the event
    (:func:`~dynaclr.pseudotime.stage.never_reached_statement`), or nothing where none is known."""
    statements = []
    for model, rows in group.groupby("model", sort=True):
        sources = sorted({str(s) for s in rows.get("state_source", pd.Series(dtype=str)).dropna() if str(s)})
        statement = never_reached_statement(rows, what, _listed(sources))
        if statement:
            statements.append(f"{statement} ({model})")
    return "".join(f"; {statement}" for statement in statements)


def dtw_findings(
    accuracy: pd.DataFrame,
    *,
    seed: int = 0,
    n_resamples: int = 2000,
    event: str = "infection",
    intervals_minutes: Mapping[str, float | None] | None = None,
) -> list[Finding]:
    """Per dataset, each model's mean absolute DTW onset error (frames, and hours where
    ``intervals_minutes`` gives the dataset's frame interval) over lineages with an observed onset
    (reference excluded), with its percentile bootstrap CI over lineages
    (:func:`~dynaclr.pseudotime.stage.onset_error_summary`, the results table's). ``event``: what the
    lineages were aligned on (``analysis.pseudotime.event``), named in the statement. A dataset
    aligned without any true onset (no ground truth) gets a line saying its pseudo-time is not
    scored (no ground truth, or no lineage passing through the event), rather than none; one whose
    lineages could not be aligned (``not_computed`` of ``dtw_accuracy.csv``) a line saying why."""
    what = ALIGNED_EVENT_NAMES["infection" if event == "infection" else "division"]
    # why no lineage has a true event: what would have given one, for this event only
    unscored_why = (
        "a dataset without ground truth, or one none of whose lineages passes through the onset"
        if event == "infection"
        else "a dataset with neither ground truth nor imported tracks whose lineage states its "
        "divisions, or one none of whose lineages passes through a division"
    )
    intervals_minutes = intervals_minutes or {}
    reasons = accuracy.get("not_computed", pd.Series("", index=accuracy.index)).fillna("").astype(str)
    rows = [
        Finding(
            "Embeddings",
            "pseudo-time",
            str(dataset),
            f"DTW pseudo-time not computed ({', '.join(sorted(group['model'].astype(str).unique()))}): "
            f"{'; '.join(group['not_computed'].astype(str).unique())}: no lineage could be aligned to a "
            f"reference; {CHECK_LINKING}.",
        )
        for dataset, group in accuracy[reasons != ""].assign(not_computed=reasons).groupby("dataset")
    ]
    accuracy = accuracy[reasons == ""]
    queries = accuracy[~accuracy["is_reference_series"].astype(bool)]
    usable = queries.dropna(subset=["abs_onset_error_frames"])
    for dataset, group in queries.groupby("dataset", sort=False):
        if dataset in set(usable["dataset"]):
            continue
        n_lineages = len(group[["fov_name", "query_id"]].drop_duplicates())
        rows.append(
            Finding(
                "Embeddings",
                "pseudo-time",
                str(dataset),
                f"DTW pseudo-time aligned {n_lineages} lineages to a reference "
                f"({', '.join(sorted(group['model'].astype(str).unique()))}){_state_source(group)}, "
                f"not scored: no lineage has a true {what} observed inside its frames ({unscored_why}), "
                "so no alignment error is claimed; the per-lineage aligned onsets are in "
                f"dtw_accuracy.csv{_never_reached(group, what)}.",
            )
        )
    summary = onset_error_summary(usable, seed=seed, n_resamples=n_resamples)
    for dataset, group in usable.groupby("dataset", sort=False):
        scored = summary[(summary["dataset"] == dataset) & (summary["dtw_n_lineages"] >= 2)]
        entries = [
            (
                str(r.model),
                r.dtw_onset_mae_frames,
                r.dtw_onset_mae_frames_ci_low,
                r.dtw_onset_mae_frames_ci_high,
            )
            for r in scored.itertuples(index=False)
        ]
        if not entries:
            errors_by_model = group.groupby("model", sort=True)["abs_onset_error_frames"]
            described = ", ".join(f"{model} {errors.mean():.2f}" for model, errors in errors_by_model)
            rows.append(
                Finding(
                    "Embeddings",
                    "pseudo-time",
                    str(dataset),
                    f"DTW alignment to a reference lineage, |aligned − true {what}| in frames ({described}) "
                    f"from a single lineage with an observed onset{_onset_source(group)} per model: too "
                    "few lineages for an "
                    "interval, so no model is said to align better.",
                )
            )
            continue
        n = group["model"].value_counts().max()
        clock = FrameClock.of(intervals_minutes.get(str(dataset)))
        frame = (
            f"frames of {clock.minutes_per_frame:g} min"
            if clock.known
            else "frames (frame interval not recorded)"
        )
        rows.append(
            Finding(
                "Embeddings",
                "pseudo-time",
                str(dataset),
                f"Pseudo-time (DTW alignment to a reference lineage): mean error of the {what} it places, "
                f"|aligned − true| in {frame}, over {n} lineages{_onset_source(group)} (0 is perfect): "
                + _ranked(
                    entries,
                    lower_is_better=True,
                    activity=f"placing the {what}",
                    confidence=ONSET_ERROR_CONFIDENCE,
                    unit="frames",
                    hours_per_unit=clock.per_frame if clock.known else None,
                    samples={str(r.model): f"{int(r.dtw_n_lineages)} lineages" for r in scored.itertuples()},
                ),
            )
        )
    return rows


def findings_table(rows: Sequence[Finding]) -> pd.DataFrame:
    """The findings as a table (:data:`FINDINGS_COLUMNS`), in section order."""
    table = pd.DataFrame([vars(r) for r in rows], columns=list(FINDINGS_COLUMNS))
    order = {name: i for i, name in enumerate(SECTIONS)}
    keys = pd.DataFrame(
        {
            "section": table["section"].map(order),
            "general": table["dataset"] == "",
            "dataset": table["dataset"],
        }
    )
    index = keys.sort_values(["section", "general", "dataset"], kind="stable").index
    return table.loc[index].reset_index(drop=True)


def _escape(text: str) -> str:
    """Plain text safe in reStructuredText and in the Jinja pass Snakemake's report makes."""
    for char in ("\\", "*", "`", "|", "_"):
        text = text.replace(char, "\\" + char)
    return text.replace("{", "(").replace("}", ")")


def findings_rst(table: pd.DataFrame, *, title: str = "What this run found") -> str:
    """The first page: a title, then per section a bullet per finding (dataset first); it starts at
    the top of the report's window (:data:`REPORT_PAGE_STYLE`)."""
    lines = [title, "=" * len(title), "", REPORT_PAGE_STYLE]
    lines += [
        "The key numbers of this run, each with what it means. A difference between models is claimed "
        "only where the confidence interval of the difference excludes zero (or the two models' intervals "
        "do not overlap), at the level stated beside each interval; the figures and tables below hold the "
        "details.",
        "",
        "Terms: " + "; ".join(f"*{_escape(term)}*: {_escape(meaning)}" for term, meaning in TERMS) + ".",
        "",
    ]
    for section in SECTIONS:
        part = table[table["section"] == section]
        if part.empty:
            continue
        lines += [section, "-" * len(section), ""]
        for row in part.itertuples(index=False):
            prefix = f"**{_escape(row.dataset)}**, {row.topic}: " if row.dataset else ""
            lines.append(f"- {prefix}{_escape(row.statement)}")
        lines.append("")
    return "\n".join(lines)
