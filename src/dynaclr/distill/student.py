"""The phase-only student: a ContrastiveEncoder with a linear head, fine-tuned on pseudo-labels.

Plain PyTorch (no Lightning): one short loop with a step budget. Reproducibility: the initial
weights come from ``torch.manual_seed(seed)``; the batches are a permutation of the training cells
per pass drawn from ``numpy.random.default_rng(seed)``, so the same seed gives the same weights on
the CPU whatever the machine's speed.

Early stopping without peeking at the test set: given a scorer of validation cells (cells the
student never trains on), :func:`train_student` scores the student every ``validation_every`` steps
and at the last, keeps a CPU copy of the weights at the best score (the earliest on a tie) and
restores them at the end. The model is put back in train mode after each score; a scorer that
draws no random number (as :func:`encode_rows`, eval mode under ``torch.inference_mode``) leaves
the training run unchanged, so the weights kept at step ``k`` are those of a run of exactly ``k``
steps with the same seed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional
from tqdm import tqdm

from dynaclr.contrastive.encoder import ContrastiveEncoder
from dynaclr.numerics.crop import center_crop

logger = logging.getLogger(__name__)

#: Reads patches ``(n, C, Z, Y, X)`` of the given rows (distinct, any order) of a patch store.
PatchReader = Callable[[np.ndarray], np.ndarray]


class StudentClassifier(nn.Module):
    """``(B, C, Z, Y, X)`` → ``(B, 2)`` logits: encoder features ``(B, E)`` → ``Linear(E, 2)``.

    The encoder is a :class:`ContrastiveEncoder` without a projection head (``projection_dim=0``,
    its projections are its pooled features).
    """

    def __init__(self, encoder: ContrastiveEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.embedding_dim, 2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, E)`` pooled backbone features."""
        return self.encoder(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, 2)


def build_student(
    backbone: str, in_channels: int, in_stack_depth: int, stem_kernel_z: int, seed: int
) -> StudentClassifier:
    """A student with seeded random initial weights (no download: timm ``pretrained=False``)."""
    torch.manual_seed(seed)
    encoder = ContrastiveEncoder(
        backbone=backbone,
        in_channels=in_channels,
        in_stack_depth=in_stack_depth,
        stem_kernel_z=stem_kernel_z,
        projection_dim=0,
    )
    return StudentClassifier(encoder)


def student_from_encoder(encoder: ContrastiveEncoder, seed: int) -> StudentClassifier:
    """A student that starts from a trained encoder (a phase-only contrastive model); its head is seeded."""
    torch.manual_seed(seed)
    return StudentClassifier(encoder)


#: Scores a student on validation cells, higher is better (e.g. F1); called between steps.
StudentScorer = Callable[["StudentClassifier"], float]


@dataclass(frozen=True)
class StudentTraining:
    """What :func:`train_student` did.

    Attributes:
        losses: ``(max_steps,)`` training cross-entropy of every step.
        validation_steps: steps (1-based counts) after which the student was scored; empty without
            a scorer.
        validation_scores: the score after each of ``validation_steps``.
        chosen_step: the step whose weights the student holds at the end: the first step of the best
            validation score, or ``max_steps`` without a scorer (or when no score is finite).
    """

    losses: list[float]
    validation_steps: tuple[int, ...]
    validation_scores: tuple[float, ...]
    chosen_step: int


def _batch(read: PatchReader, rows: np.ndarray, crop_yx: int, device: torch.device) -> torch.Tensor:
    patches = center_crop(np.asarray(read(rows), dtype=np.float32), crop_yx)
    return torch.from_numpy(np.ascontiguousarray(patches)).to(device)


def train_student(
    student: StudentClassifier,
    read: PatchReader,
    rows: np.ndarray,
    targets: np.ndarray,
    *,
    crop_yx: int,
    max_steps: int,
    batch_size: int,
    learning_rate: float,
    weight_decay: float,
    balance_classes: bool,
    seed: int,
    device: torch.device,
    validate: StudentScorer | None = None,
    validation_every: int = 20,
) -> StudentTraining:
    """Fine-tune ``student`` end to end with cross-entropy on ``targets`` (module docstring).

    Args:
        read: reads patches of store rows.
        rows: ``(N,)`` store rows of the training cells.
        targets: ``(N,)`` int class (hard pseudo-labels) or ``(N, 2)`` float probabilities (soft).
        crop_yx: centre crop (pixels) of every patch.
        balance_classes: weight each class by ``N / (2 * count)`` of its (hard or expected) count.
        validate: scores the student on validation cells; ``None``: train ``max_steps`` steps and
            keep the last weights.
        validation_every: steps between scores (the last step is always scored).

    Returns:
        The losses, the validation curve and the step whose weights ``student`` now holds.

    Raises:
        ValueError: fewer training cells than ``batch_size`` or a single pseudo-label class.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) < batch_size:
        raise ValueError(f"{len(rows)} training cells, fewer than batch_size={batch_size}; lower batch_size")
    soft = np.asarray(targets).ndim == 2
    target_tensor = torch.as_tensor(np.asarray(targets), dtype=torch.float32 if soft else torch.long)
    counts = target_tensor.sum(0) if soft else torch.bincount(target_tensor, minlength=2).float()
    if (counts <= 0).any():
        raise ValueError(f"pseudo-labels hold one class only (counts {counts.tolist()}); nothing to learn")
    weight = (len(rows) / (2 * counts)).to(device) if balance_classes else None
    student.to(device).train()
    optimiser = torch.optim.AdamW(student.parameters(), lr=learning_rate, weight_decay=weight_decay)
    rng = np.random.default_rng(seed)
    steps_per_pass = len(rows) // batch_size
    order = np.zeros(0, dtype=np.int64)
    losses: list[float] = []
    validation_steps: list[int] = []
    validation_scores: list[float] = []
    best_score, best_state, chosen_step = -math.inf, None, max_steps
    for step in tqdm(range(max_steps), desc="student", unit="step", mininterval=5.0):
        if step % steps_per_pass == 0:
            order = rng.permutation(len(rows))
        chosen = order[(step % steps_per_pass) * batch_size : (step % steps_per_pass + 1) * batch_size]
        x = _batch(read, rows[chosen], crop_yx, device)  # (B, C, Z, h, w)
        logits = student(x)  # (B, 2)
        loss = functional.cross_entropy(logits, target_tensor[chosen].to(device), weight=weight)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
        if (step + 1) % max(1, max_steps // 5) == 0:
            logger.info("student step %d/%d: cross-entropy %.4f", step + 1, max_steps, losses[-1])
        if validate is not None and ((step + 1) % validation_every == 0 or step + 1 == max_steps):
            score = float(validate(student))
            student.train()
            validation_steps.append(step + 1)
            validation_scores.append(score)
            logger.info("student step %d/%d: validation score %.4f", step + 1, max_steps, score)
            if score > best_score:  # strict: the earliest step of a tie; NaN never wins
                best_score, chosen_step = score, step + 1
                best_state = {
                    name: value.detach().to("cpu", copy=True) for name, value in student.state_dict().items()
                }
    if best_state is not None:
        student.load_state_dict(best_state)
        logger.info("Student keeps the weights of step %d (validation score %.4f)", chosen_step, best_score)
    elif validate is not None:
        logger.warning("No finite validation score; the student keeps the weights of the last step")
    return StudentTraining(losses, tuple(validation_steps), tuple(validation_scores), chosen_step)


def encode_rows(
    student: StudentClassifier,
    read: PatchReader,
    rows: np.ndarray,
    *,
    crop_yx: int,
    batch_size: int,
    device: torch.device,
) -> tuple[np.ndarray, np.ndarray]:
    """Eval-mode ``(N, E)`` features and ``(N,)`` positive-class probability of the store ``rows``."""
    rows = np.asarray(rows, dtype=np.int64)
    student.to(device).eval()
    features, probability = [], []
    n_batches = math.ceil(len(rows) / batch_size)
    with torch.inference_mode():
        for k in tqdm(range(n_batches), desc="encode", unit="batch", mininterval=5.0):
            x = _batch(read, rows[k * batch_size : (k + 1) * batch_size], crop_yx, device)
            pooled = student.features(x)  # (b, E)
            features.append(pooled.float().cpu().numpy())
            probability.append(torch.softmax(student.head(pooled), dim=1)[:, 1].float().cpu().numpy())
    if not features:
        return np.zeros((0, student.encoder.embedding_dim), np.float32), np.zeros(0, np.float32)
    return np.concatenate(features), np.concatenate(probability)
