"""Command line of contrastive training, which rule ``train_contrastive`` runs under torchrun.

    python -m dynaclr.training --patches-zarr P.zarr --patches-parquet P.parquet --config model.json \\
        --model results/models/NAME/model.ckpt --model-config results/models/NAME/config.json \\
        --model-name NAME --work-dir results/models/NAME
    python -m dynaclr.training --patches-zarr A.zarr B.zarr --patches-parquet A.parquet B.parquet \\
        --datasets a b ...   # pooled: one store per dataset, trained together
    torchrun --standalone --nproc-per-node=2 -m dynaclr.training ...   # DDP (gloo on CPU)

Several stores (one per dataset; ``--patches-zarr`` and ``--patches-parquet`` in the same count and
order, ``--datasets`` naming them, by default the names the stores record, else ``store0``,
``store1``, ...) are pooled: see :mod:`dynaclr.training.train` (FOVs are named ``dataset:A/1/0``,
``tau_minutes`` is converted with each store's time interval, each store's FOVs are split apart).

``--config`` is a JSON file holding one ``ContrastiveModelConfig``; ``--model-name`` is recorded in
``model.ckpt`` so that embedding can tell one model's checkpoint from another's, and
``--training-sampling`` (the workflow's) the sampling of the datasets it learnt from, which
``import_model`` compares with the datasets an imported copy embeds. Rank 0 prints the
summary as JSON on stdout. A problem with the input or config (e.g. a ``tau`` longer than every
lineage) ends with its cause and fix as the last log line and exit status 1. On SIGUSR1 or SIGURG
it saves ``checkpoints/last.ckpt`` at the next step and exits with status 75 (see
:mod:`dynaclr.training.preemption`); a rerun resumes from it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dynaclr.training", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--patches-zarr",
        required=True,
        type=Path,
        nargs="+",
        help="collected patch store(s) (.zarr), one per dataset; several are pooled",
    )
    parser.add_argument(
        "--patches-parquet",
        required=True,
        type=Path,
        nargs="+",
        help="their indexes (.parquet), in the same count and order",
    )
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=None,
        help="a name per store, in the same order (default: the name a store records, else store0, ...); "
        "qualified validation_fovs (NAME:A/1/0) and the FOV names of the summary use it",
    )
    parser.add_argument("--config", required=True, type=Path, help="JSON file with the model config")
    parser.add_argument("--model", required=True, type=Path, help="the exported model (model.ckpt)")
    parser.add_argument("--model-config", required=True, type=Path, help="its config with defaults (JSON)")
    parser.add_argument(
        "--model-name",
        default=None,
        help="the model's name in the workflow config, recorded in model.ckpt (embedding checks it)",
    )
    parser.add_argument(
        "--training-sampling",
        default=None,
        help="JSON list: the sampling of each store's dataset, in order (pixel size, z step, time interval, "
        "null where nothing states it; the workflow's dynaclr.config.transfer_checks.dataset_sampling), "
        "recorded in model.ckpt for import_model to compare (default: not recorded)",
    )
    parser.add_argument(
        "--work-dir", required=True, type=Path, help="logs/ and the resumable checkpoints/ go here"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads of this process; the workflow passes the job's threads divided by the "
        "ranks (default: torch's choice)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format=f"%(asctime)s rank{os.environ.get('RANK', '0')} %(name)s: %(message)s",
    )
    if len(args.patches_parquet) != len(args.patches_zarr):
        parser.error(
            f"--patches-zarr names {len(args.patches_zarr)} store(s), --patches-parquet "
            f"{len(args.patches_parquet)} index(es); give one index per store, in the same order"
        )
    if args.datasets is not None and len(args.datasets) != len(args.patches_zarr):
        parser.error(
            f"--datasets names {len(args.datasets)} dataset(s) for {len(args.patches_zarr)} store(s); "
            "give one name per store, in the same order"
        )
    training_sampling = None
    if args.training_sampling is not None:
        try:
            training_sampling = json.loads(args.training_sampling)
        except json.JSONDecodeError as error:
            parser.error(
                f"--training-sampling: expected a JSON list, found {args.training_sampling!r}: {error}"
            )
        if not isinstance(training_sampling, list) or not all(isinstance(r, dict) for r in training_sampling):
            parser.error(
                f"--training-sampling: expected a JSON list of objects, found {args.training_sampling!r}"
            )
    if not args.config.exists():
        parser.error(f"--config {args.config}: file not found")
    from dynaclr.config.training import ContrastiveModelConfig
    from dynaclr.jobs import EXIT_USER_ERROR, is_user_error, one_line
    from dynaclr.training.preemption import EXIT_PREEMPTED, TrainingPreempted
    from dynaclr.training.train import TrainInputs, TrainOutputs, train_contrastive

    if logging.getLogger().getEffectiveLevel() >= logging.INFO:
        # set after importing Lightning, which sets its loggers' levels: its INFO lines (accelerators
        # found, tips) and hints meant for other setups are chatter in a job's log; its warnings
        # stay. --log-level DEBUG shows everything.
        for name in ("lightning", "lightning.pytorch", "lightning.fabric", "numexpr"):
            logging.getLogger(name).setLevel(logging.WARNING)
        for message in (
            r"The `srun` command is available on your system but is not used",
            r"`isinstance\(treespec, LeafSpec\)` is deprecated",
            r"You have overridden `on_after_batch_transfer` in `LightningModule`",
        ):
            warnings.filterwarnings("ignore", message=message)

    try:
        inputs = TrainInputs(
            patches_zarr=tuple(args.patches_zarr),
            patches_parquet=tuple(args.patches_parquet),
            dataset_names=None if args.datasets is None else tuple(args.datasets),
        )
    except ValueError as error:  # e.g. repeated dataset names
        parser.error(one_line(error))
    try:
        summary = train_contrastive(
            ContrastiveModelConfig.model_validate_json(args.config.read_text()),
            inputs,
            TrainOutputs(checkpoint=args.model, config=args.model_config),
            work_dir=args.work_dir,
            num_threads=args.threads,
            model_name=args.model_name,
            training_sampling=training_sampling,
        )
    except TrainingPreempted:
        return EXIT_PREEMPTED  # the callback logged what it saved
    except Exception as error:
        if not is_user_error(error):
            raise
        # the input or config is wrong: the traceback for debugging, then the cause and fix as the last line
        logger = logging.getLogger("dynaclr.training")
        logger.error("training stopped by a problem with its input or config", exc_info=True)
        logger.error("%s", one_line(error))
        return EXIT_USER_ERROR
    if int(os.environ.get("RANK", "0")) == 0:
        json.dump(summary, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
