"""The environment: the lock, pyproject's ranges and the rules' conda environment agree, every rule's
environment holds what its code imports, and nothing downloads.

One environment serves every rule (``envs/dynaclr.yaml``: the lock, plus dynaclr installed from the
checkout); conda itself cannot run here, so these tests check what decides whether a job runs in
it: for each rule, the modules its script or shell command runs are followed through dynaclr's
source (``ast``) to the third-party modules they import, and each of those must come from a
distribution the environment pins at the lock's version.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

SOURCE = REPO_ROOT / "src"
RULE_FILES = REPO_ROOT / "workflow" / "rules"
#: The environment of every rule.
ENV_FILE = REPO_ROOT / "envs" / "dynaclr.yaml"
#: Its pip entry that installs dynaclr from the checkout (workflow/rules/common.smk sets the variable;
#: tests/unit/test_training_rule.py checks that conda sees it).
DYNACLR_ENTRY = "-e ${DYNACLR_SOURCE}"
#: What Snakemake's preamble of a `script:` imports in the job's environment (it unpickles the
#: ``snakemake`` object there).
SCRIPT_PREAMBLE_DISTRIBUTIONS = frozenset({"snakemake"})


def _lock() -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, version = line.split("==")
        pins[canonicalize_name(name)] = version
    return pins


def _env_pip_entries(env_file: Path) -> list[str]:
    env = yaml.safe_load(env_file.read_text())
    return [entry for d in env["dependencies"] if isinstance(d, dict) for entry in d["pip"]]


def _env_pins(env_file: Path) -> dict[str, str]:
    pins = {}
    for entry in _env_pip_entries(env_file):
        if "==" in entry:
            name, version = entry.split("==")
            pins[canonicalize_name(name)] = version
    return pins


# ------------------------------------------------------------------ the rules and what they run
@dataclass(frozen=True)
class Rule:
    name: str
    rule_file: Path
    conda: Path | None
    script: Path | None
    #: modules the shell command runs with ``python -m``
    shell_modules: tuple[str, ...]


def _directive_values(lines: list[str]) -> dict[str, str]:
    """``{directive: source text of its value}`` of one rule's lines (Snakemake's layout: directives
    indented 4 spaces, their values on the same line or indented further)."""
    values: dict[str, list[str]] = {}
    current = None
    for line in lines[1:]:
        match = re.match(r"^    (\w+):\s*(.*)$", line)
        if match:
            current = match.group(1)
            values[current] = [match.group(2)] if match.group(2) else []
        elif current and (line.startswith("        ") or not line.strip()):
            values[current].append(line.strip())
        else:
            current = None
    return {name: "\n".join(text) for name, text in values.items()}


def _literal(values: dict[str, str], directive: str) -> str | None:
    """The string a directive's value spells (adjacent literals concatenated), or None."""
    text = values.get(directive)
    return ast.literal_eval(f"({text})") if text else None


@cache
def _rules() -> tuple[Rule, ...]:
    """Every rule of workflow/rules/*.smk: its conda env and what its script or shell runs."""
    rules = []
    for rule_file in sorted(RULE_FILES.glob("*.smk")):
        lines = rule_file.read_text().splitlines()
        for start, line in enumerate(lines):
            header = re.match(r"^rule (\w+):", line)
            if not header:
                continue
            end = next(
                (i for i in range(start + 1, len(lines)) if lines[i] and not lines[i][0].isspace()),
                len(lines),
            )
            values = _directive_values(lines[start:end])
            conda, script = _literal(values, "conda"), _literal(values, "script")
            shell = _literal(values, "shell") or ""
            rules.append(
                Rule(
                    name=header.group(1),
                    rule_file=rule_file,
                    conda=(rule_file.parent / conda).resolve() if conda else None,
                    script=(rule_file.parent / script).resolve() if script else None,
                    shell_modules=tuple(re.findall(r"(?:^|\s)-m\s+([A-Za-z_][\w.]*)", shell)),
                )
            )
    return tuple(rules)


def _rule_ids() -> list[str]:
    return [rule.name for rule in _rules()]


def _rule(name: str) -> Rule:
    return next(rule for rule in _rules() if rule.name == name)


# ------------------------------------------------------------------ imports, followed through dynaclr
def _module_file(module: str) -> Path | None:
    base = SOURCE.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _guards_import_error(handler: ast.ExceptHandler) -> bool:
    caught = handler.type
    names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
    return any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names)


@cache
def _imports(path: Path, package: str) -> tuple[str, ...]:
    """Modules ``path`` imports when it runs: every ``import`` (at any depth, functions included,
    since a job may call them), but not under ``if TYPE_CHECKING:`` nor in a ``try`` whose handler
    catches ImportError (an optional dependency). ``from m import n`` yields ``m`` and ``m.n``."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Try) and any(_guards_import_error(h) for h in node.handlers):
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*parent, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append(module)
            found.extend(f"{module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return tuple(found)


@cache
def _lazy_exports(package: str) -> dict[str, str]:
    """Names a dynaclr package exports lazily → the submodule defining each: a ``_EXPORTS`` dict in
    its ``__init__.py`` (dynaclr._lazy) or the relative imports of its ``__init__.pyi`` stub
    (lazy_loader.attach_stub)."""
    init = _module_file(package)
    if init is None or init.name != "__init__.py":
        return {}
    exports: dict[str, str] = {}
    for node in ast.parse(init.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in targets):
            exports.update(ast.literal_eval(node.value))  # type: ignore[union-attr]
    stub = init.with_suffix(".pyi")
    if stub.is_file():
        for node in ast.parse(stub.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                exports.update({alias.asname or alias.name: node.module for alias in node.names})
    return exports


def _walk(modules: Sequence[str], scripts: Sequence[Path] = ()) -> tuple[set[str], set[str]]:
    """(dynaclr modules, top-level third-party modules) that running ``modules`` and ``scripts``
    imports, following every dynaclr module imported on the way (package ``__init__``s and lazy
    exports included)."""
    todo = list(modules)
    for path in scripts:
        todo += _imports(path, "")
    seen: set[str] = set()
    third_party: set[str] = set()
    while todo:
        name = todo.pop()
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top in ("", "__future__"):
            continue
        if top != "dynaclr":
            third_party.add(top)
            continue
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # importing a.b.c runs a, a.b, then a.b.c
            module = ".".join(parts[:depth])
            path = _module_file(module)
            if path is None:  # not a module: a name, maybe exported lazily by the package above
                parent = ".".join(parts[: depth - 1])
                submodule = _lazy_exports(parent).get(parts[depth - 1])
                if submodule:
                    todo.append(f"{parent}.{submodule}")
                break
            if module not in seen:
                seen.add(module)
                package = module if path.name == "__init__.py" else module.rpartition(".")[0]
                todo += _imports(path, package)
    return seen, third_party


def _runs_as_main(module: str) -> list[str]:
    """What ``python -m module`` runs: the module, or a package's ``__main__``."""
    path = _module_file(module)
    return [module, f"{module}.__main__"] if path is not None and path.name == "__init__.py" else [module]


@cache
def _providers() -> dict[str, list[str]]:
    return packages_distributions()  # reads every installed distribution's metadata: once


def _distributions(modules: set[str]) -> dict[str, set[str]]:
    """Distributions providing each top-level module (canonical names); unknown modules map to {}."""
    providers = _providers()
    return {module: {canonicalize_name(d) for d in providers.get(module, [])} for module in modules}


def _needed_distributions(rule: Rule) -> dict[str, set[str]]:
    """``{reason: distributions, one of which the environment must hold}`` for one rule."""
    modules = [m for module in rule.shell_modules for m in _runs_as_main(module)]
    _, third_party = _walk(modules, [rule.script] if rule.script else [])
    needed = {f"import {module}": dists for module, dists in _distributions(third_party).items()}
    if rule.script:
        needed.update({f"the script preamble's {d}": {d} for d in SCRIPT_PREAMBLE_DISTRIBUTIONS})
    return needed


# ------------------------------------------------------------------ tests
def test_python_is_3_12():
    assert sys.version_info[:2] == (3, 12)


def test_lock_pins_every_package_exactly():
    text = (REPO_ROOT / "requirements.lock").read_text()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.+\-]+", line), line


def test_pyproject_ranges_admit_the_locked_versions():
    lock = _lock()
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [
        r for extra in project["optional-dependencies"].values() for r in extra
    ]
    for text in requirements:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in lock, f"{req.name} is declared in pyproject.toml but not pinned in requirements.lock"
        assert req.specifier.contains(lock[name], prereleases=True), (
            f"{req.name}: locked {lock[name]} is outside the declared range {req.specifier}"
        )


def test_every_rule_runs_in_the_one_environment():
    rules = _rules()
    assert len(rules) > 20, "the .smk files were not parsed"
    for rule in rules:
        assert rule.conda == ENV_FILE, f"rule {rule.name} ({rule.rule_file.name}): conda env {rule.conda}"
        assert (rule.script is None) != (not rule.shell_modules), (
            f"rule {rule.name}: expected a `script:` or a `shell:` that runs `python -m`; teach this test "
            "what the rule runs"
        )
        assert rule.script is None or rule.script.is_file(), rule.script
    assert sorted((REPO_ROOT / "envs").glob("*.yaml")) == [ENV_FILE], "an env file no rule uses"


def test_the_environment_is_the_lock_and_dynaclr_from_the_checkout():
    env = yaml.safe_load(ENV_FILE.read_text())
    assert env["dependencies"][:2] == ["python=3.12", "pip"]
    entries = _env_pip_entries(ENV_FILE)
    assert DYNACLR_ENTRY in entries, f"{ENV_FILE.name} does not install dynaclr itself"
    assert _env_pins(ENV_FILE) == _lock(), f"{ENV_FILE.name} differs from requirements.lock: run `make env`"
    assert len(entries) == len(_lock()) + 1, f"{ENV_FILE.name}: entries other than pins and dynaclr"


@pytest.mark.slow  # a pip resolution
def test_pip_installs_dynaclr_from_the_checkout_within_the_pins(tmp_path):
    """The environment's pip entries as conda hands them to pip (a requirements file), resolved
    offline against this .venv: pip expands ${DYNACLR_SOURCE}, builds dynaclr's metadata from the
    checkout and finds every dependency of dynaclr among the pins (an unpinned one would need the
    index, which --no-index refuses)."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("\n".join(_env_pip_entries(ENV_FILE)) + "\n")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--no-build-isolation"),
            *("--disable-pip-version-check", "-r", str(requirements)),
        ],
        capture_output=True,
        text=True,
        env={  # no PIP_* settings (e.g. find-links): only what is installed may satisfy a pin
            **{key: value for key, value in os.environ.items() if not key.startswith("PIP_")},
            "DYNACLR_SOURCE": str(REPO_ROOT),
        },
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Would install dynaclr-" in result.stdout, result.stdout[-3000:]


@pytest.mark.parametrize("rule_name", _rule_ids())
def test_rule_environment_holds_what_the_rule_imports(rule_name):
    rule = _rule(rule_name)
    assert rule.conda is not None, f"rule {rule_name} names no conda env"
    lock, pins = _lock(), _env_pins(rule.conda)
    assert DYNACLR_ENTRY in _env_pip_entries(rule.conda), f"{rule.conda.name} does not install dynaclr"
    needed = _needed_distributions(rule)
    assert any(reason.startswith("import ") for reason in needed) or rule.script is None
    for reason, distributions in sorted(needed.items()):
        assert distributions, f"rule {rule_name}: {reason}, which no installed distribution provides"
        held = sorted(d for d in distributions if d in pins)
        assert held, f"rule {rule_name}: {reason} ({sorted(distributions)}) is not in {rule.conda.name}"
        for name in held:
            assert pins[name] == lock.get(name), (
                f"rule {rule_name}: {rule.conda.name} pins {name}=={pins[name]}, the lock {lock.get(name)}"
            )


def test_the_import_walk_finds_every_dynaclr_module_a_job_loads():
    """What the collect_patches shim loads, measured in a fresh interpreter, is within what the walk
    over the same imports finds (names a package exports lazily lead to their submodules)."""
    code = "import sys\nimport dynaclr.jobs\nfrom dynaclr.patches import collect_patches\nprint(*sys.modules)"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
        ).stdout.split()
    )
    walked, third_party = _walk(["dynaclr.jobs", "dynaclr.patches.collect_patches"])
    assert "dynaclr.patches.collect" in loaded
    assert {m for m in loaded if m.split(".")[0] == "dynaclr"} <= walked
    assert {"numpy", "pandas", "zarr"} <= third_party & loaded


def test_library_imports_are_declared_dependencies():
    """Every third-party module dynaclr imports comes from a distribution pyproject.toml declares
    (so installing dynaclr installs it)."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    declared = {canonicalize_name(Requirement(text).name) for text in project["dependencies"]}
    modules = [
        ".".join(path.relative_to(SOURCE).with_suffix("").parts).removesuffix(".__init__")
        for path in sorted((SOURCE / "dynaclr").rglob("*.py"))
    ]
    missing = {
        module: sorted(dists)
        for module, dists in _distributions(_walk(modules)[1]).items()
        if not dists & declared
    }
    assert not missing, f"imported by dynaclr but not declared in pyproject.toml dependencies: {missing}"


def test_installed_versions_match_the_lock():
    from importlib.metadata import version

    lock = _lock()
    for name in ("iohub", "waveorder", "ultrack", "torch", "snakemake", "lightning", "timm", "monai", "zarr"):
        assert version(name) == lock[canonicalize_name(name)]


def test_library_never_asks_for_pretrained_hub_weights():
    for path in (REPO_ROOT / "src").rglob("*.py"):
        text = path.read_text()
        assert "pretrained=True" not in text, f"{path} would download weights"
        if path.is_relative_to(REPO_ROOT / "src" / "dynaclr"):
            assert "import snakemake" not in text and "from snakemake" not in text, (
                f"{path} imports snakemake"
            )
        else:  # the console logger plugin: Snakemake's plugin interface only, never Snakemake itself
            assert not re.search(r"^\s*(import|from) snakemake[ .]", text, re.M), f"{path} imports snakemake"
