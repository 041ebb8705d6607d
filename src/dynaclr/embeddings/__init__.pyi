"""Type stub of :mod:`dynaclr.embeddings`: the names it exports, each imported lazily (lazy_loader)."""

from .blocks import (
    BLOCK_BYTES as BLOCK_BYTES,
    MatrixBlocks as MatrixBlocks,
    kept_components as kept_components,
    standard_scaler_statistics as standard_scaler_statistics,
    streamed_principal_components as streamed_principal_components,
)
from .cells import (
    attach_ground_truth as attach_ground_truth,
    cell_table as cell_table,
    match_observations_to_cells as match_observations_to_cells,
)
from .inference import encode_patches as encode_patches, encoder_fingerprint as encoder_fingerprint
from .projections import (
    ProjectionInputs as ProjectionInputs,
    ProjectionOutputs as ProjectionOutputs,
    explained_variance_ratio as explained_variance_ratio,
    project_matrix as project_matrix,
    projection_stage as projection_stage,
    projection_table as projection_table,
    projections_anndata as projections_anndata,
    read_projections as read_projections,
    streamed_pca as streamed_pca,
    write_projections as write_projections,
)
from .stage import EmbedInputs as EmbedInputs, EmbedOutputs as EmbedOutputs, embed_stage as embed_stage
from .store import (
    PROJECTIONS_KEY as PROJECTIONS_KEY,
    RAW_LAYER as RAW_LAYER,
    RAW_MEAN_COLUMN as RAW_MEAN_COLUMN,
    RAW_STD_COLUMN as RAW_STD_COLUMN,
    REQUIRED_OBS_COLUMNS as REQUIRED_OBS_COLUMNS,
    ViewedCrop as ViewedCrop,
    build_anndata as build_anndata,
    embeddings_identity as embeddings_identity,
    encoded_crop as encoded_crop,
    open_embeddings as open_embeddings,
    open_representation as open_representation,
    open_restandardized as open_restandardized,
    read_cells as read_cells,
    read_embeddings as read_embeddings,
    read_embeddings_provenance as read_embeddings_provenance,
    read_standardization as read_standardization,
    representation_matrix as representation_matrix,
    training_state as training_state,
    viewed_crop as viewed_crop,
    write_embeddings as write_embeddings,
)
