"""Rule ``occlusion_attribution``: occlusion maps of a trained encoder with its classifiers' heads.

Per (trained model, dataset) with classifiers fitted on the dataset's own annotations
(``analysis.occlusion``): the encoder of ``model.ckpt`` (read as rule ``embed`` reads it), each
task's classifier of rule ``classify`` folded into a linear head
(:func:`dynaclr.interpretation.occlusion.linear_head`), and Captum's ``Occlusion`` on the patches
of two cells:

* ``infection``: a track through its infection onset (the simulator's ground truth, matched to the
  tracked cells by position, on simulated datasets; else the first frame from which the infection
  classifier calls the rest of the track infected), at ``infection_offsets_frames`` from the onset;
* ``division``: a mother and its first daughter (the tracks' lineage), at
  ``division_offsets_frames`` from the division.

Patches are centre-cropped to the crop the embeddings were made with, and the head's logits on the
re-encoded patches must match the classifier's on the stored embeddings (else the checkpoint,
crop or embeddings disagree and the stage fails rather than draw maps of another model).

The embeddings store is never read whole: the stage reads its cells' keys; without ground truth the
infection classifier predicts every cell a block of rows at a time (the predicted onset), and the
logits check gathers the attributed cells' rows (:class:`~dynaclr.embeddings.MatrixBlocks`).

Outputs: a zarr store of the maps (kind ``occlusion_maps``), a CSV of per-map numbers (the share
of absolute attribution inside the region of ``region_channel``'s central cell against the
region's share of the area) and the figure.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import zarr

from dynaclr.classify import LinearClassifier, load_classifiers, predict_cells
from dynaclr.classify.stage import check_classifiers_fit
from dynaclr.config.analysis import OcclusionConfig
from dynaclr.config.base import with_run_params
from dynaclr.embeddings import MatrixBlocks, attach_ground_truth, open_representation, read_cells
from dynaclr.embeddings.store import encoded_crop, read_embeddings_provenance
from dynaclr.interpretation.features import central_cell_mask
from dynaclr.interpretation.occlusion import (
    ClassifierOnEncoder,
    OcclusionResult,
    division_courses,
    infection_courses,
    occlusion_maps,
    predicted_onset,
    region_mass_fraction,
)
from dynaclr.interpretation.plots import AttributionPanel, plot_occlusion
from dynaclr.io import (
    ArtifactError,
    ArtifactKind,
    StageFiles,
    atomic_output,
    make_provenance,
    read_table,
    write_csv,
    write_zarr_provenance,
)
from dynaclr.io.figures import save_figure
from dynaclr.numerics.crop import center_crop
from dynaclr.numerics.device import resolve_device
from dynaclr.numerics.timescale import FrameClock
from dynaclr.patches.store import PatchStore, open_patch_store

logger = logging.getLogger(__name__)

#: Columns of the summary CSV, one row per (event, time point, channel).
OCCLUSION_COLUMNS: tuple[str, ...] = (
    "model",
    "dataset",
    "event",
    "cell_number",
    "offset_frames",
    "role",
    "fov_name",
    "track_id",
    "t",
    "onset_source",
    "channel",
    "predicted_label",
    "positive_probability",
    "predicted_logit",
    "attribution_sum",
    "region_mass_fraction",
    "region_area_fraction",
)

#: Logits of the head on re-encoded patches and of the classifier on stored embeddings agree within
#: this (float32 encoders give ~1e-5; another checkpoint or crop gives O(1)).
LOGIT_TOLERANCE = 1e-2


class OcclusionInputs(StageFiles):
    """Rule ``occlusion_attribution``: the model's checkpoint, its embeddings of the dataset and the
    classifiers fitted on them, the patch store embedded, and ground truth on simulated datasets."""

    checkpoint: Path
    embeddings: Path
    classifiers: Path
    patches_zarr: Path
    patches_parquet: Path
    ground_truth: Path | None = None


class OcclusionOutputs(StageFiles):
    """Rule ``occlusion_attribution``: the maps (zarr), the summary CSV and the figure."""

    maps: Path
    summary: Path
    figure_png: Path
    figure_svg: Path


def _embedding_crop(path: Path) -> tuple[int, int]:
    crop = encoded_crop(path)
    if crop is None:
        recorded = read_embeddings_provenance(path).config.get("resolved_crop_size_yx_px")
        raise ArtifactError(
            f"{path}: provenance config has no resolved_crop_size_yx_px (found {recorded!r}); these are not "
            "an encoder's embeddings, or are older: rerun `snakemake --forcerun embed`"
        )
    return crop


def _embedding_rows(cells: pd.DataFrame, store: PatchStore, source: Path) -> np.ndarray:
    """Row of the embeddings of each patch-store row."""
    keys = ["fov_name", "track_id", "t"]
    merged = store.index.loc[:, keys].merge(
        cells.loc[:, keys].assign(_row=np.arange(len(cells))), on=keys, how="left", validate="one_to_one"
    )
    if merged["_row"].isna().any():
        raise ArtifactError(
            f"{source}: {int(merged['_row'].isna().sum())} patches of {store.parquet_path} are not embedded; "
            "rerun `snakemake --forcerun embed`"
        )
    return merged["_row"].to_numpy(dtype=np.int64)


def _infection_onset(
    store: PatchStore,
    inputs: OcclusionInputs,
    classifier: LinearClassifier,
    blocks: MatrixBlocks,
    embedding_rows: np.ndarray,
    max_distance_px: float | None,
) -> tuple[pd.Series, str]:
    """Per patch-store row, the infection onset frame, and where it comes from: the ground truth, or
    the classifier's calls on every cell (``blocks``, its representation's matrix, predicted a block
    of rows at a time). Ground-truth cells match patch centres within ``max_distance_px``
    (``analysis.occlusion.max_match_distance_px``, checked against the plate's pixel size); None (not
    read by this job) with ground truth given is a ``ValueError``."""
    if inputs.ground_truth is not None:
        if max_distance_px is None:
            raise ValueError(
                f"analysis.occlusion.max_match_distance_px: expected a radius in pixels to match the ground "
                f"truth {inputs.ground_truth} to the patches (the infection onset), found null (not read by "
                "this job); set it"
            )
        truth, _ = read_table(
            inputs.ground_truth,
            ArtifactKind.GROUND_TRUTH_TRACKS,
            ("fov_name", "t", "y", "x", "infection_onset_t"),
        )
        matched = attach_ground_truth(
            store.index, truth, ["infection_onset_t"], max_distance_px=max_distance_px
        )
        return matched["infection_onset_t"].fillna(-1), "ground truth"
    infected = predict_cells(blocks, [classifier])[0][embedding_rows] >= 0.5
    return predicted_onset(store.index, infected), "predicted"


def _read_patches(store: PatchStore, rows: np.ndarray, crop: tuple[int, int]) -> np.ndarray:
    """``(n, C, Z, h, w)`` float32 patches of ``rows``, centre-cropped."""
    patches = np.stack([np.asarray(store.array[int(r)], dtype=np.float32) for r in rows])
    return np.ascontiguousarray(center_crop(patches, crop))


def _check_logits(
    encoded: np.ndarray, stored: np.ndarray, inputs: OcclusionInputs, task: str, crop: tuple[int, int]
) -> None:
    """Refuse maps of another model: the head's logits on the re-encoded patches must be the
    classifier's on the stored embeddings (:data:`LOGIT_TOLERANCE`)."""
    difference = float(np.max(np.abs(encoded - stored)))
    if difference > LOGIT_TOLERANCE * max(1.0, float(np.max(np.abs(stored)))):
        raise ArtifactError(
            f"{inputs.checkpoint} with the {task} head of {inputs.classifiers} gives logits up to "
            f"{difference:.3g} away from the classifier's on {inputs.embeddings} (crop {crop}): the "
            "embeddings were not made by this checkpoint and crop; rerun `snakemake --forcerun embed`"
        )
    logger.info(
        "%s head on re-encoded patches matches the stored embeddings (max |dlogit| %.2g)", task, difference
    )


#: One attributed time point: central slices ``(C, h, w)``, map ``(C, h, w)``, region ``(h, w)``,
#: predicted class, positive-class probability, predicted class's logit.
Attributed = tuple[np.ndarray, np.ndarray, np.ndarray, int, float, float]


def _time_points(
    course: pd.DataFrame,
    patches: np.ndarray,
    result: OcclusionResult,
    classifier: LinearClassifier,
    region_channel: int,
) -> list[tuple[pd.Series, Attributed | None]]:
    """Each row of ``course`` with its attribution (``None`` where the cell is not tracked); the
    tracked rows are ``patches`` ``(n, C, Z, h, w)`` and ``result`` in order."""
    middle = patches.shape[2] // 2
    out: list[tuple[pd.Series, Attributed | None]] = []
    k = 0
    for _, step in course.iterrows():
        if step["cell"] < 0:
            out.append((step, None))
            continue
        image = patches[k, :, middle]
        target = int(result.targets[k])
        probability = float(1.0 / (1.0 + np.exp(-result.logits[k, 1])))
        region = central_cell_mask(image[region_channel])
        out.append(
            (
                step,
                (image, result.attributions[k], region, target, probability, float(result.logits[k, target])),
            )
        )
        k += 1
    return out


def occlusion_stage(
    config: OcclusionConfig,
    inputs: OcclusionInputs,
    outputs: OcclusionOutputs,
    *,
    model: str,
    dataset: str,
    time_interval_minutes: float | None = None,
) -> pd.DataFrame:
    """Occlusion maps of one infection and one division time course (module docstring).

    ``time_interval_minutes``: the plate's frame interval (rule param, as the results table gives
    it); the figure's rows give each time point's offset from the event in hours where it is known,
    else in frames (:class:`~dynaclr.numerics.timescale.FrameClock`).

    Returns:
        The summary table (:data:`OCCLUSION_COLUMNS`), also written to ``outputs.summary``.

    Raises:
        ArtifactError: an input is missing or of the wrong kind, or the head's logits on the
            re-encoded patches differ from the classifier's on the stored embeddings.
    """
    from dynaclr.training import read_contrastive_checkpoint  # torch and timm: this rule only

    classifiers = load_classifiers(inputs.classifiers)
    # the heads read this model's features: refuse classifiers fitted on another model's
    check_classifiers_fit(
        inputs.classifiers, inputs.embeddings, read_embeddings_provenance(inputs.embeddings)
    )
    trained = read_contrastive_checkpoint(inputs.checkpoint)
    encoder = trained.encoder()
    crop = _embedding_crop(inputs.embeddings)
    cells = read_cells(inputs.embeddings, ["fov_name", "track_id", "t"])  # the matrices stay on disk
    store = open_patch_store(inputs.patches_zarr, inputs.patches_parquet)
    embedding_rows = _embedding_rows(cells, store, inputs.embeddings)
    channel_names = store.channel_names
    region_channel = config.region_channel
    if not -len(channel_names) <= region_channel < len(channel_names):
        raise ValueError(
            f"analysis.occlusion.region_channel: {region_channel} is outside the patch spec's channels "
            f"{channel_names}; use 0..{len(channel_names) - 1} (or a negative index)"
        )
    device = resolve_device(config.device, "analysis.occlusion.device")
    clock = FrameClock.of(time_interval_minutes)
    rng = np.random.default_rng(config.seed)
    records: list[dict[str, Any]] = []
    blocks: list[tuple[str, list[AttributionPanel]]] = []
    stacks: dict[str, list[np.ndarray]] = {"attributions": [], "patches": [], "regions": []}
    notes: list[str] = []
    n_maps, seconds = 0, 0.0
    for task in config.tasks:
        if task not in classifiers:
            message = (
                f"no {task} classifier in {inputs.classifiers} (the dataset's annotations lack the task)"
            )
            logger.warning("%s; skipped", message)
            notes.append(message)
            continue
        classifier = classifiers[task]
        matrix = open_representation(inputs.embeddings, classifier.representation)
        onset_source = ""
        if task == "infection":
            onset, onset_source = _infection_onset(
                store, inputs, classifier, matrix, embedding_rows, config.max_match_distance_px
            )
            courses = infection_courses(
                store.index, onset, config.infection_offsets_frames, rng, config.n_cells
            )
        else:
            courses = division_courses(store.index, config.division_offsets_frames, rng, config.n_cells)
        if not courses:
            event = "an infection onset" if task == "infection" else "a division"
            message = f"no tracked cell goes through {event}"
            logger.warning("%s (%s, %s): %s", model, dataset, task, message)
            notes.append(message)
            continue
        if len(courses) < config.n_cells:
            message = (
                f"{task}: {len(courses)} of the {config.n_cells} cells asked for show the most time points"
            )
            logger.warning("%s (%s): %s", model, dataset, message)
            notes.append(message)
        for number, course in enumerate(courses):
            shown = course[course["cell"] >= 0]
            patches = _read_patches(store, shown["cell"].to_numpy(), crop)
            started = time.perf_counter()
            result = occlusion_maps(
                ClassifierOnEncoder(encoder, classifier),
                patches,
                window_yx_px=config.window_yx_px,
                stride_yx_px=config.stride_yx_px,
                baseline=config.baseline,
                perturbations_per_eval=config.perturbations_per_eval,
                device=device,
            )
            seconds += time.perf_counter() - started
            n_maps += len(patches)
            stored = classifier.pipeline.decision_function(
                matrix.take(embedding_rows[shown["cell"].to_numpy()])
            )
            _check_logits(result.logits[:, 1], stored, inputs, task, crop)
            panels = []
            for step, attributed in _time_points(course, patches, result, classifier, region_channel):
                label = time_point_label(step["role"], int(step["offset_frames"]), int(step["t"]), clock)
                if attributed is None:
                    panels.append(AttributionPanel(label=label, patch=None, attribution=None, region=None))
                    continue
                image, attribution, region, target, probability, logit = attributed
                for name, values in (("attributions", attribution), ("patches", image), ("regions", region)):
                    stacks[name].append(values)
                predicted = classifier.class_names[target]
                panels.append(
                    AttributionPanel(f"{label}\n{predicted}, P={probability:.2f}", image, attribution, region)
                )
                for channel, name in enumerate(channel_names):
                    mass, area = region_mass_fraction(attribution[channel], region)
                    records.append(
                        {
                            "model": model,
                            "dataset": dataset,
                            "event": task,
                            "cell_number": number,
                            **{
                                key: step[key]
                                for key in ("offset_frames", "role", "fov_name", "track_id", "t")
                            },
                            "onset_source": onset_source,
                            "channel": name,
                            "predicted_label": predicted,
                            "positive_probability": probability,
                            "predicted_logit": logit,
                            "attribution_sum": float(attribution[channel].sum()),
                            "region_mass_fraction": mass,
                            "region_area_fraction": area,
                        }
                    )
            if number == 0:  # the figure shows the first cell of each event
                blocks.append((task, panels))
    if n_maps:
        logger.info(
            "Occlusion: %d patches in %.1f s (%.2f s per patch) on %s",
            n_maps,
            seconds,
            seconds / n_maps,
            device,
        )
    summary = pd.DataFrame(records, columns=list(OCCLUSION_COLUMNS))
    provenance = make_provenance(
        ArtifactKind.OCCLUSION_MAPS,
        {
            **with_run_params(config.job_params(), config.run_params()),
            "model": model,
            "dataset": dataset,
            "crop_size_yx_px": list(crop),
        },
        [
            (inputs.checkpoint, trained.provenance),
            (inputs.embeddings, read_embeddings_provenance(inputs.embeddings)),
            inputs.classifiers,
            (inputs.patches_zarr, store.provenance),
            (inputs.patches_parquet, store.index_provenance),
            *([inputs.ground_truth] if inputs.ground_truth is not None else []),
        ],
    )
    _write_maps(outputs.maps, stacks, summary, channel_names, provenance)
    write_csv(summary, outputs.summary)
    label = f"{model}, {dataset}"
    caption = occlusion_caption(summary, channel_names[region_channel], notes, clock)
    figure = plot_occlusion(
        blocks, channel_names, f"{label}: occlusion attribution of the classifier heads", footnote=caption
    )
    save_figure(figure, outputs.figure_png, outputs.figure_svg)
    logger.info("Wrote %s: %s", outputs.figure_png, caption)
    return summary


def _write_maps(
    path: Path,
    stacks: dict[str, list[np.ndarray]],
    summary: pd.DataFrame,
    channel_names: list[str],
    provenance: Any,
) -> None:
    """The maps store: ``attributions`` and ``patches`` ``(N, C, h, w)`` float32, ``regions``
    ``(N, h, w)`` bool, row ``i`` the ``i``-th distinct (event, cell, time point) of the summary."""
    with atomic_output(path) as tmp:
        group = zarr.open_group(str(tmp), mode="w", zarr_format=3)  # root zarr.json
        for name, values in stacks.items():
            if values:
                array = np.stack(values)
            else:
                array = np.zeros((0, len(channel_names), 0, 0) if name != "regions" else (0, 0, 0))
            dtype = "bool" if name == "regions" else "float32"
            group.create_array(name, data=array.astype(dtype))
        rows = summary.drop_duplicates(["event", "cell_number", "offset_frames"])
        columns = ["event", "cell_number", "offset_frames", "role", "fov_name", "track_id", "t"]
        group.attrs.update(
            {
                "channel_names": channel_names,
                "rows": rows.loc[:, columns].to_dict("records"),
            }
        )
        write_zarr_provenance(tmp, provenance)


def time_point_label(role: str, offset_frames: int, t: int, clock: FrameClock) -> str:
    """A row's label: the time point's role, its offset from the event in hours where the frame
    interval is known (``before onset -1.00 h (frame 6)``), else in frames (``before onset -4 frames
    (frame 6)``), and the frame ``t`` of the tracks. It read ``before onset -4 (t=6)`` beside the
    other figures' hours."""
    return f"{role} {clock.offset(offset_frames, decimals=2)} (frame {t})"


def occlusion_caption(summary: pd.DataFrame, region_channel: str, notes: list[str], clock: FrameClock) -> str:
    """What the figure shows, with the measured concentration of attribution in the region (over
    every cell drawn per event: the mean of the cells' means and their range) and the unit of the
    rows' times (``clock``)."""
    n_cells = int(summary["cell_number"].max()) + 1 if len(summary) else 1
    shown = "one cell" if n_cells == 1 else f"the first of {n_cells} cells"
    parts = [
        "Occlusion attribution (Captum) of the encoder with each task's linear classifier as its head: "
        f"rows are time points of {shown} through infection and of {shown} through a division; per channel "
        "the patch (central Z slice) and the map of how much hiding each window lowers the predicted class's "
        f"logit (red) or raises it (blue), the central cell's {region_channel} Otsu region outlined. "
        f"Each row's time from the event is in {clock.stated}."
    ]
    for (event, role, channel), group in summary.groupby(["event", "role", "channel"], sort=False):
        per_cell = group.groupby("cell_number")[["region_mass_fraction", "region_area_fraction"]].mean()
        mass, area = per_cell.mean()
        if len(per_cell) == 1:
            spread = f"mean of {len(group)} time point{'s' if len(group) > 1 else ''}"
        else:
            low, high = per_cell["region_mass_fraction"].min(), per_cell["region_mass_fraction"].max()
            spread = f"mean over {len(per_cell)} cells, per-cell means {100 * low:.0f}-{100 * high:.0f}%"
        parts.append(
            f"{event}, {role}, {channel}: {100 * mass:.0f}% of the absolute attribution lies in the region, "
            f"which covers {100 * area:.0f}% of the patch ({spread})."
        )
    parts += [f"{note[0].upper()}{note[1:]}." for note in notes]
    return " ".join(parts)
