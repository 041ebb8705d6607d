"""What each rule feature costs Snakemake's planning per job: `snakemake -n` on synthetic Snakefiles.

Each variant is a Snakefile of two per-FOV rules, ``A`` (like ``track_fov``) and ``B`` (like
``extract_patches``, reading A's output), over N FOVs named like a plate's (``row/column/fov``),
with a target rule ``all`` asking for every B output: 2 N + 1 jobs. The base rules have a
``shell:`` command, one output and an existing input (the plate); each variant adds one feature of
the workflow's per-FOV rules to both rules (``record``: a second output; ``twoA``: B also reads A's
record; ``extra``: 40 more rules in the Snakefile). It prints, per variant, the CPU seconds (user +
system) of the `snakemake -n` process and the milliseconds per job added to the base, taking the
median over ``--repeats`` runs (on a shared machine single runs of 20,000 jobs differ by 1-2 s).

Usage::

    python benchmarks/planning_ablation.py --workdir /tmp/ablation --fovs 10000 --repeats 2
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

#: Each variant's features (base: none).
VARIANTS: dict[str, tuple[str, ...]] = {
    "base": (),
    "script": ("script",),
    "log": ("log",),
    "benchmark": ("benchmark",),
    "params_lambda": ("params_lambda",),
    "params_str": ("params_str",),
    "inputfn": ("inputfn",),
    "unpack": ("unpack",),
    "directory": ("directory",),
    "record": ("record",),
    "twoA": ("record", "twoA"),
    "resources": ("resources",),
    "threads": ("threads",),
    "priority": ("priority",),
    "conda": ("conda",),
    "constraints": ("constraints",),
    "upstream": ("upstream",),
    "extra": ("extra",),
    "all": (
        "upstream",
        "record",
        "twoA",
        "directory",
        "script",
        "log",
        "benchmark",
        "params_str",
        "unpack",
        "resources",
        "threads",
        "priority",
        "conda",
        "constraints",
        "extra",
    ),
}

SHELL = "    shell:\n        'touch {output}'\n"


def fov_names(n: int) -> list[str]:
    return [f"{'ABCDEFGH'[i // 960 % 8]}{i // 7680 or ''}/{i // 96 % 10 + 1}/{i % 96}" for i in range(n)]


def per_fov_rule(name: str, inputs: dict[str, str], features: tuple[str, ...]) -> str:
    """Rule ``name`` over {dataset}/{row}/{col}/{fov} with ``inputs`` (name: quoted pattern)."""
    text = f"rule {name}:\n    input:\n"
    if "unpack" in features:
        items = ", ".join(f"{key!r}: {value}.format(**w)" for key, value in inputs.items())
        text += f"        unpack(lambda w: {{{items}}}),\n"
    elif "inputfn" in features:
        text += "".join(f"        {key}=lambda w: {value}.format(**w),\n" for key, value in inputs.items())
    else:
        text += "".join(f"        {key}={value},\n" for key, value in inputs.items())
    out = f"res/{{dataset}}/{name}/{{row}}/{{col}}/{{fov}}"
    text += "    output:\n"
    if "directory" in features:
        text += f"        d=directory('{out}.zarr'),\n"
    text += f"        o='{out}.out',\n"
    if "record" in features:
        text += f"        r='res/{{dataset}}/records/{name}/{{row}}/{{col}}/{{fov}}.json',\n"
    if "params_lambda" in features:
        text += "    params:\n        config=lambda w: CFG,\n"
        text += "        fov=lambda w: f'{w.row}/{w.col}/{w.fov}',\n"
    if "params_str" in features:
        text += "    params:\n        config=CFG,\n        fov='{row}/{col}/{fov}',\n"
    if "log" in features:
        text += f"    log:\n        'res/logs/{name}/{{dataset}}/{{row}}_{{col}}_{{fov}}.log'\n"
    if "benchmark" in features:
        text += f"    benchmark:\n        'res/benchmarks/{name}/{{dataset}}/{{row}}_{{col}}_{{fov}}.tsv'\n"
    if "priority" in features:
        text += "    priority: 10\n"
    if "threads" in features:
        text += "    threads: 1\n"
    if "resources" in features:
        text += "    resources:\n        mem_mb=8000,\n        runtime=60,\n        disk_mb=1000,\n"
    if "conda" in features:
        text += "    conda:\n        'env.yaml'\n"
    text += "    script:\n        's.py'\n" if "script" in features else SHELL
    return text


def snakefile(n: int, features: tuple[str, ...]) -> str:
    parts = [f"FOVS = {fov_names(n)!r}", "CFG = {'a': {'x': 1, 'y': [1, 2]}, 'b': {'z': 'q'}}"]
    if "constraints" in features:
        parts.append(
            "wildcard_constraints:\n    dataset='big|other',\n    row='[A-Za-z0-9_-]+',\n"
            "    col='[A-Za-z0-9_-]+',\n    fov='[A-Za-z0-9_-]+',\n"
        )
    parts.append("rule all:\n    input:\n        [f'res/big/B/{f}.out' for f in FOVS],\n")
    parts.append("rule up:\n    output:\n        'res/{dataset}/up.txt'\n" + SHELL)
    if "extra" in features:
        parts += [
            f"rule other{k}:\n    output:\n        'res/{{dataset}}/other{k}/{{spec}}.txt'\n" + SHELL
            for k in range(40)
        ]
    a_inputs = {"plate": "'plate.zarr'"}
    if "upstream" in features:
        a_inputs["tracks_plate"] = "'res/{dataset}/up.txt'"
    b_inputs = {"plate": "'plate.zarr'", "a": "'res/{dataset}/A/{row}/{col}/{fov}.out'"}
    if "twoA" in features:
        b_inputs["a_record"] = "'res/{dataset}/records/A/{row}/{col}/{fov}.json'"
    parts += [per_fov_rule("A", a_inputs, features), per_fov_rule("B", b_inputs, features)]
    return "\n".join(parts) + "\n"


def cpu_seconds(workdir: Path) -> float:
    """User + system seconds of `snakemake -n` in ``workdir``."""
    result = subprocess.run(
        ["/usr/bin/time", "-f", "%U %S", sys.executable, "-m", "snakemake", "-n"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"snakemake -n failed in {workdir}:\n{result.stderr[-2000:]}")
    user, system = (float(value) for value in result.stderr.strip().splitlines()[-1].split())
    return user + system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--fovs", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    args = parser.parse_args()
    jobs = 2 * args.fovs + 1
    names = ["base", *(name for name in args.variants if name != "base")]
    medians: dict[str, float] = {}
    for name in names:
        workdir = args.workdir / name
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "plate.zarr").mkdir(exist_ok=True)
        (workdir / "s.py").write_text("pass\n")
        (workdir / "env.yaml").write_text("channels: [conda-forge]\ndependencies: [python]\n")
        (workdir / "Snakefile").write_text(snakefile(args.fovs, VARIANTS[name]))
        runs = [cpu_seconds(workdir) for _ in range(args.repeats)]
        medians[name] = statistics.median(runs)
        added = (medians[name] - medians["base"]) / jobs * 1000
        print(
            f"{name:14} CPU {medians[name]:6.1f} s (runs {', '.join(f'{r:.1f}' for r in runs)})  "
            f"{medians[name] / jobs * 1000:5.2f} ms/job  {added:+5.2f} ms/job vs base",
            flush=True,
        )


if __name__ == "__main__":
    main()
