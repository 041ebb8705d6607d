"""Single-cell patches: per-FOV extraction around tracked cells, then one store per dataset and spec.

* :func:`extract_fov_patches` (rule ``extract_patches``): normalisation statistics and patches
  ``(C, Z, S, S)`` of one FOV, streamed one time point at a time;
* :func:`collect_patches` (rule ``collect_patches``): one store ``(N, C, Z, S, S)`` and its index;
* :func:`open_patch_store`: open a collected store for training or embedding.

Submodules are imported lazily, so opening a patch store does not import iohub.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dynaclr._lazy import lazy_exports

if TYPE_CHECKING:
    from dynaclr.patches.collect import collect_patches
    from dynaclr.patches.extract import extract_fov_patches
    from dynaclr.patches.inputs import lineage_from_parents, read_tracks
    from dynaclr.patches.normalization import ChannelStatistics, channel_statistics
    from dynaclr.patches.store import INDEX_COLUMNS, PATCH_ARRAY, PatchStore, open_patch_store

_EXPORTS = {
    "collect_patches": "collect",
    "extract_fov_patches": "extract",
    "lineage_from_parents": "inputs",
    "read_tracks": "inputs",
    "ChannelStatistics": "normalization",
    "channel_statistics": "normalization",
    "INDEX_COLUMNS": "store",
    "PATCH_ARRAY": "store",
    "PatchStore": "store",
    "open_patch_store": "store",
}

__all__ = [
    "INDEX_COLUMNS",
    "PATCH_ARRAY",
    "ChannelStatistics",
    "PatchStore",
    "channel_statistics",
    "collect_patches",
    "extract_fov_patches",
    "lineage_from_parents",
    "open_patch_store",
    "read_tracks",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
