"""The README's config snippets are valid configs: a user copies them into config/config.yaml."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import REPO_ROOT

from dynaclr.config import WorkflowConfig

README = REPO_ROOT / "README.md"
SCHEMA = json.loads((REPO_ROOT / "config" / "config.schema.json").read_text())
#: A fenced ```yaml block, at any indentation (the closing fence at the same indentation).
YAML_BLOCK = re.compile(r"^(?P<indent> *)```yaml\n(?P<body>.*?)^(?P=indent)```", re.S | re.M)
#: The dataset a fragment of dataset keys (`tracks:`, `annotations:`) is shown for.
FRAGMENT_DATASET = "my_plate"


def readme_yaml_snippets() -> list[tuple[int, dict[str, Any]]]:
    """Each ```yaml block of the README as (line number, parsed mapping)."""
    text = README.read_text()
    snippets = []
    for match in YAML_BLOCK.finditer(text):
        indent = len(match["indent"])
        body = "\n".join(line[indent:] for line in match["body"].splitlines())
        line = text.count("\n", 0, match.start()) + 1
        snippets.append((line, yaml.safe_load(body)))
    return snippets


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Key by key, as Snakemake merges two --configfile files (lists replaced)."""
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def _base_config(snippet: dict[str, Any]) -> dict[str, Any]:
    """The demo config, plus a plate dataset for every dataset name the snippet uses that it lacks
    (a snippet about models and classifiers names the user's plates without defining them)."""
    config = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
    demo_patches = config["datasets"]["demo"]["patches"]
    named = set(re.findall(r"\b(plate_\w+)\b", json.dumps(snippet)))
    for name in sorted(named - set(snippet.get("datasets", {}))):
        config["datasets"][name] = {
            "plate": f"/data/{name}.zarr",
            "patches": copy.deepcopy(demo_patches),
            "annotations": {"table": f"annotations/{name}.csv"},
        }
    return config


def _as_config(snippet: dict[str, Any]) -> dict[str, Any]:
    """A snippet as the config it belongs in: dataset keys shown alone go under a dataset, a plate
    dataset unless the snippet names the dataset's source itself (``tiff:``, ``simulate:``)."""
    if set(snippet) <= set(WorkflowConfig.model_fields):
        return snippet
    source = {} if {"plate", "tiff", "simulate"} & set(snippet) else {"plate": "/data/2026_11_plate.zarr"}
    return {"datasets": {FRAGMENT_DATASET: {**source, **snippet}}}


SNIPPETS = readme_yaml_snippets()


def test_the_readme_has_yaml_snippets():
    assert len(SNIPPETS) >= 10, f"found {len(SNIPPETS)} ```yaml blocks in README.md"


@pytest.mark.parametrize(("line", "snippet"), SNIPPETS, ids=[f"README.md:{line}" for line, _ in SNIPPETS])
def test_readme_yaml_snippet_is_a_valid_config(line: int, snippet: dict[str, Any]):
    assert isinstance(snippet, dict), f"README.md:{line}: a yaml block that is not a mapping"
    config = _merge(_base_config(snippet), _as_config(snippet))
    jsonschema.validate(config, SCHEMA)
    WorkflowConfig.model_validate(config)
