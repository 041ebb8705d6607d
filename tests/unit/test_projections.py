"""Projections (rule ``project_embeddings``): PCA, UMAP and PHATE under scanpy's obsm keys, seeded,
drawn one row per method; tiny inputs fail naming the key to change."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
from matplotlib.figure import Figure
from pydantic import ValidationError

from dynaclr.config.embeddings import PROJECTION_KEYS, ProjectionConfig
from dynaclr.embeddings import build_anndata, write_embeddings
from dynaclr.embeddings.projections import (
    ProjectionInputs,
    ProjectionOutputs,
    project_matrix,
    projection_stage,
    projection_table,
    read_projections,
)
from dynaclr.figures import plot_projections
from dynaclr.io import ArtifactKind, make_provenance
from dynaclr.pseudotime.synthetic import planted_infection_embeddings

ALL_METHODS = ProjectionConfig(methods=("pca", "umap", "phate"))


@pytest.fixture(scope="module")
def projected(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Planted embeddings (48 cells) projected by all three methods through the stage."""
    root = tmp_path_factory.mktemp("projections")
    features, index = planted_infection_embeddings(n_fovs=2, tracks_per_fov=4, n_frames=6, seed=1)
    identity = {"model": "planted", "dataset": "tiny"}
    embeddings = root / "tiny.zarr"
    write_embeddings(
        build_anndata(features, index.assign(time_minutes=index["t"] * 30.0), info=identity),
        embeddings,
        make_provenance(ArtifactKind.EMBEDDINGS, identity),
    )
    output = root / "tiny.projections.zarr"
    projection_stage(
        ALL_METHODS, ProjectionInputs(embeddings=embeddings), ProjectionOutputs(projections=output)
    )
    return {"features": features, "output": output, "embeddings": embeddings}


def test_methods_are_installed_and_the_config_offers_only_them():
    for distribution in ("umap-learn", "phate"):
        assert importlib.metadata.version(distribution)
    import phate  # noqa: F401
    import umap  # noqa: F401

    assert set(PROJECTION_KEYS) == {"pca", "umap", "phate"}
    with pytest.raises(ValidationError, match="tsne"):
        ProjectionConfig.model_validate({"methods": ["tsne"]})
    with pytest.raises(ValidationError, match="repeat"):
        ProjectionConfig.model_validate({"methods": ["pca", "pca"]})
    with pytest.raises(ValidationError, match=r"'method: umap' is now 'methods: \[umap\]'"):
        ProjectionConfig.model_validate({"method": "umap"})  # the old single-method key says its new name


def test_each_method_writes_its_scanpy_key(projected):
    adata, provenance = read_projections(projected["output"])
    assert provenance.config["methods"] == ["pca", "umap", "phate"]
    assert sorted(adata.obsm) == ["X_pca", "X_phate", "X_umap"]
    for key in adata.obsm:
        coordinates = np.asarray(adata.obsm[key])
        assert coordinates.shape == (48, 2) and coordinates.dtype == np.float32
        assert np.isfinite(coordinates).all() and coordinates.std(axis=0).min() > 0
    ratio = np.asarray(adata.uns["pca"]["variance_ratio"])
    assert ratio.shape == (2,) and 0 < ratio[1] <= ratio[0] < 1
    table = projection_table(adata)
    assert {"pca_1", "pca_2", "umap_1", "umap_2", "phate_1", "phate_2"} <= set(table.columns)


def test_same_seed_same_coordinates(projected):
    adata, _ = read_projections(projected["output"])
    again = project_matrix(projected["features"], ALL_METHODS)
    for method, (coordinates, _) in again.items():
        np.testing.assert_array_equal(coordinates.astype(np.float32), adata.obsm[PROJECTION_KEYS[method]])
    other_seed = project_matrix(projected["features"], ALL_METHODS.model_copy(update={"seed": 1}))
    assert not np.allclose(other_seed["umap"][0], again["umap"][0])


@pytest.mark.parametrize(
    ("update", "key"),
    [
        ({"methods": ("umap",)}, "analysis.projections.umap.n_neighbors=15"),
        ({"methods": ("phate",), "phate": {"knn": 12}}, "analysis.projections.phate.knn=12"),
        ({"methods": ("pca",), "n_components": 20}, "analysis.projections.n_components=20"),
    ],
)
def test_tiny_inputs_fail_naming_the_key(update, key):
    config = ProjectionConfig.model_validate({**ALL_METHODS.model_dump(), **update})
    matrix = np.random.default_rng(0).normal(size=(12, 8))
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        project_matrix(matrix, config)


@pytest.mark.parametrize("methods", [("pca",), ("pca", "umap")])
def test_the_job_refuses_more_coordinates_than_columns_naming_the_model_and_width(
    projected, tmp_path, methods
):
    """Where the config cannot know the matrix (its cells), the projection job
    refuses it before reading it, naming the key, the model, the store and its cells and columns; the
    message named neither the model nor the store."""
    config = ProjectionConfig(methods=methods, n_components=20)
    output = tmp_path / "wide.projections.zarr"
    with pytest.raises(ValueError) as info:
        projection_stage(
            config,
            ProjectionInputs(embeddings=projected["embeddings"]),
            ProjectionOutputs(projections=output),
        )
    assert str(info.value) == (
        "analysis.projections.n_components=20 exceeds min(N, D)=16 of the (48, 16) matrix ('features' of "
        f"model 'planted' in {projected['embeddings']}: 48 cells x 16 columns): lower it to 16 or less"
    )
    assert not output.exists()


def test_figure_draws_every_method_with_pca_variance(projected):
    adata, _ = read_projections(projected["output"])
    cells = projection_table(adata)
    ratio = adata.uns["pca"]["variance_ratio"]
    figure, caption = plot_projections(cells, title="planted, tiny", variance_ratio=ratio)
    assert isinstance(figure, Figure)
    assert "projections (PC, UMAP, PHATE) of 48 cell embeddings" in caption
    panels = [ax for ax in figure.axes if ax.get_title()]
    # the planted cells' 6 frames end before any infection onset and hold no division, and no
    # classifier predicted either: those ground-truth panels are left out (figures.plots.absent_states)
    assert [ax.get_title() for ax in panels] == [
        f"{method}: {colour}"
        for method in ("PC", "UMAP", "PHATE")
        for colour in ("time (hours post start)", "condition")
    ]
    assert "no infection" in caption and "division" in caption
    assert panels[0].get_xlabel() == f"PC1 ({100 * ratio[0]:.1f}% variance)"
    assert panels[2].get_xlabel() == "UMAP1" and panels[4].get_ylabel() == "PHATE2"


def test_figure_uses_frames_where_time_is_unknown(projected):
    cells = projection_table(read_projections(projected["output"])[0]).drop(columns=["time_minutes"])
    figure, _ = plot_projections(cells, color_columns=("t",))
    assert figure.axes[0].get_title() == "PC: time (frame)"


def test_phate_diffusion_time_set_or_automatic_is_phates_own(projected):
    """analysis.projections.phate.t: a fixed number of diffusion steps gives phate's embedding for that
    t (and records it), 'auto' the one for phate's own knee of the entropy."""
    import phate

    features = projected["features"]
    standardized = (features - features.mean(axis=0)) / features.std(axis=0)
    for t in (3, "auto"):
        config = ProjectionConfig.model_validate({"methods": ["phate"], "phate": {"t": t}})
        coordinates, info = project_matrix(features, config)["phate"]
        operator = phate.PHATE(
            n_components=2,
            knn=5,
            decay=40.0,
            t=t,
            n_landmark=2000,
            n_pca=min(100, *features.shape),
            n_jobs=1,
            random_state=0,
            verbose=0,
        )
        np.testing.assert_allclose(coordinates, operator.fit_transform(standardized), rtol=1e-4, atol=1e-6)
        assert info["t"] == (3 if t == 3 else int(operator.optimal_t))
    assert int(operator.optimal_t) != 3  # so the two runs differ in t
