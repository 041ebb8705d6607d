"""Compute the reference values of tests/unit/test_paper_metrics.py with the reference
implementation (VisCy 0.4.1's compute_embeddings_smoothness), once, offline.

    python3.12 -m venv /tmp/viscy
    /tmp/viscy/bin/pip install torch==2.13.0 torchvision==0.28.0 viscy==0.4.1 pyarrow umap-learn
    /tmp/viscy/bin/python tests/data/paper_metrics/make_reference.py > tests/data/paper_metrics/reference.json
"""

import json
import sys
from pathlib import Path

import anndata as ad
from viscy.representation.evaluation.smoothness import compute_embeddings_smoothness

sys.path.insert(0, str(Path(__file__).parent))
from fixture import make_fixture

features, obs = make_fixture()
stats, _, _ = compute_embeddings_smoothness(ad.AnnData(X=features, obs=obs.astype({"fov_name": str})))
json.dump({"viscy": "0.4.1", "fixture_seed": 0, **stats}, sys.stdout, indent=2)
sys.stdout.write("\n")
