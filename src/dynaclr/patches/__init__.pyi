"""Type stub of :mod:`dynaclr.patches`: the names it exports, each imported lazily (lazy_loader)."""

from .collect import (
    CollectPatchesInputs as CollectPatchesInputs,
    CollectPatchesOutputs as CollectPatchesOutputs,
    collect_patches as collect_patches,
)
from .extract import (
    ExtractPatchesInputs as ExtractPatchesInputs,
    ExtractPatchesOutputs as ExtractPatchesOutputs,
    extract_fov_patches as extract_fov_patches,
)
from .inputs import lineage_from_parents as lineage_from_parents, read_tracks as read_tracks
from .store import (
    INDEX_COLUMNS as INDEX_COLUMNS,
    PATCH_ARRAY as PATCH_ARRAY,
    PatchStore as PatchStore,
    open_patch_store as open_patch_store,
)
