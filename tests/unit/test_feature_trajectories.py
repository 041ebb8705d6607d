"""Engineered features along pseudo-time (paper Fig. 5): binning, before/after change with its
bootstrap CI, Spearman rho, the stated finding, and the stage's checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dynaclr.figures.feature_trajectories import (
    SUMMARY_COLUMNS,
    TRAJECTORY_COLUMNS,
    feature_frames,
    feature_trajectories,
    plot_feature_trajectories,
)
from dynaclr.numerics.bootstrap import MIN_BOOTSTRAP_CLUSTERS


def _pseudotime(n_lineages: int = 12, n_frames: int = 10) -> pd.DataFrame:
    """Each lineage one track aligned so that its onset is at frame 3 + lineage % 3."""
    rows = []
    for lineage in range(n_lineages):
        onset = 3 + lineage % 3
        for t in range(n_frames):
            rows.append(
                {
                    "fov_name": "A/1/0",
                    "query_id": lineage,
                    "track_id": lineage,
                    "t": t,
                    "in_match": True,
                    "pseudotime": float(t - onset),
                    "normalized_cost": 0.1,
                    "is_reference_series": lineage == 0,
                }
            )
    return pd.DataFrame(rows)


def _cells(pseudotime: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cells = pseudotime[["fov_name", "track_id", "t"]].copy()
    after = (pseudotime["pseudotime"] >= 0).to_numpy()
    cells["ER_radial_slope"] = np.where(after, -1.0, 0.0) + 0.1 * rng.standard_normal(len(cells))
    cells["ER_mean"] = rng.standard_normal(len(cells))
    return cells


def test_a_step_at_the_event_is_found_and_noise_is_not_claimed():
    pseudotime = _pseudotime()
    frames = feature_frames(pseudotime, _cells(pseudotime), ["ER_radial_slope", "ER_mean"])
    assert len(frames) == len(pseudotime)
    sources = {"ER_radial_slope": "cell features", "ER_mean": "cell features"}
    trajectory, summary = feature_trajectories(
        frames, ["ER_radial_slope", "ER_mean"], sources, model="m", dataset="d", seed=0
    )
    assert list(trajectory.columns) == list(TRAJECTORY_COLUMNS)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    step = summary.set_index("feature").loc["ER_radial_slope"]
    assert step["change"] == pytest.approx(-1.0, abs=0.1)
    assert step["change_ci_high"] < 0
    assert step["n_lineages_both_sides"] == 12
    assert step["spearman_rho"] < -0.5
    noise = summary.set_index("feature").loc["ER_mean"]
    assert noise["change_ci_low"] < 0 < noise["change_ci_high"]
    # per-bin counts add up to the matched frames
    per_feature = trajectory[trajectory["feature"] == "ER_radial_slope"]
    assert per_feature["n"].sum() == len(frames)
    assert per_feature.loc[per_feature["pseudotime"] == -5, "n"].item() == 4
    _, caption = plot_feature_trajectories(trajectory, summary, label="m, d")
    assert "ER_radial_slope (cell features) falls across the event" in caption
    assert "ER_mean (cell features) shows no change beyond its CI" in caption


def test_same_seed_same_summary_and_missing_columns_fail():
    pseudotime = _pseudotime()
    cells = _cells(pseudotime)
    frames = feature_frames(pseudotime, cells, ["ER_radial_slope"])
    runs = [
        feature_trajectories(frames, ["ER_radial_slope"], {"ER_radial_slope": "x"}, model="m", dataset="d")[1]
        for _ in range(2)
    ]
    pd.testing.assert_frame_equal(runs[0], runs[1])
    with pytest.raises(KeyError, match="ER_iqr"):
        feature_frames(pseudotime, cells, ["ER_iqr"])


def test_lineages_seen_on_one_side_only_give_no_change():
    pseudotime = _pseudotime()
    pseudotime = pseudotime[pseudotime["pseudotime"] >= 0]
    frames = feature_frames(pseudotime, _cells(pseudotime), ["ER_radial_slope"])
    _, summary = feature_trajectories(
        frames, ["ER_radial_slope"], {"ER_radial_slope": "x"}, model="m", dataset="d"
    )
    assert summary["n_lineages_both_sides"].item() == 0
    assert np.isnan(summary["change"].item())
    _, caption = plot_feature_trajectories(
        feature_trajectories(frames, ["ER_radial_slope"], {"ER_radial_slope": "x"}, model="m", dataset="d")[
            0
        ],
        summary,
    )
    assert "no lineage is aligned on both sides" in caption


def test_a_change_and_rho_not_measured_are_said_so_not_printed_as_nan():
    """Lineages seen after the event only, of one value: the finding read "x (x): no change: no lineage
    is aligned ..." (a change not measured stated as none) and "Spearman rho with pseudo-time nan.";
    now the change is "not measured" with the reason, and the rho is left out."""
    pseudotime = _pseudotime()
    pseudotime = pseudotime[pseudotime["pseudotime"] >= 0]
    cells = _cells(pseudotime).assign(ER_radial_slope=-1.0)
    frames = feature_frames(pseudotime, cells, ["ER_radial_slope"])
    trajectory, summary = feature_trajectories(
        frames, ["ER_radial_slope"], {"ER_radial_slope": "x"}, model="m", dataset="d"
    )
    assert np.isnan(summary["change"].item()) and np.isnan(summary["spearman_rho"].item())
    _, caption = plot_feature_trajectories(trajectory, summary)
    assert "ER_radial_slope (x): change not measured (no lineage is aligned on both sides" in caption
    assert "no change" not in caption and "nan" not in caption and "Spearman" not in caption


def test_a_movie_whose_pseudotime_was_not_aligned_gets_not_computed_outputs(tmp_path, caplog):
    """align_pseudotime wrote an empty table marked ``not_aligned`` (tracks never linked; known only at
    run time, so the job is planned): the stage writes its tables empty with their columns and a
    figure saying "not computed" and why, with a WARNING naming the dataset and the reason, rather
    than failing the run with a false "rerun cell_features"."""
    from dynaclr.config.analysis import PseudotimeConfig
    from dynaclr.figures.stage import (
        FeatureTrajectoriesInputs,
        FeatureTrajectoriesOutputs,
        feature_trajectories_stage,
    )
    from dynaclr.io import ArtifactKind, make_provenance, read_csv, write_table
    from dynaclr.pseudotime.stage import AlignPseudotimeOutputs, _write_not_aligned

    reason = "no track spans two frames (120 tracks, 120 cells, 10 frames)"
    aligned = AlignPseudotimeOutputs(pseudotime=tmp_path / "pt.parquet", accuracy=tmp_path / "acc.csv")
    _write_not_aligned(PseudotimeConfig(), aligned, [], reason, model="m", dataset="unlinked")
    features = tmp_path / "features.parquet"
    write_table(_cells(_pseudotime()), features, make_provenance(ArtifactKind.CELL_FEATURES, {}))
    outputs = FeatureTrajectoriesOutputs(
        trajectory=tmp_path / "t.csv",
        summary=tmp_path / "s.csv",
        png=tmp_path / "f.png",
        svg=tmp_path / "f.svg",
    )
    inputs = FeatureTrajectoriesInputs(
        pseudotime=aligned.pseudotime, features=features, patches_parquet=tmp_path / "unread.parquet"
    )
    with caplog.at_level("WARNING", logger="dynaclr.figures.stage"):
        summary = feature_trajectories_stage(
            inputs, outputs, features=["ER_radial_slope"], truth_columns=[], model="m", dataset="unlinked"
        )
    assert summary.empty
    assert list(read_csv(outputs.trajectory).columns) == list(TRAJECTORY_COLUMNS)
    assert list(read_csv(outputs.summary).columns) == list(SUMMARY_COLUMNS)
    assert read_csv(outputs.summary).empty and outputs.png.exists() and outputs.svg.exists()
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "dynaclr.figures.stage"]
    assert "'unlinked'" in warning and reason in warning and "cell_features" not in warning
    with pytest.raises(ValueError, match="none of the features"):  # a config error is still refused
        feature_trajectories_stage(
            inputs, outputs, features=["GFP_mean"], truth_columns=[], model="m", dataset="unlinked"
        )


def test_pseudo_time_is_drawn_in_hours_where_the_frame_interval_is_known():
    """The panels' pseudo-time was in frames only: where the dataset's frame interval is known it is
    drawn in hours (a bin of one frame at 0.5 h), and the axis and caption say which unit."""
    from dynaclr.numerics.timescale import FrameClock

    pseudotime = _pseudotime()
    frames = feature_frames(pseudotime, _cells(pseudotime), ["ER_radial_slope"])
    trajectory, summary = feature_trajectories(
        frames, ["ER_radial_slope"], {"ER_radial_slope": "cell features"}, model="m", dataset="d"
    )
    figure, caption = plot_feature_trajectories(trajectory, summary, label="m, d", clock=FrameClock.of(30.0))
    (axis,) = figure.axes
    assert axis.get_xlabel() == "pseudo-time (h; 0: infection onset)"
    (line,) = axis.get_lines()[:1]
    assert list(line.get_xdata()) == list(0.5 * trajectory["pseudotime"].to_numpy())
    assert "pseudo-time in hours (one frame = 30 min)" in caption
    figure, caption = plot_feature_trajectories(trajectory, summary, label="m, d", clock=FrameClock.of(None))
    assert figure.axes[0].get_xlabel() == "pseudo-time (frames; 0: infection onset)"
    assert "pseudo-time in frames (the frame interval is not recorded)" in caption


def _stage_files(tmp_path, pseudotime_config: dict) -> tuple:
    """A simulated dataset of 0.2 µm pixels: six lineages 200 px apart, each ground-truth cell 15 px
    (3 µm, inside its nucleus of ~25 px radius) from its tracked cell's patch centre; its ground truth
    ``er_condensation`` steps from 10 x track to 10 x track + 1 at the lineage's onset."""
    from dynaclr.figures.stage import FeatureTrajectoriesInputs, FeatureTrajectoriesOutputs
    from dynaclr.io import ArtifactKind, make_provenance, write_table

    pseudotime = _pseudotime(n_lineages=6)
    paths = {name: tmp_path / f"{name}.parquet" for name in ("pt", "features", "index", "truth")}
    write_table(pseudotime, paths["pt"], make_provenance(ArtifactKind.PSEUDOTIME, pseudotime_config))
    write_table(_cells(pseudotime), paths["features"], make_provenance(ArtifactKind.CELL_FEATURES, {}))
    index = pseudotime[["fov_name", "track_id", "t"]].assign(
        y=100.0 + 200.0 * pseudotime["track_id"], x=100.0
    )
    write_table(index, paths["index"], make_provenance(ArtifactKind.PATCH_INDEX, {}))
    truth = index.assign(
        y=index["y"] + 12.0,
        x=index["x"] + 9.0,
        track_id=index["track_id"] + 1000,  # the simulator's ids, not the tracker's
        er_condensation=10.0 * index["track_id"] + (pseudotime["pseudotime"] >= 0),
    )
    write_table(truth, paths["truth"], make_provenance(ArtifactKind.GROUND_TRUTH_TRACKS, {}))
    inputs = FeatureTrajectoriesInputs(
        pseudotime=paths["pt"],
        features=paths["features"],
        patches_parquet=paths["index"],
        tracks=paths["truth"],
    )
    outputs = FeatureTrajectoriesOutputs(
        trajectory=tmp_path / "t.csv",
        summary=tmp_path / "s.csv",
        png=tmp_path / "f.png",
        svg=tmp_path / "f.svg",
    )
    return inputs, outputs


def test_ground_truth_is_matched_with_the_pseudotime_radius_at_a_finer_pixel_size(tmp_path):
    """The ground truth drawn beside the features was matched within a built-in 6 px: on 0.2 µm pixels
    (6 px = 1.2 µm) a ground-truth cell 15 px (3 µm) from its patch centre matched none, and the truth
    column came out empty with exit 0. It is matched as align_pseudotime matched it (its provenance's
    ``max_match_distance_px``: analysis.pseudotime's, the default scaled to 0.2 µm), so every frame
    gets its own cell's truth; a pseudo-time without that record is refused."""
    from dynaclr.config.analysis import PseudotimeConfig
    from dynaclr.figures.stage import feature_trajectories_stage
    from dynaclr.io import ArtifactError

    def run(directory, recorded: dict) -> pd.DataFrame:
        inputs, outputs = _stage_files(directory, recorded)
        return feature_trajectories_stage(
            inputs,
            outputs,
            features=["ER_radial_slope"],
            truth_columns=["er_condensation"],
            model="m",
            dataset="d",
        )

    summary = run(
        tmp_path, {**PseudotimeConfig(max_match_distance_px=19.5).model_dump(mode="json"), "model": "m"}
    )
    n_frames = len(_pseudotime(n_lineages=6))
    truth = summary.set_index("feature").loc["er_condensation"]
    assert truth["source"] == "ground truth"
    assert truth["n_frames"] == n_frames  # every frame matched
    assert truth["change"] == pytest.approx(1.0)  # each lineage its own cell's step, not a neighbour's
    assert truth["n_lineages_both_sides"] == 6

    (tmp_path / "bare").mkdir()
    with pytest.raises(ArtifactError, match="max_match_distance_px"):
        run(tmp_path / "bare", {"model": "m"})


def test_the_caption_counts_lineages_whose_state_never_reaches_the_event(tmp_path, caplog):
    """The change across the event is a mean over every aligned lineage, never-infected ones too (their
    pseudo-time 0 is a match, not an onset): the caption (the job's log line) counts those whose own
    state never reaches the event (the pseudo-time table's ``state_reaches_event``); a table written
    before the column says nothing of them."""
    from dynaclr.figures.stage import (
        FeatureTrajectoriesInputs,
        FeatureTrajectoriesOutputs,
        feature_trajectories_stage,
    )
    from dynaclr.io import ArtifactKind, make_provenance, write_table

    pseudotime = _pseudotime()
    source = "infection state predicted by classifiers transferred from A"
    features = tmp_path / "features.parquet"
    write_table(_cells(pseudotime), features, make_provenance(ArtifactKind.CELL_FEATURES, {}))
    outputs = FeatureTrajectoriesOutputs(
        trajectory=tmp_path / "t.csv",
        summary=tmp_path / "s.csv",
        png=tmp_path / "f.png",
        svg=tmp_path / "f.svg",
    )

    def caption(table: pd.DataFrame) -> str:
        path = tmp_path / "pt.parquet"
        write_table(table, path, make_provenance(ArtifactKind.PSEUDOTIME, {"state_source": source}))
        inputs = FeatureTrajectoriesInputs(
            pseudotime=path, features=features, patches_parquet=tmp_path / "unread"
        )
        caplog.clear()
        with caplog.at_level("INFO", logger="dynaclr.figures.stage"):
            feature_trajectories_stage(
                inputs, outputs, features=["ER_radial_slope"], truth_columns=[], model="m", dataset="d"
            )
        (wrote,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Wrote")]
        return wrote

    never = pseudotime["query_id"].isin([0, 1, 2])  # the reference (0) is not counted
    reaches = pd.array(np.where(never, False, True), dtype="boolean")
    reaches[pseudotime["query_id"].to_numpy() == 3] = pd.NA  # no prediction: not counted either
    assert caption(pseudotime.assign(state_reaches_event=reaches)).endswith(
        f"2 of 11 aligned lineages never reach the infection onset by the {source}: their aligned onsets are "
        "matches, not onsets (their changes across the event are in the means and the per-lineage changes "
        "all the same; state_reaches_event of dtw_accuracy.csv)."
    )
    assert "never reach" not in caption(pseudotime)


def _summary_and_caption(
    n_lineages: int, one_side: list[int], constant: bool = False
) -> tuple[pd.Series, str]:
    """The ER_radial_slope summary row and caption of ``n_lineages`` lineages, those in ``one_side``
    aligned after the event only (``constant``: every lineage changes by exactly -1)."""
    pseudotime = _pseudotime(n_lineages=n_lineages)
    pseudotime = pseudotime[~(pseudotime["query_id"].isin(one_side) & (pseudotime["pseudotime"] < 0))]
    cells = _cells(pseudotime)
    if constant:
        cells["ER_radial_slope"] = np.where(pseudotime["pseudotime"].to_numpy() >= 0, -1.0, 0.0)
    frames = feature_frames(pseudotime, cells, ["ER_radial_slope"])
    trajectory, summary = feature_trajectories(
        frames, ["ER_radial_slope"], {"ER_radial_slope": "x"}, model="m", dataset="d"
    )
    return summary.iloc[0], plot_feature_trajectories(trajectory, summary)[1]


def test_the_change_over_lineages_follows_the_shared_bootstrap_minimum_and_says_what_was_left_out():
    """The change's CI used a minimum of its own, 3 lineages (every other cluster bootstrap:
    MIN_BOOTSTRAP_CLUSTERS, 2), and the caption said only 'too few lineages for a CI': now two lineages
    give a CI, one gives none with the reason, the minimum and the lineages seen on one side only."""
    assert MIN_BOOTSTRAP_CLUSTERS == 2
    two, caption = _summary_and_caption(4, one_side=[2, 3])
    assert two["n_lineages_both_sides"] == 2 and two["n_lineages_one_side"] == 2
    assert two["change_ci_low"] <= two["change"] <= two["change_ci_high"] < 0
    assert two["change_ci_missing"] == ""
    assert "falls across the event" in caption
    assert "2 lineages; 2 lineages seen on one side only left out)" in caption
    one, caption = _summary_and_caption(3, one_side=[1, 2])
    assert one["n_lineages_both_sides"] == 1 and np.isfinite(one["change"])
    assert np.isnan(one["change_ci_low"]) and np.isnan(one["change_ci_high"])
    reason = (
        "1 lineage aligned on both sides of the event (2 lineages seen on one side only left out): a "
        "bootstrap over lineages needs 2 at least"
    )
    assert one["change_ci_missing"] == reason
    assert f"per lineage, no CI ({reason})" in caption
    assert "beyond its CI" not in caption
    same, caption = _summary_and_caption(4, one_side=[], constant=True)
    assert same["change"] == -1 and np.isnan(same["change_ci_low"])
    assert "4 lineages aligned on both sides of the event, each changing by the same amount" in caption
