"""Seconds each projection method (``analysis.projections.methods``) takes on an embedding matrix.

A synthetic matrix of the demo's size (cells x backbone features; 768 is convnext_tiny's width) with
a few low-dimensional trajectories plus noise, projected by :func:`dynaclr.embeddings.project_matrix`
one method at a time, as rule ``project_embeddings`` does with the default parameters. The first
call of UMAP and PHATE in a process includes numba's compilation (every Snakemake job pays it: each
job is a fresh interpreter), so the script prints the cold and the warm call side by side.

Usage (about a minute on 2 cores)::

    python benchmarks/projections.py --cells 2000 --features 768

With several ``--cells`` it measures how the run time grows instead: each method is first called
once on 2,000 cells (numba's compilation, paid once per job, printed apart), then once per size;
it prints the seconds per size, the exponent between the two largest sizes and the seconds that
exponent projects at ``--extrapolate`` cells (a plate's). ``--neighbor-pca-components k`` runs UMAP
and PHATE on k principal components, as ``analysis.projections.neighbor_pca_components`` does (the
PCA is included in each method's time)::

    python benchmarks/projections.py --cells 25000 50000 100000 200000 --features 320 \
        --methods umap phate --neighbor-pca-components 50 --extrapolate 6840000
"""

from __future__ import annotations

import argparse
import logging
import math
import time

import numpy as np

from dynaclr.config.embeddings import PROJECTION_KEYS, ProjectionConfig
from dynaclr.embeddings import project_matrix


def synthetic_embeddings(n_cells: int, n_features: int, seed: int = 0) -> np.ndarray:
    """``(n_cells, n_features)`` float32: 4 curved 1-D trajectories in a random 8-D subspace, plus noise."""
    rng = np.random.default_rng(seed)
    position = rng.uniform(0.0, 1.0, n_cells)
    branch = rng.integers(0, 4, n_cells)
    curves = [np.cos(np.pi * position + branch), np.sin(2 * np.pi * position * (branch + 1))]
    extra = [np.eye(4)[branch], position[:, None] ** 2, branch[:, None] / 4.0]
    latent = np.concatenate([np.stack(curves, axis=1), *extra], axis=1)
    mixing = rng.normal(size=(latent.shape[1], n_features))
    return (latent @ mixing + 0.5 * rng.normal(size=(n_cells, n_features))).astype(np.float32)


def _seconds(matrix: np.ndarray, config: ProjectionConfig) -> float:
    start = time.perf_counter()
    project_matrix(matrix, config)
    return time.perf_counter() - start


def scaling(sizes: list[int], n_features: int, methods: list[str], k: int | None, extrapolate: int) -> None:
    """Seconds per method and size, the exponent of the two largest sizes and its projection."""
    sizes = sorted(sizes)
    print(f"{n_features} features, neighbor_pca_components={k}; cells: {sizes}")
    print(
        f"{'method':<8}{'compile s':>10}"
        + "".join(f"{n:>12,}" for n in sizes)
        + f"{'exponent':>10}{'at ' + format(extrapolate, ','):>16}"
    )
    for method in methods:
        config = ProjectionConfig(methods=(method,), neighbor_pca_components=k if method != "pca" else None)
        warm_up = _seconds(synthetic_embeddings(2000, n_features), config)
        seconds = [_seconds(synthetic_embeddings(n, n_features), config) for n in sizes]
        exponent = (
            math.log(seconds[-1] / seconds[-2]) / math.log(sizes[-1] / sizes[-2]) if len(sizes) > 1 else 1.0
        )
        projected = seconds[-1] * (extrapolate / sizes[-1]) ** exponent
        row = "".join(f"{value:>12.1f}" for value in seconds)
        print(f"{method:<8}{warm_up:>10.1f}{row}{exponent:>10.2f}{projected / 3600:>14.1f} h", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[2000])
    parser.add_argument("--features", type=int, default=768)
    parser.add_argument("--methods", nargs="+", default=list(PROJECTION_KEYS), choices=list(PROJECTION_KEYS))
    parser.add_argument("--neighbor-pca-components", type=int, default=None)
    parser.add_argument("--extrapolate", type=int, default=6_840_000, help="cells to project the time to")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if len(args.cells) > 1:
        scaling(args.cells, args.features, args.methods, args.neighbor_pca_components, args.extrapolate)
        return
    matrix = synthetic_embeddings(args.cells[0], args.features)
    print(f"{args.cells[0]} cells x {args.features} features")
    print(f"{'method':<8}{'cold s':>10}{'warm s':>10}")
    for method in args.methods:
        config = ProjectionConfig(
            methods=(method,),
            neighbor_pca_components=args.neighbor_pca_components if method != "pca" else None,
        )
        seconds = [_seconds(matrix, config) for _ in range(2)]
        print(f"{method:<8}{seconds[0]:>10.1f}{seconds[1]:>10.1f}", flush=True)


if __name__ == "__main__":
    main()
