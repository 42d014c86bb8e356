"""Fusion analyses on branch artifacts: loading a run's branches, weight sweeps, per-emotion gains."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from emo_utils.analysis.fusion_analysis import (
    FusionInputs,
    audio_weight_sweep,
    evaluate_weights,
    pair_confusion,
    per_class_gain,
    plot_audio_weight_sweep,
    plot_per_class_gain,
)
from emo_utils.artifacts import BranchArtifact, fusable, load_branches, write_branch_artifact
from emo_utils.errors import DataError
from emo_utils.evaluate import metrics_from_table
from emo_utils.fusion import fuse_cross_validated, result_table, stack_branches
from emo_utils.labels import EMOTIONS, PROBA_COLUMNS

matplotlib.use("Agg")

N_CLIPS = 96  # 6 folds (one actor each) x 8 emotions x 2 clips


def oof_table(parity: int, seed: int) -> pd.DataFrame:
    """A branch right on most clips; on every other calm and fearful clip (by ``parity``) it mostly
    predicts the pair's other emotion (neutral, surprised)."""
    rng = np.random.default_rng(seed)
    y = np.arange(N_CLIPS) % len(EMOTIONS)
    folds = np.arange(N_CLIPS) // 16
    P = rng.uniform(0.0, 0.04, size=(N_CLIPS, len(EMOTIONS)))
    P[np.arange(N_CLIPS), y] += 0.6
    for emotion, partner in (("calm", "neutral"), ("fearful", "surprised")):
        weak = (y == EMOTIONS.index(emotion)) & ((np.arange(N_CLIPS) // len(EMOTIONS)) % 2 == parity)
        P[weak, EMOTIONS.index(emotion)] -= 0.25
        P[weak, EMOTIONS.index(partner)] += 0.45
    P /= P.sum(axis=1, keepdims=True)
    table = pd.DataFrame(P, columns=list(PROBA_COLUMNS))
    table.insert(0, "clip_id", [f"c{i:03d}" for i in range(N_CLIPS)])
    table.insert(1, "actor", [f"actor_{f}" for f in folds])
    table.insert(2, "fold", folds)
    table.insert(3, "emotion", [EMOTIONS[i] for i in y])
    return table


def make_tables() -> dict[str, pd.DataFrame]:
    """Two branches with complementary mistakes on the calm/neutral and fear/surprise pairs."""
    return {"audio_mfcc_cnn": oof_table(0, 0), "face_au": oof_table(1, 1)}


def inner_table(table: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Stand-in nested predictions: for each test fold, the other folds' clips with fresh noise."""
    rng = np.random.default_rng(seed)
    parts = []
    for outer in sorted(table["fold"].unique()):
        rows = table[table["fold"] != outer].copy()
        P = rows[list(PROBA_COLUMNS)].to_numpy() + rng.uniform(0, 0.05, (len(rows), len(EMOTIONS)))
        rows[list(PROBA_COLUMNS)] = P / P.sum(axis=1, keepdims=True)
        parts.append(rows.assign(outer_fold=outer))
    return pd.concat(parts, ignore_index=True)


def make_artifacts(run: Path, random: tuple[str, ...] = ()) -> dict[str, BranchArtifact]:
    """:func:`make_tables` saved as branch artifacts of a run (with nested predictions)."""
    for seed, (name, table) in enumerate(make_tables().items()):
        write_branch_artifact(
            run / "branches" / name,
            table,
            {"branch": name, "random_weights": name in random},
            inner_oof=inner_table(table, seed),
        )
    return load_branches(run)


def test_load_branches_reads_each_artifact_and_its_random_weights_flag(tmp_path: Path) -> None:
    tables = make_tables()
    write_branch_artifact(
        tmp_path / "branches" / "audio_wav2vec_lstm", tables["audio_mfcc_cnn"], {"random_weights": True}
    )
    write_branch_artifact(tmp_path / "branches" / "face_au", tables["face_au"], {"random_weights": False})
    (tmp_path / "branches" / "video_slowfast").mkdir()  # interrupted: no results yet
    loaded = load_branches(tmp_path)
    assert list(loaded) == ["audio_wav2vec_lstm", "face_au"]
    pd.testing.assert_frame_equal(loaded["face_au"].oof, tables["face_au"], check_dtype=False)
    assert loaded["audio_wav2vec_lstm"].random_weights and not loaded["face_au"].random_weights
    assert list(fusable(loaded)) == ["face_au"]
    assert list(fusable(loaded, include_random=True)) == ["audio_wav2vec_lstm", "face_au"]


def test_load_branches_says_what_to_run_when_nothing_is_trained(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="notebooks 05/06"):
        load_branches(tmp_path)


def test_evaluate_weights_matches_fusion_and_zero_weight_drops_a_branch(tmp_path: Path) -> None:
    tables = make_tables()
    inputs = FusionInputs.from_artifacts(make_artifacts(tmp_path))
    assert inputs.inner is not None and sorted(inputs.inner) == list(range(6))
    stack = inputs.stack
    metrics, table = evaluate_weights(inputs, {"audio_mfcc_cnn": 0.7, "face_au": 0.3}, "late_fixed")
    assert metrics == evaluate_weights(inputs, [0.7, 0.3], "late_fixed")[0]
    expected = result_table(stack, fuse_cross_validated(stack, "late_fixed", np.array([0.7, 0.3])))
    pd.testing.assert_frame_equal(table, expected)
    without_face, _ = evaluate_weights(inputs, {"audio_mfcc_cnn": 1.0, "face_au": 0.0}, "product")
    assert without_face == metrics_from_table(tables["audio_mfcc_cnn"])
    learned, _ = evaluate_weights(inputs, None, "late_learned")
    nested = fuse_cross_validated(stack, "late_learned", inner=inputs.inner)
    assert learned == metrics_from_table(result_table(stack, nested))
    with pytest.raises(ValueError, match="unknown branches"):
        evaluate_weights(inputs, {"video_vit_cnn": 1.0}, "late_fixed")
    with pytest.raises(ValueError, match="unknown strategy"):
        evaluate_weights(inputs, [1, 1], "majority")
    with pytest.raises(ValueError, match="zero"):
        evaluate_weights(inputs, [0, 0], "late_fixed")


def test_audio_weight_sweep_runs_from_face_only_to_audio_only(tmp_path: Path) -> None:
    tables = make_tables()
    inputs = FusionInputs.from_artifacts(make_artifacts(tmp_path))
    stack = inputs.stack
    sweep = audio_weight_sweep(inputs, ["audio_mfcc_cnn"], steps=5)
    assert sweep["audio_weight"].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert sweep.iloc[0]["accuracy"] == metrics_from_table(tables["face_au"])["accuracy"]
    assert sweep.iloc[-1]["accuracy"] == metrics_from_table(tables["audio_mfcc_cnn"])["accuracy"]
    equal = metrics_from_table(result_table(stack, fuse_cross_validated(stack, "late_equal")))
    assert sweep.iloc[2]["macro_f1"] == pytest.approx(equal["macro_f1"])
    assert sweep.iloc[2]["accuracy"] > sweep[["accuracy"]].iloc[[0, -1]].max().item()  # complementary errors
    fig = plot_audio_weight_sweep(sweep, "test")
    assert len(fig.axes[0].lines) == 3
    plt.close(fig)
    with pytest.raises(ValueError, match="non-audio"):
        audio_weight_sweep(inputs, ["audio_mfcc_cnn", "face_au"])


def test_per_class_gain_shows_fusion_repairing_the_confusable_pairs() -> None:
    tables = make_tables()
    stack = stack_branches(tables)
    fused = result_table(stack, fuse_cross_validated(stack, "late_equal"))
    gain = per_class_gain(tables, fused)
    assert list(gain.index) == list(EMOTIONS)
    assert (gain["fused"] == 1.0).all()
    pairs = ["neutral", "calm", "fearful", "surprised"]
    assert (gain.loc[pairs, "gain"] > 0).all() and (gain.drop(index=pairs)["gain"] == 0).all()
    assert (gain.loc[pairs, ["audio_mfcc_cnn", "face_au"]] < 1).all().all()
    assert gain.loc["surprised", "pair"] == "fearful/surprised" and gain.loc["neutral", "pair"] == "calm/neutral"
    assert gain.loc["sad", "pair"] == ""
    # a branch missing clips is compared on the clips every table predicts: here face_au's first 48
    partial = {**tables, "face_au": tables["face_au"].iloc[:48]}
    first = {name: table.iloc[:48] for name, table in tables.items()}
    assert per_class_gain(partial, fused).equals(per_class_gain(first, fused.iloc[:48]))
    fig = plot_per_class_gain(gain, "test")
    assert len(fig.axes[0].patches) >= 3 * len(EMOTIONS)
    plt.close(fig)


def test_pair_confusion_counts_swaps_within_each_pair() -> None:
    tables = make_tables()
    fused = result_table(stack_branches(tables), fuse_cross_validated(stack_branches(tables), "late_equal"))
    rates = pair_confusion({**tables, "fused": fused})
    # half of the calm clips heard as neutral: 6 of the pair's 24 clips
    assert rates.loc["audio_mfcc_cnn", "calm<->neutral"] == 0.25
    assert rates.loc["face_au", "fearful<->surprised"] == 0.25
    assert (rates.loc["fused"] == 0).all()
