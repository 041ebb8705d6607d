"""Virtual staining of nuclei: a 2.5-D UNet (timm ConvNeXt encoder) from phase to nuclear fluorescence.

Stage API (one library call per Snakemake rule):

* :func:`train_virtual_stain`: phase plate + raw plate → checkpoint (kind ``virtual_stain_model``).
* :func:`create_virtual_stain_plate`: empty prediction plate, channel ``nuclei_prediction``,
  ``(T, 1, Z, Y, X)`` float32 (kind ``virtual_stain_plate``).
* :func:`predict_fov`: one FOV of it, tiled, plus its record (kind ``virtual_stain_fov``).
* :func:`evaluate_virtual_stain`: Pearson r per FOV vs the measured nuclear channel (CSV and a
  record of kind ``virtual_stain_evaluation``).

Submodules are imported lazily: creating the plate and evaluating import no torch, predicting
no Lightning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dynaclr._lazy import lazy_exports

if TYPE_CHECKING:
    from dynaclr.virtual_stain.checkpoint import load_network, save_checkpoint
    from dynaclr.virtual_stain.evaluate import evaluate_virtual_stain, evaluation_record_path
    from dynaclr.virtual_stain.network import VirtualStainUNet, build_network
    from dynaclr.virtual_stain.plates import create_virtual_stain_plate
    from dynaclr.virtual_stain.predict import predict_fov, predict_stack
    from dynaclr.virtual_stain.train import train_virtual_stain

_EXPORTS = {
    "load_network": "checkpoint",
    "save_checkpoint": "checkpoint",
    "evaluate_virtual_stain": "evaluate",
    "evaluation_record_path": "evaluate",
    "VirtualStainUNet": "network",
    "build_network": "network",
    "create_virtual_stain_plate": "plates",
    "predict_fov": "predict",
    "predict_stack": "predict",
    "train_virtual_stain": "train",
}

__all__ = [
    "VirtualStainUNet",
    "build_network",
    "create_virtual_stain_plate",
    "evaluate_virtual_stain",
    "evaluation_record_path",
    "load_network",
    "predict_fov",
    "predict_stack",
    "save_checkpoint",
    "train_virtual_stain",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
