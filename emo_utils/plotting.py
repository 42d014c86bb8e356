"""One figure style for every notebook and report: confusion matrices, learning curves, bar charts."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from emo_utils.evaluate import confusion, metrics_from_table
from emo_utils.labels import EMOTIONS

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
}


def use_style() -> None:
    """Apply the project's figure style."""
    sns.set_theme(style="whitegrid", context="notebook")
    plt.rcParams.update(STYLE)


def wrap_title(title: str, width: int = 80) -> str:
    """``title`` wrapped to lines of at most ``width`` characters (its own line breaks kept)."""
    return "\n".join(textwrap.fill(line, width) for line in title.split("\n"))


def draw_chance(ax: plt.Axes, chance: float = 1 / len(EMOTIONS)) -> None:
    """A dotted line at chance level (default one in eight emotions), labelled for the legend."""
    ax.axhline(chance, color="grey", linestyle=":", label="chance")


def plot_confusion(table: pd.DataFrame, title: str, ax: plt.Axes | None = None) -> plt.Axes:
    """Row-normalised confusion matrix of an out-of-fold table, titled with its accuracy."""
    ax = ax or plt.subplots(figsize=(4.6, 4))[1]
    cm = confusion(table)
    ax.imshow(cm.to_numpy(), cmap="Blues", vmin=0, vmax=1)
    for (i, j), value in np.ndenumerate(cm.to_numpy()):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color="white" if value > 0.6 else "black")
    ax.set_xticks(range(len(cm.columns)), cm.columns, rotation=90)
    ax.set_yticks(range(len(cm.index)), cm.index)
    ax.grid(False)
    acc = metrics_from_table(table)["accuracy"]
    ax.set_title(f"{title}\naccuracy {acc:.3f}")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return ax


def plot_confusions(tables: Mapping[str, pd.DataFrame], suptitle: str, ncols: int = 3) -> plt.Figure:
    """Confusion matrices side by side, one per branch or fusion strategy; ``suptitle`` names the protocol."""
    use_style()
    n = len(tables)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 4.2 * nrows), squeeze=False)
    for ax, (name, table) in zip(axes.flat, tables.items()):
        plot_confusion(table, name, ax)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def plot_learning_curves(history: pd.DataFrame, title: str) -> plt.Figure:
    """Training and validation loss (and validation accuracy) per epoch, one line per fold."""
    use_style()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.4))
    for fold, rows in history.groupby("fold"):
        ax_loss.plot(rows["epoch"], rows["train_loss"], color="C0", alpha=0.5, label="train" if fold == 0 else None)
        ax_loss.plot(rows["epoch"], rows["val_loss"], color="C1", alpha=0.7, label="validation" if fold == 0 else None)
        ax_acc.plot(rows["epoch"], rows["val_accuracy"], alpha=0.7, label=f"fold {fold}")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss (validation = held-out training actors)")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="validation accuracy")
    ax_loss.legend()
    ax_acc.legend(fontsize=7, ncol=2)
    fig.suptitle(title, fontsize=10)
    return fig


def plot_metric_bars(
    metrics: Mapping[str, Mapping[str, float]], title: str, keys: tuple[str, ...] = ("accuracy", "macro_f1", "uar")
) -> plt.Figure:
    """Grouped bars of accuracy / macro-F1 / UAR per branch or strategy."""
    use_style()
    frame = pd.DataFrame({name: {k: m[k] for k in keys} for name, m in metrics.items()}).T
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(frame) + 2), 3.4))
    frame.plot.bar(ax=ax, rot=30)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def plot_accuracy_curves(
    curve: pd.DataFrame,
    x: str,
    xlabel: str,
    title: str,
    line_style: Callable[[str, pd.DataFrame], dict[str, Any]],
    legend_loc: str = "lower right",
) -> tuple[plt.Figure, plt.Axes]:
    """Accuracy against the categorical column ``x`` (in order of first appearance), one line per ``model``;
    ``line_style(model, rows)`` gives each line's plot keywords (``label`` defaults to the model)."""
    use_style()
    points = list(dict.fromkeys(curve[x]))
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for model, rows in curve.groupby("model", sort=False):
        rows = rows.set_index(x).reindex(points)
        ax.plot(points, rows["accuracy"], marker="o", **{"label": model, **line_style(model, rows)})
    draw_chance(ax)
    ax.set(xlabel=xlabel, ylabel="accuracy", ylim=(0, 1), title=wrap_title(title))
    ax.legend(fontsize=7, loc=legend_loc)
    return fig, ax


def save_figure(fig: plt.Figure, path: str | Path) -> Path:
    """Save ``fig`` as PNG (creating folders) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


PIPELINE_STAGES: tuple[tuple[str, str], ...] = (
    ("data", "RAVDESS / CREMA-D\nor synthetic demo corpus"),
    ("index", "manifest.csv\ntakes, actors, 6 actor folds"),
    ("features", "features/*.npz\nMFCC, wav2vec 2.0, face crops,\nViT, SlowFast clips, AUs"),
    ("branches", "branches/NAME/oof.csv\n5 branches, actors held out"),
    ("fusion", "fusion/STRATEGY/oof.csv\nlate, product, stacking,\ndynamic, early"),
    ("report", "metrics.json, report.md\nconfusion matrices"),
)


def plot_pipeline() -> plt.Figure:
    """The workflow as boxes and arrows: what each stage writes under the output folder."""
    use_style()
    fig, ax = plt.subplots(figsize=(13, 2.6))
    ax.set_axis_off()
    n = len(PIPELINE_STAGES)
    for i, (name, text) in enumerate(PIPELINE_STAGES):
        x = i / n + 0.01
        ax.add_patch(
            plt.Rectangle(
                (x, 0.15),
                0.78 / n,
                0.7,
                facecolor=sns.color_palette("pastel")[i],
                edgecolor="0.3",
                transform=ax.transAxes,
            )
        )
        ax.text(x + 0.39 / n, 0.72, name, ha="center", va="center", weight="bold", fontsize=10, transform=ax.transAxes)
        ax.text(x + 0.39 / n, 0.42, text, ha="center", va="center", fontsize=7.5, transform=ax.transAxes)
        if i < n - 1:
            ax.text(x + 0.89 / n, 0.5, "\u2192", ha="center", va="center", fontsize=20, transform=ax.transAxes)
    ax.set_title(
        "index -> features -> train each branch (actors held out) -> fuse -> report   "
        "(every stage caches under one output folder)",
        fontsize=10,
    )
    return fig
