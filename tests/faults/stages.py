"""The long stages as the fault tests run them: one job each, in a run directory of its own.

A :class:`LongStage` knows how to prepare a run directory (what the dataset-level rule would have
made before the job: the empty plate the per-FOV job fills), run the job, which outputs to compare
and what shows that the job has started writing. The tests run a job in a fresh Python process
(``python -m faults.stages SPEC.json``, from ``tests/``), kill it with SIGKILL once it is writing,
rerun it in the test's own process and compare with an uninterrupted run.

The killed process is slowed down (:func:`slow_down`: a pause after every frame, batch or step the
job computes, announced on stdout) so that it is still writing when the kill comes; nothing else
of the job changes.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dynaclr.config.patches import PatchSpec
from dynaclr.config.phase import PhaseConfig
from dynaclr.config.virtual_stain import VirtualStainConfig

#: The FOV the per-FOV jobs process (the tiny plate's mock well: cells in every frame).
FOV = "A/1/0"
#: A line the slowed-down process prints after each unit of work: ``<PROGRESS> <hook> <n>``.
PROGRESS = "fault-progress"

PHASE_CONFIG = PhaseConfig()
VIRTUAL_STAIN_CONFIG = VirtualStainConfig.model_validate(
    {
        "input_depth_slices": 3,
        "decoder_full_resolution_channels": 8,
        "normalization_frames": 3,
        "predict": {"tile_size_px": None},
    }
)
PATCH_SPEC = PatchSpec.model_validate(
    {
        "name": "tiny",
        "channels": [
            {"source": "phase", "channel": "Phase3D", "normalization": "zscore"},
            {"source": "raw", "channel": "ViralSensor", "normalization": "median_p99"},
        ],
        "z_window_slices": 3,
        "patch_size_yx_px": 32,
    }
)
#: Contrastive training long enough to be killed in its second epoch (3 epochs of 2 steps).
TRAINING_EPOCHS, TRAINING_BATCHES = 3, 2
TRAINING_CONFIG = {
    "patch_spec": "tiny",
    "sampling": "time_aware",
    "tau_frames": 1,
    "loss": "ntxent",
    "backbone": "convnext_atto",
    "batch_size": 4,
    "num_workers": 0,
    "validation_fovs": ["A/1/0"],
    "seed": 3,
    "epochs": TRAINING_EPOCHS,
    "max_batches_per_epoch": TRAINING_BATCHES,
    "max_validation_batches": 1,
}
#: Embedding in batches of 16 rows: a dozen batches on the tiny store.
EMBEDDING_BATCH_SIZE = 16
EMBEDDED_MODEL = "time_aware_ntxent"

Inputs = dict[str, Path]


def save_virtual_stain_weights(config: VirtualStainConfig, path: Path) -> None:
    """Seeded, untrained virtual-staining weights (kind ``virtual_stain_model``) at ``path``."""
    import torch

    from dynaclr.io import make_provenance
    from dynaclr.virtual_stain import build_network, save_checkpoint

    torch.manual_seed(0)
    provenance = make_provenance("virtual_stain_model", config.model_dump(mode="json"))
    save_checkpoint(build_network(config).eval(), provenance, path)


def position_chunks(plate: Path, fov_name: str = FOV) -> list[Path]:
    """The chunk files written so far into image ``0`` of a plate position."""
    image = plate.joinpath(*fov_name.split("/"), "0")
    return [path for path in image.rglob("*") if path.is_file() and not path.name.startswith("zarr.")]


@dataclass(frozen=True)
class LongStage:
    """One long job of the workflow, as the fault tests run it.

    Attributes:
        name: the stage (test id).
        prepare: ``(inputs, run_dir)``: what exists before the job starts (in the test process).
        run: ``(inputs, run_dir)``: the job.
        outputs: ``run_dir`` → the job's outputs to compare (files and stores).
        hook: ``module:attribute`` called once per frame, batch or step (slowed down when killed).
        writing: ``(run_dir, log)`` → the killed job has written part of its output.
        finished: ``run_dir`` → what only a complete job leaves (absent after the kill).
    """

    name: str
    prepare: Callable[[Inputs, Path], None]
    run: Callable[[Inputs, Path], Any]
    outputs: Callable[[Path], list[Path]]
    hook: str
    writing: Callable[[Path, str], bool]
    finished: Callable[[Path], Path]

    @property
    def hook_label(self) -> str:
        """The name :func:`slow_down`'s progress lines give the hook: ``fault-progress LABEL N``."""
        return hook_label(self.hook)


# --- phase reconstruction -----------------------------------------------------------------------


def _prepare_phase(inputs: Inputs, run_dir: Path) -> None:
    from dynaclr.phase import PhasePlateInputs, PhasePlateOutputs, create_phase_plate

    create_phase_plate(
        PHASE_CONFIG,
        PhasePlateInputs(plate=inputs["raw"]),
        PhasePlateOutputs(phase_plate=run_dir / "phase.zarr"),
    )


def _run_phase(inputs: Inputs, run_dir: Path) -> Any:
    from dynaclr.phase import ReconstructPhaseInputs, ReconstructPhaseOutputs, reconstruct_fov

    return reconstruct_fov(
        PHASE_CONFIG,
        ReconstructPhaseInputs(
            plate=inputs["raw"],
            transfer_function=inputs["transfer_function"],
            phase_plate=run_dir / "phase.zarr",
        ),
        ReconstructPhaseOutputs(record=run_dir / "records" / "phase.json"),
        fov_name=FOV,
    )


# --- virtual staining ---------------------------------------------------------------------------


def _prepare_virtual_stain(inputs: Inputs, run_dir: Path) -> None:
    from dynaclr.virtual_stain import (
        VirtualStainPlateInputs,
        VirtualStainPlateOutputs,
        create_virtual_stain_plate,
    )

    create_virtual_stain_plate(
        VIRTUAL_STAIN_CONFIG,
        VirtualStainPlateInputs(phase_plate=inputs["truth_phase"]),
        VirtualStainPlateOutputs(virtual_stain_plate=run_dir / "virtual_stain.zarr"),
    )


def _run_virtual_stain(inputs: Inputs, run_dir: Path) -> Any:
    from dynaclr.virtual_stain import PredictVirtualStainInputs, PredictVirtualStainOutputs, predict_fov

    return predict_fov(
        VIRTUAL_STAIN_CONFIG,
        PredictVirtualStainInputs(
            phase_plate=inputs["truth_phase"],
            checkpoint=inputs["virtual_stain_checkpoint"],
            virtual_stain_plate=run_dir / "virtual_stain.zarr",
        ),
        PredictVirtualStainOutputs(record=run_dir / "records" / "virtual_stain.json"),
        fov_name=FOV,
    )


# --- tracking -----------------------------------------------------------------------------------


def _tracking_config():
    from dynaclr.config.tracking import TrackingConfig

    return TrackingConfig()


def _prepare_tracking(inputs: Inputs, run_dir: Path) -> None:
    from dynaclr.tracking import TracksPlateInputs, TracksPlateOutputs, create_tracks_plate

    create_tracks_plate(
        _tracking_config(),
        TracksPlateInputs(plate=inputs["raw"]),
        TracksPlateOutputs(tracks_plate=run_dir / "tracks.zarr"),
        channel="Nuclei",
    )


def _run_tracking(inputs: Inputs, run_dir: Path) -> Any:
    from dynaclr.tracking import TrackFovInputs, TrackFovOutputs, track_fov

    return track_fov(
        _tracking_config(),
        TrackFovInputs(plate=inputs["raw"], tracks_plate=run_dir / "tracks.zarr"),
        TrackFovOutputs(
            tracks_csv=run_dir / "tracks" / "tracks_A_1_0.csv", record=run_dir / "records" / "tracks.json"
        ),
        fov_name=FOV,
        scratch_dir=run_dir / "scratch",
    )


# --- contrastive training -----------------------------------------------------------------------


def _run_training(inputs: Inputs, run_dir: Path) -> Any:
    from conftest import train_model

    return train_model(inputs["patches_zarr"], inputs["patches_parquet"], TRAINING_CONFIG, run_dir / "model")


def _training_writing(run_dir: Path, log: str) -> bool:
    """The second epoch has started, so the first epoch's ``checkpoints/last.ckpt`` is complete."""
    started = f"{PROGRESS} training_step {TRAINING_BATCHES + 1}\n" in log
    return started and (run_dir / "model" / "checkpoints" / "last.ckpt").is_file()


# --- embedding ----------------------------------------------------------------------------------


def embeddings_path(run_dir: Path) -> Path:
    return run_dir / "embeddings" / "tiny.zarr"


def partial_store(run_dir: Path) -> Path:
    """Where the embedding job streams its rows (the path the rule passes), beside the output."""
    output = embeddings_path(run_dir)
    return output.with_name(f".{output.name}.partial")


def _run_embedding(inputs: Inputs, run_dir: Path) -> Any:
    from dynaclr.config.embeddings import EmbeddingConfig
    from dynaclr.embeddings.stage import EmbedInputs, EmbedOutputs, embed_stage

    return embed_stage(
        EmbeddingConfig(batch_size=EMBEDDING_BATCH_SIZE, device="cpu"),
        EmbedInputs(
            patches_zarr=inputs["patches_zarr"],
            patches_parquet=inputs["patches_parquet"],
            checkpoint=inputs["model"],
        ),
        EmbedOutputs(embeddings=embeddings_path(run_dir)),
        model=EMBEDDED_MODEL,
        dataset="tiny",
        partial_store=partial_store(run_dir),
    )


def rows_done(run_dir: Path) -> int:
    """The partial store's ``rows_done`` (0 when it has none yet)."""
    try:
        attributes = json.loads((partial_store(run_dir) / "zarr.json").read_text()).get("attributes", {})
    except (OSError, ValueError):
        return 0
    return int(attributes.get("rows_done", 0))


def _nothing(inputs: Inputs, run_dir: Path) -> None:
    return None


STAGES = {
    stage.name: stage
    for stage in (
        LongStage(
            name="phase",
            prepare=_prepare_phase,
            run=_run_phase,
            outputs=lambda d: [d / "phase.zarr", d / "records" / "phase.json"],
            hook="dynaclr.phase.reconstruct:reconstruct_filled_stack",
            writing=lambda d, log: bool(position_chunks(d / "phase.zarr")),
            finished=lambda d: d / "records" / "phase.json",
        ),
        LongStage(
            name="virtual_stain",
            prepare=_prepare_virtual_stain,
            run=_run_virtual_stain,
            outputs=lambda d: [d / "virtual_stain.zarr", d / "records" / "virtual_stain.json"],
            hook="dynaclr.virtual_stain.predict:predict_stack",
            writing=lambda d, log: bool(position_chunks(d / "virtual_stain.zarr")),
            finished=lambda d: d / "records" / "virtual_stain.json",
        ),
        LongStage(
            name="tracking",
            prepare=_prepare_tracking,
            run=_run_tracking,
            outputs=lambda d: [
                d / "tracks.zarr",
                d / "tracks" / "tracks_A_1_0.csv",
                d / "records" / "tracks.json",
            ],
            hook="dynaclr.tracking.fov:LabelFrameWriter.__call__",
            writing=lambda d, log: bool(position_chunks(d / "tracks.zarr")),
            finished=lambda d: d / "records" / "tracks.json",
        ),
        LongStage(
            name="training",
            prepare=_nothing,
            run=_run_training,
            outputs=lambda d: [d / "model" / "model.ckpt", d / "model" / "config.json"],
            hook="dynaclr.training.module:ContrastiveModule.training_step",
            writing=_training_writing,
            finished=lambda d: d / "model" / "model.ckpt",
        ),
        LongStage(
            name="embedding",
            prepare=_nothing,
            run=_run_embedding,
            outputs=lambda d: [embeddings_path(d)],
            hook="dynaclr.embeddings.inference:_encode",
            writing=lambda d, log: rows_done(d) > 0,
            finished=embeddings_path,
        ),
    )
}


def hook_label(hook: str) -> str:
    """``module:Class.method`` → ``method``: the label of the hook's progress lines."""
    return hook.partition(":")[2].rsplit(".", 1)[-1]


def slow_down(hook: str, pause_s: float) -> None:
    """Make ``module:attribute`` (a function, or ``Class.method``) print a progress line and pause
    ``pause_s`` after each call; it fails if the attribute is gone (the hook must follow the code)."""
    module_name, _, path = hook.partition(":")
    owner: Any = importlib.import_module(module_name)
    *parents, attribute = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    original = getattr(owner, attribute)
    label = hook_label(hook)
    calls = 0

    @functools.wraps(original)
    def paused(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        print(f"{PROGRESS} {label} {calls}", flush=True)
        result = original(*args, **kwargs)
        time.sleep(pause_s)
        return result

    setattr(owner, attribute, paused)


def main(argv: list[str]) -> None:
    """``python -m faults.stages SPEC.json``: SPEC holds ``stage``, ``inputs``, ``run_dir``, ``pause_s``."""
    import torch

    spec = json.loads(Path(argv[0]).read_text())
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(1)
    stage = STAGES[spec["stage"]]
    slow_down(stage.hook, float(spec["pause_s"]))
    inputs = {name: Path(path) for name, path in spec["inputs"].items()}
    stage.run(inputs, Path(spec["run_dir"]))
    print(f"{PROGRESS} finished", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
