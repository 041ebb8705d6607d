"""Contrastive losses on embedding vectors: NT-Xent (SimCLR) and triplet.

Both losses take 2-D tensors of shape ``(B, D)``: ``B`` samples (rows) of ``D``-dimensional
embeddings, row ``i`` of every input belonging to the same anchor. They are unitless scalars.
Neither loss depends on Lightning; :class:`NTXentLoss` talks to ``torch.distributed`` directly
when a process group is initialised, so it can be used under any DDP launcher.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

__all__ = ["NTXentLoss", "TripletLoss", "cosine_distance", "euclidean_distance", "gather_with_grad"]


class _AllGatherWithGrad(torch.autograd.Function):
    """All-gather along dim 0 whose backward returns each rank the gradient of *all* ranks' losses.

    Forward: local ``(B, D)`` → global ``(W*B, D)`` (rank ``r`` occupies rows ``r*B:(r+1)*B``).
    Backward: the incoming ``(W*B, D)`` gradient is summed over ranks (every rank's loss used this
    rank's rows as negatives) and the local ``(B, D)`` slice is returned. With DDP's gradient
    averaging this yields the gradient of the mean of the per-rank losses.
    """

    @staticmethod
    def forward(ctx: Any, local: torch.Tensor) -> torch.Tensor:
        world_size = dist.get_world_size()
        ctx.rank = dist.get_rank()
        ctx.batch_size = local.shape[0]
        local = local.contiguous()
        gathered = [torch.empty_like(local) for _ in range(world_size)]  # W x (B, D)
        dist.all_gather(gathered, local)
        return torch.cat(gathered, dim=0)  # (W*B, D)

    @staticmethod
    def backward(ctx: Any, grad_global: torch.Tensor) -> torch.Tensor:
        grad_global = grad_global.contiguous().clone()  # (W*B, D); clone: all_reduce is in place
        dist.all_reduce(grad_global, op=dist.ReduceOp.SUM)
        start = ctx.rank * ctx.batch_size
        return grad_global[start : start + ctx.batch_size]  # (B, D)


def gather_with_grad(local: torch.Tensor) -> torch.Tensor:
    """Concatenate ``local`` ``(B, ...)`` from every rank into ``(W*B, ...)``, keeping gradients.

    All ranks must pass tensors of the same shape (use ``drop_last=True`` in the sampler).
    Without an initialised process group the input is returned unchanged.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return local
    return _AllGatherWithGrad.apply(local)


def _distributed_active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class NTXentLoss(nn.Module):
    """Normalised temperature-scaled cross-entropy (SimCLR) loss over positive pairs.

    For local inputs ``z_a``, ``z_b`` of shape ``(B, D)`` (row ``i`` of ``z_a`` and ``z_b`` is a
    positive pair), the ``2B`` embeddings are L2-normalised and each one is classified against all
    other embeddings by cosine similarity / ``temperature``: the target is its partner, the other
    ``2B - 2`` embeddings are negatives, and self-similarity is excluded. The loss is the mean
    cross-entropy over the ``2B`` queries; it lies in ``[0, ∞)`` and equals ``log(2B - 1)`` when all
    embeddings coincide.

    Under DDP (``gather_distributed`` and an initialised process group with ``W > 1`` ranks), the
    embeddings of all ranks are gathered with a gradient-preserving all-gather so each local query
    is contrasted with the global batch of ``2WB - 2`` negatives. Each rank returns the mean over
    its own ``2B`` queries; the mean of the per-rank losses (what DDP's gradient averaging
    optimises) equals the single-process loss on the concatenated batch. Every rank must have the
    same ``B``.

    Args:
        temperature: softmax temperature (> 0, unitless). Smaller values sharpen the distribution.
        gather_distributed: gather negatives from all ranks when running distributed.
    """

    def __init__(self, temperature: float = 0.5, gather_distributed: bool = True) -> None:
        super().__init__()
        if not temperature > 0:  # also rejects NaN
            raise ValueError(f"NTXentLoss temperature must be > 0, got {temperature!r}")
        self.temperature = float(temperature)
        self.gather_distributed = gather_distributed

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, gather_distributed={self.gather_distributed}"

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        """Return the scalar loss for projections ``z_a``, ``z_b`` of shape ``(B, D)``."""
        if z_a.ndim != 2 or z_a.shape != z_b.shape:
            raise ValueError(
                f"NTXentLoss expects two (B, D) tensors of equal shape, got {tuple(z_a.shape)} "
                f"and {tuple(z_b.shape)}"
            )
        batch_size = z_a.shape[0]
        if batch_size < 1:
            raise ValueError("NTXentLoss needs at least one positive pair")
        # float32 for a stable softmax also under autocast.
        z_a = F.normalize(z_a.float(), dim=1)  # (B, D), unit norm
        z_b = F.normalize(z_b.float(), dim=1)  # (B, D), unit norm

        if self.gather_distributed and _distributed_active():
            rank = dist.get_rank()
            world_size = dist.get_world_size()
            keys_a = gather_with_grad(z_a)  # (W*B, D)
            keys_b = gather_with_grad(z_b)  # (W*B, D)
        else:
            rank, world_size = 0, 1
            keys_a, keys_b = z_a, z_b  # (B, D) each
        global_batch = world_size * batch_size  # N = W*B

        queries = torch.cat([z_a, z_b], dim=0)  # (2B, D): local a's then local b's
        keys = torch.cat([keys_a, keys_b], dim=0)  # (2N, D): all a's then all b's
        logits = queries @ keys.T / self.temperature  # (2B, 2N), cosine similarity / T

        local = torch.arange(batch_size, device=z_a.device) + rank * batch_size  # (B,) global idx
        self_index = torch.cat([local, local + global_batch])  # (2B,) column of each query itself
        positive_index = torch.cat([local + global_batch, local])  # (2B,) column of its partner
        rows = torch.arange(2 * batch_size, device=z_a.device)  # (2B,)
        self_mask = torch.zeros_like(logits, dtype=torch.bool)  # (2B, 2N)
        self_mask[rows, self_index] = True
        logits = logits.masked_fill(self_mask, float("-inf"))  # (2B, 2N), self excluded
        return F.cross_entropy(logits, positive_index)  # scalar, mean over the 2B queries


def cosine_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Row-wise ``1 - cosine similarity`` of ``(B, D)`` tensors → ``(B,)``, in ``[0, 2]``."""
    return 1.0 - F.cosine_similarity(x, y, dim=1)


def euclidean_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Row-wise L2 norm of ``x - y`` for ``(B, D)`` tensors → ``(B,)``, in embedding units."""
    return torch.linalg.vector_norm(x - y, dim=1)


_DISTANCES = {"cosine": cosine_distance, "euclidean": euclidean_distance}


class TripletLoss(nn.TripletMarginWithDistanceLoss):
    """Margin triplet loss ``mean_i relu(d(a_i, p_i) - d(a_i, n_i) + margin)``.

    :class:`torch.nn.TripletMarginWithDistanceLoss` (no swap, mean reduction) with the distance
    named here, and a check of the input shapes. Inputs ``anchor``, ``positive``, ``negative``
    have shape ``(B, D)``. Distances are either ``"cosine"`` (:func:`cosine_distance`, in
    ``[0, 2]``) or ``"euclidean"`` (:func:`euclidean_distance`, in embedding units); ``margin``
    is in the same units as the distance.

    Args:
        margin: required gap between negative and positive distance (> 0).
        distance: ``"cosine"`` or ``"euclidean"``.
    """

    def __init__(self, margin: float = 0.5, distance: Literal["cosine", "euclidean"] = "cosine") -> None:
        if not margin > 0:
            raise ValueError(f"TripletLoss margin must be > 0, got {margin!r}")
        if distance not in _DISTANCES:
            raise ValueError(f"TripletLoss distance must be 'cosine' or 'euclidean', got {distance!r}")
        super().__init__(distance_function=_DISTANCES[distance], margin=float(margin))
        self.distance: Literal["cosine", "euclidean"] = distance

    def extra_repr(self) -> str:
        return f"margin={self.margin}, distance={self.distance!r}"

    def forward(self, anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
        """Return the scalar loss for ``(B, D)`` anchors, positives and negatives."""
        if anchor.ndim != 2 or anchor.shape != positive.shape or anchor.shape != negative.shape:
            raise ValueError(
                "TripletLoss expects three (B, D) tensors of equal shape, got "
                f"{tuple(anchor.shape)}, {tuple(positive.shape)}, {tuple(negative.shape)}"
            )
        return super().forward(anchor, positive, negative)  # scalar
