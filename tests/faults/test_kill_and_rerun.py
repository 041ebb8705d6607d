"""kill -9 during each long stage, then rerun: the outputs equal an uninterrupted run's, bit for bit.

Each job (phase reconstruction, virtual-staining prediction and tracking of one FOV, contrastive
training, embedding) runs in its own Python process on the tiny plate and gets SIGKILL once it has
written part of its output: a first frame in its plate position, a first complete epoch's
``checkpoints/last.ckpt``, a partial embeddings store with rows done. The job is then run again in
this process, as Snakemake's retry would, in the same directory; a second directory holds an
uninterrupted run. Every output (arrays bit for bit, tables, records without their clock readings
and directories) must be the same. Training and embedding resume from what the killed job left;
the per-FOV jobs rewrite their position from the first frame.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr

from faults.outputs import assert_same_outputs
from faults.stages import (
    PROGRESS,
    STAGES,
    TRAINING_BATCHES,
    TRAINING_EPOCHS,
    partial_store,
    position_chunks,
    rows_done,
)

TESTS = Path(__file__).resolve().parents[1]
#: Pause after each frame, batch or step of the killed job, so that the kill finds it writing.
PAUSE_S = {"phase": 0.5, "virtual_stain": 0.5, "tracking": 0.5, "training": 1.0, "embedding": 0.5}
#: Frames of the tiny plate (tests/conftest.py TINY_SIMULATE).
N_FRAMES = 12


def kill_while_writing(name: str, inputs: dict[str, Path], run_dir: Path, log: Path) -> str:
    """Start job ``name`` in a new process, SIGKILL it once it is writing; its output, as text."""
    stage = STAGES[name]
    spec = log.with_suffix(".json")
    spec.write_text(
        json.dumps(
            {
                "stage": name,
                "inputs": {key: str(path) for key, path in inputs.items()},
                "run_dir": str(run_dir),
                "pause_s": PAUSE_S[name],
            }
        )
    )
    with log.open("w") as out:
        job = subprocess.Popen(
            [sys.executable, "-m", "faults.stages", str(spec)],
            cwd=TESTS,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
    try:
        deadline = time.monotonic() + 300
        while not stage.writing(run_dir, log.read_text()):
            assert job.poll() is None, f"{name} ended before it was killed:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"{name} never started writing:\n{log.read_text()[-3000:]}"
            time.sleep(0.05)
        os.kill(job.pid, signal.SIGKILL)
        job.wait(timeout=60)
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    text = log.read_text()
    assert job.returncode == -signal.SIGKILL, text[-3000:]
    assert f"{PROGRESS} finished" not in text
    # The hook prints before each call it paused, so a hook the job no longer calls (its target
    # renamed or bypassed) fails here rather than leaving the kill to the machine's load.
    # (anywhere in the log, not only at a line's start: a progress bar on stderr, written without a
    # newline, can precede the hook's first line when the kill comes before its second)
    assert f"{PROGRESS} {stage.hook_label} " in text, (
        f"{name}: the job wrote without ever calling its hook {stage.hook}:\n{text[-3000:]}"
    )
    return text


def check_what_the_kill_left(name: str, run_dir: Path) -> None:
    """The killed job stopped part-way: some of its output is written, not all of it."""
    if name == "phase":
        assert 0 < len(position_chunks(run_dir / "phase.zarr")) < N_FRAMES
    elif name == "virtual_stain":
        assert 0 < len(position_chunks(run_dir / "virtual_stain.zarr")) < N_FRAMES
    elif name == "tracking":
        assert 0 < len(position_chunks(run_dir / "tracks.zarr")) < N_FRAMES
        assert (run_dir / "scratch" / "data.db").exists()  # ultrack's database, left by the kill
    elif name == "training":
        last = run_dir / "model" / "checkpoints" / "last.ckpt"
        assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == TRAINING_BATCHES
    elif name == "embedding":
        n_patches = int(
            json.loads((partial_store(run_dir) / "features" / "zarr.json").read_text())["shape"][0]
        )
        assert 0 < rows_done(run_dir) < n_patches


def check_the_rerun(name: str, run_dir: Path, result: object, messages: list[str]) -> None:
    """What the rerun did with what the killed job left."""
    if name == "tracking":
        assert not (run_dir / "scratch" / "data.db").exists()  # removed after success
    elif name == "training":
        assert isinstance(result, dict)
        assert result["resumed_from"] == str(run_dir / "model" / "checkpoints" / "last.ckpt")
        assert result["global_step"] == TRAINING_EPOCHS * TRAINING_BATCHES
    elif name == "embedding":
        assert any("Resuming embeddings from" in m and str(partial_store(run_dir)) in m for m in messages)
        assert not partial_store(run_dir).exists()


@pytest.mark.parametrize("name", list(STAGES))
def test_a_job_killed_while_writing_reruns_to_the_uninterrupted_outputs(
    name: str, stage_inputs: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stage = STAGES[name]
    killed, uninterrupted = tmp_path / "killed", tmp_path / "uninterrupted"
    for run_dir in (killed, uninterrupted):
        run_dir.mkdir()
        stage.prepare(stage_inputs, run_dir)

    kill_while_writing(name, stage_inputs, killed, tmp_path / "killed.log")
    assert not stage.finished(killed).exists()
    check_what_the_kill_left(name, killed)

    with caplog.at_level(logging.INFO, logger="dynaclr"):
        result = stage.run(stage_inputs, killed)
    check_the_rerun(name, killed, result, [r.getMessage() for r in caplog.records])
    stage.run(stage_inputs, uninterrupted)
    assert_same_outputs(stage.outputs(killed), stage.outputs(uninterrupted), (killed, uninterrupted))


def test_every_long_stage_is_killed() -> None:
    assert set(STAGES) == {"phase", "virtual_stain", "tracking", "training", "embedding"}


def test_the_comparison_sees_a_changed_bit_and_a_stray_file(tmp_path: Path) -> None:
    """What the kill tests rely on: one flipped value, or a file left beside the chunks, differs."""
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    for name in ("a", "b", "c"):
        group = zarr.open_group(str(tmp_path / f"{name}.zarr"), mode="w")
        group.attrs["dynaclr"] = {"created": name, "inputs": [str(tmp_path / name)]}  # both normalised
        group.create_array("x", shape=values.shape, chunks=(1, 4), dtype="float32")[...] = values
    assert_same_outputs([tmp_path / "a.zarr"], [tmp_path / "b.zarr"], (tmp_path / "a", tmp_path / "b"))
    zarr.open_array(str(tmp_path / "b.zarr" / "x"), mode="r+")[0, 0] = -0.0  # 0.0 and -0.0 differ in bits
    with pytest.raises(AssertionError, match="values differ"):
        assert_same_outputs([tmp_path / "a.zarr"], [tmp_path / "b.zarr"], (tmp_path / "a", tmp_path / "b"))
    (tmp_path / "c.zarr" / "x" / "c" / "0" / "0.1234.partial").write_bytes(b"")
    with pytest.raises(AssertionError):
        assert_same_outputs([tmp_path / "c.zarr"], [tmp_path / "a.zarr"], (tmp_path / "c", tmp_path / "a"))
