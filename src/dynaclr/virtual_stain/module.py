"""Lightning training layer: the module (network + loss + optimiser) and a budgeted LR schedule."""

from __future__ import annotations

import math
import time
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from torch import nn

from dynaclr.config.virtual_stain import VirtualStainConfig, VirtualStainTrainConfig
from dynaclr.virtual_stain.data import SlabSample
from dynaclr.virtual_stain.network import build_network

__all__ = ["BudgetedCosineSchedule", "LossHistory", "VirtualStainModule", "learning_rate_factor"]


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

    def forward(self, phase: torch.Tensor) -> torch.Tensor:
        """``(B, D, Y, X)`` normalised phase slabs → ``(B, 1, Y, X)`` normalised fluorescence."""
        return self.network(phase)

    def training_step(self, batch: SlabSample, batch_idx: int) -> torch.Tensor:
        prediction = self(batch["phase"])  # (B, 1, P, P)
        loss = self.loss(prediction, batch["target"])
        self.log("train_loss", loss, on_step=True, prog_bar=True, batch_size=len(prediction))
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # the learning rate is set every step by BudgetedCosineSchedule
        return torch.optim.AdamW(
            self.network.parameters(),
            lr=self.train_config.learning_rate,
            weight_decay=self.train_config.weight_decay,
        )


def learning_rate_factor(step: int, progress: float, warmup_steps: int) -> float:
    """Multiplier of the peak learning rate: linear warm-up over ``warmup_steps``, then a cosine
    decay to 0 as ``progress`` (fraction of the training budget spent, 0 to 1) goes to 1."""
    warmup = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    return warmup * 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


class BudgetedCosineSchedule(Callback):
    """Cosine learning-rate schedule over whichever budget runs out first: steps or minutes.

    From step ``CALIBRATION_STEPS`` on, the mean time of the last ``TIMING_WINDOW`` steps gives
    the steps the rest of the ``max_minutes`` budget affords; the cosine then decays to 0 over
    ``planned_steps = min(max_steps, steps done + affordable steps)``, re-estimated every step,
    and training stops there or when the time is spent. While the step budget binds (fast
    enough machine), the schedule, and hence the weights, depend only on the seed.
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
        self.planned_steps = self.config.max_steps

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
            self.planned_steps = max(step + 1, min(self.config.max_steps, step + affordable))
        factor = learning_rate_factor(step, step / self.planned_steps, self.config.warmup_steps)
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = self.config.learning_rate * factor
        pl_module.log("learning_rate", self.config.learning_rate * factor, on_step=True, batch_size=1)

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
