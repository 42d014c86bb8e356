"""Training you can watch: one model trained epoch by epoch in the open, with early stopping visible.

:func:`watch_training` is a generator: it trains one epoch, yields an :class:`EpochReport` (train and validation
loss, validation accuracy, whether this epoch is the best so far, whether early stopping ends training), and
waits for the caller to ask for the next one. A notebook can print each report and redraw the curves as they
grow (:class:`LiveLossPlot`). The steps are those of :func:`emo_utils.train.fit_model`, which every branch
trains with (AdamW, cross-entropy, mini-batches, early stopping on the validation loss with ``patience``); when
the generator ends, the model holds the weights of the best epoch.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from emo_utils.train import Standardizer, TrainConfig, predict_proba


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


def count_parameters(model: nn.Module) -> int:
    """The number of trainable parameters (weights and biases) of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def watch_training(
    model: nn.Module,
    X_fit: np.ndarray,
    y_fit: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    config: TrainConfig,
) -> Iterator[EpochReport]:
    """Train ``model`` on ``(X_fit, y_fit)``, one :class:`EpochReport` per epoch; early stopping on ``(X_val, y_val)``.

    Inputs are standardised with statistics of ``X_fit`` only. At most ``config.epochs`` epochs; training stops
    after ``config.patience`` epochs without a lower validation loss, and the model is left with the weights of
    its best epoch (also when the caller stops early).
    """
    torch.set_num_threads(1)  # a small model trains fastest on one thread (as the workflow's folds do)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    scaler = Standardizer.fit(X_fit, config.standardize)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    y_val_t = torch.from_numpy(np.asarray(y_val, dtype=np.int64))
    best_loss, best_state, since_best = np.inf, copy.deepcopy(model.state_dict()), 0
    try:
        for epoch in range(1, config.epochs + 1):
            model.train()
            total, seen = 0.0, 0
            for rows in np.array_split(rng.permutation(len(X_fit)), max(1, len(X_fit) // config.batch_size)):
                if len(rows) < 2:  # BatchNorm needs two samples
                    continue
                optimiser.zero_grad()
                loss = loss_fn(model(scaler(X_fit[rows])), torch.from_numpy(np.asarray(y_fit[rows], dtype=np.int64)))
                loss.backward()
                optimiser.step()
                total, seen = total + loss.item() * len(rows), seen + len(rows)
            proba = predict_proba(model, X_val, scaler, config.batch_size)
            val_loss = float(nn.functional.nll_loss(torch.log(torch.from_numpy(proba) + 1e-9), y_val_t))
            best = val_loss < best_loss - 1e-4
            if best:
                best_loss, best_state, since_best = val_loss, copy.deepcopy(model.state_dict()), 0
            else:
                since_best += 1
            early_stop = since_best >= config.patience
            stop = early_stop or epoch == config.epochs
            accuracy = float((proba.argmax(1) == np.asarray(y_val)).mean())
            yield EpochReport(epoch, total / max(1, seen), val_loss, accuracy, best, stop, early_stop)
            if stop:
                break
    finally:
        model.load_state_dict(best_state)
        model.eval()


class LiveLossPlot:
    """Train and validation loss redrawn in place after every epoch (in a notebook; elsewhere, drawn once at the
    end by :meth:`figure`); the best epoch is marked, and the epoch where early stopping ended training."""

    def __init__(self, title: str = "") -> None:
        self.title = title
        self.reports: list[EpochReport] = []
        self._handle = None

    def figure(self):  # noqa: ANN201 (matplotlib is imported lazily)
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 3.6))
        epochs = [r.epoch for r in self.reports]
        ax.plot(epochs, [r.train_loss for r in self.reports], "o-", ms=3, label="train loss (training actors)")
        ax.plot(epochs, [r.val_loss for r in self.reports], "o-", ms=3, label="validation loss (held-out actors)")
        best = [r for r in self.reports if r.best]
        if best:
            ax.axvline(best[-1].epoch, color="green", ls=":", label=f"best epoch {best[-1].epoch} (weights kept)")
        if self.reports and self.reports[-1].stop:
            label = "early stopping" if self.reports[-1].early_stop else "last epoch allowed"
            ax.axvline(self.reports[-1].epoch, color="firebrick", ls="--", label=label)
        ax.set(xlabel="epoch", ylabel="cross-entropy loss", title=self.title)
        ax.legend(fontsize=8)
        fig.tight_layout()
        plt.close(fig)
        return fig

    def update(self, report: EpochReport) -> None:
        """Add one epoch and redraw (in place, when running in IPython)."""
        self.reports.append(report)
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            return
        if get_ipython() is None:
            return
        fig = self.figure()
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)
