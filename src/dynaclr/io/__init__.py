"""Artifact read/write with provenance.

Every artifact the workflow writes (OME-Zarr stores, Parquet tables) carries a provenance
record: its kind and schema version, the stage's config subtree and its hash, the package
version and the inputs it was made from. Readers check kind and schema version and fail with
a message that names the rule to rerun. This package imports no stage package.
"""

from dynaclr.io.atomic import atomic_output
from dynaclr.io.provenance import (
    ARTIFACT_KINDS,
    ArtifactError,
    ArtifactKind,
    Provenance,
    check_provenance,
    config_hash,
    make_provenance,
)
from dynaclr.io.tables import read_table, read_table_provenance, write_table
from dynaclr.io.zarr_store import read_zarr_provenance, write_zarr_provenance

__all__ = [
    "ARTIFACT_KINDS",
    "ArtifactError",
    "ArtifactKind",
    "Provenance",
    "atomic_output",
    "check_provenance",
    "config_hash",
    "make_provenance",
    "read_table",
    "read_table_provenance",
    "read_zarr_provenance",
    "write_table",
    "write_zarr_provenance",
]
