"""Virtual staining of nuclei: a 2.5-D UNet (timm ConvNeXt encoder) from phase to nuclear fluorescence.

Stage API (one library call per Snakemake rule):

* :func:`train_virtual_stain`: phase plate + raw plate → checkpoint (kind ``virtual_stain_model``).
* :func:`create_virtual_stain_plate`: empty prediction plate, channel ``nuclei_prediction``,
  ``(T, 1, Z, Y, X)`` float32 (kind ``virtual_stain_plate``).
* :func:`predict_fov`: one FOV of it, tiled, plus its record (kind ``virtual_stain_fov``).
* :func:`evaluate_virtual_stain`: Pearson r per FOV vs the measured nuclear channel (CSV and a
  record of kind ``virtual_stain_evaluation``).
"""

from dynaclr.virtual_stain.checkpoint import load_network, save_checkpoint
from dynaclr.virtual_stain.evaluate import evaluate_virtual_stain, evaluation_record_path
from dynaclr.virtual_stain.network import VirtualStainUNet, build_network
from dynaclr.virtual_stain.predict import create_virtual_stain_plate, predict_fov, predict_stack
from dynaclr.virtual_stain.train import train_virtual_stain

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
