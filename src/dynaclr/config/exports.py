"""What the workflow also writes for other tools (rules ``export_ctc`` and ``export_embeddings``)."""

from __future__ import annotations

from pydantic import Field

from dynaclr.config.base import StrictModel


class ExportsConfig(StrictModel):
    """Exports, each off by default: they copy data the workflow's own artifacts already hold."""

    ctc_tracks: bool = Field(
        False,
        description="Write each tracked FOV as a Cell Tracking Challenge result folder "
        "(results/{dataset}/exports/ctc/{row}_{col}_{fov}/: mask<t>.tif and res_track.txt), for the CTC "
        "evaluation software, traccuracy or another tracker's tools, and beside it "
        "results/{dataset}/exports/ctc_labels/{row}_{col}_{fov}.csv from each CTC label back to its track "
        "(a FOV whose track ids do not all fit the masks' uint16 is renumbered 1..n). Datasets whose "
        "tracks are imported have no label images and are skipped (refused when every dataset imports "
        "its tracks).",
    )
    h5ad: bool = Field(
        False,
        description="Write every embeddings store also as results/exports/embeddings/{model}/{dataset}.h5ad "
        "(for tools without zarr-3 AnnData support). Refused when no contrastive model embeds a dataset "
        "(no store to export).",
    )
    feature_parquet: bool = Field(
        False,
        description="Write every embeddings store also as one Parquet table "
        "results/exports/embeddings/{model}/{dataset}.parquet: the cell index, then "
        "feature_0 … feature_{D-1}. Refused when no contrastive model embeds a dataset.",
    )
    viscy_features: bool = Field(
        False,
        description="Write every embeddings store also as "
        "results/exports/embeddings/{model}/{dataset}.viscy.zarr: the xarray features store VisCy's "
        "EmbeddingWriter wrote for the DynaCLR paper (features, projections, "
        "the sample index fov_name, track_id, t, id, parent_track_id, parent_id, [z,] y, x, and the "
        "PCA/UMAP/PHATE components), which viscy's read_embedding_dataset and napari-iohub's "
        "'Single-cell features' widget open. id and parent_id are the tracker's node ids from "
        "results/{dataset}/tracks.parquet. Refused when no contrastive model embeds a dataset.",
    )
