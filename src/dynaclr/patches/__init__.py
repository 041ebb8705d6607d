"""Single-cell patches: per-FOV extraction around tracked cells, then one store per dataset and spec.

* :func:`extract_fov_patches` (rule ``extract_patches``): normalisation statistics and patches
  ``(C, Z, S, S)`` of one FOV, streamed one time point at a time;
* :func:`collect_patches` (rule ``collect_patches``): one store ``(N, C, Z, S, S)`` and its index;
* :func:`open_patch_store`: open a collected store for training or embedding;
* :func:`read_tracks`: a tracks table (this workflow's, the ground truth or your own) in the patch
  index's conventions.

Submodules are imported lazily (lazy_loader), so opening a patch store does not import iohub.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
