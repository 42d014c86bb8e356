"""The enrolment curve, the second leakage lesson: how much a model gains from unlabelled clips of the test
speaker.

With K = 0 (``none``) a model knows nothing of a new speaker: that is what a user gets on a stranger's clip.
With K enrolment clips (``enrol:K``) each test speaker is z-scored with K of its own clips, as ``emo demo
--enroll`` does; with ``all`` over every clip it has (transductive: on RAVDESS every actor acts the same
emotion mix, so this mean is a neutral baseline no user has). Every point is scored on the same clips: those
not drawn into any enrolment set. The K >= 1 points share one model per fold (trained on per-speaker
normalised actors) that predicts its test actors once per K.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from emo_utils.artifacts import load_branch
from emo_utils.branches import BRANCHES
from emo_utils.evaluate import metrics_from_table
from emo_utils.feature_pack import CorpusPack
from emo_utils.feature_store import FeatureSet
from emo_utils.fusion import fuse_cross_validated, result_table, stack_branches
from emo_utils.labels import emotion_index, run_labels
from emo_utils.plotting import plot_accuracy_curves
from emo_utils.run_setup import Run, branch_config, feature_context
from emo_utils.speaker_norm import enrolment_order
from emo_utils.train import TrainConfig, cross_validate

log = logging.getLogger(__name__)

ENROLMENT_KS: tuple[int, ...] = (1, 2, 4, 8, 16)
FUSED = "fused (late, equal weights)"


def usable_ks(clips_per_actor: int, ks: Sequence[int] = ENROLMENT_KS) -> tuple[int, ...]:
    """The K values that leave every actor at least half its clips to score."""
    return tuple(k for k in ks if k <= clips_per_actor // 2)


def enrolment_tables(
    features: FeatureSet,
    rows: pd.DataFrame,
    config: TrainConfig,
    ks: tuple[int, ...],
    none: pd.DataFrame | None = None,
    label_names: tuple[str, ...] | None = None,
    seed: int = 0,
    progress: bool = True,
    n_jobs: int = 1,
    desc: str = "",
) -> dict[str, pd.DataFrame]:
    """Out-of-fold tables of one model under none, enrol:K for each K, and all.

    ``rows`` are the takes of ``features`` in the same order (columns emotion, actor, gender, fold). ``none``: the
    out-of-fold table this config already gave without speaker normalisation (else it is trained here).
    """
    label_names = label_names or run_labels(rows["emotion"])
    labels = np.array([emotion_index(e, label_names) for e in rows["emotion"]])
    args = (features, labels, rows["actor"].to_numpy(), rows["gender"].to_numpy(), rows["fold"].to_numpy())
    kwargs = {"progress": progress, "n_jobs": n_jobs, "label_names": label_names, "enrol_seed": seed}
    if none is None:
        none = cross_validate(*args, replace(config, speaker_norm="none"), desc=f"{desc} none", **kwargs).oof
    per_speaker = cross_validate(
        *args,
        replace(config, speaker_norm="all"),
        desc=f"{desc} per speaker",
        test_views=tuple(f"enrol:{k}" for k in ks),
        **kwargs,
    )
    return {
        "0 (none)": none,
        **{str(k): per_speaker.views[f"enrol:{k}"] for k in ks},
        "all (transductive)": per_speaker.oof,
    }


def _branch_tables(run: Run, name: str, ks: tuple[int, ...]) -> dict[str, pd.DataFrame]:
    """Out-of-fold tables of one branch under none, enrol:K for each K, and all."""
    spec = BRANCHES[name]
    features, _ = spec.build_features(feature_context(run))  # cached feature stages: loads in seconds
    config = branch_config(spec, run.settings)
    none = load_branch(run.settings.out, name).oof if config.speaker_norm == "none" else None  # the same model
    return enrolment_tables(
        features,
        run.rows(features.clip_ids),
        config,
        ks,
        none,
        run.labels,
        run.settings.seed,
        run.settings.progress,
        run.settings.jobs,
        name,
    )


def curve_from_tables(tables: dict[str, dict[str, pd.DataFrame]], ks: Sequence[int], seed: int = 0) -> pd.DataFrame:
    """The enrolment curve of models' tables (from :func:`enrolment_tables`), and of their equal-weight late
    fusion, every point scored on the clips outside every enrolment draw (drawn with ``seed``)."""
    names = list(tables)
    reference = tables[names[0]]["0 (none)"]
    rank = enrolment_order(reference["clip_id"].to_numpy(), reference["actor"].to_numpy(), seed)
    scored_clips = set(reference["clip_id"][rank >= max(ks)])
    records = []
    for point in tables[names[0]]:
        point_tables = {name: t[point][t[point]["clip_id"].isin(scored_clips)] for name, t in tables.items()}
        if len(point_tables) > 1:
            stack = stack_branches(point_tables)
            point_tables[FUSED] = result_table(stack, fuse_cross_validated(stack, "late_equal"))
        for model, table in point_tables.items():
            m = metrics_from_table(table)
            records.append(
                {
                    "clips": point,
                    "model": model,
                    "accuracy": m["accuracy"],
                    "macro_f1": m["macro_f1"],
                    "n_clips": m["n_clips"],
                }
            )
    log.info("enrolment curve scored on %d clips (those outside every enrolment draw)", len(scored_clips))
    return pd.DataFrame(records)


def enrolment_curve(run: Run, names: Sequence[str], ks: Sequence[int] = ENROLMENT_KS) -> pd.DataFrame:
    """Accuracy of each branch, and of their equal-weight late fusion, against the number of enrolment clips.

    Columns: clips (the K label), model, accuracy, macro_f1, n_clips. Branches whose inputs are not speaker
    normalised (raw pixels) are left out.
    """
    names = [n for n in names if BRANCHES[n].speaker_norm_applies]
    per_actor = int(run.manifest.groupby("actor").size().min())
    ks = usable_ks(per_actor, ks)
    if not ks or not names:
        raise ValueError(f"no enrolment curve: {per_actor} clips per actor, branches {names}")
    return curve_from_tables({name: _branch_tables(run, name, ks) for name in names}, ks, run.settings.seed)


def pack_enrolment_curve(
    pack: CorpusPack,
    kinds: Sequence[str],
    config: TrainConfig,
    ks: Sequence[int] = ENROLMENT_KS,
    seed: int = 0,
    progress: bool = True,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """The enrolment curve on the shipped feature pack: one ``config`` model per feature kind (e.g. ``egemaps``
    and ``au``), actors held out by the pack's folds, and their equal-weight late fusion."""
    ks = usable_ks(int(pack.rows.groupby("actor").size().min()), ks)
    if not ks:
        raise ValueError(f"no enrolment curve: too few clips per actor in the {pack.name} pack")
    torch.set_num_threads(1)  # small models train fastest on one thread; folds use processes
    config = replace(config, seed=seed)
    tables = {
        kind: enrolment_tables(
            pack.features[kind], pack.rows, config, ks, seed=seed, progress=progress, n_jobs=n_jobs, desc=kind
        )
        for kind in kinds
    }
    return curve_from_tables(tables, ks, seed)


def plot_enrolment_curve(curve: pd.DataFrame, title: str) -> plt.Figure:
    """Accuracy against enrolment clips per test speaker, one line per model; the transductive end marked."""
    fig, ax = plot_accuracy_curves(
        curve,
        "clips",
        "unlabelled clips of the test speaker used for normalisation (K)",
        title,
        lambda model, _: {"linewidth": 2.4 if model == FUSED else 1.4},
    )
    last = curve["clips"].nunique() - 1  # the transductive point ("all") is the last
    ax.axvspan(last - 0.5, last + 0.5, color="firebrick", alpha=0.08, lw=0)
    return fig
