"""A dataset with tracks of its own (tracks: {format: table}): the run imports them instead of
tracking (no ultrack job is planned), extracts a patch for exactly the imported cells and draws
division annotations from their lineage."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from integration.workflow_helpers import planned_jobs, snakemake, write_config

ULTRACK_RULES = {"tracks_plate", "track_fov", "collect_tracks", "evaluate_tracking"}


def test_imported_tracks_feed_patch_extraction(tiny_plate: dict[str, Path], tmp_path: Path) -> None:
    truth = pd.read_parquet(tiny_plate["tracks"])
    # every other track (and the daughters' parents kept or dropped with them), so the patches can only
    # come from this table
    kept = truth[truth["track_id"] % 2 == 1]
    kept = kept.assign(parent_track_id=kept["parent_track_id"].where(kept["parent_track_id"] % 2 == 1, -1))
    table = kept[["fov_name", "track_id", "t", "y", "x", "parent_track_id"]]
    table.to_csv(tmp_path / "proofread.csv", index=False)
    config = {
        "datasets": {
            "mine": {
                "plate": str(tiny_plate["plate"]),
                "phase": None,  # the patches read a raw channel only
                "tracks": {"format": "table", "path": str(tmp_path / "proofread.csv")},
                "annotations": {"division_from_lineage": True},
                "patches": [
                    {
                        "name": "sensor",
                        "channels": [
                            {"source": "raw", "channel": "ViralSensor", "normalization": "median_p99"}
                        ],
                        "z_window_slices": 1,
                        "patch_size_yx_px": 16,
                    }
                ],
            }
        },
        "analysis": {"baselines": ["engineered_features"]},
    }
    write_config(tmp_path, config)
    jobs = planned_jobs(tmp_path)
    assert jobs["import_tracks"] == 1
    assert not ULTRACK_RULES & set(jobs), jobs

    targets = [
        "results/mine/patches/sensor.parquet",
        "results/mine/qc.csv",
        "results/mine/annotations.parquet",
    ]
    snakemake(tmp_path, "--cores", "2", *targets, timeout=300)
    index = pd.read_parquet(tmp_path / "results" / "mine" / "patches" / "sensor.parquet")
    cells = set(index[["fov_name", "track_id", "t"]].itertuples(index=False, name=None))
    assert cells == set(table[["fov_name", "track_id", "t"]].itertuples(index=False, name=None))
    tracks = pd.read_parquet(tmp_path / "results" / "mine" / "tracks.parquet")
    assert len(tracks) == len(table)
    qc = pd.read_csv(tmp_path / "results" / "mine" / "qc.csv")
    assert "tracking" not in set(qc.get("stage", []))
    annotations = pd.read_parquet(tmp_path / "results" / "mine" / "annotations.parquet")
    assert set(annotations["label"]) == {"mitosis", "interphase"}
    assert set(annotations[["fov_name", "track_id", "t"]].itertuples(index=False, name=None)) <= cells


def test_divisions_on_imported_tracks_are_scored_against_their_lineage(
    tiny_plate: dict[str, Path], tmp_path: Path
) -> None:
    """DTW on the division event of a plate without ground truth but with imported tracks: the
    alignment job reads the tracks, whose lineage states the true divisions it is scored against."""
    truth = pd.read_parquet(tiny_plate["tracks"])
    truth[["fov_name", "track_id", "t", "y", "x", "parent_track_id"]].to_csv(
        tmp_path / "mine.csv", index=False
    )
    config = {
        "datasets": {
            "mine": {
                "plate": str(tiny_plate["plate"]),
                "phase": None,
                "tracks": {"format": "table", "path": str(tmp_path / "mine.csv")},
                "patches": [
                    {
                        "name": "sensor",
                        "channels": [
                            {"source": "raw", "channel": "ViralSensor", "normalization": "median_p99"}
                        ],
                        "z_window_slices": 1,
                        "patch_size_yx_px": 32,
                    }
                ],
            }
        },
        "contrastive_models": {
            "mine_model": {"train_datasets": ["mine"], "training": {"patch_spec": "sensor", "tau_frames": 1}}
        },
        "analysis": {"pseudotime": {"event": "division"}},
    }
    write_config(tmp_path, config)
    target = "results/evaluation/dtw_accuracy/mine_model/mine.csv"
    plan = snakemake(tmp_path, "--dry-run", target).stdout
    (job,) = [block for block in plan.split("\nrule ")[1:] if block.startswith("align_pseudotime:")]
    (inputs,) = [line for line in job.splitlines() if line.strip().startswith("input:")]
    assert "results/mine/tracks.parquet" in inputs, job


def _infection_table(tracks: Path) -> pd.DataFrame:
    """Infection annotations of the first 4 cells of each FOV (cross-validation by FOV needs >= 2),
    both labels, placed by the tracks' y, x."""
    rows = pd.read_parquet(tracks).groupby("fov_name").head(4)
    labels = ["infected", "uninfected"] * (len(rows) // 2) + ["infected"] * (len(rows) % 2)
    return rows[["fov_name", "track_id", "t", "y", "x"]].assign(task="infection", label=labels)


def _annotated_plate_config(plate: Path, table: Path) -> dict:
    """Dataset `mine` on ``plate`` (no phase) whose infection annotations are ``table``."""
    return {
        "datasets": {
            "mine": {
                "plate": str(plate),
                "phase": None,
                "annotations": {"table": str(table), "tasks": ["infection"]},
            }
        },
    }


def test_an_annotation_table_is_imported_and_one_in_wrong_units_is_refused(
    tiny_plate: dict[str, Path], tmp_path: Path
) -> None:
    """Rule `import_annotations` runs on a user's table: rows placed by (y, x) inside the plate's
    image are written; the same table in micrometres of a far larger image fails the job, naming
    the table."""
    table = _infection_table(tiny_plate["tracks"])
    table.to_csv(tmp_path / "mine.csv", index=False)
    write_config(tmp_path, _annotated_plate_config(tiny_plate["plate"], tmp_path / "mine.csv"))
    target = "results/mine/annotations.parquet"
    snakemake(tmp_path, "--cores", "1", target, timeout=300)
    written = pd.read_parquet(tmp_path / target)
    assert len(written) == len(table)
    assert set(written["label"]) == {"infected", "uninfected"}

    far = table.assign(y=table["y"] + 10_000.0, x=table["x"] + 10_000.0)
    far.to_csv(tmp_path / "mine.csv", index=False)
    result = snakemake(tmp_path, "--cores", "1", "--forcerun", "import_annotations", target, check=False)
    assert result.returncode != 0
    log = (tmp_path / "results" / "logs" / "import_annotations" / "mine.log").read_text()
    assert "mine.csv" in log and "outside" in log


def test_a_table_per_fov_is_imported_and_its_files_are_the_imports_inputs(
    tiny_plate: dict[str, Path], tmp_path: Path
) -> None:
    """`annotations.table` a pattern (napari-iohub's one CSV per FOV, here one without fov_name): the
    job reads every FOV's file, each row given its file's FOV; the files are the import's inputs, so
    removing one makes the import due again (as adding one does)."""
    table = _infection_table(tiny_plate["tracks"])
    fovs = sorted(table["fov_name"].unique())
    folder = tmp_path / "annotations"
    folder.mkdir()
    files = [folder / f"{fov.replace('/', '_')}.csv" for fov in fovs]
    table[table["fov_name"] == fovs[0]].drop(columns=["fov_name"]).to_csv(files[0], index=False)
    for fov, file in zip(fovs[1:], files[1:], strict=True):
        table[table["fov_name"] == fov].to_csv(file, index=False)
    write_config(tmp_path, _annotated_plate_config(tiny_plate["plate"], folder / "{row}_{col}_{fov}.csv"))
    target = "results/mine/annotations.parquet"
    snakemake(tmp_path, "--cores", "1", target, timeout=300)
    written = pd.read_parquet(tmp_path / target)
    cells = ["fov_name", "track_id", "t", "label"]
    assert sorted(written[cells].itertuples(index=False, name=None)) == sorted(
        table[cells].itertuples(index=False, name=None)
    )
    assert "import_annotations" not in snakemake(tmp_path, "--dry-run", target).stdout
    files[-1].unlink()
    assert "import_annotations" in snakemake(tmp_path, "--dry-run", target).stdout
