"""Cross-modal distillation (paper Fig. 4): a phase + sensor teacher's infection calls train a
phase-only student, scored with a phase-only linear probe on held-out FOVs (rule ``distill``).

* :func:`split_by_fov`: training, validation and held-out FOVs (disjoint);
* :class:`StudentClassifier`, :func:`build_student`, :func:`train_student`, :func:`encode_rows`:
  the phase-only student and its fine-tuning on pseudo-labels, its kept step chosen on validation
  FOVs (:func:`validation_target`);
* :func:`distill_stage`: rule ``distill``'s job (point scores, held-out predictions);
  :func:`distillation_intervals_stage` (module ``intervals``, no torch): rule
  ``distillation_intervals``' (the CIs) and :func:`plot_distillation`, its figure.

Submodules are imported lazily (lazy_loader), so the config and the split do not import torch.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
