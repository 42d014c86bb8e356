"""Analyses of fusion on a run's out-of-fold tables: which weights, which emotions gain, what each costs.

Pure functions on the branch artifacts the workflow writes (``out/branches/NAME/``), built on
:mod:`emo_utils.fusion`. Everything here reads test-fold predictions: a sweep over weights shows how
fusion behaves, but choosing the best point of it would tune on the test actors (``late_learned``
in :func:`emo_utils.fusion.fuse_cross_validated` is the honest version, fitted per fold).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from emo_utils.artifacts import BranchArtifact
from emo_utils.evaluate import metrics_from_table, proba_matrix, scored
from emo_utils.fusion import STRATEGIES, BranchStack, fuse_cross_validated, result_table, stack_with_inner
from emo_utils.labels import labels_of
from emo_utils.plotting import draw_chance, use_style, wrap_title

# Pairs of emotions that one modality tends to confuse: fear and surprise share raised brows and wide
# eyes (face), calm and neutral share low, steady prosody (voice).
CONFUSABLE_PAIRS: tuple[tuple[str, str], ...] = (("fearful", "surprised"), ("calm", "neutral"))


@dataclass
class FusionInputs:
    """What the analyses fuse: the branches' out-of-fold stack and, per test fold, the nested inner stack
    that learned strategies are fitted on."""

    stack: BranchStack
    inner: dict[int, BranchStack] | None

    @classmethod
    def from_artifacts(cls, artifacts: Mapping[str, BranchArtifact]) -> FusionInputs:
        stack, inner = stack_with_inner(
            {n: a.oof for n, a in artifacts.items()}, {n: a.inner_oof() for n, a in artifacts.items()}
        )
        return cls(stack, inner)


def weight_vector(stack: BranchStack, weights: Mapping[str, float] | Sequence[float]) -> np.ndarray:
    """Weights in the stack's branch order (a mapping may leave branches out: weight 0)."""
    if isinstance(weights, Mapping):
        unknown = set(weights) - set(stack.branches)
        if unknown:
            raise ValueError(f"weights for unknown branches {sorted(unknown)}; have {stack.branches}")
        return np.array([float(weights.get(b, 0.0)) for b in stack.branches])
    vector = np.asarray(weights, dtype=float)
    if vector.shape != (len(stack.branches),):
        raise ValueError(f"expected {len(stack.branches)} weights ({stack.branches}), got {vector.shape}")
    return vector


def evaluate_weights(
    inputs: FusionInputs, weights: Mapping[str, float] | Sequence[float] | None, strategy: str = "late_fixed"
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Metrics and fused out-of-fold table of one fusion setting.

    ``late_fixed`` and ``product`` use ``weights`` (a branch with weight 0 is left out); the other strategies
    ignore them (learned ones are fitted per test fold on the nested predictions of its training actors).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    uses_weights = STRATEGIES[strategy].uses_weights
    vector = weight_vector(inputs.stack, weights) if uses_weights else None
    table = result_table(inputs.stack, fuse_cross_validated(inputs.stack, strategy, vector, inputs.inner))
    return metrics_from_table(table), table


def audio_weight_sweep(inputs: FusionInputs, audio_branches: Sequence[str], steps: int = 11) -> pd.DataFrame:
    """Late fusion with the audio branches sharing weight ``w`` and the other branches ``1 - w``.

    One row per ``w`` in ``linspace(0, 1, steps)``: accuracy, macro-F1 and the clips scored (at the ends,
    clips that only have the zero-weighted modality get no prediction).
    """
    audio = [b for b in inputs.stack.branches if b in set(audio_branches)]
    others = [b for b in inputs.stack.branches if b not in set(audio_branches)]
    if not audio or not others:
        raise ValueError(f"need audio and non-audio branches, have audio {audio} and others {others}")
    rows = []
    for w in np.linspace(0.0, 1.0, steps):
        weights = {**{b: w / len(audio) for b in audio}, **{b: (1 - w) / len(others) for b in others}}
        metrics, _ = evaluate_weights(inputs, weights, "late_fixed")
        rows.append(
            {
                "audio_weight": round(float(w), 6),
                "accuracy": metrics["accuracy"],
                "macro_f1": metrics["macro_f1"],
                "n_clips": metrics["n_clips"],
            }
        )
    return pd.DataFrame(rows)


def _scored(table: pd.DataFrame, clip_ids: set[str]) -> pd.DataFrame:
    return scored(table[table["clip_id"].isin(clip_ids)])


def per_class_gain(branch_tables: Mapping[str, pd.DataFrame], fused_table: pd.DataFrame) -> pd.DataFrame:
    """Per-emotion F1 of each branch and of the fused result, and the fused gain over the best branch.

    Scored on the clips every table predicts, so the columns compare like with like. ``pair`` names the
    confusable pair (:data:`CONFUSABLE_PAIRS`) an emotion belongs to.
    """
    tables = {**branch_tables, "fused": fused_table}
    common = set.intersection(*(set(scored(t)["clip_id"]) for t in tables.values()))
    if not common:
        raise ValueError("no clip is predicted by every branch and the fused result")
    f1 = {name: pd.Series(metrics_from_table(_scored(table, common))["per_class_f1"]) for name, table in tables.items()}
    frame = pd.DataFrame(f1).reindex([e for e in labels_of(fused_table) if e in f1["fused"].index])
    branches = list(branch_tables)
    frame["best_branch"] = frame[branches].idxmax(axis=1)
    frame["gain"] = frame["fused"] - frame[branches].max(axis=1)
    pair_of = {e: "/".join(pair) for pair in CONFUSABLE_PAIRS for e in pair}
    frame["pair"] = [pair_of.get(e, "") for e in frame.index]
    frame.index.name = "emotion"
    return frame.round({c: 3 for c in [*branches, "fused", "gain"]})


def pair_confusion(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """For each table and confusable pair, the share of the pair's clips predicted as the other emotion."""
    rows = {}
    for name, table in tables.items():
        usable = scored(table)
        predicted = np.array(labels_of(table))[proba_matrix(usable).argmax(axis=1)]
        row = {}
        for a, b in CONFUSABLE_PAIRS:
            in_pair = usable["emotion"].isin((a, b)).to_numpy()
            swapped = ((usable["emotion"].to_numpy() == a) & (predicted == b)) | (
                (usable["emotion"].to_numpy() == b) & (predicted == a)
            )
            row[f"{a}<->{b}"] = float(swapped[in_pair].mean()) if in_pair.any() else np.nan
        rows[name] = row
    return pd.DataFrame(rows).T.round(3)


def plot_audio_weight_sweep(sweep: pd.DataFrame, title: str) -> plt.Figure:
    """Accuracy and macro-F1 against the audio branches' share of the late-fusion weight."""
    use_style()
    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    ax.plot(sweep["audio_weight"], sweep["accuracy"], marker="o", label="accuracy")
    ax.plot(sweep["audio_weight"], sweep["macro_f1"], marker="s", label="macro-F1")
    draw_chance(ax)
    best = sweep.loc[sweep["accuracy"].idxmax()]
    ax.annotate(
        f"best {best['accuracy']:.3f}\n(on the test actors: not a tuned result)",
        (best["audio_weight"], best["accuracy"]),
        textcoords="offset points",
        xytext=(0, -34),
        ha="center",
        fontsize=7,
    )
    ax.set(
        xlabel="audio weight (0: video/face only, 1: audio only)", ylabel="score", ylim=(0, 1), title=wrap_title(title)
    )
    ax.legend(fontsize=8, loc="upper left")
    return fig


def plot_per_class_gain(gain: pd.DataFrame, title: str) -> plt.Figure:
    """Per-emotion F1 of each branch and of the fused result; the confusable pairs are shaded."""
    use_style()
    scores = gain.drop(columns=["best_branch", "gain", "pair"])
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(scores) + 2), 3.6))
    scores.plot.bar(ax=ax, rot=30, width=0.8)
    for position, pair in enumerate(gain["pair"]):
        if pair:
            ax.axvspan(position - 0.45, position + 0.45, color="C3" if "fear" in pair else "C4", alpha=0.08, lw=0)
    for label in ax.get_xticklabels():
        if gain.loc[label.get_text(), "pair"]:
            label.set_fontweight("bold")
    ax.set(
        ylim=(0, 1), ylabel="F1", title=wrap_title(f"{title}\nshaded: the fear/surprise and calm/neutral pairs", 110)
    )
    ax.legend(fontsize=7, ncol=2, loc="upper right")
    return fig
