"""The contrastive LightningModule: encoder + loss, augmentations on the device or in the workers.

Batches arrive either already augmented by the data-loader workers (``augment_in: workers``, the
default on CPU; see :class:`~dynaclr.training.data.PatchDataset`) or at the stored (initial) patch
size: then :meth:`ContrastiveModule.on_after_batch_transfer` augments anchors, positives and
negatives independently, as whole batches on the device the model is on (the default on GPU), and
centre-crops them to the network input size. Either way a batch's augmentations draw from a
generator seeded by its :attr:`~dynaclr.training.sampling.PlannedBatch.augment_seed` (from the
seed, epoch, batch and rank), so on CPU the placement does not change the result; validation
batches get the same seeds every epoch, so the validation loss is comparable across epochs.

Losses (paper section 3.2): NT-Xent on ``(z_anchor, z_positive)`` projections, negatives being the
other samples of the (DDP-gathered) batch; or the triplet margin loss on
``(z_anchor, z_positive, z_negative)``.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import LightningModule
from torch import nn

from dynaclr.config.training import ContrastiveModelConfig
from dynaclr.contrastive.augment import BatchAugmentation, center_crop
from dynaclr.contrastive.encoder import ContrastiveEncoder
from dynaclr.contrastive.losses import NTXentLoss, TripletLoss
from dynaclr.training.data import PatchBatch, augment_batch, augmentation_generator

_VALIDATION_STREAM = 7919


def warmup_cosine_schedule(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """Linear warm-up then cosine decay to 0, stepped once per optimiser step.

    Step ``s`` uses the peak learning rate times ``(s + 1) / W`` while ``s < W`` (``W =
    warmup_steps``: :class:`~torch.optim.lr_scheduler.LinearLR` from ``1 / W`` to 1), then
    ``(1 + cos(π (s - W) / max(1, T - W))) / 2`` (``T = total_steps``:
    :class:`~torch.optim.lr_scheduler.CosineAnnealingLR`), then 0 from step ``W + max(1, T - W)``
    on (a cosine would rise again), joined by :class:`~torch.optim.lr_scheduler.SequentialLR`.
    ``W = 0`` starts the cosine at once.
    """
    decay_steps = max(1, total_steps - warmup_steps)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=decay_steps, eta_min=0.0)
    finished = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 0.0)
    if warmup_steps == 0:
        return torch.optim.lr_scheduler.SequentialLR(optimizer, [cosine, finished], milestones=[decay_steps])
    warmup = torch.optim.lr_scheduler.LinearLR(
        optimizer, start_factor=1.0 / warmup_steps, end_factor=1.0, total_iters=max(1, warmup_steps - 1)
    )
    return torch.optim.lr_scheduler.SequentialLR(
        optimizer, [warmup, cosine, finished], milestones=[warmup_steps, warmup_steps + decay_steps]
    )


class NonFiniteLossWatch:
    """The first NaN or infinite loss of a stage (``"training"`` or ``"validation"``), its step,
    the first :data:`ROWS` anchor rows of its batch and the non-finite voxels of its patches, kept
    on the loss's device: :meth:`update` runs every step without a host-device sync (a ``bool`` of
    the loss every step stalled a GPU), :meth:`check` reads it (one sync) and, through the
    strategy's vote, makes every DDP rank raise together.

    Unchecked, Lightning would go on, the weights would turn NaN, ``model.ckpt`` would be exported
    with exit 0 and every embedding made with it would be NaN.
    """

    ROWS = 8

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.state: torch.Tensor | None = None
        """int64 ``(3 + ROWS,)``: step (-1: none yet), non-finite voxels, batch size, anchor rows."""
        self.loss: torch.Tensor | None = None

    def update(self, loss: torch.Tensor, batch: PatchBatch, step: int) -> None:
        """Record this step's loss if it is the stage's first non-finite one (device-side only)."""
        loss = loss.detach().float()
        device = loss.device
        views = [batch.anchor, batch.positive] + ([batch.negative] if batch.negative is not None else [])
        n_bad = torch.stack([(~torch.isfinite(view)).sum() for view in views]).sum().to(device)
        rows = batch.anchor_row[: self.ROWS].to(device=device, dtype=torch.int64)
        header = torch.stack(
            [
                torch.full((), step, dtype=torch.int64, device=device),
                n_bad.to(torch.int64),
                torch.full((), len(batch.anchor_row), dtype=torch.int64, device=device),
            ]
        )
        current = torch.cat([header, nn.functional.pad(rows, (0, self.ROWS - rows.numel()), value=-1)])
        if self.state is None or self.loss is None:
            self.state = torch.full_like(current, -1)
            self.loss = torch.zeros_like(loss)
        first = ~torch.isfinite(loss) & (self.state[0] < 0)
        self.state = torch.where(first, current, self.state)
        self.loss = torch.where(first, loss, self.loss)

    def check(self, strategy: Any) -> None:
        """Raise :class:`FloatingPointError` on every rank when any rank saw a non-finite loss,
        naming the step, the batch's store rows and whether its patches were finite."""
        seen = self.state is not None and int(self.state[0]) >= 0
        if not strategy.reduce_boolean_decision(seen, all=False):
            return
        if self.state is None or self.loss is None or not seen:
            raise FloatingPointError(
                f"{self.stage} loss is not finite on another process of this run (its log names the "
                "step, rows and cause); expected a finite loss"
            )
        step, n_bad, n_rows, *rows = (int(v) for v in self.state.cpu())
        cause = (
            f"its patches hold {n_bad} NaN or infinite voxel(s): rebuild the patch store"
            if n_bad
            else "its patches are finite, so training diverged: lower training.learning_rate or raise "
            "training.warmup_epochs"
        )
        shown = rows[: min(n_rows, self.ROWS)]
        raise FloatingPointError(
            f"{self.stage} loss is {float(self.loss)} at step {step} (batch of anchor rows {shown}"
            f"{' ...' if n_rows > self.ROWS else ''} in the patch store); expected a finite loss: {cause}"
        )


class ContrastiveModule(LightningModule):
    """Contrastive training of a :class:`~dynaclr.contrastive.ContrastiveEncoder`.

    Args:
        config: a :class:`~dynaclr.config.training.ContrastiveModelConfig` as a JSON dict (saved as
            hyperparameters, so ``load_from_checkpoint`` rebuilds the network).
        in_channels: patch channels ``C``.
        in_stack_depth: patch slices ``Z``.
        patch_size_yx_px: network input size ``S`` (after the centre crop).
        tau_frames: resolved time offset of time-aware positives (recorded only): frames, or, when
            pooled datasets (stores of other time intervals) resolve ``tau_minutes`` to different
            frame counts, ``{dataset: frames}``.
        input_normalisation: ``stem: backbone``: the input normalisation a checkpoint recorded
            (:meth:`~dynaclr.contrastive.ContrastiveEncoder.input_normalisation`); ``None``: the one
            timm gives the backbone name. Recorded in the hyperparameters (every ``last.ckpt`` and
            ``model.ckpt``) as the encoder resolved it, so reading the checkpoint again does not
            depend on timm's tags.
    """

    def __init__(
        self,
        config: dict[str, Any],
        in_channels: int,
        in_stack_depth: int,
        patch_size_yx_px: int,
        tau_frames: int | dict[str, int],
        input_normalisation: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config = ContrastiveModelConfig.model_validate(config)
        cfg = self.config
        self.patch_size_yx_px = patch_size_yx_px
        self.encoder = ContrastiveEncoder(
            in_channels=in_channels,
            in_stack_depth=in_stack_depth,
            input_normalisation=input_normalisation,
            **cfg.encoder_arguments(),
        )
        self.hparams["input_normalisation"] = self.encoder.input_normalisation()
        self.loss: nn.Module = (
            NTXentLoss(temperature=cfg.temperature)
            if cfg.loss == "ntxent"
            else TripletLoss(margin=cfg.margin)
        )
        self.augment = BatchAugmentation(
            cfg.augmentation, output_size_yx=(patch_size_yx_px, patch_size_yx_px)
        )
        self._generators: dict[str, torch.Generator] = {}
        self._training_losses = NonFiniteLossWatch("training")
        self._validation_losses = NonFiniteLossWatch("validation")
        #: optimiser steps the learning-rate schedule spans (``epochs`` of batches), once training set it up
        self.planned_steps: int | None = None
        #: the step milestones of this run's learning-rate schedule (the last: ``planned_steps``)
        self.schedule_milestones: list[int] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(B, E)`` of centre-cropped patches ``(B, C, Z, S, S)``."""
        features, _ = self.encoder(x)
        return features

    def _generator(self, stage: str, reseed: bool = False) -> torch.Generator:
        """Per-stage generator for batches without an ``augment_seed`` (not from a planned sampler)."""
        if stage not in self._generators or reseed:
            stream = 0 if stage == "train" else _VALIDATION_STREAM
            rank = self.global_rank if stage == "train" else 0
            generator = torch.Generator(device=self.device)
            generator.manual_seed(self.config.seed * 1_000_003 + stream + rank)
            self._generators[stage] = generator
        return self._generators[stage]

    def on_validation_epoch_start(self) -> None:
        """Reseed the validation augmentations; a non-finite training loss is named first (its
        weights would make the validation loss NaN too)."""
        self._generator("validation", reseed=True)
        self._training_losses.check(self.trainer.strategy)

    def on_after_batch_transfer(self, batch: PatchBatch, dataloader_idx: int) -> PatchBatch:
        """Augment and centre-crop the batch's patches on the training device (unless done already)."""
        if not isinstance(batch, PatchBatch) or batch.augmented:
            return batch
        if self.trainer is not None and (
            self.trainer.training or self.trainer.validating or self.trainer.sanity_checking
        ):
            generator = augmentation_generator(batch.augment_seed, self.device)
            if generator is None:
                generator = self._generator("train" if self.trainer.training else "validation")
            batch = augment_batch(batch, self.augment, generator)
        else:  # inference: centre crop only
            batch.anchor = center_crop(batch.anchor, self.patch_size_yx_px)
            batch.positive = center_crop(batch.positive, self.patch_size_yx_px)
            if batch.negative is not None:
                batch.negative = center_crop(batch.negative, self.patch_size_yx_px)
        return batch

    def _loss(self, batch: PatchBatch) -> torch.Tensor:
        views = [batch.anchor, batch.positive] + ([batch.negative] if batch.negative is not None else [])
        _, projections = self.encoder(torch.cat(views))  # (V*B, P), one pass so BatchNorm sees all views
        parts = projections.chunk(len(views))  # V x (B, P)
        if isinstance(self.loss, TripletLoss):
            if len(parts) != 3:
                raise ValueError("the triplet loss needs batches with negatives (loss: triplet plans them)")
            return self.loss(parts[0], parts[1], parts[2])
        return self.loss(parts[0], parts[1])

    def training_step(self, batch: PatchBatch, batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self._training_losses.update(loss, batch, self.global_step)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(batch))
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Check the losses at the logging cadence (``log_every_n_steps``, the steps whose loss
        Lightning reads anyway), not every step."""
        if self.global_step % self.config.log_every_n_steps == 0:
            self._training_losses.check(self.trainer.strategy)

    def on_train_epoch_end(self) -> None:
        self._training_losses.check(self.trainer.strategy)

    def on_train_end(self) -> None:
        """The steps after the last check, before the model is exported."""
        self._training_losses.check(self.trainer.strategy)

    def on_validation_epoch_end(self) -> None:
        """A NaN validation loss (its patches hold NaN, or NaN weights) stops training too."""
        self._validation_losses.check(self.trainer.strategy)

    def validation_step(self, batch: PatchBatch, batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self._validation_losses.update(loss, batch, self.global_step)
        self.log("val/loss", loss, on_epoch=True, prog_bar=True, sync_dist=True, batch_size=len(batch))
        return loss

    def configure_optimizers(self) -> Any:
        cfg = self.config
        optimizer = torch.optim.AdamW(self.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        total_steps = max(1, int(self.trainer.estimated_stepping_batches))
        self.planned_steps = total_steps
        steps_per_epoch = max(1, total_steps // max(1, self.trainer.max_epochs or 1))
        warmup_steps = max(1, round(cfg.warmup_epochs * steps_per_epoch)) if cfg.warmup_epochs > 0 else 0
        schedule = warmup_cosine_schedule(optimizer, warmup_steps, total_steps)
        # this run's plan (a resumed checkpoint's scheduler state replaces the schedule's after this):
        # the data module compares them (another plan: saved with epochs of other batch counts)
        self.schedule_milestones = [int(m) for m in getattr(schedule, "_milestones", [])]
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
