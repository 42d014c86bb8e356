"""Training you can watch: one model trained epoch by epoch in the open, with early stopping visible.

:func:`watch_training` is a generator: it trains one epoch, yields an :class:`EpochReport` (train and validation
loss, validation accuracy, whether this epoch is the best so far, whether early stopping ends training), and
waits for the caller to ask for the next one. A notebook can print each report and redraw the curves as they
grow (:class:`LiveLossPlot`). The epochs are :func:`emo_utils.fitting.train_epochs`, the loop
:func:`emo_utils.train.fit_model` trains every branch with (AdamW, cross-entropy, mini-batches, early stopping on the
validation loss with ``patience``); when the generator ends, the model holds the weights of the best epoch.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from emo_utils.fitting import EpochReport, train_epochs
from emo_utils.train import Standardizer, TrainConfig


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
    scaler = Standardizer.fit(X_fit, config.standardize)
    yield from train_epochs(
        model,
        scaler(X_fit),
        torch.from_numpy(np.asarray(y_fit, dtype=np.int64)),
        scaler(X_val),
        torch.from_numpy(np.asarray(y_val, dtype=np.int64)),
        config,
        np.random.default_rng(config.seed),
    )


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
