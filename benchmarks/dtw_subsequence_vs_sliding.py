"""Benchmark: subsequence DTW (one pass) vs sliding-window full DTW for finding a reference in a query.

Synthetic embeddings: a reference trajectory (smooth random walk on the unit sphere, ``--ref-len``
frames, ``--dim`` features) and ``--n-queries`` queries of ``--query-len`` frames, each an
unrelated random walk with a time-warped (``t -> t ** gamma``, gamma drawn in [0.7, 1.4]), noisy
copy of the reference planted at a random offset. Both procedures run on every query in the same
process; the script reports wall time per query, the speed ratio, how often the two pick the same
window (start within ``--tolerance`` frames, and exactly), and how often each recovers the
planted start.

Usage::

    python benchmarks/dtw_subsequence_vs_sliding.py --n-queries 200 --ref-len 20 --query-len 60 --dim 32
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from dynaclr.pseudotime import c_backend_available, sliding_window_alignment, subsequence_alignment


def sphere_walk(rng: np.random.Generator, length: int, dim: int, step: float) -> np.ndarray:
    """``(length, dim)`` random walk on the unit sphere with per-frame step scale ``step``."""
    out = np.empty((length, dim))
    x = rng.normal(size=dim)
    x /= np.linalg.norm(x)
    for k in range(length):
        if k:
            x = x + step * rng.normal(size=dim) / np.sqrt(dim)
            x /= np.linalg.norm(x)
        out[k] = x
    return out


def make_data(args: argparse.Namespace) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Reference ``(M, D)``, queries ``[(N, D)]`` and planted start frames ``(n_queries,)``."""
    rng = np.random.default_rng(args.seed)
    m, n = args.ref_len, args.query_len
    reference = sphere_walk(rng, m, args.dim, args.step)
    queries, offsets = [], np.empty(args.n_queries, dtype=np.int64)
    grid = np.arange(m)
    for q in range(args.n_queries):
        query = sphere_walk(rng, n, args.dim, args.step)
        gamma = rng.uniform(0.7, 1.4)
        warped_t = np.linspace(0.0, 1.0, m) ** gamma * (m - 1)
        planted = np.stack([np.interp(warped_t, grid, reference[:, d]) for d in range(args.dim)], axis=1)
        offset = int(rng.integers(0, n - m + 1))
        query[offset : offset + m] = planted + args.noise * rng.normal(size=planted.shape)
        queries.append(query)
        offsets[q] = offset
    return reference, queries, offsets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ref-len", type=int, default=20, help="reference length M (frames)")
    parser.add_argument("--query-len", type=int, default=60, help="query length N (frames)")
    parser.add_argument("--n-queries", type=int, default=200)
    parser.add_argument("--dim", type=int, default=32, help="embedding dimension D")
    parser.add_argument("--step", type=float, default=0.4, help="random-walk step scale")
    parser.add_argument("--noise", type=float, default=0.03, help="noise added to the planted copy")
    parser.add_argument("--penalty", type=float, default=0.1, help="DTW non-diagonal step penalty")
    parser.add_argument("--tolerance", type=int, default=1, help="frames within which starts 'agree'")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per method (best is reported)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.query_len < args.ref_len:
        parser.error("--query-len must be >= --ref-len")

    reference, queries, offsets = make_data(args)
    print(
        f"reference {args.ref_len} frames, {args.n_queries} queries x {args.query_len} frames, D={args.dim}; "
        f"dtaidistance C backend: {c_backend_available()}; python {platform.python_version()}"
    )
    # Warm up both code paths (imports, first-call overheads) before timing.
    subsequence_alignment(reference, queries[0], penalty=args.penalty)
    sliding_window_alignment(reference, queries[0], penalty=args.penalty)

    # Interleave the passes so that background load hits both methods alike; report the best pass
    # (least disturbed) and the median.
    t_sub, t_slide = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        sub = [subsequence_alignment(reference, q, penalty=args.penalty) for q in queries]
        t_sub.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        slide = [sliding_window_alignment(reference, q, penalty=args.penalty) for q in queries]
        t_slide.append(time.perf_counter() - t0)

    sub_start = np.array([r.start for r in sub])
    slide_start = np.array([r.start for r in slide])
    agree = np.abs(sub_start - slide_start) <= args.tolerance
    n = len(queries)
    for name, times in (("subsequence DTW", t_sub), ("sliding window ", t_slide)):
        best, median = min(times), float(np.median(times))
        print(
            f"{name}: best {best:7.3f} s ({1e3 * best / n:6.3f} ms/query), "
            f"median {median:7.3f} s ({1e3 * median / n:6.3f} ms/query) over {args.repeats} passes"
        )
    print(
        f"speed ratio (sliding / subsequence): best {min(t_slide) / min(t_sub):.1f}x, "
        f"median {np.median(t_slide) / np.median(t_sub):.1f}x"
    )
    print(f"same best window (start within +-{args.tolerance} frame): {agree.mean():.3f} ({agree.sum()}/{n})")
    print(f"same best window (identical start): {np.mean(sub_start == slide_start):.3f}")
    print(
        f"planted start recovered within +-{args.tolerance}: "
        f"subsequence {np.mean(np.abs(sub_start - offsets) <= args.tolerance):.3f}, "
        f"sliding {np.mean(np.abs(slide_start - offsets) <= args.tolerance):.3f}"
    )
    sub_cost = np.array([r.normalized_cost for r in sub])
    slide_cost = np.array([r.normalized_cost for r in slide])
    print(
        f"median normalized cost: subsequence {np.median(sub_cost):.4f}, sliding {np.median(slide_cost):.4f}"
    )


if __name__ == "__main__":
    main()
