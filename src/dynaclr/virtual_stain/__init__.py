"""Virtual staining of nuclei: a 2.5-D UNet (timm ConvNeXt encoder) from phase to nuclear fluorescence.

Stage API (one library call per Snakemake rule, each with its ``<Rule>Inputs`` / ``<Rule>Outputs``
named files, :class:`dynaclr.io.StageFiles`):

* :func:`train_virtual_stain`: phase plate + raw plate → checkpoint (kind ``virtual_stain_model``).
* :func:`create_virtual_stain_plate`: empty prediction plate, channel ``nuclei_prediction``,
  ``(T, 1, Z, Y, X)`` float32 (kind ``virtual_stain_plate``).
* :func:`predict_fov`: one FOV of it, tiled, plus its record (kind ``virtual_stain_fov``).
* :func:`evaluate_virtual_stain`: Pearson r per FOV vs the measured nuclear channel (CSV and a
  record of kind ``virtual_stain_evaluation``).

The phase input is the phase stage's plate, the simulator's true phase or, with ``phase: null``,
the dataset's own plate holding ``Phase3D`` (:data:`~dynaclr.virtual_stain.plates.PHASE_INPUT_KINDS`).

Submodules are imported lazily (lazy_loader): creating the plate and evaluating import no torch,
predicting no Lightning.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
