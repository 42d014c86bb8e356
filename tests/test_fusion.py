"""Fusion maths: weighted averages, missing modalities, learned weights fitted without test actors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emo_utils.errors import DataError
from emo_utils.evaluate import metrics_from_table
from emo_utils.fusion import (
    FusionConfig,
    confidence,
    fuse_cross_validated,
    inner_stacks,
    kept_per_fold,
    learn_weights,
    load_fusion_config,
    result_table,
    save_fusion_config,
    select_branches,
    stack_branches,
    weighted_average,
    weighted_product,
)
from emo_utils.labels import EMOTIONS, PROBA_COLUMNS


def _branch(y: np.ndarray, folds: np.ndarray, noise: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(len(y), 8)) * noise
    z[np.arange(len(y)), y] += 1.0
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    table = pd.DataFrame(p, columns=list(PROBA_COLUMNS))
    table.insert(0, "clip_id", [f"c{i:03d}" for i in range(len(y))])
    table.insert(1, "actor", [f"a{f}" for f in folds])
    table.insert(2, "fold", folds)
    table.insert(3, "emotion", [EMOTIONS[i] for i in y])
    return table


Y = np.arange(240) % 8
FOLDS = np.arange(240) // 40


def test_weighted_average_is_the_normalised_weighted_mean() -> None:
    P = np.stack([np.eye(8)[[0, 1]], np.eye(8)[[1, 1]]]).astype(float)
    fused = weighted_average(P, np.array([7.0, 3.0]))
    np.testing.assert_allclose(fused[0, :2], [0.7, 0.3])
    np.testing.assert_allclose(fused.sum(axis=1), 1.0)
    product = weighted_product(np.stack([np.full((1, 8), 1 / 8), np.full((1, 8), 1 / 8)]), np.ones(2))
    np.testing.assert_allclose(product, 1 / 8)
    with pytest.raises(ValueError):
        weighted_average(P, np.zeros(2))


def test_a_clip_missing_a_branch_is_fused_from_what_it_has() -> None:
    audio, video = _branch(Y, FOLDS, 1.0, 0), _branch(Y, FOLDS, 1.0, 1).iloc[:200]
    stack = stack_branches({"audio": audio, "video": video})
    table = result_table(stack, fuse_cross_validated(stack, "late_equal"))
    missing = table["clip_id"].isin(audio["clip_id"].iloc[200:])
    assert (table.loc[missing, "fused_from"] == "audio").all()
    assert (table.loc[~missing, "fused_from"] == "audio+video").all()
    np.testing.assert_allclose(
        table.loc[missing, list(PROBA_COLUMNS)].to_numpy(), audio.iloc[200:][list(PROBA_COLUMNS)].to_numpy()
    )


def test_learned_weights_prefer_the_better_branch_and_ignore_test_folds() -> None:
    good, bad = _branch(Y, FOLDS, 0.6, 0), _branch(Y, FOLDS, 3.0, 1)
    stack = stack_branches({"good": good, "bad": bad})
    w = learn_weights(stack.P, stack.y)
    assert w[0] > w[1]
    result = fuse_cross_validated(stack, "late_learned")
    assert set(result.fitted) == set(range(6))
    # poisoning the labels of fold 0 must not change the weights used for fold 0
    poisoned = stack_branches({"good": good, "bad": bad})
    poisoned.y = np.where(poisoned.folds == 0, (poisoned.y + 1) % 8, poisoned.y)
    assert fuse_cross_validated(poisoned, "late_learned").fitted[0] == result.fitted[0]


@pytest.mark.parametrize(
    "strategy", ["late_equal", "late_learned", "product", "stacking", "dynamic", "select_late", "select_product"]
)
def test_every_strategy_beats_the_weak_branch(strategy: str) -> None:
    a, b = _branch(Y, FOLDS, 1.2, 0), _branch(Y, FOLDS, 1.2, 1)
    stack = stack_branches({"a": a, "b": b})
    fused = metrics_from_table(result_table(stack, fuse_cross_validated(stack, strategy)))["accuracy"]
    assert fused > min(metrics_from_table(a)["accuracy"], metrics_from_table(b)["accuracy"])


def _noise(y: np.ndarray, folds: np.ndarray, seed: int) -> pd.DataFrame:
    """A branch that knows nothing: random probabilities."""
    table = _branch(y, folds, 1.0, seed)
    table[list(PROBA_COLUMNS)] = np.random.default_rng(seed).dirichlet(np.ones(8), len(y))
    return table


@pytest.mark.parametrize("rule", [weighted_average, weighted_product])
def test_forward_selection_leaves_out_a_branch_that_does_not_help(rule) -> None:  # noqa: ANN001
    tables = {"a": _branch(Y, FOLDS, 1.2, 0), "noise": _noise(Y, FOLDS, 5), "b": _branch(Y, FOLDS, 1.2, 1)}
    stack = stack_branches(tables)
    np.testing.assert_array_equal(select_branches(stack.P, stack.y, rule), [1, 0, 1])
    single = stack_branches({"a": tables["a"]})
    np.testing.assert_array_equal(select_branches(single.P, single.y, rule), [1])


def _two_good_branches_and_noise() -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Out-of-fold tables of branches a, b (informative) and noise, and their nested tables per test fold."""
    outer = {"a": _branch(Y, FOLDS, 1.2, 0), "b": _branch(Y, FOLDS, 1.2, 1), "noise": _noise(Y, FOLDS, 5)}
    inner = {
        name: pd.concat([t[t["fold"] != k].assign(outer_fold=k) for k in range(6)], ignore_index=True)
        for name, t in {
            "a": _branch(Y, FOLDS, 1.2, 2),
            "b": _branch(Y, FOLDS, 1.2, 3),
            "noise": _noise(Y, FOLDS, 6),
        }.items()
    }
    return outer, inner


@pytest.mark.parametrize("strategy", ["select_late", "select_product"])
def test_selection_is_fitted_on_inner_predictions_only(strategy: str) -> None:
    """The branches fused for test fold k are chosen on fold k's inner stack: what the outer rows say (even every
    label of every fold flipped) does not move the choice, and a branch that helps only on the test folds stays
    out."""
    outer, inner = _two_good_branches_and_noise()
    stack = stack_branches(outer)
    result = fuse_cross_validated(stack, strategy, inner=inner_stacks(inner))
    assert all(fitted["selected"] == ["a", "b"] for fitted in result.fitted.values())
    poisoned = stack_branches(outer)
    poisoned.y = (poisoned.y + 1) % 8
    poisoned.P[2] = np.eye(8)[poisoned.y]  # "noise" now looks perfect on the outer rows: it must not matter
    again = fuse_cross_validated(poisoned, strategy, inner=inner_stacks(inner))
    assert again.fitted == result.fitted


def test_confidence_is_one_for_certain_and_zero_for_uniform() -> None:
    P = np.stack([np.eye(8)[:1], np.full((1, 8), 1 / 8)])
    np.testing.assert_allclose(confidence(P)[:, 0], [1.0, 0.0], atol=1e-6)


def test_fusion_config_round_trip_and_validation(tmp_path: Path) -> None:
    config = FusionConfig(["video_slowfast", "audio_wav2vec_lstm"], [7, 3])
    assert config.weights == [0.7, 0.3]
    loaded = load_fusion_config(save_fusion_config(config, tmp_path / "c.json"))
    assert loaded.branches == config.branches and loaded.weight_of("audio_wav2vec_lstm") == 0.3
    with pytest.raises(ValueError):
        FusionConfig(["a"], [0.5, 0.5])
    (tmp_path / "old.json").write_text('{"version": 0}')
    with pytest.raises(DataError, match="version"):
        load_fusion_config(tmp_path / "old.json")


@pytest.mark.parametrize("strategy", ["select_late", "select_product"])
def test_a_choosing_strategy_records_the_branches_each_test_fold_kept(strategy: str) -> None:
    outer, inner = _two_good_branches_and_noise()
    stack = stack_branches(outer)
    result = fuse_cross_validated(stack, strategy, inner=inner_stacks(inner))
    table = result_table(stack, result)
    kept = kept_per_fold(table)
    assert kept == {str(k): result.fitted[k]["selected"] for k in range(6)}
    assert all(names == ["a", "b"] for names in kept.values())
    assert kept_per_fold(result_table(stack, fuse_cross_validated(stack, "late_equal"))) == {}
