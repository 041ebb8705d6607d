"""Lightning training layer: the module (network + loss + optimiser + learning-rate schedule) and
the time budget that ends training and sets the schedule's horizon."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from torch import nn

from dynaclr.config.virtual_stain import VirtualStainConfig, VirtualStainTrainConfig
from dynaclr.virtual_stain.data import SlabSample
from dynaclr.virtual_stain.network import build_network

__all__ = [
    "LossHistory",
    "TrainingBudget",
    "VirtualStainModule",
    "budgeted_cosine_schedule",
    "learning_rate_factor",
]


class VirtualStainModule(LightningModule):
    """Trains :class:`~dynaclr.virtual_stain.network.VirtualStainUNet` with a mean squared error.

    Args:
        config: ``VirtualStainConfig.model_dump(mode="json")`` (saved as the hyperparameters);
            its ``train`` section must be set.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.save_hyperparameters({"config": config})
        self.config = VirtualStainConfig.model_validate(config)
        if self.config.train is None:
            raise ValueError("VirtualStainModule needs a config with a 'train' section")
        self.train_config: VirtualStainTrainConfig = self.config.train
        self.network = build_network(self.config)
        self.loss = nn.MSELoss()
        #: Steps the cosine decays over; :class:`TrainingBudget` shortens it when time binds.
        self.planned_steps = self.train_config.max_steps

    def forward(self, phase: torch.Tensor) -> torch.Tensor:
        """``(B, D, Y, X)`` normalised phase slabs → ``(B, 1, Y, X)`` normalised fluorescence."""
        return self.network(phase)

    def training_step(self, batch: SlabSample, batch_idx: int) -> torch.Tensor:
        prediction = self(batch["phase"])  # (B, 1, P, P)
        loss = self.loss(prediction, batch["target"])
        self.log("train_loss", loss, on_step=True, prog_bar=True, batch_size=len(prediction))
        return loss

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.AdamW(
            self.network.parameters(),
            lr=self.train_config.learning_rate,
            weight_decay=self.train_config.weight_decay,
        )
        schedule = budgeted_cosine_schedule(
            optimizer, self.train_config.warmup_steps, lambda: self.planned_steps
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def learning_rate_factor(step: int, progress: float, warmup_steps: int) -> float:
    """Multiplier of the peak learning rate: linear warm-up over ``warmup_steps``, then a cosine
    decay to 0 as ``progress`` (fraction of the training budget spent, 0 to 1) goes to 1."""
    warmup = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    return warmup * 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


def budgeted_cosine_schedule(
    optimizer: torch.optim.Optimizer, warmup_steps: int, planned_steps: Callable[[], int]
) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate of step ``s``: the peak times :func:`learning_rate_factor` ``(s, s / P, W)``.

    A warm-up ramp multiplies a cosine over ``P = planned_steps()``, read again at every step
    (:class:`TrainingBudget` shortens it when the time budget binds). A
    :class:`~torch.optim.lr_scheduler.LambdaLR`, stepped once per optimiser step:
    ``CosineAnnealingLR`` cannot follow a horizon that changes during training.
    """
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: learning_rate_factor(step, step / planned_steps(), warmup_steps)
    )


class TrainingBudget(Callback):
    """Ends training at whichever budget runs out first, steps or minutes, and sets the module's
    cosine horizon ``planned_steps`` accordingly.

    From step ``CALIBRATION_STEPS`` on, the mean time of the last ``TIMING_WINDOW`` steps gives
    the steps the rest of the ``max_minutes`` budget affords; ``planned_steps = min(max_steps,
    steps done + affordable steps)`` is re-estimated at the start of every step (the schedule
    reads it after that step, for the next one), and training stops there or when the time is
    spent. While the step budget binds (fast enough machine), the schedule, and hence the
    weights, depend only on the seed.
    """

    CALIBRATION_STEPS = 5
    TIMING_WINDOW = 20

    def __init__(self, config: VirtualStainTrainConfig) -> None:
        self.config = config
        self.budget_seconds = 60.0 * config.max_minutes
        self.start = 0.0
        self.step_starts: list[float] = []
        self.planned_steps = config.max_steps
        self.stopped_by_time = False

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.start = time.perf_counter()
        self.step_starts = []
        self._plan(pl_module, self.config.max_steps)

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        now = time.perf_counter()
        self.step_starts.append(now)
        step = trainer.global_step
        if step >= self.CALIBRATION_STEPS:
            window = self.step_starts[-self.TIMING_WINDOW - 1 :]
            seconds_per_step = (window[-1] - window[0]) / (len(window) - 1)
            affordable = int((self.budget_seconds - (now - self.start)) / max(seconds_per_step, 1e-9))
            self._plan(pl_module, max(step + 1, min(self.config.max_steps, step + affordable)))
        learning_rate = trainer.optimizers[0].param_groups[0]["lr"]
        pl_module.log("learning_rate", learning_rate, on_step=True, batch_size=1)

    def _plan(self, pl_module: LightningModule, planned_steps: int) -> None:
        self.planned_steps = planned_steps
        if isinstance(pl_module, VirtualStainModule):
            pl_module.planned_steps = planned_steps

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        out_of_time = time.perf_counter() - self.start >= self.budget_seconds
        if out_of_time or trainer.global_step >= self.planned_steps:
            trainer.should_stop = True
            self.stopped_by_time = trainer.global_step < self.config.max_steps


class LossHistory(Callback):
    """Records the training loss of every step (``losses``, a list of floats)."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.losses.append(float(loss.detach().cpu()))
