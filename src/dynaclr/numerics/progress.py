"""Training progress as plain log lines (a job's log is a file, not a terminal).

Lightning's progress bar redraws one terminal line; written to a log file it leaves only its last
state. :class:`ProgressLog` writes, on rank 0, one line every ``every_n_steps`` optimiser steps (and
at least every ``every_seconds``): epoch, step of the run, loss, learning rate, steps per second and
the time left; and one line per validation with its loss.
"""

from __future__ import annotations

import datetime
import logging
import math
import time
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer

logger = logging.getLogger("dynaclr.numerics.progress")


def _duration(seconds: float) -> str:
    return str(datetime.timedelta(seconds=round(max(seconds, 0.0))))


def _value(metrics: dict[str, Any], *names: str) -> float | None:
    for name in names:
        if name in metrics:
            return float(metrics[name])
    return None


class ProgressLog(Callback):
    """One log line per ``every_n_steps`` steps (or ``every_seconds``), and one per validation."""

    def __init__(self, every_n_steps: int, every_seconds: float = 60.0) -> None:
        self.every_n_steps = max(1, every_n_steps)
        self.every_seconds = every_seconds
        self._started = 0.0
        self._first_step = 0
        self._last_logged = 0.0

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._started = self._last_logged = time.perf_counter()
        self._first_step = trainer.global_step
        if trainer.is_global_zero:
            total = trainer.estimated_stepping_batches
            logger.info(
                "training: %d epochs, %s optimiser steps%s",
                trainer.max_epochs or 0,
                "?" if not math.isfinite(total) else int(total),
                f", resumed at step {trainer.global_step}" if trainer.global_step else "",
            )

    def line(self, trainer: Trainer, now: float) -> str:
        """The progress line at ``now`` (seconds of ``time.perf_counter``)."""
        step = trainer.global_step
        total = trainer.estimated_stepping_batches
        done = step - self._first_step
        rate = done / (now - self._started) if now > self._started else 0.0
        parts = [f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"]
        if math.isfinite(total) and total > 0:
            parts.append(f"step {step}/{int(total)} ({100 * step / total:.0f} %)")
        else:
            parts.append(f"step {step}")
        metrics = trainer.callback_metrics
        loss = _value(metrics, "train/loss_step", "train/loss", "train_loss_step", "train_loss")
        if loss is not None:
            parts.append(f"loss {loss:.4f}")
        if trainer.optimizers:
            parts.append(f"lr {trainer.optimizers[0].param_groups[0]['lr']:.2e}")
        parts.append(f"{rate:.2f} steps/s")
        if rate > 0 and math.isfinite(total):
            parts.append(f"ETA {_duration((total - step) / rate)}")
        return ", ".join(parts)

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not trainer.is_global_zero:
            return
        now = time.perf_counter()
        due = trainer.global_step % self.every_n_steps == 0 or now - self._last_logged >= self.every_seconds
        if due and trainer.global_step > self._first_step:
            self._last_logged = now
            logger.info("%s", self.line(trainer, now))

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        loss = _value(trainer.callback_metrics, "val/loss")
        if loss is not None:
            logger.info(
                "epoch %d/%s: validation loss %.4f (%s elapsed)",
                trainer.current_epoch + 1,
                trainer.max_epochs,
                loss,
                _duration(time.perf_counter() - self._started),
            )

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.is_global_zero:
            logger.info(
                "training ended at step %d after %s",
                trainer.global_step,
                _duration(time.perf_counter() - self._started),
            )
