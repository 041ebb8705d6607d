"""Dependencies point one way: a package imports only packages of a lower layer (or itself).

The layers, lowest first (`docs/architecture.md` explains them):

0. ``io``: artifact read/write and provenance; imports no other package of dynaclr;
1. ``config`` (typed configs), ``numerics`` (array helpers), ``jobs`` (what a workflow job sets up);
2. the stage building blocks and image stages: ``simulate``, ``convert``, ``summary``, ``phase``,
   ``virtual_stain``, ``tracking``, ``contrastive``;
3. ``patches``; 4. ``training``, ``qc`` (reads the records of every image stage); 5. ``baselines``;
6. ``embeddings`` (the artifact, its cells, and the ``embed`` stage that dispatches "trained model
   or baseline");
7. ``evaluation``, ``classify``, ``exports``; 8. ``pseudotime``, ``distill``; 9. ``figures``,
   ``interpretation``.

The library never imports Snakemake (the workflow calls the library, not the other way round).
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "src" / "dynaclr"

LAYERS: list[set[str]] = [
    {"io"},
    {"config", "numerics", "jobs"},
    {"simulate", "convert", "summary", "phase", "virtual_stain", "tracking", "contrastive"},
    {"patches"},
    {"training", "qc"},
    {"baselines"},
    {"embeddings"},
    {"evaluation", "classify", "exports"},
    {"pseudotime", "distill"},
    {"figures", "interpretation"},
]
LAYER = {name: level for level, names in enumerate(LAYERS) for name in names}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in ``path``: runtime, function-level and ``TYPE_CHECKING``
    imports alike, relative ones resolved against the file's package, and ``from dynaclr import x``
    read as an import of ``dynaclr.x``."""
    tree = ast.parse(path.read_text())
    package = ["dynaclr", *path.relative_to(PACKAGE).parent.parts]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            if module == "dynaclr" or (node.level and not node.module):
                # `from dynaclr import x`: x is a package, or a name of dynaclr/__init__.py (layer-free)
                found += [
                    (node.lineno, f"{module}.{alias.name}")
                    for alias in node.names
                    if (PACKAGE / alias.name).is_dir() or (PACKAGE / f"{alias.name}.py").exists()
                ]
            else:
                found.append((node.lineno, module))
    return found


def package_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py") if len(relative.parts) > 1 else relative.stem


def sources() -> list[Path]:
    """The package's Python sources and stubs (never the bytecode under ``__pycache__``)."""
    return [path for path in PACKAGE.rglob("*.py*") if path.suffix in (".py", ".pyi")]


def test_every_package_has_a_layer() -> None:
    packages = {package_of(path) for path in sources() if path.name != "__init__.py"}
    packages |= {path.name for path in PACKAGE.iterdir() if path.is_dir() and path.name != "__pycache__"}
    packages -= {"__init__"}
    assert packages <= set(LAYER), f"packages without a layer: {sorted(packages - set(LAYER))}"


def test_imports_point_down_the_layers() -> None:
    violations = []
    for path in sorted(sources()):
        if path.parent == PACKAGE and path.stem == "__init__":
            continue
        own = package_of(path)
        for line, module in imported_modules(path):
            parts = module.split(".")
            if parts[0] == "snakemake":
                violations.append(f"{path.relative_to(REPO_ROOT)}:{line} imports snakemake")
            if parts[0] != "dynaclr" or len(parts) < 2 or parts[1] == own:
                continue
            target = parts[1]
            if target not in LAYER or LAYER[target] >= LAYER[own]:
                violations.append(
                    f"{path.relative_to(REPO_ROOT)}:{line} ({own}, layer {LAYER[own]}) imports {module} "
                    f"(layer {LAYER.get(target, '?')})"
                )
    assert not violations, "imports against the layers:\n" + "\n".join(violations)
