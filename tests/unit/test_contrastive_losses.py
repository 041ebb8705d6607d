"""Tests for dynaclr.contrastive.losses: NT-Xent (incl. 2-process gloo DDP) and triplet loss."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from dynaclr.contrastive.losses import NTXentLoss, TripletLoss


def reference_ntxent_per_query(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Per-query NT-Xent losses ``(2B,)`` with an explicit double loop (queries: a's then b's)."""
    z = torch.cat([z_a, z_b]).double()
    z = z / z.norm(dim=1, keepdim=True)
    n = z.shape[0]
    batch = n // 2
    losses = []
    for i in range(n):
        positive = i + batch if i < batch else i - batch
        denominator = 0.0
        for k in range(n):
            if k != i:
                denominator = denominator + torch.exp(torch.dot(z[i], z[k]) / temperature)
        numerator = torch.exp(torch.dot(z[i], z[positive]) / temperature)
        losses.append(-torch.log(numerator / denominator))
    return torch.stack(losses)


@pytest.mark.parametrize("batch_size", [1, 2, 5, 16])
@pytest.mark.parametrize("temperature", [0.07, 0.5, 1.0])
@pytest.mark.parametrize("dim", [3, 32])
def test_ntxent_matches_loop_reference(batch_size: int, temperature: float, dim: int) -> None:
    gen = torch.Generator().manual_seed(batch_size * 1000 + dim)
    z_a = torch.randn(batch_size, dim, generator=gen) * 3.0
    z_b = torch.randn(batch_size, dim, generator=gen)
    loss = NTXentLoss(temperature=temperature)(z_a, z_b)
    expected = reference_ntxent_per_query(z_a, z_b, temperature).mean()
    assert loss.ndim == 0
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=1e-5)


def test_ntxent_symmetric_in_views() -> None:
    gen = torch.Generator().manual_seed(1)
    z_a, z_b = torch.randn(6, 8, generator=gen), torch.randn(6, 8, generator=gen)
    loss = NTXentLoss(0.3)
    torch.testing.assert_close(loss(z_a, z_b), loss(z_b, z_a))


@pytest.mark.parametrize("batch_size", [1, 4, 9])
@pytest.mark.parametrize("temperature", [0.1, 0.5, 2.0])
def test_ntxent_all_identical_is_log_2b_minus_1(batch_size: int, temperature: float) -> None:
    z = torch.full((batch_size, 7), 0.3)
    loss = NTXentLoss(temperature)(z, z.clone())
    assert loss.item() == pytest.approx(math.log(2 * batch_size - 1), rel=1e-5)


@pytest.mark.parametrize("batch_size", [2, 4, 8])
@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
def test_ntxent_orthogonal_negatives_closed_form(batch_size: int, temperature: float) -> None:
    # positives identical (cos = 1), every other embedding orthogonal (cos = 0); scale must not matter
    z = torch.eye(batch_size, 10) * torch.arange(1, batch_size + 1, dtype=torch.float32)[:, None]
    loss = NTXentLoss(temperature)(z, 2.5 * z)
    expected = math.log(1.0 + (2 * batch_size - 2) * math.exp(-1.0 / temperature))
    assert loss.item() == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_ntxent_aligned_pairs_score_lower_than_random() -> None:
    gen = torch.Generator().manual_seed(3)
    z_a = torch.randn(32, 16, generator=gen)
    aligned = NTXentLoss(0.2)(z_a, z_a + 0.01 * torch.randn(32, 16, generator=gen))
    shuffled = NTXentLoss(0.2)(z_a, torch.randn(32, 16, generator=gen))
    assert aligned < shuffled


def test_ntxent_gradient_flows_to_both_views() -> None:
    gen = torch.Generator().manual_seed(4)
    z_a = torch.randn(4, 8, generator=gen, requires_grad=True)
    z_b = torch.randn(4, 8, generator=gen, requires_grad=True)
    NTXentLoss(0.5)(z_a, z_b).backward()
    for grad in (z_a.grad, z_b.grad):
        assert grad is not None
        assert torch.isfinite(grad).all()
        assert grad.abs().sum() > 0


def test_ntxent_gradient_matches_reference_autograd() -> None:
    gen = torch.Generator().manual_seed(5)
    z_a = torch.randn(5, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    z_b = torch.randn(5, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    NTXentLoss(0.4)(z_a, z_b).backward()
    ref_a = z_a.detach().clone().requires_grad_(True)
    ref_b = z_b.detach().clone().requires_grad_(True)
    reference_ntxent_per_query(ref_a, ref_b, 0.4).mean().backward()
    torch.testing.assert_close(z_a.grad, ref_a.grad, rtol=1e-4, atol=1e-6, check_dtype=False)
    torch.testing.assert_close(z_b.grad, ref_b.grad, rtol=1e-4, atol=1e-6, check_dtype=False)


@pytest.mark.parametrize("temperature", [0.0, -0.5, float("nan")])
def test_ntxent_invalid_temperature_raises(temperature: float) -> None:
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(temperature=temperature)


def test_ntxent_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        NTXentLoss()(torch.randn(4, 8), torch.randn(3, 8))
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        NTXentLoss()(torch.randn(4, 8, 1), torch.randn(4, 8, 1))


# ---------------------------------------------------------------- DDP (2 gloo processes on CPU)

_WORLD_SIZE = 2
_LOCAL_BATCH = 3
_DIM = 5
_TEMPERATURE = 0.3


def _global_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1234)
    n = _WORLD_SIZE * _LOCAL_BATCH
    return torch.randn(n, _DIM, generator=gen), torch.randn(n, _DIM, generator=gen)


def _ddp_worker(rank: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=_WORLD_SIZE)
    try:
        z_a, z_b = _global_inputs()
        rows = slice(rank * _LOCAL_BATCH, (rank + 1) * _LOCAL_BATCH)
        result = {}
        for gather in (True, False):
            local_a = z_a[rows].clone().requires_grad_(True)
            local_b = z_b[rows].clone().requires_grad_(True)
            loss = NTXentLoss(_TEMPERATURE, gather_distributed=gather)(local_a, local_b)
            loss.backward()
            tag = "gather" if gather else "local"
            result |= {
                f"{tag}_loss": loss.detach(),
                f"{tag}_grad_a": local_a.grad,
                f"{tag}_grad_b": local_b.grad,
            }
        torch.save(result, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, torch.Tensor]]:
    """Per-rank losses and local gradients from a 2-process gloo run (spawned once per module)."""
    tmp_path = tmp_path_factory.mktemp("ddp")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    mp.spawn(_ddp_worker, args=(str(tmp_path / "init"), str(out_dir)), nprocs=_WORLD_SIZE, join=True)
    return [torch.load(out_dir / f"rank{r}.pt", weights_only=True) for r in range(_WORLD_SIZE)]


@pytest.mark.timeout(120)
def test_ntxent_ddp_gather_equals_single_process_on_global_batch(
    ddp_results: list[dict[str, torch.Tensor]],
) -> None:
    z_a, z_b = _global_inputs()
    per_query = reference_ntxent_per_query(z_a, z_b, _TEMPERATURE).float()  # (2N,)
    n = z_a.shape[0]
    for rank, result in enumerate(ddp_results):
        # rank r owns queries a_i and b_i for i in its slice; negatives are the global batch
        idx = torch.arange(rank * _LOCAL_BATCH, (rank + 1) * _LOCAL_BATCH)
        expected_rank_loss = per_query[torch.cat([idx, idx + n])].mean()
        torch.testing.assert_close(result["gather_loss"], expected_rank_loss, rtol=1e-5, atol=1e-6)

    # mean of the per-rank losses (what DDP optimises) is the single-process loss on all 2N embeddings
    global_a = z_a.clone().requires_grad_(True)
    global_b = z_b.clone().requires_grad_(True)
    single = NTXentLoss(_TEMPERATURE)(global_a, global_b)
    mean_rank_loss = torch.stack([r["gather_loss"] for r in ddp_results]).mean()
    torch.testing.assert_close(mean_rank_loss, single.detach(), rtol=1e-5, atol=1e-6)

    # gradients reach the local inputs: each rank gets d(sum of all ranks' losses)/d(local), which
    # DDP's averaging over W ranks turns into the single-process gradient
    single.backward()
    for rank, result in enumerate(ddp_results):
        rows = slice(rank * _LOCAL_BATCH, (rank + 1) * _LOCAL_BATCH)
        assert result["gather_grad_a"].abs().sum() > 0
        for key, full in (("gather_grad_a", global_a.grad), ("gather_grad_b", global_b.grad)):
            torch.testing.assert_close(result[key] / _WORLD_SIZE, full[rows], rtol=1e-4, atol=1e-6)


@pytest.mark.timeout(120)
def test_ntxent_ddp_without_gather_uses_local_negatives(ddp_results: list[dict[str, torch.Tensor]]) -> None:
    z_a, z_b = _global_inputs()
    for rank, result in enumerate(ddp_results):
        rows = slice(rank * _LOCAL_BATCH, (rank + 1) * _LOCAL_BATCH)
        expected = reference_ntxent_per_query(z_a[rows], z_b[rows], _TEMPERATURE).mean().float()
        torch.testing.assert_close(result["local_loss"], expected, rtol=1e-5, atol=1e-6)
        # and it really differs from the gathered loss (the test would not notice a missing gather)
        assert not torch.isclose(result["local_loss"], result["gather_loss"])


# ---------------------------------------------------------------- triplet


def reference_triplet(
    a: torch.Tensor, p: torch.Tensor, n: torch.Tensor, margin: float, distance: str
) -> float:
    total = 0.0
    for i in range(a.shape[0]):
        if distance == "cosine":
            d_ap = 1 - torch.dot(a[i], p[i]) / (a[i].norm() * p[i].norm())
            d_an = 1 - torch.dot(a[i], n[i]) / (a[i].norm() * n[i].norm())
        else:
            d_ap = (a[i] - p[i]).norm()
            d_an = (a[i] - n[i]).norm()
        total += max(0.0, float(d_ap - d_an) + margin)
    return total / a.shape[0]


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
@pytest.mark.parametrize("margin", [0.1, 0.5, 2.0])
@pytest.mark.parametrize("batch_size", [1, 7])
def test_triplet_matches_reference(distance: str, margin: float, batch_size: int) -> None:
    gen = torch.Generator().manual_seed(batch_size)
    a, p, n = (torch.randn(batch_size, 6, generator=gen, dtype=torch.float64) for _ in range(3))
    loss = TripletLoss(margin=margin, distance=distance)(a, p, n)  # type: ignore[arg-type]
    assert loss.item() == pytest.approx(reference_triplet(a, p, n, margin, distance), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_triplet_all_equal_gives_margin(distance: str) -> None:
    x = torch.randn(5, 4)
    loss = TripletLoss(margin=0.7, distance=distance)(x, x.clone(), x.clone())  # type: ignore[arg-type]
    assert loss.item() == pytest.approx(0.7, abs=1e-6)


def test_triplet_zero_when_negatives_far() -> None:
    anchor = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    positive = anchor * 1.1
    negative = -anchor  # cosine distance 2, euclidean distance 2
    assert TripletLoss(margin=0.5, distance="cosine")(anchor, positive, negative).item() == 0.0
    assert TripletLoss(margin=0.5, distance="euclidean")(anchor, positive, negative).item() == 0.0
    # a margin larger than the gap makes the loss positive again: 0.1 - 2 + 3 = 1.1
    loss = TripletLoss(margin=3.0, distance="euclidean")(anchor, positive, negative)
    assert loss.item() == pytest.approx(1.1, rel=1e-6)


def test_triplet_gradient_flows() -> None:
    gen = torch.Generator().manual_seed(0)
    a, p, n = (torch.randn(4, 3, generator=gen, requires_grad=True) for _ in range(3))
    TripletLoss(margin=5.0, distance="euclidean")(a, p, n).backward()
    for t in (a, p, n):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


@pytest.mark.parametrize("margin", [0.0, -1.0])
def test_triplet_invalid_margin_raises(margin: float) -> None:
    with pytest.raises(ValueError, match="margin"):
        TripletLoss(margin=margin)


def test_triplet_invalid_distance_and_shapes_raise() -> None:
    with pytest.raises(ValueError, match="distance"):
        TripletLoss(distance="manhattan")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        TripletLoss()(torch.randn(3, 4), torch.randn(3, 4), torch.randn(2, 4))
