"""Fixture for tests that need a real single-node SLURM cluster (see ``cluster.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .cluster import SlurmCluster, can_start_cluster


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """A started single-node SLURM cluster; stops only the daemons it started."""
    ok, why = can_start_cluster()
    if not ok:
        pytest.skip(f"cannot start a real SLURM cluster here: {why}")
    with SlurmCluster() as cluster:
        yield cluster
