"""Smoothness and dynamic range of the demo's embeddings by the reference implementation, beside ours.

Runs in a throw-away environment with VisCy (it is not a dependency of this project):

    python3.12 -m venv /tmp/viscy
    /tmp/viscy/bin/pip install torch==2.13.0 torchvision==0.28.0 viscy==0.4.1
    /tmp/viscy/bin/python benchmarks/paper_metrics_reference.py results

For every ``results/embeddings/{model}/{dataset}.zarr`` it computes VisCy 0.4.1's
``compute_embeddings_smoothness`` (the function behind the paper's Tables 4 and 5) on the stored
features and prints it beside the ``paper`` rows of ``results/evaluation/temporal_metrics.csv``
(:mod:`dynaclr.evaluation.paper`), with the absolute differences.
"""

import csv
import sys
from pathlib import Path

import anndata as ad
import pandas as pd
from viscy.representation.evaluation.smoothness import compute_embeddings_smoothness


def main(results: Path) -> None:
    ours = {
        (row["model"], row["dataset"]): row
        for row in csv.DictReader((results / "evaluation" / "temporal_metrics.csv").open())
        if row["definition"] == "paper" and row["representation"] == "features"
    }
    print(
        "model,dataset,smoothness_dynaclr,smoothness_viscy,abs_diff,dynamic_range_dynaclr,dynamic_range_viscy,abs_diff"
    )
    for store in sorted((results / "embeddings").glob("*/*.zarr")):
        model, dataset = store.parent.name, store.stem
        adata = ad.read_zarr(store)
        obs = pd.DataFrame(adata.obs[["fov_name", "track_id", "t"]]).astype({"fov_name": str})
        stats, _, _ = compute_embeddings_smoothness(ad.AnnData(X=adata.X, obs=obs))
        row = ours[(model, dataset)]
        s, d = float(row["smoothness"]), float(row["dynamic_range"])
        theirs_s, theirs_d = stats["smoothness_score"], stats["dynamic_range"]
        print(
            f"{model},{dataset},{s:.4f},{theirs_s:.4f},{abs(s - theirs_s):.4f},"
            f"{d:.4f},{theirs_d:.4f},{abs(d - theirs_d):.4f}"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
