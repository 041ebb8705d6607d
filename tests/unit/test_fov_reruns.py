"""What a dry run plans after one FOV of a plate of your own changes (issue 17): a position written
again reruns its own jobs and the gathers after them, the plate's root touched reruns nothing. Every
output of a finished run is stood in for by an empty file (no job runs: the plans are built in this
process, a few seconds each)."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import REPO_ROOT
from iohub.ngff import open_ome_zarr
from plate_helpers import write_plate
from test_early_checks import SHAPE, plate_config

from dynaclr.io import ArtifactError, make_provenance, write_table
from dynaclr.io.provenance import PROVENANCE_KEY
from dynaclr.io.tables import POSITION_READINGS, import_checked_fovs, read_table_provenance

FOVS = ["A/1/0", "A/1/1", "A/2/0", "B/1/0"]
#: the products of one dataset's per-FOV stages and their gathers
TARGETS = [
    "results/mine/tracks.parquet",
    "results/mine/patches/sensor.zarr/zarr.json",
    "results/mine/patches/sensor.parquet",
    "results/mine/qc.csv",
]


#: the products of virtual staining on the plate's own phase channel (phase off)
VS_TARGETS = ["results/mine/evaluation/virtual_stain.csv"]


def plan(workdir: Path, *, forceall: bool = False, targets: list[str] = TARGETS) -> list:
    """The jobs a dry run of ``targets`` would run (every job with ``forceall``)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        DeploymentSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
        StorageSettings,
        WorkflowSettings,
    )

    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=[workdir / "config" / "config.yaml"]),
            storage_settings=StorageSettings(),
            workflow_settings=WorkflowSettings(),
            deployment_settings=DeploymentSettings(),
            snakefile=REPO_ROOT / "Snakefile",
            workdir=workdir,
        )
        workflow_api.dag(
            dag_settings=DAGSettings(targets=frozenset(targets), forceall=forceall)
        ).execute_workflow(executor="dryrun")
        return list(workflow_api._workflow.dag.needrun_jobs(exclude_finished=False))


def planned(workdir: Path, targets: list[str] = TARGETS) -> dict[str, int]:
    return dict(Counter(job.rule.name for job in plan(workdir, targets=targets)))


def finish(plate: Path, config: dict, workdir: Path, targets: list[str]) -> None:
    """``workdir`` with ``config`` and every output of ``targets`` stood in for, newer than ``plate``."""
    (workdir / "config").mkdir(parents=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    cwd = Path.cwd()
    os.chdir(workdir)  # the plan's relative paths
    try:
        jobs = plan(workdir, forceall=True, targets=targets)
    finally:
        os.chdir(cwd)
    # the plate written 100 s ago, the run finished now: not earlier, since Snakemake's `code` trigger
    # reruns a job whose output is older than its script, which a fresh clone wrote seconds ago
    now = time.time()
    for path in plate.rglob("*"):
        os.utime(path, (now - 100, now - 100))
    for path in (workdir / str(f) for job in jobs for f in job.output):
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".parquet":
            pq.write_table(pa.table({"x": [0]}), path)
        else:
            path.touch()
        os.utime(path, (now, now))
    assert planned(workdir, targets) == {}


@pytest.fixture(params=["0.5", "0.4"], ids=["zarr v3", "zarr v2"])
def finished(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Path, Path]:
    """A plate of your own (4 FOVs; OME-Zarr 0.5, or 0.4 whose positions' metadata is `.zattrs`) and a
    workdir whose every output of TARGETS exists, newer than it."""
    plate = write_plate(tmp_path / "plate.zarr", FOVS, ["Nuclei", "Sensor"], SHAPE, version=request.param)
    finish(plate, plate_config(plate), tmp_path / "work", TARGETS)
    return plate, tmp_path / "work"


def rewrite_root(plate: Path) -> None:
    """The plate's root attributes written again (iohub) and its folder touched."""
    with open_ome_zarr(plate, layout="hcs", mode="r+") as hcs:
        hcs.zattrs["note"] = "the root touched"
    os.utime(plate)


def finished_and_root_rewritten(plate: Path, config: dict, workdir: Path, targets: list[str]) -> Path:
    """``workdir`` finished (:func:`finish`), then the plate's root rewritten: nothing planned."""
    finish(plate, config, workdir, targets)
    rewrite_root(plate)
    assert planned(workdir, targets) == {}
    return workdir


def rewrite_position(plate: Path, fov: str) -> None:
    """Position ``fov``'s metadata written again (iohub)."""
    with open_ome_zarr(plate / fov, mode="r+") as position:
        position.zattrs["note"] = "written again"


def test_a_position_written_again_reruns_its_own_jobs_and_a_touched_root_none(finished) -> None:
    plate, workdir = finished
    with open_ome_zarr(plate, layout="hcs", mode="r+") as hcs:
        hcs.zattrs["note"] = "the root touched"
    assert planned(workdir) == {}
    with open_ome_zarr(plate / "A/1/1", mode="r+") as position:  # its pixels and metadata written again
        position["0"][0, 0, 0] = 7
        position.zattrs["note"] = "written again"
    jobs = plan(workdir)
    assert dict(Counter(job.rule.name for job in jobs)) == {
        "track_fov": 1,
        "extract_patches": 1,
        "collect_tracks": 1,
        "collect_patches": 1,
        "qc_table": 1,
    }
    fovs = {
        "/".join(job.wildcards_dict[key] for key in ("row", "col", "fov"))
        for job in jobs
        if "fov" in job.wildcards_dict
    }
    assert fovs == {"A/1/1"}


def test_virtual_staining_on_a_plate_of_your_own_reruns_nothing_when_its_root_changes(tmp_path: Path) -> None:
    """Virtual staining trained on the plate's own phase (phase off): train_virtual_stain and
    evaluate_virtual_stain took the plate's folder as a plain input, so rewriting its root's attributes
    or touching its folder retrained the model and predicted every FOV again. Now neither reruns
    anything; a training FOV written again retrains (and so predicts every FOV again), another FOV
    written again predicts that FOV alone."""
    plate = write_plate(tmp_path / "plate.zarr", FOVS, ["Phase3D", "Nuclei"], SHAPE)
    config = {
        "datasets": {
            "mine": {
                "plate": str(plate),
                "phase": None,
                "virtual_stain": {"train": {"train_fovs": ["A/1/0"]}},
            }
        }
    }
    workdir = finished_and_root_rewritten(plate, config, tmp_path / "work", VS_TARGETS)
    rewrite_position(plate, "A/2/0")
    assert planned(workdir, VS_TARGETS) == {"predict_virtual_stain": 1, "evaluate_virtual_stain": 1}
    rewrite_position(plate, "A/1/0")
    assert planned(workdir, VS_TARGETS) == {
        "train_virtual_stain": 1,
        "predict_virtual_stain": len(FOVS),
        "evaluate_virtual_stain": 1,
    }


#: the products of patch extraction on imported tracks
IMPORTED_TARGETS = ["results/mine/patches/sensor.parquet"]


def imported_and_root_rewritten(tmp_path: Path) -> tuple[Path, Path]:
    """A plate of your own whose tracks a table names, every output of IMPORTED_TARGETS stood in for
    and the plate's root then rewritten (nothing planned): the plate and the workdir."""
    plate = write_plate(tmp_path / "plate.zarr", FOVS, ["Nuclei", "Sensor"], SHAPE)
    rows = [
        {"fov_name": fov, "track_id": 1, "t": t, "y": 32.0, "x": 32.0}
        for fov in FOVS
        for t in range(SHAPE[0])
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "tracks.csv", index=False)
    config = plate_config(plate)
    del config["datasets"]["mine"]["tracking_input"]
    config["datasets"]["mine"]["tracks"] = {"format": "table", "path": str(tmp_path / "tracks.csv")}
    os.utime(tmp_path / "tracks.csv", (time.time() - 100, time.time() - 100))
    return plate, finished_and_root_rewritten(plate, config, tmp_path / "work", IMPORTED_TARGETS)


def record_checked_fovs(workdir: Path, checked: list[str]) -> None:
    """The stood-in imported tracks table given an import's record whose position check read the
    images of the FOVs ``checked`` (its ``position_readings.frames``), its time kept."""
    path = workdir / "results" / "mine" / "tracks.parquet"
    stat = path.stat()
    readings = {"frames": [[fov, 0] for fov in checked], "verdict": "confirmed"}
    write_table(pd.DataFrame({"x": [0]}), path, make_provenance("tracks", {POSITION_READINGS: readings}))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_imported_tracks_on_a_plate_of_your_own_rerun_nothing_when_its_root_changes(tmp_path: Path) -> None:
    """import_tracks took the plate's folder as a plain input (its positions are checked against the
    images): rewriting the root's attributes or touching the folder imported the tracks again and
    reran every FOV's patches. Now that reruns nothing; a position written again whose images the
    import did not check reruns its own jobs only."""
    plate, workdir = imported_and_root_rewritten(tmp_path)
    record_checked_fovs(workdir, ["A/1/0", "A/2/0"])
    assert planned(workdir, IMPORTED_TARGETS) == {}
    rewrite_position(plate, "A/1/1")
    assert planned(workdir, IMPORTED_TARGETS) == {"extract_patches": 1, "collect_patches": 1}


def test_a_position_the_tracks_import_checked_written_again_imports_them_again(tmp_path: Path) -> None:
    """import_tracks checks the tracks on the images of a few FOVs (those with the most detections),
    but took every position's metadata file as ancient(): a checked position written again (new
    images under the same tracks) kept the old import and its check. Now such a position reruns the
    import (and so every FOV's patches, which read its one table); where the table's record names no
    checked FOV (an older import's), any position written again does."""
    plate, workdir = imported_and_root_rewritten(tmp_path)
    record_checked_fovs(workdir, ["A/1/0", "A/2/0"])
    rewrite_position(plate, "A/2/0")
    assert planned(workdir, IMPORTED_TARGETS) == {
        "import_tracks": 1,
        "extract_patches": len(FOVS),
        "collect_patches": 1,
    }


def test_any_position_written_again_reruns_an_import_whose_record_names_no_fov(
    tmp_path: Path,
) -> None:
    """A tracks table without an import's position readings (a stand-in here, an older import's in use)
    says nothing of the FOVs checked: any position written again imports the tracks again."""
    plate, workdir = imported_and_root_rewritten(tmp_path)
    rewrite_position(plate, "A/1/1")
    assert planned(workdir, IMPORTED_TARGETS)["import_tracks"] == 1


def test_a_tracks_table_whose_record_is_no_json_leaves_every_position_a_plain_input(tmp_path: Path) -> None:
    """A tracks table whose dynaclr record is not JSON raised a bare JSONDecodeError at planning (the
    whole dry run failed, naming no file): it names no checked FOV now, as a table without a record, and
    a reader of the table is refused naming the file."""
    bad = tmp_path / "tracks.parquet"
    pq.write_table(pa.table({"x": [0]}).replace_schema_metadata({PROVENANCE_KEY: b"{not json"}), bad)
    assert import_checked_fovs(bad) is None
    with pytest.raises(ArtifactError) as raised:
        read_table_provenance(bad, "tracks")
    assert str(raised.value).startswith(f"{bad}: cannot be read as a 'tracks' artifact (JSONDecodeError")
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(b"PAR1xx")
    assert import_checked_fovs(truncated) is None
    readings = {"frames": [["A/1/0", 0], ["A/1/0", 3], ["B/2/1", 1]]}
    good = tmp_path / "good.parquet"
    write_table(pd.DataFrame({"x": [0]}), good, make_provenance("tracks", {POSITION_READINGS: readings}))
    assert import_checked_fovs(good) == ["A/1/0", "B/2/1"]
