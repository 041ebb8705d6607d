"""Build the VisCy checkpoint fixture of tests/unit/test_viscy_checkpoint.py, once, offline.

A DynaCLR contrastive encoder of the reference implementation (VisCy 0.4.1's
``ContrastiveEncoder`` inside its Lightning ``ContrastiveModule``), saved by a Lightning
``Trainer`` as a user's training run saves it, and what it computes on fixed patches:

* ``contrastive_test_convnext.ckpt``: the checkpoint (timm ``test_convnext`` backbone: the
  smallest ConvNeXt, so the file stays under 1 MB; 2 channels, 5 slices, stem (5, 4, 4));
* ``reference.npz``: its features and projections of :func:`patches` (eval mode), and the stem
  of a 10-slice encoder (stem (5, 4, 4): two depth planes folded into channels) with its output,
  which pins the order in which depth is folded into channels.

Weights are rounded to float16 precision (stored as float32) so that they are not the untouched
random initialisation; timm's ``pretrained=True`` (VisCy's default) is turned off: no download.

    python3.12 -m venv /tmp/viscy
    /tmp/viscy/bin/pip install torch==2.13.0 torchvision==0.28.0 viscy==0.4.1
    /tmp/viscy/bin/python tests/data/viscy/make_fixture.py tests/data/viscy
"""

import sys
from pathlib import Path

import lightning
import numpy as np
import timm
import torch

_create_model = timm.create_model


def _offline_create_model(*args, **kwargs):
    kwargs["pretrained"] = False
    return _create_model(*args, **kwargs)


timm.create_model = _offline_create_model

from viscy.representation.contrastive import ContrastiveEncoder  # noqa: E402
from viscy.representation.engine import ContrastiveModule  # noqa: E402
from viscy.unet.networks.unext2 import StemDepthtoChannels  # noqa: E402

CHANNELS, DEPTH, SIZE, N_PATCHES = 2, 5, 48, 6


def patches() -> np.ndarray:
    """The fixed input: (6, 2, 5, 48, 48) float32 from numpy's PCG64 seed 0 (stable across versions)."""
    return (
        np.random.default_rng(0).standard_normal((N_PATCHES, CHANNELS, DEPTH, SIZE, SIZE)).astype(np.float32)
    )


def _perturbed(module: torch.nn.Module, seed: int) -> None:
    """Move every parameter and BatchNorm statistic off its initial value, at float16 precision."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if not tensor.is_floating_point():
                continue
            noise = 0.05 * torch.randn(tensor.shape, generator=generator)
            if name.endswith("running_var"):
                tensor.copy_((1.0 + noise.abs()).half().float())
            else:
                tensor.copy_((tensor + noise).half().float())


def main(out: Path) -> None:
    torch.manual_seed(0)
    encoder = ContrastiveEncoder(
        backbone="test_convnext",
        in_channels=CHANNELS,
        in_stack_depth=DEPTH,
        stem_kernel_size=(5, 4, 4),
        stem_stride=(5, 4, 4),
        embedding_dim=64,
        projection_dim=16,
    )
    _perturbed(encoder, seed=1)
    module = ContrastiveModule(encoder=encoder, example_input_array_shape=(1, CHANNELS, DEPTH, SIZE, SIZE))
    trainer = lightning.Trainer(
        max_epochs=0, logger=False, enable_checkpointing=False, accelerator="cpu", enable_progress_bar=False
    )
    trainer.strategy.connect(module)
    trainer.save_checkpoint(out / "contrastive_test_convnext.ckpt", weights_only=False)
    encoder.eval()
    with torch.no_grad():
        features, projections = encoder(torch.from_numpy(patches()))

    stem = StemDepthtoChannels(
        in_channels=CHANNELS, in_stack_depth=10, in_channels_encoder=24, stem_kernel_size=(5, 4, 4)
    )
    _perturbed(stem, seed=2)
    stem_input = np.random.default_rng(1).standard_normal((1, CHANNELS, 10, 8, 8)).astype(np.float32)
    with torch.no_grad():
        stem_output = stem(torch.from_numpy(stem_input))
    np.savez_compressed(
        out / "reference.npz",
        features=features.numpy(),
        projections=projections.numpy(),
        stem_weight=stem.conv.weight.detach().numpy(),
        stem_bias=stem.conv.bias.detach().numpy(),
        stem_input=stem_input,
        stem_output=stem_output.numpy(),
    )
    print(f"wrote {out}: features {tuple(features.shape)}, projections {tuple(projections.shape)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
