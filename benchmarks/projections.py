"""Seconds each projection method (``analysis.projections.methods``) takes on an embedding matrix.

A synthetic matrix of the demo's size (cells x backbone features; 768 is convnext_tiny's width) with
a few low-dimensional trajectories plus noise, projected by :func:`dynaclr.embeddings.project_matrix`
one method at a time, as rule ``project_embeddings`` does with the default parameters. The first
call of UMAP and PHATE in a process includes numba's compilation (every Snakemake job pays it: each
job is a fresh interpreter), so the script prints the cold and the warm call side by side.

Usage (about a minute on 2 cores)::

    python benchmarks/projections.py --cells 2000 --features 768
"""

from __future__ import annotations

import argparse
import logging
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=2000)
    parser.add_argument("--features", type=int, default=768)
    parser.add_argument("--methods", nargs="+", default=list(PROJECTION_KEYS), choices=list(PROJECTION_KEYS))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    matrix = synthetic_embeddings(args.cells, args.features)
    print(f"{args.cells} cells x {args.features} features")
    print(f"{'method':<8}{'cold s':>10}{'warm s':>10}")
    for method in args.methods:
        config = ProjectionConfig(methods=(method,))
        seconds = []
        for _ in range(2):
            start = time.perf_counter()
            project_matrix(matrix, config)
            seconds.append(time.perf_counter() - start)
        print(f"{method:<8}{seconds[0]:>10.1f}{seconds[1]:>10.1f}", flush=True)


if __name__ == "__main__":
    main()
