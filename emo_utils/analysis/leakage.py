"""The leakage lesson: one model, two evaluation protocols, side by side.

The same features and the same training settings are cross-validated twice: with actors held out (the
manifest's ``fold`` column, as every branch is evaluated) and with a random clip split in which every
actor has clips on both sides (:data:`~emo_utils.data.folds.LEAKY_PROTOCOL`). The gap between the two is
what a model gains by recognising the speakers rather than their emotions. The leaky number exists for
this comparison only: it is returned with its LEAKY protocol text, drawn with a LEAKY label, and never
written to ``metrics.json``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from emo_utils.data.folds import assign_actor_folds, check_no_actor_leak, describe_protocol, random_clip_folds
from emo_utils.data.manifest import dataset_name
from emo_utils.evaluate import metrics_from_table
from emo_utils.extraction import default_jobs
from emo_utils.feature_store import FeatureSet
from emo_utils.labels import emotion_index, run_labels
from emo_utils.plotting import use_style, wrap_title
from emo_utils.speaker_norm import SpeakerNorm
from emo_utils.train import TrainConfig, cross_validate

ROWS_COLUMNS = ("actor", "gender", "emotion", "fold")
SPLIT_LABELS = {False: "actors held out", True: "random clip split\n(LEAKY)"}
METRIC_KEYS = ("accuracy", "macro_f1", "uar")


def compare_protocols(
    features: FeatureSet,
    rows: pd.DataFrame,
    config: TrainConfig,
    n_folds: int = 6,
    seed: int = 0,
    progress: bool = True,
    n_jobs: int | None = None,
    held_out: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Cross-validate ``config`` on ``features`` with actors held out, then with a LEAKY random clip split.

    ``rows`` are the manifest rows of ``features.clip_ids`` in the same order (columns actor, gender,
    emotion, fold; take_id is checked when present). The random split has ``n_folds`` folds drawn with
    ``seed``. Returns one row per protocol: protocol (the full text to print), split (a short label),
    leaky, accuracy, macro_f1, uar, n_clips. Nothing is written to disk. Folds train ``n_jobs`` at a time
    (default: one per core). ``held_out``: the out-of-fold table this config already gave with actors held
    out (e.g. the branch's ``oof``), used instead of training that protocol again.
    """
    missing = [c for c in ROWS_COLUMNS if c not in rows]
    if missing:
        raise ValueError(f"rows lack column(s) {', '.join(missing)}; pass the manifest rows of the features")
    if len(rows) != len(features) or (
        "take_id" in rows and (rows["take_id"].astype(str).to_numpy() != features.clip_ids).any()
    ):
        raise ValueError(
            "rows are not aligned with features.clip_ids; use "
            "manifest.set_index('take_id').loc[features.clip_ids].reset_index()"
        )
    label_names = run_labels(rows["emotion"])
    labels = np.array([emotion_index(e, label_names) for e in rows["emotion"]])
    actors, genders = rows["actor"].to_numpy(), rows["gender"].to_numpy()
    dataset = dataset_name(rows)
    splits = {False: rows["fold"].to_numpy(), True: random_clip_folds(len(rows), n_folds, seed)}
    records = []
    if held_out is not None and list(held_out["clip_id"].astype(str)) != list(features.clip_ids):
        raise ValueError("held_out is not the out-of-fold table of these features (its clip_id column differs)")
    for leaky, folds in splits.items():
        if held_out is not None and not leaky:
            oof = held_out
        else:
            oof = cross_validate(
                features,
                labels,
                actors,
                genders,
                folds,
                config,
                leaky_ok=leaky,
                label_names=label_names,
                desc=SPLIT_LABELS[leaky].replace("\n", " "),
                progress=progress,
                n_jobs=n_jobs or default_jobs(),
            ).oof
        metrics = metrics_from_table(oof)
        records.append(
            {
                "protocol": describe_protocol(
                    folds, actors, dataset, leaky=leaky, speaker_norm=SpeakerNorm.parse(config.speaker_norm).description
                ),
                "split": SPLIT_LABELS[leaky],
                "leaky": leaky,
                **{k: metrics[k] for k in METRIC_KEYS},
                "n_clips": metrics["n_clips"],
            }
        )
    return pd.DataFrame(records)


def plot_protocol_comparison(table: pd.DataFrame, title: str = "The same model, two protocols") -> Figure:
    """Grouped bars (accuracy, macro-F1, UAR) per protocol; the leaky bars are hatched and labelled LEAKY."""
    use_style()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    width = 0.8 / len(METRIC_KEYS)
    x = np.arange(len(table))
    for k, key in enumerate(METRIC_KEYS):
        bars = ax.bar(
            x + (k - (len(METRIC_KEYS) - 1) / 2) * width,
            table[key],
            width,
            label=key,
            color=f"C{k}",
            hatch=["//" if leaky else "" for leaky in table["leaky"]],
            edgecolor="white",
        )
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(x, table["split"])
    for tick, leaky in zip(ax.get_xticklabels(), table["leaky"]):
        tick.set_color("firebrick" if leaky else "black")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title)
    caption = wrap_title("\n".join(table["protocol"]), 110)
    fig.text(0.01, -0.02, caption, fontsize=7, va="top", ha="left")
    return fig


def leakage_spread(
    features: FeatureSet,
    rows: pd.DataFrame,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    n_folds: int = 6,
    C: float = 1.0,
) -> pd.DataFrame:
    """The leakage gap with its spread, from a fast model: a standardised logistic regression (``C`` fixed a
    priori) on pooled features, cross-validated with actors held out and with a LEAKY random clip split.

    Each seed deals the actors into ``n_folds`` gender-balanced folds anew and draws a new random clip split, so
    the spread covers both how the folds fall and which actors are tested. ``rows``: the takes of ``features``
    in the same order (columns actor, gender, emotion). Returns one row per seed, protocol and test fold:
    seed, split, leaky, fold, accuracy, n_clips. Nothing is written to disk.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = features.X.reshape(len(features), -1)
    y = rows["emotion"].to_numpy()
    actors, genders = rows["actor"].to_numpy(), rows["gender"].to_numpy()
    records = []
    for seed in seeds:
        splits = {
            False: assign_actor_folds(actors, genders, n_folds, seed=seed),
            True: random_clip_folds(len(y), n_folds, seed),
        }
        for leaky, folds in splits.items():
            for fold in range(n_folds):
                test = folds == fold
                if not leaky:
                    check_no_actor_leak(actors[~test], actors[test], "test")
                model = make_pipeline(StandardScaler(), LogisticRegression(C=C, tol=1e-3, max_iter=500))
                model.fit(X[~test], y[~test])
                accuracy = float((model.predict(X[test]) == y[test]).mean())
                records.append(
                    {
                        "seed": seed,
                        "split": SPLIT_LABELS[leaky],
                        "leaky": leaky,
                        "fold": fold,
                        "accuracy": accuracy,
                        "n_clips": int(test.sum()),
                    }
                )
    return pd.DataFrame(records)


def leakage_gap(spread: pd.DataFrame) -> pd.DataFrame:
    """Per seed: the accuracy of each protocol over all clips, and the gap (leaky minus held out), in points."""
    pooled = (
        spread.assign(correct=spread["accuracy"] * spread["n_clips"])
        .groupby(["seed", "leaky"])[["correct", "n_clips"]]
        .sum()
    )
    accuracy = (pooled["correct"] / pooled["n_clips"]).unstack("leaky")
    return pd.DataFrame(
        {
            "actors held out": accuracy[False],
            "random clip split (LEAKY)": accuracy[True],
            "gap (points)": 100 * (accuracy[True] - accuracy[False]),
        }
    )


def plot_leakage_spread(spread: pd.DataFrame, title: str = "") -> Figure:
    """Every test fold's accuracy under both protocols (dots, one colour per seed), and each protocol's mean."""
    use_style()
    fig, ax = plt.subplots(figsize=(7, 4))
    rng = np.random.default_rng(0)
    for x, (leaky, group) in enumerate(spread.groupby("leaky")):
        for k, (seed, per_seed) in enumerate(group.groupby("seed")):
            jitter = rng.uniform(-0.15, 0.15, len(per_seed))
            ax.scatter(
                x + jitter,
                per_seed["accuracy"],
                s=18,
                color=f"C{k}",
                alpha=0.8,
                label=f"seed {seed}" if not leaky else None,
            )
        ax.hlines(group["accuracy"].mean(), x - 0.3, x + 0.3, color="black", lw=2)
    ax.set_xticks([0, 1], [SPLIT_LABELS[False], SPLIT_LABELS[True]])
    ax.get_xticklabels()[1].set_color("firebrick")
    ax.set_ylabel("accuracy of one test fold")
    ax.legend(fontsize=7, loc="lower right", title="folds dealt with", title_fontsize=7)
    ax.set_title(wrap_title(title, 80), fontsize=9)
    fig.tight_layout()
    return fig
