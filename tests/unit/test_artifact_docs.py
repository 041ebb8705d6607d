"""docs/artifacts.md lists every artifact kind at the schema version its writers record, and the
rules that write it (each a rule of the workflow)."""

from __future__ import annotations

import re

from conftest import REPO_ROOT

from dynaclr.io import ArtifactKind


def test_the_kinds_table_lists_every_kind_at_its_schema_version():
    text = (REPO_ROOT / "docs" / "artifacts.md").read_text()
    row = re.compile(r"^\| `([a-z_]+)` \| (\d+) \|", re.M)
    rows = {match.group(1): int(match.group(2)) for match in row.finditer(text)}
    expected = {kind.value: kind.schema_version for kind in ArtifactKind}
    assert {kind: rows.get(kind) for kind in expected} == expected


def test_every_writer_of_a_kind_is_a_workflow_rule_named_in_its_row():
    rules = {
        name
        for path in (REPO_ROOT / "workflow" / "rules").glob("*.smk")
        for name in re.findall(r"^\s*rule (\w+):", path.read_text(), re.M)
    }
    text = (REPO_ROOT / "docs" / "artifacts.md").read_text()
    row = re.compile(r"^\| `([a-z_]+)` \| \d+ \| .* \| ([^|]+) \|$", re.M)
    named = {match.group(1): set(re.findall(r"`(\w+)`", match.group(2))) for match in row.finditer(text)}
    for kind in ArtifactKind:
        assert set(kind.writers) <= rules, (kind.value, kind.writers)
        assert set(kind.writers) <= named[kind.value], (kind.value, kind.writers, named[kind.value])
