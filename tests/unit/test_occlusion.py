"""Occlusion attribution (paper appendix F): the classifier folded into a linear head predicts what
scikit-learn predicts, occlusion finds the only region a toy encoder reads, maps are reproducible on
the CPU, and the time courses pick the cells they promise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import ValidationError
from torch import nn

from dynaclr.baselines import random_encoder
from dynaclr.classify import LinearClassifier, build_pipeline
from dynaclr.config.analysis import OcclusionConfig
from dynaclr.interpretation.occlusion import (
    ClassifierOnEncoder,
    division_course,
    infection_course,
    linear_head,
    occlusion_maps,
    predicted_onset,
    region_mass_fraction,
)


def _fitted_classifier(dim: int = 6, representation: str = "features", seed: int = 0) -> LinearClassifier:
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(80, dim)) * rng.uniform(0.5, 5.0, size=dim) + rng.normal(size=dim) * 3
    labels = (matrix[:, 0] - matrix[:, 1] + rng.normal(scale=0.5, size=80) > matrix[:, 0].mean()).astype(int)
    pipeline = build_pipeline().fit(matrix, labels)
    return LinearClassifier("infection", pipeline, ("uninfected", "infected"), representation)


def test_the_linear_head_gives_sklearns_decision_function_and_prediction():
    classifier = _fitted_classifier()
    # through the JSON numbers the classify stage writes, as the rule reads them
    classifier = LinearClassifier.from_dict(classifier.to_dict())
    matrix = np.random.default_rng(1).normal(size=(50, 6)) * 4
    logits = linear_head(classifier)(torch.from_numpy(matrix)).detach().numpy()
    decision = classifier.pipeline.decision_function(matrix)
    np.testing.assert_allclose(logits[:, 1], decision, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(logits[:, 0], -decision, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(logits.argmax(axis=1), classifier.pipeline.predict(matrix))


class _RegionEncoder(nn.Module):
    """Reads only channel 1 inside ``[4:12, 20:28]`` of every slice: features = its mean and max."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        region = x[:, 1, :, 4:12, 20:28]
        features = torch.stack([region.mean(dim=(1, 2, 3)), region.amax(dim=(1, 2, 3))], dim=1)
        return features, features[:, :1]


def _region_classifier() -> LinearClassifier:
    return LinearClassifier.from_dict(
        {
            "task": "infection",
            "class_names": ["uninfected", "infected"],
            "representation": "features",
            "feature_dim": 2,
            "scaler": {"mean": [0.5, 1.0], "scale": [2.0, 0.5]},
            "logistic_regression": {"coef": [[3.0, 0.5]], "intercept": [0.2]},
        }
    )


def test_occlusion_puts_the_attribution_where_the_encoder_looks():
    rng = np.random.default_rng(0)
    patches = rng.uniform(0.5, 2.0, size=(2, 2, 3, 32, 32)).astype(np.float32)
    model = ClassifierOnEncoder(_RegionEncoder(), _region_classifier())
    result = occlusion_maps(model, patches, window_yx_px=4, stride_yx_px=4)
    assert result.attributions.shape == (2, 2, 32, 32)
    inside = np.zeros((32, 32), dtype=bool)
    inside[4:12, 20:28] = True
    for maps in result.attributions:
        assert np.all(maps[0] == 0)  # channel 0 is never read
        assert np.all(maps[1][~inside] == 0)
        assert np.all(maps[1][inside] > 0)  # bright pixels raise the 'infected' logit; hiding them lowers it
        mass, area = region_mass_fraction(maps[1], inside)
        assert mass == pytest.approx(1.0)
        assert area == pytest.approx(64 / 1024)
    np.testing.assert_array_equal(result.targets, [1, 1])


def test_occlusion_maps_of_a_real_encoder_are_reproducible_on_the_cpu():
    """Reproducible, and the same to float32 rounding whatever the occluded copies per forward pass
    (OcclusionConfig.RUN_KEYS: editing perturbations_per_eval reruns no occlusion_attribution job)."""
    assert OcclusionConfig.RUN_KEYS == ("perturbations_per_eval",)
    encoder = random_encoder(
        seed=0, backbone="convnext_atto", in_channels=2, in_stack_depth=3, stem_kernel_z=3, projection_dim=8
    )
    with torch.no_grad():
        dim = encoder(torch.zeros(1, 2, 3, 32, 32))[0].shape[1]
    classifier = _fitted_classifier(dim=dim)
    patches = np.random.default_rng(3).normal(size=(2, 2, 3, 32, 32)).astype(np.float32)
    first = occlusion_maps(ClassifierOnEncoder(encoder, classifier), patches, window_yx_px=8, stride_yx_px=8)
    again = random_encoder(
        seed=0, backbone="convnext_atto", in_channels=2, in_stack_depth=3, stem_kernel_z=3, projection_dim=8
    )
    second = occlusion_maps(
        ClassifierOnEncoder(again, classifier),
        patches,
        window_yx_px=8,
        stride_yx_px=8,
        perturbations_per_eval=3,
    )
    np.testing.assert_allclose(first.attributions, second.attributions, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(first.targets, second.targets)
    assert np.abs(first.attributions).max() > 0


def test_a_classifier_of_another_representation_is_refused():
    with pytest.raises(ValueError, match="standardized"):
        ClassifierOnEncoder(_RegionEncoder(), _fitted_classifier(representation="standardized"))


def _cells(tracks: dict[tuple[str, int, int], range]) -> pd.DataFrame:
    """``{(fov, track, parent): frames}`` → one row per cell and frame."""
    rows = [
        {"fov_name": fov, "track_id": track, "parent_track_id": parent, "t": t}
        for (fov, track, parent), frames in tracks.items()
        for t in frames
    ]
    return pd.DataFrame(rows)


def test_the_infection_course_follows_the_track_that_spans_its_onset():
    cells = _cells(
        {("A/1/0", 1, -1): range(0, 20), ("A/1/0", 2, -1): range(0, 20), ("A/1/0", 3, -1): range(8, 11)}
    )
    onset = pd.Series(np.where(cells["track_id"] == 1, 10, np.where(cells["track_id"] == 3, 9, -1)))
    course = infection_course(cells, onset, (-4, 0, 4, 12), np.random.default_rng(0))
    assert course["track_id"].tolist() == [1] * 4
    assert course["t"].tolist() == [6, 10, 14, 22]
    assert course["role"].tolist() == ["before onset", "onset", "after onset", "after onset"]
    shown = course["cell"].to_numpy()
    assert shown[-1] == -1  # frame 22 is past the track's end
    assert cells.loc[shown[:3], "t"].tolist() == [6, 10, 14]


def test_several_infection_courses_are_distinct_tracks_the_first_as_one_draw_gives():
    from dynaclr.interpretation.occlusion import infection_courses

    tracks = {("A/1/0", k, -1): range(0, 20) for k in range(1, 6)}
    cells = _cells(tracks)
    onset = pd.Series(np.where(cells["track_id"] <= 4, 10, -1))  # track 5 is never infected
    one = infection_course(cells, onset, (-2, 0, 2), np.random.default_rng(3))
    several = infection_courses(cells, onset, (-2, 0, 2), np.random.default_rng(3), 3)
    assert len(several) == 3
    pd.testing.assert_frame_equal(several[0], one)
    drawn = [int(course["track_id"].iloc[0]) for course in several]
    assert len(set(drawn)) == 3 and set(drawn) <= {1, 2, 3, 4}
    assert len(infection_courses(cells, onset, (-2, 0, 2), np.random.default_rng(3), 10)) == 4


def test_the_division_course_goes_from_the_mother_to_its_first_daughter():
    cells = _cells(
        {("A/1/0", 5, -1): range(0, 10), ("A/1/0", 7, 5): range(10, 16), ("A/1/0", 6, 5): range(10, 16)}
    )
    course = division_course(cells, (-2, 0, 1, 3), np.random.default_rng(0))
    assert course["track_id"].tolist() == [5, 5, 6, 6]
    assert course["t"].tolist() == [7, 9, 10, 12]
    assert course["role"].tolist() == ["mother", "mother", "daughter", "daughter"]
    assert (course["cell"] >= 0).all()
    assert division_course(_cells({("A/1/0", 1, -1): range(5)}), (-1, 1), np.random.default_rng(0)).empty


def test_the_predicted_onset_is_where_the_calls_turn_infected_for_good():
    cells = _cells({("A/1/0", 1, -1): range(6), ("A/1/0", 2, -1): range(4), ("A/1/0", 3, -1): range(3)})
    calls = [False, True, False, True, True, True] + [True] * 4 + [False, True, False]
    onset = predicted_onset(cells, np.array(calls))
    assert onset.tolist() == [3] * 6 + [-1] * 4 + [-1] * 3


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"window_yx_px": 4, "stride_yx_px": 8}, "stride_yx_px"),
        ({"infection_offsets_frames": [0, 2, 2]}, "repeats"),
        ({"typo": 1}, "typo"),
        # planned as every model ('models or every model'): the opposite of what it says
        ({"enabled": True, "models": []}, r"models: empty; .*null \(or leave the key out\) for every model"),
    ],
)
def test_the_occlusion_config_refuses_what_cannot_work(changes, message):
    with pytest.raises(ValidationError, match=message):
        OcclusionConfig.model_validate(changes)


# ------------------------------------------------------------------ the stage on the tiny plate
SPEC = {
    "name": "tiny",
    "channels": [
        {"source": "raw", "channel": "Brightfield", "normalization": "zscore"},
        {"source": "raw", "channel": "ViralSensor", "normalization": "median_p99"},
    ],
    "z_window_slices": 3,
    "patch_size_yx_px": 32,
}
MODEL_CONFIG = {
    "patch_spec": "tiny",
    "sampling": "time_aware",
    "tau_frames": 1,
    "loss": "ntxent",
    "backbone": "convnext_atto",
    "batch_size": 4,
    "num_workers": 0,
    "validation_fovs": ["A/1/0"],
    "seed": 5,
}


def _embed(store: dict[str, Path], checkpoint: Path, output: Path, model: str) -> Path:
    from dynaclr.config.embeddings import EmbeddingConfig
    from dynaclr.embeddings import EmbedInputs, EmbedOutputs
    from dynaclr.embeddings.stage import embed_stage

    embed_stage(
        EmbeddingConfig(),
        EmbedInputs(patches_zarr=store["zarr"], patches_parquet=store["parquet"], checkpoint=checkpoint),
        EmbedOutputs(embeddings=output),
        model=model,
        dataset="tiny",
        partial_store=output.with_name(f".{output.name}.partial"),
    )
    return output


def _classifiers(embeddings: Path, truth_path: Path, output: Path) -> Path:
    """Infection and division classifiers fitted on every cell's ground-truth state."""
    from dynaclr.classify import save_classifiers
    from dynaclr.classify.stage import embedded_by
    from dynaclr.embeddings import (
        cell_table,
        read_embeddings,
        read_embeddings_provenance,
        representation_matrix,
    )
    from dynaclr.io import ArtifactKind, make_provenance, read_table

    adata = read_embeddings(embeddings)
    cells = cell_table(adata)
    truth, _ = read_table(truth_path, ArtifactKind.GROUND_TRUTH_TRACKS)
    states = cells.merge(truth[["fov_name", "track_id", "t", "infected", "mitosis"]], how="left")
    matrix = representation_matrix(adata, "features")
    classifiers = {}
    for task, column, names in (
        ("infection", "infected", ("uninfected", "infected")),
        ("division", "mitosis", ("interphase", "mitosis")),
    ):
        labels = states[column].fillna(False).to_numpy(dtype=int)
        labels[:2] = [0, 1]  # both classes present whatever the tiny plate holds
        pipeline = build_pipeline().fit(matrix, labels)
        classifiers[task] = LinearClassifier(task, pipeline, names, "features")
    fitted_on = {"embedded_by": embedded_by(read_embeddings_provenance(embeddings))}
    save_classifiers(classifiers, output, make_provenance(ArtifactKind.CLASSIFIERS, fitted_on, [embeddings]))
    return output


@pytest.fixture(scope="module")
def tiny_artifacts(
    tiny_plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Path]]:
    """Patch store, a model trained one step, its embeddings and classifiers; and a second model's."""
    from conftest import build_patch_store, train_model

    from dynaclr.config.patches import PatchSpec

    out = tmp_path_factory.mktemp("occlusion_stage")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small models run fastest single-threaded on shared cores
    store = build_patch_store(
        {"raw": tiny_plate["plate"]}, tiny_plate["tracks"], PatchSpec.model_validate(SPEC), out
    )
    files: dict[str, Path] = {"zarr": Path(store["zarr"]), "parquet": Path(store["parquet"])}
    for name, seed in (("model", 5), ("other", 6)):
        train_model(
            files["zarr"],
            files["parquet"],
            {**MODEL_CONFIG, "seed": seed},
            out / name,
            fast_dev_run=True,
            model_name=name,
        )
        files[f"{name}_checkpoint"] = out / name / "model.ckpt"
        files[f"{name}_embeddings"] = _embed(files, files[f"{name}_checkpoint"], out / f"{name}.zarr", name)
        files[f"{name}_classifiers"] = _classifiers(
            files[f"{name}_embeddings"], tiny_plate["tracks"], out / f"{name}.json"
        )
    files["ground_truth"] = Path(tiny_plate["tracks"])
    yield files
    torch.set_num_threads(threads)


def _run_stage(
    files: dict[str, Path],
    out: Path,
    checkpoint: str = "model",
    classifiers: str = "model",
    config: OcclusionConfig | None = None,
    ground_truth: bool = True,
    time_interval_minutes: float | None = None,
):
    from dynaclr.interpretation.occlusion_stage import OcclusionInputs, OcclusionOutputs, occlusion_stage

    outputs = OcclusionOutputs(
        maps=out / "maps.zarr",
        summary=out / "summary.csv",
        figure_png=out / "f.png",
        figure_svg=out / "f.svg",
    )
    summary = occlusion_stage(
        config
        or OcclusionConfig(
            enabled=True, infection_offsets_frames=(-2, 0, 2), division_offsets_frames=(-1, 1)
        ),
        OcclusionInputs(
            checkpoint=files[f"{checkpoint}_checkpoint"],
            embeddings=files["model_embeddings"],
            classifiers=files[f"{classifiers}_classifiers"],
            patches_zarr=files["zarr"],
            patches_parquet=files["parquet"],
            ground_truth=files["ground_truth"] if ground_truth else None,
        ),
        outputs,
        model="model",
        dataset="tiny",
        time_interval_minutes=time_interval_minutes,
    )
    return summary, outputs


def test_classifiers_fitted_on_another_models_embeddings_are_refused(tiny_artifacts, tmp_path):
    with pytest.raises(ValueError, match=r"expected classifiers fitted on 'model'.s embeddings .* 'other'"):
        _run_stage(tiny_artifacts, tmp_path, classifiers="other")


def test_the_stage_draws_both_events_reproducibly(tiny_artifacts, tmp_path):
    import zarr

    from dynaclr.io import read_csv, read_zarr_provenance

    first, outputs = _run_stage(tiny_artifacts, tmp_path / "first")
    assert set(first["event"]) == {"infection", "division"}
    infection = first[first["event"] == "infection"]
    assert (infection["onset_source"] == "ground truth").all()
    assert set(infection["offset_frames"]) <= {-2, 0, 2}
    assert first["region_mass_fraction"].between(0, 1).all()
    assert read_csv(outputs.summary, ["region_mass_fraction"]).shape[0] == len(first)
    provenance = read_zarr_provenance(outputs.maps, "occlusion_maps")
    assert provenance.config["window_yx_px"] == 8
    group = zarr.open_group(str(outputs.maps), mode="r")
    maps = np.asarray(group["attributions"])
    assert maps.shape[0] == len(group.attrs["rows"]) == len(first) // 2  # 2 channels per time point
    assert maps.shape[1:] == (2, 32, 32) and np.abs(maps).max() > 0
    assert outputs.figure_png.stat().st_size > 10_000

    second, again = _run_stage(tiny_artifacts, tmp_path / "second")
    np.testing.assert_array_equal(
        maps, np.asarray(zarr.open_group(str(again.maps), mode="r")["attributions"])
    )
    pd.testing.assert_frame_equal(first, second)
    assert (first["cell_number"] == 0).all()


@pytest.mark.parametrize(
    ("minutes", "unit", "per_frame"), [(15.0, "h", 0.25), (None, "frames", 1.0)], ids=["15-min", "unknown"]
)
def test_the_figure_rows_give_time_in_hours_where_the_frame_interval_is_known(
    tiny_artifacts, tmp_path, monkeypatch, minutes, unit, per_frame
):
    """The rows read "before onset -2 (t=6)", frames only, beside the other figures' hours: they
    now give the offset from the event in hours (frames where the interval is unknown) and the
    frame, and the footnote says which."""
    import re

    from dynaclr.interpretation import occlusion_stage as stage

    drawn: dict[str, object] = {}
    plot = stage.plot_occlusion

    def capture(blocks, channel_names, title, footnote=""):
        drawn.update(blocks=blocks, footnote=footnote)
        return plot(blocks, channel_names, title, footnote=footnote)

    monkeypatch.setattr(stage, "plot_occlusion", capture)
    summary, _ = _run_stage(tiny_artifacts, tmp_path, time_interval_minutes=minutes)
    rows = summary.drop_duplicates(["event", "offset_frames"])
    labels = [  # the tracked time points, each a summary row per channel
        panel.label.split("\n")[0]
        for _, panels in drawn["blocks"]
        for panel in panels
        if panel.patch is not None
    ]
    assert len(labels) == len(rows) > 0
    for label, row in zip(labels, rows.itertuples(), strict=True):
        match = re.fullmatch(rf"{row.role} ([+-][\d.]+) {unit} \(frame {row.t}\)", label)
        assert match is not None, label
        assert float(match.group(1)) == pytest.approx(row.offset_frames * per_frame)
    stated = "hours (one frame = 15 min)" if minutes else "frames (the frame interval is not recorded)"
    assert f"Each row's time from the event is in {stated}." in drawn["footnote"]


def test_the_stage_attributes_several_cells_per_event_and_draws_the_first(tiny_artifacts, tmp_path):
    import zarr

    one, _ = _run_stage(tiny_artifacts, tmp_path / "one")
    config = OcclusionConfig(
        enabled=True, infection_offsets_frames=(-2, 0, 2), division_offsets_frames=(-1, 1), n_cells=3
    )
    several, outputs = _run_stage(tiny_artifacts, tmp_path / "several", config=config)
    for _, event in several.groupby("event"):
        cells = event.groupby("cell_number")[["fov_name", "track_id"]].first()
        assert 1 <= len(cells) <= 3 and not cells.duplicated().any()  # distinct tracks
    # the first cell of each event is the one a single draw gives
    first = several[several["cell_number"] == 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        first[first["event"] == "infection"], one[one["event"] == "infection"].reset_index(drop=True)
    )
    group = zarr.open_group(str(outputs.maps), mode="r")
    assert len(group.attrs["rows"]) == np.asarray(group["attributions"]).shape[0] == len(several) // 2


def test_the_stage_reads_the_store_by_blocks_as_in_memory(tiny_artifacts, tmp_path, monkeypatch):
    """Without ground truth the infection onset is the classifier's calls on every cell, predicted 7
    rows at a time, and the logits check gathers the attributed cells' rows: the same onsets, summary
    and maps as the matrix held whole (the store is never read with read_embeddings)."""
    import functools
    from types import SimpleNamespace

    import zarr

    from dynaclr.classify import load_classifiers
    from dynaclr.embeddings import MatrixBlocks, open_representation, read_embeddings, representation_matrix
    from dynaclr.interpretation.occlusion_stage import _embedding_rows, _infection_onset
    from dynaclr.patches.store import open_patch_store

    def never(*args, **kwargs):
        raise AssertionError("the store was read whole")

    stage = "dynaclr.interpretation.occlusion_stage"
    monkeypatch.setattr(f"{stage}.open_representation", functools.partial(open_representation, block_rows=7))
    monkeypatch.setattr("dynaclr.embeddings.store.read_embeddings", never)
    monkeypatch.setattr(f"{stage}.read_embeddings", never, raising=False)
    streamed, streamed_outputs = _run_stage(tiny_artifacts, tmp_path / "streamed", ground_truth=False)
    monkeypatch.undo()
    infection = streamed[streamed["event"] == "infection"]
    assert len(infection) and (infection["onset_source"] == "predicted").all()

    adata = read_embeddings(tiny_artifacts["model_embeddings"])
    monkeypatch.setattr(
        f"{stage}.open_representation",
        lambda path, representation: MatrixBlocks(representation_matrix(adata, representation)),
    )
    in_memory, memory_outputs = _run_stage(tiny_artifacts, tmp_path / "in_memory", ground_truth=False)
    pd.testing.assert_frame_equal(streamed, in_memory, check_exact=True)
    for name in ("attributions", "patches", "regions"):
        np.testing.assert_array_equal(
            np.asarray(zarr.open_group(str(streamed_outputs.maps), mode="r")[name]),
            np.asarray(zarr.open_group(str(memory_outputs.maps), mode="r")[name]),
        )
    # the onsets are those of the calls on the whole matrix's rows (before the stage streamed)
    store = open_patch_store(tiny_artifacts["zarr"], tiny_artifacts["parquet"])
    rows = _embedding_rows(adata.obs.reset_index(drop=True), store, tiny_artifacts["model_embeddings"])
    classifier = load_classifiers(tiny_artifacts["model_classifiers"])["infection"]
    matrix = representation_matrix(adata, "features")
    inputs = SimpleNamespace(ground_truth=None)
    onset, source = _infection_onset(
        store,
        inputs,
        classifier,
        open_representation(tiny_artifacts["model_embeddings"], "features", block_rows=7),
        rows,
        max_distance_px=6.0,
    )
    expected = predicted_onset(store.index, classifier.positive_probability(matrix[rows]) >= 0.5)
    assert source == "predicted"
    pd.testing.assert_series_equal(onset, expected)


def test_the_stage_refuses_a_checkpoint_that_did_not_make_the_embeddings(tiny_artifacts, tmp_path):
    from dynaclr.io import ArtifactError

    with pytest.raises(ArtifactError, match="were not made by this checkpoint"):
        _run_stage(tiny_artifacts, tmp_path, checkpoint="other")
    assert not (tmp_path / "maps.zarr").exists()


@pytest.mark.parametrize(
    ("occlusion", "classified", "message"),
    [
        (
            {"enabled": True, "tasks": ["infection", "division"]},
            ["infection"],
            r"occlusion.tasks: \['division'\] are not in",
        ),
        ({"enabled": True, "models": ["engineered_features"]}, ["infection", "division"], "occlusion.models"),
    ],
)
def test_the_workflow_config_refuses_an_occlusion_it_cannot_run(occlusion, classified, message):
    from integration.workflow_helpers import tiny_workflow_config

    from dynaclr.config import WorkflowConfig

    config = tiny_workflow_config()
    config["analysis"] = {
        **config["analysis"],
        "occlusion": occlusion,
        "classification": {"tasks": classified},
    }
    with pytest.raises(ValidationError, match=message):
        WorkflowConfig.model_validate(config)
    config["analysis"]["occlusion"] = {**occlusion, "enabled": False, "models": None}
    WorkflowConfig.model_validate(config)


@pytest.mark.parametrize("classified", [["infection"], ["division"], ["division", "infection"]])
def test_occlusion_tasks_left_out_follow_the_classified_tasks(classified):
    """The README's `classification: {tasks: [infection]}` on the demo config (occlusion on, its tasks
    not set) is valid: occlusion draws only the events a classifier is fitted for."""
    from integration.workflow_helpers import tiny_workflow_config

    from dynaclr.config import WorkflowConfig

    config = tiny_workflow_config()
    config["analysis"]["occlusion"] = {"enabled": True}
    config["analysis"]["classification"] = {"tasks": classified}
    assert list(WorkflowConfig.model_validate(config).analysis.occlusion.tasks) == classified


def test_the_caption_states_the_measured_concentration_per_event_role_and_channel():
    from dynaclr.interpretation.occlusion_stage import occlusion_caption
    from dynaclr.numerics.timescale import FrameClock

    summary = pd.DataFrame(
        {
            "event": ["infection"] * 3,
            "role": ["before onset", "after onset", "after onset"],
            "channel": ["sensor"] * 3,
            "region_mass_fraction": [0.5, 0.8, 0.9],
            "region_area_fraction": [0.4, 0.1, 0.1],
            "cell_number": 0,
        }
    )
    caption = occlusion_caption(summary, "sensor", ["no tracked cell goes through a division"], FrameClock())
    assert "infection, after onset, sensor: 85% of the absolute attribution" in caption
    assert "covers 10% of the patch (mean of 2 time points)" in caption
    assert "before onset, sensor: 50%" in caption and "(mean of 1 time point)" in caption
    assert caption.endswith("No tracked cell goes through a division.")
    # several cells: the mean of the cells' means and their range
    two = pd.concat([summary, summary.assign(cell_number=1, region_mass_fraction=[0.3, 0.6, 0.6])])
    caption = occlusion_caption(two, "sensor", [], FrameClock(30.0))
    assert "the first of 2 cells through infection" in caption
    assert "after onset, sensor: 73% of the absolute attribution" in caption  # (0.85 + 0.6) / 2
    assert "(mean over 2 cells, per-cell means 60-85%)" in caption
    assert "Each row's time from the event is in hours (one frame = 30 min)." in caption


def test_the_true_onset_is_matched_within_the_configured_radius_on_finer_pixels(tmp_path):
    """The ground truth's infection onset found its patch within a built-in 6 px: on 0.2 µm pixels
    (1.2 µm) a ground-truth cell 15 px (3 µm, inside its nucleus) from its patch centre matched none,
    and every cell's onset came out -1 (no infected cell to draw) with exit 0. The radius is
    ``analysis.occlusion.max_match_distance_px`` (checked against the plate's pixels before any job
    runs): set for 0.2 µm pixels, each patch gets its own cell's onset, not a neighbour's."""
    from types import SimpleNamespace

    from dynaclr.interpretation.occlusion_stage import _infection_onset
    from dynaclr.io import ArtifactKind, make_provenance, write_table

    index = pd.DataFrame(
        {
            "fov_name": "A/1/0",
            "track_id": np.repeat(np.arange(4), 3),
            "t": np.tile(np.arange(3), 4),
        }
    ).assign(y=lambda cells: 60.0 + 40.0 * cells["track_id"], x=80.0)
    truth = index.assign(
        y=index["y"] + 12.0,
        x=index["x"] + 9.0,
        track_id=index["track_id"] + 100,
        infection_onset_t=index["track_id"],
    )
    path = tmp_path / "truth.parquet"
    write_table(truth, path, make_provenance(ArtifactKind.GROUND_TRUTH_TRACKS, {}))
    config = OcclusionConfig(max_match_distance_px=19.5)  # the default scaled from 0.65 to 0.2 µm
    onset, source = _infection_onset(
        SimpleNamespace(index=index),
        SimpleNamespace(ground_truth=path),
        None,
        None,
        None,
        config.max_match_distance_px,
    )
    assert source == "ground truth"
    assert onset.tolist() == index["track_id"].tolist()


def test_a_null_radius_is_not_read_by_this_job_and_refused_where_the_truth_is_matched(tmp_path):
    """The workflow hands ``max_match_distance_px`` null to the jobs that match no ground truth (so
    editing it reruns none of them): the config takes null as 'not read by this job' (the script
    dropped it before validating, and the provenance recorded the default 6 px the job never read);
    with ground truth to match, null is refused by name, not passed on as a radius."""
    from types import SimpleNamespace

    from dynaclr.interpretation.occlusion_stage import _infection_onset

    assert OcclusionConfig.model_validate({"max_match_distance_px": None}).max_match_distance_px is None
    with pytest.raises(ValidationError, match="max_match_distance_px"):
        OcclusionConfig.model_validate({"max_match_distance_px": 0})
    truth = tmp_path / "truth.parquet"
    with pytest.raises(ValueError, match=r"analysis.occlusion.max_match_distance_px: .* found null"):
        _infection_onset(
            SimpleNamespace(index=None), SimpleNamespace(ground_truth=truth), None, None, None, None
        )


@pytest.mark.parametrize(("tasks", "refused"), [(["infection", "division"], True), (["division"], False)])
def test_the_workflow_config_refuses_a_null_radius_only_where_occlusion_matches_the_truth(tasks, refused):
    """Written null in the config where occlusion draws infection on the simulated dataset with its
    own infection classifier (the onset matched on the ground truth), the job failed at its end."""
    from integration.workflow_helpers import tiny_workflow_config

    from dynaclr.config import WorkflowConfig

    config = tiny_workflow_config()
    config["analysis"]["classification"] = {"tasks": ["infection", "division"]}
    config["analysis"]["occlusion"] = {"enabled": True, "tasks": tasks, "max_match_distance_px": None}
    if refused:
        with pytest.raises(ValidationError, match=r"max_match_distance_px: expected a radius .* \['tiny'\]"):
            WorkflowConfig.model_validate(config)
    else:
        occlusion = WorkflowConfig.model_validate(config).analysis.occlusion
        assert occlusion.max_match_distance_px is None


def test_the_provenance_records_a_radius_the_job_did_not_read_as_null(tiny_artifacts, tmp_path):
    from dynaclr.io import read_zarr_provenance

    config = OcclusionConfig(
        enabled=True,
        infection_offsets_frames=(-2, 0, 2),
        division_offsets_frames=(-1, 1),
        max_match_distance_px=None,
    )
    _, outputs = _run_stage(tiny_artifacts, tmp_path, config=config, ground_truth=False)
    assert read_zarr_provenance(outputs.maps, "occlusion_maps").config["max_match_distance_px"] is None


@pytest.mark.parametrize(
    ("tasks", "present", "absent"),
    [
        (("division",), "a mother and its first daughter", "through infection"),
        (("infection",), "one cell through infection", "a mother and its first daughter"),
        (("infection", "division"), "through infection (frames", None),
    ],
)
def test_the_report_caption_describes_the_events_of_analysis_occlusion_tasks(tasks, present, absent):
    """A division-only run (analysis.occlusion.tasks [division]) had its report caption describe rows
    of "one cell through infection", rows its figure did not have; the caption now names the events
    of analysis.occlusion.tasks only. It follows the config, not the rows drawn: an event skipped on
    one dataset (no classifier of its task, no cell through it) is said in the figure's footnote."""
    from types import SimpleNamespace

    import jinja2
    from conftest import REPO_ROOT

    from dynaclr.config.analysis import OcclusionConfig

    template = jinja2.Template((REPO_ROOT / "workflow" / "report" / "occlusion.rst").read_text())
    params = SimpleNamespace(
        config=OcclusionConfig(enabled=True, tasks=tasks).model_dump(), time_interval_minutes=20.0
    )
    text = " ".join(
        template.render(
            snakemake=SimpleNamespace(params=params, wildcards=SimpleNamespace(model="m", dataset="d"))
        ).split()
    )
    assert present in text
    if absent is not None:
        assert absent not in text
