"""Type stub of :mod:`dynaclr.contrastive`: the names it exports, each imported lazily (lazy_loader)."""

from .augment import (
    BatchAugmentation as BatchAugmentation,
    center_crop as center_crop,
)
from .encoder import (
    SUPPORTED_FAMILIES as SUPPORTED_FAMILIES,
    ContrastiveEncoder as ContrastiveEncoder,
    DepthToChannelStem as DepthToChannelStem,
    PretrainedImageInput as PretrainedImageInput,
)
from .losses import (
    NTXentLoss as NTXentLoss,
    TripletLoss as TripletLoss,
    gather_with_grad as gather_with_grad,
)
