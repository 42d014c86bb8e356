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

from emo_utils.artifacts import load_branch
from emo_utils.branches import BRANCHES
from emo_utils.evaluate import metrics_from_table
from emo_utils.fusion import fuse_cross_validated, result_table, stack_branches
from emo_utils.labels import emotion_index
from emo_utils.plotting import plot_accuracy_curves
from emo_utils.run_setup import Run, branch_config, feature_context
from emo_utils.speaker_norm import enrolment_order
from emo_utils.train import cross_validate

log = logging.getLogger(__name__)

ENROLMENT_KS: tuple[int, ...] = (1, 2, 4, 8, 16)
FUSED = "fused (late, equal weights)"


def usable_ks(clips_per_actor: int, ks: Sequence[int] = ENROLMENT_KS) -> tuple[int, ...]:
    """The K values that leave every actor at least half its clips to score."""
    return tuple(k for k in ks if k <= clips_per_actor // 2)


def _branch_tables(run: Run, name: str, ks: tuple[int, ...]) -> dict[str, pd.DataFrame]:
    """Out-of-fold tables of one branch under none, enrol:K for each K, and all."""
    spec = BRANCHES[name]
    features, _ = spec.build_features(feature_context(run))  # cached feature stages: loads in seconds
    rows = run.rows(features.clip_ids)
    labels = np.array([emotion_index(e, run.labels) for e in rows["emotion"]])
    args = (features, labels, rows["actor"].to_numpy(), rows["gender"].to_numpy(), rows["fold"].to_numpy())
    kwargs = {
        "progress": run.settings.progress,
        "n_jobs": run.settings.jobs,
        "label_names": run.labels,
        "enrol_seed": run.settings.seed,
    }
    config = branch_config(spec, run.settings)
    if config.speaker_norm == "none":
        none = load_branch(run.settings.out, name).oof  # the run's own held-out results: the same model
    else:
        none = cross_validate(*args, replace(config, speaker_norm="none"), desc=f"{name} none", **kwargs).oof
    per_speaker = cross_validate(
        *args,
        replace(config, speaker_norm="all"),
        desc=f"{name} per speaker",
        test_views=tuple(f"enrol:{k}" for k in ks),
        **kwargs,
    )
    return {
        "0 (none)": none,
        **{str(k): per_speaker.views[f"enrol:{k}"] for k in ks},
        "all (transductive)": per_speaker.oof,
    }


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
    tables = {name: _branch_tables(run, name, ks) for name in names}
    reference = tables[names[0]]["0 (none)"]
    rank = enrolment_order(reference["clip_id"].to_numpy(), reference["actor"].to_numpy(), run.settings.seed)
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
