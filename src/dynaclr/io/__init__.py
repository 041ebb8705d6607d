"""Artifact read/write with provenance.

Every artifact the workflow writes (OME-Zarr stores, Parquet tables) carries a provenance
record: its kind and schema version, the stage's config subtree and its hash, the package
version and the inputs it was made from. Readers check kind and schema version and fail with
a message that names the rule to rerun. This package imports no stage package.
"""

from dynaclr.io.atomic import atomic_output
from dynaclr.io.provenance import (
    ArtifactError,
    ArtifactKind,
    Provenance,
    check_provenance,
    config_hash,
    make_provenance,
    unreadable_artifact,
)
from dynaclr.io.stage_files import STORE_ROOT_FILES, StageFiles, store_directory
from dynaclr.io.tables import (
    LARGEST_ID,
    RepeatedColumnError,
    micrometres_to_pixels,
    parse_csv,
    read_csv,
    read_table,
    read_table_provenance,
    table_header,
    write_csv,
    write_table,
)
from dynaclr.io.zarr_store import (
    read_plate_provenance,
    read_zarr_provenance,
    write_plate_provenance,
    write_zarr_provenance,
)

__all__ = [
    "LARGEST_ID",
    "STORE_ROOT_FILES",
    "ArtifactError",
    "ArtifactKind",
    "Provenance",
    "RepeatedColumnError",
    "StageFiles",
    "atomic_output",
    "check_provenance",
    "config_hash",
    "make_provenance",
    "micrometres_to_pixels",
    "parse_csv",
    "read_csv",
    "read_plate_provenance",
    "read_table",
    "read_table_provenance",
    "read_zarr_provenance",
    "store_directory",
    "table_header",
    "unreadable_artifact",
    "write_csv",
    "write_plate_provenance",
    "write_table",
    "write_zarr_provenance",
]
