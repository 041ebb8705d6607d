"""Type stub of :mod:`dynaclr.virtual_stain`: the names it exports, each imported lazily (lazy_loader)."""

from .checkpoint import load_network as load_network, save_checkpoint as save_checkpoint
from .evaluate import (
    EvaluateVirtualStainInputs as EvaluateVirtualStainInputs,
    EvaluateVirtualStainOutputs as EvaluateVirtualStainOutputs,
    evaluate_virtual_stain as evaluate_virtual_stain,
)
from .network import VirtualStainUNet as VirtualStainUNet, build_network as build_network
from .plates import (
    VirtualStainPlateInputs as VirtualStainPlateInputs,
    VirtualStainPlateOutputs as VirtualStainPlateOutputs,
    create_virtual_stain_plate as create_virtual_stain_plate,
)
from .predict import (
    PredictVirtualStainInputs as PredictVirtualStainInputs,
    PredictVirtualStainOutputs as PredictVirtualStainOutputs,
    predict_fov as predict_fov,
    predict_stack as predict_stack,
)
from .train import (
    TrainVirtualStainInputs as TrainVirtualStainInputs,
    TrainVirtualStainOutputs as TrainVirtualStainOutputs,
    train_virtual_stain as train_virtual_stain,
)
