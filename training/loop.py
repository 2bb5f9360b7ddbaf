"""One training run: augmented digits with their labels, plus outliers with a uniform target."""

from __future__ import annotations

import time
from dataclasses import dataclass
from dataclasses import field

import torch
import torch.nn.functional as F
from torch import nn

from training.augment import Augmentation
from training.augment import augment
from training.outliers import outliers


@dataclass(frozen=True)
class Schedule:
    """A fixed schedule: the last epoch's weights are kept, nothing is picked by a score."""

    epochs: int
    batch_size: int = 128
    max_lr: float = 6e-3
    weight_decay: float = 5e-4
    outliers_per_batch: int = 32
    outlier_weight: float = 0.5
    label_smoothing: float = 0.0
    distill_weight: float = 0.0  # share of the digit loss that matches a teacher's answers
    distill_temperature: float = 2.0
    augmentation: Augmentation = field(default_factory=Augmentation)

    def describe(self) -> str:
        """Return the optimiser and schedule as one line for the card."""
        return (
            f"AdamW (weight decay {self.weight_decay:g}), OneCycleLR (max lr {self.max_lr:g}, "
            f"cosine), {self.epochs} epochs of batches of {self.batch_size} digits + "
            f"{self.outliers_per_batch} outliers (outlier loss weight {self.outlier_weight:g})"
            + (f", label smoothing {self.label_smoothing:g}" if self.label_smoothing else "")
            + (f", {self.distill_weight:g} of the digit loss matching a teacher's answers at "
               f"temperature {self.distill_temperature:g}" if self.distill_weight else "")
        )


def uniform_loss(logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against the uniform distribution: zero gradient when all ten are equal."""
    return -F.log_softmax(logits, 1).mean()


def distill_loss(logits: torch.Tensor, teacher_logits: torch.Tensor,
                 temperature: float) -> torch.Tensor:
    """KL divergence from the teacher's softened answers, scaled by T^2 (Hinton et al.)."""
    return F.kl_div(F.log_softmax(logits / temperature, 1),
                    F.log_softmax(teacher_logits / temperature, 1),
                    reduction="batchmean", log_target=True) * temperature**2


def fit(
    net: nn.Module, images: torch.Tensor, labels: torch.Tensor, schedule: Schedule,
    generator: torch.Generator, name: str = "net", teacher: nn.Module | None = None,
) -> nn.Module:
    """Train `net` on `images` (N, 1, 28, 28) in [0, 1]; return it in eval mode.

    With a `teacher` (in eval mode) and a schedule's `distill_weight`, the student also matches
    the teacher's answers to the very same distorted digits ("consistent" distillation).
    """
    if schedule.distill_weight and teacher is None:
        raise ValueError("a distillation schedule needs a teacher")
    optimizer = torch.optim.AdamW(net.parameters(), lr=schedule.max_lr,
                                  weight_decay=schedule.weight_decay)
    steps = -(-len(labels) // schedule.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=schedule.max_lr, epochs=schedule.epochs, steps_per_epoch=steps)
    started = time.perf_counter()
    for epoch in range(1, schedule.epochs + 1):
        net.train()
        total, hits = 0.0, 0
        for idx in torch.split(torch.randperm(len(labels), generator=generator),
                               schedule.batch_size):
            digits = augment(images[idx], generator, schedule.augmentation)
            n_out = schedule.outliers_per_batch
            # Shuffled-pixel outliers borrow the ink of random training digits.
            ink = images[torch.randint(0, len(labels), (n_out,), generator=generator)]
            batch = torch.cat([digits, outliers(n_out, ink, generator)])
            logits = net(batch)
            loss = F.cross_entropy(logits[: len(idx)], labels[idx],
                                   label_smoothing=schedule.label_smoothing)
            if teacher is not None and schedule.distill_weight:
                with torch.no_grad():
                    taught = teacher(digits)
                loss = ((1 - schedule.distill_weight) * loss + schedule.distill_weight
                        * distill_loss(logits[: len(idx)], taught, schedule.distill_temperature))
            loss = loss + schedule.outlier_weight * uniform_loss(logits[len(idx):])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(idx)
            hits += int((logits[: len(idx)].argmax(1) == labels[idx]).sum())
        if epoch % 10 == 0 or epoch == schedule.epochs:
            print(f"{name}: epoch {epoch:3d}/{schedule.epochs}  loss {total / len(labels):.4f}  "
                  f"train acc (augmented) {hits / len(labels):.4f}  "
                  f"{time.perf_counter() - started:.0f}s", flush=True)
    return net.eval()
