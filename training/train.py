"""Train the CNN, then export model.onnx, fixtures and model card: `python -m training.train`."""

from __future__ import annotations

import datetime
import random
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from training import card
from training import fixtures
from training.augment import random_affine
from training.data import SEED
from training.data import load_split
from training.export import export_onnx
from training.net import ARCHITECTURE
from training.net import DigitNet
from training.net import count_parameters
from training.runtime import to_input

MODEL_PATH = fixtures.REPO_ROOT / "model.onnx"
THREADS = 2


@dataclass(frozen=True)
class Schedule:
    """A fixed schedule: the last epoch's weights ship, so nothing is selected on any data."""

    epochs: int = 40
    batch_size: int = 64
    max_lr: float = 1e-2
    weight_decay: float = 1e-2

    def describe(self) -> str:
        """Return the optimiser and schedule as one line for the card."""
        return (
            f"AdamW (weight decay {self.weight_decay:g}), OneCycleLR (max lr {self.max_lr:g}, "
            f"cosine anneal), {self.epochs} epochs, batch {self.batch_size}, cross-entropy"
        )


def seed_everything(seed: int = SEED) -> torch.Generator:
    """Seed python, numpy and torch, pin the thread count; return the augmentation generator."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(THREADS)
    return torch.Generator().manual_seed(seed)


def train(
    images: npt.NDArray[np.uint8], labels: npt.NDArray[np.int64], schedule: Schedule
) -> DigitNet:
    """Train a fresh DigitNet on augmented batches; return it in eval mode."""
    generator = seed_everything()
    x, y = torch.from_numpy(to_input(images)), torch.from_numpy(labels)
    net = DigitNet()
    optimizer = torch.optim.AdamW(
        net.parameters(), lr=schedule.max_lr, weight_decay=schedule.weight_decay
    )
    steps_per_epoch = -(-len(y) // schedule.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=schedule.max_lr, epochs=schedule.epochs, steps_per_epoch=steps_per_epoch
    )
    for epoch in range(1, schedule.epochs + 1):
        net.train()
        started, total_loss, hits = time.perf_counter(), 0.0, 0
        for idx in torch.split(torch.randperm(len(y), generator=generator), schedule.batch_size):
            logits = net(random_affine(x[idx], generator))
            loss = F.cross_entropy(logits, y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss += loss.item() * len(idx)
            hits += int((logits.argmax(1) == y[idx]).sum())
        print(
            f"epoch {epoch:3d}/{schedule.epochs}  loss {total_loss / len(y):.4f}  "
            f"train acc {hits / len(y):.4f}  lr {scheduler.get_last_lr()[0]:.2e}  "
            f"{time.perf_counter() - started:.1f}s",
            flush=True,
        )
    return net.eval()


def main() -> None:
    """Retrain everything from the fixed split and write every artefact."""
    schedule = Schedule()
    split = load_split()
    print(f"data: {split.describe()}")
    started = time.perf_counter()
    net = train(split.train_images, split.train_labels, schedule)
    train_seconds = time.perf_counter() - started

    metadata = {
        "name": "digitserve-mnist-cnn",
        "version": "1.0.0",
        "heldout_size": str(len(split.heldout_labels)),
        "train_size": str(len(split.train_labels)),
        "training_data": split.describe(),
        "parameters": str(count_parameters(net)),
        "architecture": ARCHITECTURE,
        "trained_at": datetime.date.today().isoformat(),
    }
    report = export_onnx(net, MODEL_PATH, split.heldout_images, split.heldout_labels, metadata)
    examples = fixtures.main(MODEL_PATH)
    card.write_card(net, split, schedule.describe(), report, examples, train_seconds)
    print(
        f"held-out accuracy (onnxruntime) {report.accuracy:.4f}; opset {report.opset}; "
        f"{report.size_bytes} bytes; sha256 {report.sha256}; training {train_seconds:.0f}s"
    )


if __name__ == "__main__":
    main()
