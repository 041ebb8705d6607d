"""Generate ``config/config.schema.json`` from the typed config models.

Run ``python -m dynaclr.config.schema`` (or ``make schema``) after changing a config model; a
test fails while the committed schema is out of date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from dynaclr.config.workflow import WorkflowConfig

SCHEMA_PATH = Path("config/config.schema.json")


def _drop_null_alternatives(node: Any) -> Any:
    """``anyOf: [X, {type: null}]`` → ``X`` accepting null, for keys whose default is null: such a key
    left out and the same key written as null mean the same (``models: null``, ``max_batches_per_epoch:
    null``, as the descriptions and config/config.yaml write them). A plain type becomes ``type: [X,
    "null"]``; a section (``$ref``, e.g. ``simulate``, ``virtual_stain``) is checked against its
    definition unless it is null (``if``/``then``). Keys whose default is a section (e.g. ``phase``)
    keep their ``anyOf``: null switches that stage off.

    Without this, jsonschema reports "not valid under any of the given schemas" for a misspelt
    key inside an optional section instead of naming the key.
    """
    if isinstance(node, dict):
        options = node.get("anyOf")
        optional_section = "default" in node and node["default"] is None  # null: "absent", not "off"
        if (
            optional_section
            and isinstance(options, list)
            and len(options) == 2
            and {"type": "null"} in options
        ):
            kept = _nullable(next(o for o in options if o != {"type": "null"}))
            node = {**{k: v for k, v in node.items() if k not in ("anyOf", "default")}, **kept}
        return {key: _drop_null_alternatives(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_drop_null_alternatives(item) for item in node]
    return node


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` that also accepts null, with a validator's errors still naming the offending key:
    ``type: [X, "null"]`` for a plain type, ``if not null then schema`` for a section (``$ref``)."""
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    return {"if": {"not": {"type": "null"}}, "then": schema}


def workflow_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the workflow config; unknown keys are errors everywhere."""
    schema = _drop_null_alternatives(WorkflowConfig.model_json_schema(mode="validation"))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["description"] = "dynaclr workflow config (generated from dynaclr.config; do not edit)."
    return schema


def render_schema() -> str:
    return json.dumps(workflow_schema(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else SCHEMA_PATH
    path.write_text(render_schema())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
