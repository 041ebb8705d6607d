"""docs/artifacts.md lists every artifact kind at the schema version its writers record."""

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
