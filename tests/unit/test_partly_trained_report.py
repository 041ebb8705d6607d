"""A contrastive model whose ``max_minutes`` budget stopped its training before its epochs reaches the
report marked as such: its embeddings store records its training state (from ``model.ckpt``'s
``dynaclr_training`` summary), the results table carries ``stopped_by_time``, ``epochs_completed``
and ``epochs`` per row and names it in its Model cell, and the first page says so in a line. Before,
nothing downstream read the summary: a partly trained model's numbers read like a fully trained one's."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import build_patch_store, train_model

from dynaclr.config.embeddings import EmbeddingConfig, EngineeredFeaturesConfig
from dynaclr.config.patches import PatchSpec
from dynaclr.embeddings import (
    EmbedInputs,
    EmbedOutputs,
    build_anndata,
    read_embeddings,
    read_embeddings_provenance,
    training_state,
    write_embeddings,
)
from dynaclr.embeddings.stage import embed_stage
from dynaclr.figures.stage import (
    FindingsInputs,
    FindingsOutputs,
    ResultsTableInputs,
    ResultsTableOutputs,
    findings_stage,
    results_table_stage,
)
from dynaclr.io import ArtifactKind, make_provenance, read_csv

SPEC = PatchSpec.model_validate(
    {
        "name": "tiny",
        "channels": [
            {"source": "raw", "channel": "Brightfield", "normalization": "zscore"},
            {"source": "raw", "channel": "ViralSensor", "normalization": "median_p99"},
        ],
        "z_window_slices": 3,
        "patch_size_yx_px": 32,
    }
)

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
    "max_batches_per_epoch": 1,
    "max_validation_batches": 1,
}

#: A budget far shorter than 50 epochs (as tests/unit/test_training.py stops one), and a full run.
MODELS = {
    "budgeted": {**MODEL_CONFIG, "epochs": 50, "max_minutes": 0.002},
    "full": {**MODEL_CONFIG, "epochs": 1, "warmup_epochs": 0.5},
}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def embedded(tiny_plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny plate embedded by a model its budget stopped, by a fully trained one, and by the
    engineered-features baseline."""
    out = tmp_path_factory.mktemp("partly_trained")
    build_patch_store({"raw": tiny_plate["plate"]}, tiny_plate["tracks"], SPEC, out)
    stores = {}
    for name in (*MODELS, "engineered_features"):
        checkpoint = None
        config: EmbeddingConfig | EngineeredFeaturesConfig = EngineeredFeaturesConfig()
        if name in MODELS:
            summary = train_model(
                out / "tiny.zarr", out / "tiny.parquet", MODELS[name], out / name, model_name=name
            )
            assert summary["stopped_by_time"] is (name == "budgeted")
            checkpoint, config = out / name / "model.ckpt", EmbeddingConfig(batch_size=16)
        stores[name] = out / "embeddings" / name / "tiny.zarr"
        embed_stage(
            config,
            EmbedInputs(
                patches_zarr=out / "tiny.zarr", patches_parquet=out / "tiny.parquet", checkpoint=checkpoint
            ),
            EmbedOutputs(embeddings=stores[name]),
            model=name,
            dataset="tiny",
            partial_store=out / f".{name}.partial",
        )
    return stores


def test_the_embeddings_store_records_how_far_its_models_training_went(embedded):
    budgeted = training_state(read_embeddings_provenance(embedded["budgeted"]))
    assert budgeted is not None and budgeted["stopped_by_time"] is True
    assert 1 <= budgeted["epochs_completed"] < 50 and budgeted["epochs"] == 50
    assert budgeted["max_minutes"] == 0.002 and budgeted["planned_steps"] == 50
    assert 1 <= budgeted["global_step"] < 50
    full = training_state(read_embeddings_provenance(embedded["full"]))
    assert full == {
        "stopped_by_time": False,
        "epochs_completed": 1,
        "epochs": 1,
        "max_minutes": None,
        "global_step": 1,
        "planned_steps": 1,
    }
    # a baseline trains nothing: it records no training state
    assert training_state(read_embeddings_provenance(embedded["engineered_features"])) is None


def _table_and_findings(stores: list[Path], out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    names = ("csv", "html", "png", "svg")
    outputs = ResultsTableOutputs(**{n: out / f"results_table.{n}" for n in names})
    # rows of a still image (one time point): a row per (model, dataset) without a metrics table
    pairs = [
        {
            "model": read_embeddings(s).uns["dynaclr"]["model"],
            "dataset": "tiny",
            "temporal_not_computed": "one time point",
        }
        for s in stores
    ]
    results_table_stage(ResultsTableInputs(embeddings=tuple(stores)), outputs, pairs=pairs)
    findings = findings_stage(
        FindingsInputs(results_table=outputs.csv),
        FindingsOutputs(rst=out / "findings.rst", csv=out / "findings.csv"),
        datasets={},
        models={},
        sources={},
    )
    return read_csv(outputs.csv, ("model", "dataset")).set_index("model"), findings


def test_the_results_table_and_first_page_mark_a_model_its_budget_stopped(embedded, tmp_path):
    table, findings = _table_and_findings(list(embedded.values()), tmp_path)
    budgeted = table.loc["budgeted"]
    assert str(budgeted["stopped_by_time"]) == "True" and int(budgeted["epochs"]) == 50
    epochs = int(budgeted["epochs_completed"])
    assert 1 <= epochs < 50
    # a fully trained model shows nothing extra beyond the columns; a baseline leaves them empty
    assert str(table.loc["full", "stopped_by_time"]) == "False"
    assert int(table.loc["full", "epochs_completed"]) == int(table.loc["full", "epochs"]) == 1
    assert table.loc["engineered_features", ["stopped_by_time", "epochs_completed", "epochs"]].isna().all()
    html = (tmp_path / "results_table.html").read_text()
    assert f"budgeted (partly trained: {epochs} of 50 epochs, stopped by max_minutes)" in html
    assert "full (partly" not in html and "engineered_features (partly" not in html
    statements = findings["statement"].tolist()
    stopped = [line for line in statements if "max_minutes" in line]
    assert stopped == [
        f"Model budgeted was stopped by its max_minutes budget after {epochs} of 50 epochs: its numbers "
        "on this page and in the results table are of a partly trained model, not comparable with a "
        "fully trained one's (raise its training.max_minutes, or set it null, to train every epoch)."
    ]
    assert "Model budgeted was stopped" in (tmp_path / "findings.rst").read_text()


def test_a_store_embedded_before_the_training_state_was_recorded_reads_as_unknown(embedded, tmp_path):
    """An older store (its provenance without ``training``) is read, its columns empty: not known,
    neither a partly trained model nor a failure."""
    provenance = read_embeddings_provenance(embedded["full"])
    older = {key: value for key, value in provenance.config.items() if key != "training"}
    adata = read_embeddings(embedded["full"])
    store = tmp_path / "embeddings" / "older" / "tiny.zarr"
    write_embeddings(
        build_anndata(adata.X[:], adata.obs, info={**adata.uns["dynaclr"], "model": "older"}),
        store,
        make_provenance(ArtifactKind.EMBEDDINGS, {**older, "model": "older"}),
    )
    assert training_state(read_embeddings_provenance(store)) is None
    table, findings = _table_and_findings([store, embedded["budgeted"]], tmp_path)
    assert table.loc["older", ["stopped_by_time", "epochs_completed", "epochs"]].isna().all()
    assert str(table.loc["budgeted", "stopped_by_time"]) == "True"
    assert not [line for line in findings["statement"] if "Model older" in line]
