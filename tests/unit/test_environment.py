"""The environment: lock file, pyproject ranges and conda envs agree; nothing downloads."""

from __future__ import annotations

import re
import sys
import tomllib

import yaml
from conftest import REPO_ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def _lock() -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, version = line.split("==")
        pins[canonicalize_name(name)] = version
    return pins


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


def test_conda_envs_match_the_lock():
    lock = _lock()
    env_files = sorted((REPO_ROOT / "envs").glob("*.yaml"))
    assert env_files
    for env_file in env_files:
        env = yaml.safe_load(env_file.read_text())
        assert "python=3.12" in env["dependencies"], env_file.name
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
        for spec in pip:
            name, version = spec.split("==")
            assert lock.get(canonicalize_name(name)) == version, (
                f"{env_file.name}: {spec} differs from the lock"
            )


def test_installed_versions_match_the_lock():
    from importlib.metadata import version

    lock = _lock()
    for name in ("iohub", "waveorder", "ultrack", "torch", "snakemake", "lightning", "timm", "monai", "zarr"):
        assert version(name) == lock[canonicalize_name(name)]


def test_library_never_asks_for_pretrained_hub_weights():
    for path in (REPO_ROOT / "src").rglob("*.py"):
        text = path.read_text()
        assert "pretrained=True" not in text, f"{path} would download weights"
        assert "import snakemake" not in text and "from snakemake" not in text, f"{path} imports snakemake"
