"""A corrupt artifact of any kind is refused with an error that names the file and the rule to rerun.

For every member of :class:`dynaclr.io.ArtifactKind` a valid artifact is made (by the tiny stages
where they are quick, else directly with the io writers), copied, damaged the way a file of its
format breaks (a job killed while writing, a full disk, a partial copy) and read with the reader
the next stage uses:

* a zarr store (OME-Zarr plates, patch stores, AnnData): its root ``zarr.json`` cut in half, or its
  attributes (OME metadata and provenance) removed;
* a Parquet table: the file cut in half;
* a JSON record: the file cut in half;
* a PyTorch checkpoint: the file cut in half.

The reader must raise :class:`~dynaclr.io.ArtifactError` naming the damaged file and the rule that
writes the kind (``ArtifactKind.rule``), never a codec's or parser's bare error, never a result.
The intact copy is read without error first, so each case shows what the damage changes.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dynaclr.io import ArtifactError, ArtifactKind, make_provenance, write_table
from dynaclr.io.plate import read_fov_record, write_fov_record
from faults.stages import (
    FOV,
    PHASE_CONFIG,
    STAGES,
    VIRTUAL_STAIN_CONFIG,
    embeddings_path,
)

Files = dict[str, Path]

# --- how each kind is read by the stage after it ------------------------------------------------


def _read_raw_plate(files: Files) -> Any:
    from dynaclr.phase import (
        PhaseTransferFunctionInputs,
        PhaseTransferFunctionOutputs,
        compute_transfer_function,
    )

    output = files["plate"].parent / "out" / "phase_transfer_function.zarr"
    return compute_transfer_function(
        PHASE_CONFIG,
        PhaseTransferFunctionInputs(plate=files["plate"]),
        PhaseTransferFunctionOutputs(transfer_function=output),
    )


def _read_table(kind: str, columns: tuple[str, ...] = ()) -> Callable[[Files], Any]:
    from dynaclr.io import read_table

    return lambda files: read_table(files["table"], kind, columns)


def _read_zarr(kind: str) -> Callable[[Files], Any]:
    from dynaclr.io import read_zarr_provenance

    return lambda files: read_zarr_provenance(files["store"], kind)


def _read_record(kind: str) -> Callable[[Files], Any]:
    return lambda files: read_fov_record(files["record"], kind)


def _read_transfer_function(files: Files) -> Any:
    from dynaclr.phase import load_transfer_function

    return load_transfer_function(files["store"])


def _read_phase_plate(files: Files) -> Any:
    from dynaclr.virtual_stain.plates import read_phase_input

    return read_phase_input(files["store"], "Phase3D")


def _read_virtual_stain_model(files: Files) -> Any:
    from dynaclr.virtual_stain import load_network

    return load_network(files["checkpoint"], VIRTUAL_STAIN_CONFIG)


def _read_virtual_stain_plate(files: Files) -> Any:
    from dynaclr.tracking.fov import read_input_plate_provenance

    return read_input_plate_provenance(files["store"])


def _read_tracks(files: Files) -> Any:
    from dynaclr.patches.inputs import read_tracks

    return read_tracks(files["table"], FOV)


def _read_tracking_evaluation(files: Files) -> Any:
    from dynaclr.tracking import read_tracking_evaluation

    return read_tracking_evaluation(files["table"], files["record"])


def _read_patch_fov(files: Files) -> Any:
    """As ``collect_patches`` reads the per-FOV store and index, and ``qc_table`` the record."""
    from dynaclr.patches.collect import read_fov_store

    return read_fov_store(files["store"], files["table"]), read_fov_record(files["record"], "patch_fov")


def _read_patch_store(files: Files) -> Any:
    from dynaclr.patches import open_patch_store

    return open_patch_store(files["store"], files["table"])


def _read_contrastive_model(files: Files) -> Any:
    from dynaclr.training import read_contrastive_checkpoint

    return read_contrastive_checkpoint(files["checkpoint"])


def _read_embeddings(files: Files) -> Any:
    from dynaclr.embeddings import read_embeddings

    return read_embeddings(files["store"])


def _read_projections(files: Files) -> Any:
    from dynaclr.embeddings import read_projections

    return read_projections(files["store"])


def _read_annotations(files: Files) -> Any:
    from dynaclr.classify.annotations import read_annotations

    return read_annotations(files["table"])


def _read_classification(files: Files) -> Any:
    from dynaclr.classify.stage import CLASSIFICATION_COLUMNS

    return _read_table(ArtifactKind.CLASSIFICATION, CLASSIFICATION_COLUMNS)(files)


def _read_classification_scores(files: Files) -> Any:
    from dynaclr.classify.stage import SCORE_COLUMNS

    return _read_table(ArtifactKind.CLASSIFICATION_SCORES, SCORE_COLUMNS)(files)


def _read_classifiers(files: Files) -> Any:
    from dynaclr.classify import load_classifiers

    return load_classifiers(files["record"])


def _read_predictions(files: Files) -> Any:
    from dynaclr.classify.stage import read_predictions

    return read_predictions(files["table"])


GROUND_TRUTH_COLUMNS = ("fov_name", "track_id", "parent_track_id", "t", "y", "x")

#: kind → (the reader of the stage after it, the files of the artifact it damages).
READERS: dict[str, tuple[Callable[[Files], Any], tuple[str, ...]]] = {
    "raw_plate": (_read_raw_plate, ("plate",)),
    "ground_truth_tracks": (_read_table("ground_truth_tracks", GROUND_TRUTH_COLUMNS), ("table",)),
    "ground_truth_labels": (_read_zarr("ground_truth_labels"), ("store",)),
    "ground_truth_phase": (_read_zarr("ground_truth_phase"), ("store",)),
    "ground_truth_summary": (_read_table("ground_truth_summary", ("fov_name",)), ("table",)),
    "phase_transfer_function": (_read_transfer_function, ("store",)),
    "phase_plate": (_read_phase_plate, ("store",)),
    "phase_fov": (_read_record("phase_fov"), ("record",)),
    "phase_evaluation": (_read_record("phase_evaluation"), ("record",)),
    "virtual_stain_model": (_read_virtual_stain_model, ("checkpoint",)),
    "virtual_stain_plate": (_read_virtual_stain_plate, ("store",)),
    "virtual_stain_fov": (_read_record("virtual_stain_fov"), ("record",)),
    "virtual_stain_evaluation": (_read_record("virtual_stain_evaluation"), ("record",)),
    "tracks_plate": (_read_zarr("tracks_plate"), ("store",)),
    "tracks_fov": (_read_record("tracks_fov"), ("record",)),
    "tracks": (_read_tracks, ("table",)),
    "tracking_evaluation": (_read_tracking_evaluation, ("record",)),
    "qc_table": (_read_record("qc_table"), ("record",)),
    "patch_fov": (_read_patch_fov, ("store", "table", "record")),
    "patches": (_read_patch_store, ("store",)),
    "patch_index": (_read_patch_store, ("table",)),
    "contrastive_model": (_read_contrastive_model, ("checkpoint",)),
    "embeddings": (_read_embeddings, ("store",)),
    "projections": (_read_projections, ("store",)),
    "annotations": (_read_annotations, ("table",)),
    "classification_scores": (_read_classification_scores, ("table",)),
    "classification": (_read_classification, ("table",)),
    "classifiers": (_read_classifiers, ("record",)),
    "predictions": (_read_predictions, ("table",)),
    "pseudotime": (_read_table("pseudotime", ("model", "dataset")), ("table",)),
    "cell_features": (_read_table("cell_features", ("fov_name", "track_id", "t")), ("table",)),
    "embeddings_table": (_read_table("embeddings_table", ("fov_name", "track_id", "t")), ("table",)),
    "occlusion_maps": (_read_zarr("occlusion_maps"), ("store",)),
    "viscy_features": (_read_zarr("viscy_features"), ("store",)),
    "distillation_scores": (_read_table("distillation_scores", ("method",)), ("table",)),
    "distillation": (_read_table("distillation", ("method",)), ("table",)),
    "distillation_predictions": (_read_table("distillation_predictions", ("fov_name",)), ("table",)),
}

# --- how each format breaks ---------------------------------------------------------------------


def cut_in_half(path: Path) -> None:
    """What a job killed while writing, a full disk or a partial copy leaves."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def cut_root_metadata(store: Path) -> None:
    """The root group's metadata (``zarr.json``) cut in half."""
    cut_in_half(store / "zarr.json")


def remove_attributes(store: Path) -> None:
    """The root group's attributes (OME metadata, provenance) gone, the group itself intact."""
    metadata = json.loads((store / "zarr.json").read_text())
    metadata["attributes"] = {}
    (store / "zarr.json").write_text(json.dumps(metadata))


CORRUPTIONS: dict[str, dict[str, Callable[[Path], None]]] = {
    "zarr": {"zarr.json cut in half": cut_root_metadata, "attributes removed": remove_attributes},
    "parquet": {"cut in half": cut_in_half},
    "json": {"cut in half": cut_in_half},
    "ckpt": {"cut in half": cut_in_half},
}


#: The format of each file of an artifact, by its role.
FILE_FORMATS = {
    "plate": "zarr",
    "store": "zarr",
    "table": "parquet",
    "record": "json",
    "checkpoint": "ckpt",
}
#: Readers that do not meet the contract yet, by cause; their cases are strict xfails, so the fix
#: of a cause makes them fail until its entry here is removed.
CASES = [
    (kind, role, corruption)
    for kind, (_, roles) in READERS.items()
    for role in roles
    for corruption in CORRUPTIONS[FILE_FORMATS[role]]
]


def _case(kind: str, role: str, corruption: str) -> Any:
    return pytest.param(kind, role, corruption, id=f"{kind}-{role}-{corruption}")


# --- valid artifacts ----------------------------------------------------------------------------


def _minimal_table(path: Path, kind: str, table: pd.DataFrame) -> Files:
    write_table(table, path, make_provenance(kind, {}))
    return {"table": path}


def _minimal_projections(path: Path, cells: pd.DataFrame) -> Files:
    from dynaclr.embeddings import projections_anndata, write_projections

    adata = projections_anndata(cells, {"pca": (np.zeros((len(cells), 2)), {"variance_ratio": [0.5, 0.2]})})
    write_projections(adata, path, make_provenance("projections", {}))
    return {"store": path}


def _minimal_zarr(path: Path, kind: str) -> Files:
    import zarr

    from dynaclr.io import write_zarr_provenance

    group = zarr.open_group(str(path), mode="w")
    group.create_array("values", data=np.zeros((2, 2), dtype="float32"))
    write_zarr_provenance(path, make_provenance(kind, {}))
    return {"store": path}


def _minimal_record(path: Path, kind: str, metrics: dict[str, Any] | None = None) -> Files:
    write_fov_record(path, make_provenance(kind, {}), metrics or {})
    return {"record": path}


@pytest.fixture(scope="module")
def artifacts(
    tiny_plate: dict[str, Path], stage_inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Files]:
    """One valid artifact of every kind: the tiny stages' outputs, or minimal ones of the io writers."""
    from dynaclr.classify import save_classifiers
    from dynaclr.classify.annotations import ANNOTATION_COLUMNS
    from dynaclr.classify.stage import CLASSIFICATION_COLUMNS, SCORE_COLUMNS

    root = tmp_path_factory.mktemp("valid_artifacts")
    run_dirs = {}
    for name in ("phase", "virtual_stain", "embedding"):  # the per-FOV jobs and embedding, quick here
        run_dirs[name] = root / name
        run_dirs[name].mkdir()
        STAGES[name].prepare(stage_inputs, run_dirs[name])
        STAGES[name].run(stage_inputs, run_dirs[name])
    STAGES["tracking"].prepare(stage_inputs, root)  # the empty label plate (tracking itself is slow)
    patches = stage_inputs["patch_dir"]
    cells = pd.read_parquet(stage_inputs["patches_parquet"])[["fov_name", "track_id", "t", "y", "x"]]
    made: dict[str, Files] = {
        "raw_plate": {"plate": tiny_plate["plate"]},
        "ground_truth_tracks": {"table": tiny_plate["tracks"]},
        "ground_truth_labels": {"store": tiny_plate["labels"]},
        "ground_truth_phase": {"store": tiny_plate["phase"]},
        "ground_truth_summary": _minimal_table(
            root / "summary.parquet", "ground_truth_summary", pd.DataFrame({"fov_name": ["A/1/0"]})
        ),
        "phase_transfer_function": {"store": stage_inputs["transfer_function"]},
        "phase_plate": {"store": run_dirs["phase"] / "phase.zarr"},
        "phase_fov": {"record": run_dirs["phase"] / "records" / "phase.json"},
        "phase_evaluation": _minimal_record(root / "evaluation" / "phase.json", "phase_evaluation"),
        "virtual_stain_model": {"checkpoint": stage_inputs["virtual_stain_checkpoint"]},
        "virtual_stain_plate": {"store": run_dirs["virtual_stain"] / "virtual_stain.zarr"},
        "virtual_stain_fov": {"record": run_dirs["virtual_stain"] / "records" / "virtual_stain.json"},
        "virtual_stain_evaluation": _minimal_record(
            root / "evaluation" / "virtual_stain.json", "virtual_stain_evaluation"
        ),
        "tracks_plate": {"store": root / "tracks.zarr"},
        "tracks_fov": _minimal_record(root / "records" / "tracks.json", "tracks_fov", {"fov_name": FOV}),
        "tracks": _minimal_table(
            root / "tracks.parquet",
            "tracks",
            cells.assign(id=range(len(cells)), parent_track_id=-1, parent_id=-1),
        ),
        "tracking_evaluation": {
            **_minimal_record(root / "evaluation" / "tracking.json", "tracking_evaluation"),
            "table": root / "evaluation" / "tracking.csv",
        },
        "qc_table": _minimal_record(root / "qc.json", "qc_table"),
        "patch_fov": {
            "store": patches / "A_1_0.zarr",
            "table": patches / "A_1_0.parquet",
            "record": patches / "A_1_0.json",
        },
        "patches": {"store": stage_inputs["patches_zarr"], "table": stage_inputs["patches_parquet"]},
        "patch_index": {"store": stage_inputs["patches_zarr"], "table": stage_inputs["patches_parquet"]},
        "contrastive_model": {"checkpoint": stage_inputs["model"]},
        "embeddings": {"store": embeddings_path(run_dirs["embedding"])},
        "projections": _minimal_projections(root / "projections.zarr", cells),
        "annotations": _minimal_table(
            root / "annotations.parquet",
            "annotations",
            cells.head(2).assign(task="infection", label=["infected", "uninfected"])[
                list(ANNOTATION_COLUMNS)
            ],
        ),
        "classification_scores": _minimal_table(
            root / "classification_scores.parquet",
            "classification_scores",
            pd.DataFrame({column: [0.5] for column in SCORE_COLUMNS}),
        ),
        "classification": _minimal_table(
            root / "classification.parquet",
            "classification",
            pd.DataFrame({column: [0.5] for column in CLASSIFICATION_COLUMNS}),
        ),
        "predictions": _minimal_table(
            root / "predictions.parquet",
            "predictions",
            cells.head(2).assign(task="infection", probability=0.5, predicted_label="infected"),
        ),
        "pseudotime": _minimal_table(
            root / "pseudotime.parquet", "pseudotime", pd.DataFrame({"model": ["m"], "dataset": ["d"]})
        ),
        "cell_features": _minimal_table(
            root / "cell_features.parquet", "cell_features", cells.head(2).assign(Phase3D_area_px=10.0)
        ),
        "embeddings_table": _minimal_table(
            root / "embeddings_table.parquet", "embeddings_table", cells.head(2).assign(feature_0=0.5)
        ),
        "occlusion_maps": _minimal_zarr(root / "occlusion.zarr", "occlusion_maps"),
        "viscy_features": _minimal_zarr(root / "features.viscy.zarr", "viscy_features"),
        "distillation_scores": _minimal_table(
            root / "distillation_scores.parquet",
            "distillation_scores",
            pd.DataFrame({"method": ["teacher"], "f1": [0.9]}),
        ),
        "distillation": _minimal_table(
            root / "distillation.parquet", "distillation", pd.DataFrame({"method": ["teacher"], "f1": [0.9]})
        ),
        "distillation_predictions": _minimal_table(
            root / "distillation_predictions.parquet",
            "distillation_predictions",
            cells.head(2).assign(teacher=0.5),
        ),
    }
    pd.DataFrame({"fov_name": ["all"], "tra": [1.0]}).to_csv(
        made["tracking_evaluation"]["table"], index=False
    )
    made["classifiers"] = {"record": root / "classifiers.json"}
    save_classifiers({}, made["classifiers"]["record"], make_provenance("classifiers", {}))
    return made


def copy_artifact(files: Files, destination: Path) -> Files:
    """The artifact's files copied under ``destination`` (same names), for one test to damage."""
    copied = {}
    for role, path in files.items():
        target = destination / role / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            shutil.copytree(path, target)
        else:
            shutil.copy2(path, target)
        copied[role] = target
    return copied


def says_what_to_rerun(message: str, kind: ArtifactKind, path: Path) -> bool:
    """The message names the rule that writes ``kind`` (outside the file's own path, which may
    contain it), or tells to force the file's rerun (``snakemake --forcerun <path>``)."""
    if f"--forcerun {path}" in message:
        return True
    return re.search(rf"\b{re.escape(kind.rule)}\b", message.replace(str(path), "")) is not None


# --- tests --------------------------------------------------------------------------------------


def test_every_kind_is_damaged_in_every_way_its_format_breaks() -> None:
    assert set(READERS) == set(ArtifactKind)
    assert {kind for kind, _, _ in CASES} == set(ArtifactKind)


@pytest.mark.parametrize("kind", list(READERS))
def test_the_intact_artifact_is_read(kind: str, artifacts: dict[str, Files], tmp_path: Path) -> None:
    read, _ = READERS[kind]
    read(copy_artifact(artifacts[kind], tmp_path))


@pytest.mark.parametrize(("kind", "role", "corruption"), [_case(*case) for case in CASES])
def test_a_damaged_artifact_is_refused_naming_the_file_and_the_rule_to_rerun(
    kind: str, role: str, corruption: str, artifacts: dict[str, Files], tmp_path: Path
) -> None:
    read, _ = READERS[kind]
    files = copy_artifact(artifacts[kind], tmp_path)
    CORRUPTIONS[FILE_FORMATS[role]][corruption](files[role])
    with pytest.raises(ArtifactError) as refused:
        read(files)
    message = str(refused.value)
    assert str(files[role]) in message, message
    assert says_what_to_rerun(message, ArtifactKind(kind), files[role]), message
