"""Time-aware against classical NT-Xent: how much smoother, across training lengths and seeds.

For each ``(epochs, seed)`` it trains the two demo models on the same patch store (the demo's
configs from ``config/config.yaml``, only ``epochs``, ``seed`` and the batch cap changed), embeds
the store with both and prints their smoothness on the backbone features and on the projections,
with the difference from a *paired* track bootstrap (both models' replicates resample the same
tracks; :func:`dynaclr.evaluation.paired_smoothness_difference`). A difference whose interval
lies below 0 means time-aware is measurably smoother on these cells; one seed's interval says
nothing about another seed, which is why the script takes several.

Usage (after ``make demo``, on its patch store; one pair of models takes ~2-4 minutes on 2 cores)::

    python benchmarks/sampling_smoothness.py --workdir /tmp/sampling --epochs 2 4 --seeds 0 1
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from dynaclr.config.embeddings import EmbeddingConfig
from dynaclr.embeddings import (
    EmbedInputs,
    EmbedOutputs,
    cell_table,
    embed_stage,
    read_embeddings,
    representation_matrix,
)
from dynaclr.evaluation import paired_smoothness_difference, temporal_metrics_with_replicates

MODELS = ("time_aware_ntxent", "classical_ntxent")


def train(config: dict, store: dict[str, Path], output: Path) -> float:
    """Train one model with the workflow's command line (1 process, 1 thread); returns seconds."""
    output.mkdir(parents=True, exist_ok=True)
    (output / "requested.json").write_text(json.dumps(config))
    start = time.perf_counter()
    if not (output / "model.ckpt").exists():
        with open(output / "train.log", "w") as log:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "dynaclr.training",
                    "--patches-zarr",
                    str(store["zarr"]),
                    "--patches-parquet",
                    str(store["parquet"]),
                    "--config",
                    str(output / "requested.json"),
                    "--model",
                    str(output / "model.ckpt"),
                    "--model-config",
                    str(output / "config.json"),
                    "--work-dir",
                    str(output),
                    "--threads",
                    "1",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, required=True, help="models and embeddings go here")
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    parser.add_argument("--patches", type=Path, default=Path("results/demo/patches/phase_sensor"))
    parser.add_argument("--epochs", type=int, nargs="+", default=[2])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--n-bootstrap", type=int, default=200)
    args = parser.parse_args()
    store = {"zarr": args.patches.with_suffix(".zarr"), "parquet": args.patches.with_suffix(".parquet")}
    workflow = yaml.safe_load(args.config.read_text())
    print("epochs seed representation  time_aware classical  difference [95% paired CI]  share  train s")
    for epochs in args.epochs:
        for seed in args.seeds:
            replicates, seconds, embeddings = {}, [], {}
            for model in MODELS:
                config = copy.deepcopy(workflow["contrastive_models"][model]["training"])
                config.update(epochs=epochs, seed=seed, max_batches_per_epoch=None, max_minutes=60)
                output = args.workdir / f"{model}_e{epochs}_s{seed}"
                seconds.append(train(config, store, output))
                path = output / "embeddings.zarr"
                if not path.exists():
                    embed_stage(
                        EmbeddingConfig(),
                        EmbedInputs(
                            patches_zarr=store["zarr"],
                            patches_parquet=store["parquet"],
                            checkpoint=output / "model.ckpt",
                        ),
                        EmbedOutputs(embeddings=path),
                        model=model,
                        dataset="demo",
                        partial_store=output / "embeddings.partial",
                    )
                embeddings[model] = read_embeddings(path)
            for representation in ("features", "projections"):
                for model, adata in embeddings.items():
                    _, replicates[model] = temporal_metrics_with_replicates(
                        representation_matrix(adata, representation),
                        cell_table(adata),
                        n_bootstrap=args.n_bootstrap,
                    )
                paired = paired_smoothness_difference(replicates[MODELS[0]], replicates[MODELS[1]])
                print(
                    f"{epochs:6d} {seed:4d} {representation:14s} {replicates[MODELS[0]][0]:10.3f} "
                    f"{replicates[MODELS[1]][0]:9.3f}  {paired['difference']:+.3f} "
                    f"[{paired['difference_ci_low']:+.3f}, {paired['difference_ci_high']:+.3f}]  "
                    f"{paired['share_a_smoother']:5.2f}  {seconds[0]:.0f}/{seconds[1]:.0f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
