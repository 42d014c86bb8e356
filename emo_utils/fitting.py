"""One model's training: its settings (:class:`TrainConfig`), its input standardisation and its loop, epoch by
epoch: mini-batches of the fit rows, early stopping on the validation rows,
the best epoch's weights kept.

:func:`train_epochs` is a generator that yields one :class:`EpochReport` per epoch; both
:func:`emo_utils.train.fit_model` (every branch's folds) and :func:`emo_utils.watch.watch_training` (the notebooks'
visible training) run it, so what a notebook shows is what the workflow does. Its inputs are tensors already
standardised, moved once to where the model is: an epoch only indexes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

VALIDATION_CHUNK = 256  # clips per forward pass when scoring the validation rows (bounds the memory of big inputs)


@dataclass
class TrainConfig:
    """Settings of one branch's training (saved with every checkpoint)."""

    model: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 40
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 8
    val_actors_per_gender: int = 1
    standardize: bool = True
    label_smoothing: float = 0.0
    speaker_norm: str = "none"  # see emo_utils.speaker_norm: none | enrol:K | all
    seed: int = 0


@dataclass
class Standardizer:
    """Per-feature mean/std over the last axis, fitted on training rows only.

    In sequences (N, T, F), all-zero frames are padding: they are left out of the fit and stay zero.
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, enabled: bool = True) -> Standardizer:
        if not enabled:
            return cls(np.zeros(1, np.float32), np.ones(1, np.float32))
        flat = X.reshape(-1, X.shape[-1])
        if X.ndim >= 3:
            flat = flat[np.abs(flat).sum(axis=1) > 0]
        flat = flat.astype(np.float64)
        return cls(flat.mean(0).astype(np.float32), (flat.std(0) + 1e-6).astype(np.float32))

    def __call__(self, X: np.ndarray) -> torch.Tensor:
        out = (X.astype(np.float32) - self.mean) / self.std
        if X.ndim >= 3 and self.mean.size > 1:
            out[np.abs(X).sum(axis=-1) == 0] = 0.0
        return torch.from_numpy(out)


@dataclass(frozen=True)
class EpochReport:
    """What one epoch did. ``best``: its validation loss is the lowest so far (these weights are kept);
    ``stop``: training ends after it, by early stopping (``early_stop``: ``patience`` epochs without a better
    validation loss) or because it is the last epoch allowed."""

    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    best: bool
    stop: bool
    early_stop: bool

    def curve_row(self) -> dict[str, float]:
        """The learning-curve row of this epoch (``history.csv``)."""
        return {
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            "val_loss": self.val_loss,
            "val_accuracy": self.val_accuracy,
        }


def batches(n: int, batch_size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Row positions ``0..n-1`` in mini-batches of ``batch_size`` (shuffled by ``rng``; in order without it)."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def validation_score(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Negative log-likelihood and accuracy of ``model`` (evaluation mode) on standardised rows ``X``."""
    model.eval()
    with torch.no_grad():
        proba = torch.cat(
            [torch.softmax(model(X[i : i + VALIDATION_CHUNK]), dim=1) for i in range(0, len(X), VALIDATION_CHUNK)]
        )
    loss = float(nn.functional.nll_loss(torch.log(proba + 1e-9), y))
    return loss, float((proba.argmax(1) == y).float().mean())


def _epoch_inputs(X: torch.Tensor, X_aug: torch.Tensor | None, rng: np.random.Generator) -> torch.Tensor:
    """This epoch's version of every fit row: itself, or one of its K augmented copies (drawn uniformly)."""
    if X_aug is None:
        return X
    view = torch.from_numpy(rng.integers(0, 1 + X_aug.shape[1], len(X))).to(X.device)
    augmented = torch.nonzero(view > 0).squeeze(1)
    out = X.clone()
    out[augmented] = X_aug[augmented, view[augmented] - 1]
    return out


def train_epochs(
    model: nn.Module,
    X_fit: torch.Tensor,
    y_fit: torch.Tensor,
    X_val: torch.Tensor,
    y_val: torch.Tensor,
    config: TrainConfig,
    rng: np.random.Generator,
    X_fit_aug: torch.Tensor | None = None,
) -> Iterator[EpochReport]:
    """Train ``model`` with AdamW and cross-entropy on mini-batches of ``(X_fit, y_fit)`` (shuffled by ``rng``), one
    :class:`EpochReport` per epoch; at most ``config.epochs`` epochs, stopping after ``config.patience`` epochs
    without a lower loss on ``(X_val, y_val)``. When the generator ends (or is closed early), the model holds the
    weights of its best epoch, in evaluation mode.

    With ``X_fit_aug`` (N, K, ...), every epoch shows each fit row once, as itself or one of its K augmented
    versions drawn at random. The tensors are standardised already and on the model's device.
    """
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    best_loss, since_best = np.inf, 0
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    try:
        for epoch in range(1, config.epochs + 1):
            model.train()
            inputs = _epoch_inputs(X_fit, X_fit_aug, rng)
            total = torch.zeros((), device=X_fit.device)
            for rows in batches(len(X_fit), config.batch_size, rng):
                if len(rows) < 2:  # BatchNorm needs two samples
                    continue
                index = torch.from_numpy(rows).to(X_fit.device)
                optimiser.zero_grad()
                loss = loss_fn(model(inputs[index]), y_fit[index])
                loss.backward()
                optimiser.step()
                total += loss.detach() * len(rows)
            val_loss, val_accuracy = validation_score(model, X_val, y_val)
            best = val_loss < best_loss - 1e-4
            if best:
                best_loss, since_best = val_loss, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                since_best += 1
            early_stop = since_best >= config.patience
            stop = early_stop or epoch == config.epochs
            train_loss = float(total) / max(1, len(X_fit))
            yield EpochReport(epoch, train_loss, val_loss, val_accuracy, best, stop, early_stop)
            if stop:
                break
    finally:
        model.load_state_dict(best_state)
        model.eval()
