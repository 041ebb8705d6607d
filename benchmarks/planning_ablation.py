"""What each rule feature costs Snakemake's planning per job: `snakemake -n` on synthetic Snakefiles.

Each variant is a Snakefile of two per-FOV rules, ``A`` (like ``track_fov``) and ``B`` (like
``extract_patches``, reading A's output), over N FOVs named like a plate's (``row/column/fov``),
with a target rule ``all`` asking for every B output: 2 N + 1 jobs. The base rules have a
``shell:`` command, one output and an existing input (the plate); each variant adds one feature of
the workflow's per-FOV rules to both rules (``record``: a second output; ``twoA``: B also reads A's
record; ``extra``: 40 more rules in the Snakefile). It prints, per variant, the CPU seconds (user +
system) of the `snakemake -n` process and the milliseconds per job added to the base, taking the
median over ``--repeats`` runs (on a shared machine single runs of 20,000 jobs differ by 1-2 s).

The batched variants (``batch<k>``, ``batch<k>_gatherN``) ask what fewer, larger jobs would cost:
both rules take a ``{batch}`` wildcard instead of the FOV's, and each job writes k per-FOV outputs
(slot ``0 .. k-1`` of its batch: still one file per FOV) plus a batch record, with a ``log:`` and a
``benchmark:`` per batch job: 2 N / k + 1 jobs. In ``batch<k>`` the target reads the N / k batch
records of B; in ``batch<k>_gatherN`` it reads all N per-FOV outputs of B, as ``collect_patches``
reads every FOV's patches. ``logbench`` is the unbatched rules with the same ``log:`` and
``benchmark:``, their reference. For the batched variants the printout gives the CPU seconds saved
against the base instead of the ms per job added (their jobs are fewer).

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

#: The batched variants: name -> (FOVs per job, whether the target reads every per-FOV output).
BATCHED: dict[str, tuple[int, bool]] = {
    f"batch{k}{suffix}": (k, gather_all)
    for k in (10, 50)
    for suffix, gather_all in (("", False), ("_gatherN", True))
}
VARIANTS["logbench"] = ("log", "benchmark")

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


def batched_snakefile(n: int, k: int, gather_all: bool) -> str:
    """Rules A and B over ``{dataset}/{batch}`` (N / k batches of k FOVs): k per-FOV outputs and a
    batch record per job, a log and a benchmark per job (module docstring)."""
    if n % k:
        raise ValueError(f"--fovs {n}: expected a multiple of the batch size {k}")
    batches = [f"b{index}" for index in range(n // k)]
    rules = []
    for name, inputs in (("A", ["'plate.zarr'"]), ("B", ["'plate.zarr'", "'res/{dataset}/A/{batch}.json'"])):
        if name == "B":
            inputs.append(f"[f'res/{{{{dataset}}}}/A/{{{{batch}}}}/{{i}}.out' for i in range({k})]")
        text = f"rule {name}:\n    input:\n" + "".join(f"        {value},\n" for value in inputs)
        text += "    output:\n"
        text += f"        o=[f'res/{{{{dataset}}}}/{name}/{{{{batch}}}}/{{i}}.out' for i in range({k})],\n"
        text += f"        r='res/{{dataset}}/{name}/{{batch}}.json',\n"
        text += f"    log:\n        'res/logs/{name}/{{dataset}}/{{batch}}.log'\n"
        text += f"    benchmark:\n        'res/benchmarks/{name}/{{dataset}}/{{batch}}.tsv'\n"
        rules.append(text + SHELL)
    if gather_all:
        target = f"[f'res/big/B/{{b}}/{{i}}.out' for b in BATCHES for i in range({k})]"
    else:
        target = "[f'res/big/B/{b}.json' for b in BATCHES]"
    parts = [f"BATCHES = {batches!r}", f"rule all:\n    input:\n        {target},\n", *rules]
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
    parser.add_argument(
        "--variants", nargs="+", choices=sorted([*VARIANTS, *BATCHED]), default=[*VARIANTS, *BATCHED]
    )
    args = parser.parse_args()
    names = ["base", *(name for name in args.variants if name != "base")]
    medians: dict[str, float] = {}
    for name in names:
        workdir = args.workdir / name
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "plate.zarr").mkdir(exist_ok=True)
        (workdir / "s.py").write_text("pass\n")
        (workdir / "env.yaml").write_text("channels: [conda-forge]\ndependencies: [python]\n")
        if name in BATCHED:
            k, gather_all = BATCHED[name]
            text, jobs = batched_snakefile(args.fovs, k, gather_all), 2 * args.fovs // k + 1
        else:
            text, jobs = snakefile(args.fovs, VARIANTS[name]), 2 * args.fovs + 1
        (workdir / "Snakefile").write_text(text)
        runs = [cpu_seconds(workdir) for _ in range(args.repeats)]
        medians[name] = statistics.median(runs)
        change = medians[name] - medians["base"]
        versus = (
            f"{change:+6.1f} s vs base" if name in BATCHED else f"{change / jobs * 1000:+5.2f} ms/job vs base"
        )
        listed = ", ".join(f"{run:.1f}" for run in runs)
        print(
            f"{name:15} {jobs:6d} jobs  CPU {medians[name]:6.1f} s (runs {listed})  "
            f"{medians[name] / jobs * 1000:6.2f} ms/job  {versus}",
            flush=True,
        )


if __name__ == "__main__":
    main()
