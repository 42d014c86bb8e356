"""Training you can watch: one report per epoch, early stopping visible, the best weights kept."""

from __future__ import annotations

import numpy as np
import torch

from emo_utils.models import build_model
from emo_utils.train import Standardizer, TrainConfig, predict_proba
from emo_utils.watch import LiveLossPlot, count_parameters, watch_training


def _blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return (rng.normal(size=(n, 5)) + 2.0 * np.eye(3, 5)[y]).astype(np.float32), y


def test_reports_every_epoch_and_keeps_the_best_weights() -> None:
    X, y = _blobs(120, 0)
    X_val, y_val = _blobs(60, 1)
    config = TrainConfig("mlp", {"hidden": (16,)}, epochs=60, patience=3, batch_size=16, lr=3e-2)
    model = build_model("mlp", (5,), n_classes=3, hidden=(16,))
    assert count_parameters(model) == 5 * 16 + 16 + 2 * 16 + 16 * 3 + 3  # linear, batch norm, output
    reports = list(watch_training(model, X, y, X_val, y_val, config))
    assert [r.epoch for r in reports] == list(range(1, len(reports) + 1))
    assert reports[-1].stop and not any(r.stop for r in reports[:-1])
    assert reports[-1].early_stop, "patience 3 ends training before 60 epochs on these blobs"
    best = [r for r in reports if r.best]
    assert best[0].epoch == 1 and all(r.val_loss >= best[-1].val_loss for r in reports)
    assert reports[-1].epoch - best[-1].epoch == config.patience
    assert reports[-1].train_loss < reports[0].train_loss and best[-1].val_accuracy > 0.6
    proba = predict_proba(model, X_val, Standardizer.fit(X))  # the model now holds the best epoch's weights
    loss = float(torch.nn.functional.nll_loss(torch.log(torch.from_numpy(proba) + 1e-9), torch.from_numpy(y_val)))
    assert abs(loss - best[-1].val_loss) < 1e-5


def test_live_plot_marks_best_epoch_and_stop() -> None:
    X, y = _blobs(60, 2)
    config = TrainConfig("mlp", epochs=4, patience=10, batch_size=16)
    plot = LiveLossPlot("toy")
    for report in watch_training(build_model("mlp", (5,), n_classes=3), X, y, X, y, config):
        plot.update(report)
    labels = [line.get_label() for line in plot.figure().axes[0].get_lines()]
    assert len(plot.reports) == 4 and plot.reports[-1].stop
    assert any(label.startswith("best epoch") for label in labels) and "last epoch allowed" in labels
