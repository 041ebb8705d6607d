"""Command line of contrastive training, which rule ``train_contrastive`` runs under torchrun.

    python -m dynaclr.training --patches-zarr P.zarr --patches-parquet P.parquet --config model.json \\
        --model results/models/NAME/model.ckpt --model-config results/models/NAME/config.json \\
        --model-name NAME --work-dir results/models/NAME
    torchrun --standalone --nproc-per-node=2 -m dynaclr.training ...   # DDP (gloo on CPU)

``--config`` is a JSON file holding one ``ContrastiveModelConfig``; ``--model-name`` is recorded in
``model.ckpt`` so that embedding can tell one model's checkpoint from another's. Rank 0 prints the
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
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dynaclr.training", description=__doc__.split("\n")[0])
    parser.add_argument("--patches-zarr", required=True, type=Path, help="collected patch store (.zarr)")
    parser.add_argument("--patches-parquet", required=True, type=Path, help="its index (.parquet)")
    parser.add_argument("--config", required=True, type=Path, help="JSON file with the model config")
    parser.add_argument("--model", required=True, type=Path, help="the exported model (model.ckpt)")
    parser.add_argument("--model-config", required=True, type=Path, help="its config with defaults (JSON)")
    parser.add_argument(
        "--model-name",
        default=None,
        help="the model's name in the workflow config, recorded in model.ckpt (embedding checks it)",
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
    if not args.config.exists():
        parser.error(f"--config {args.config}: file not found")
    from dynaclr.config.training import ContrastiveModelConfig
    from dynaclr.jobs import EXIT_USER_ERROR, is_user_error, one_line
    from dynaclr.training.preemption import EXIT_PREEMPTED, TrainingPreempted
    from dynaclr.training.train import TrainInputs, TrainOutputs, train_contrastive

    try:
        summary = train_contrastive(
            ContrastiveModelConfig.model_validate_json(args.config.read_text()),
            TrainInputs(patches_zarr=args.patches_zarr, patches_parquet=args.patches_parquet),
            TrainOutputs(checkpoint=args.model, config=args.model_config),
            work_dir=args.work_dir,
            num_threads=args.threads,
            model_name=args.model_name,
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
