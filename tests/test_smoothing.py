"""Temporal smoothing of a timeline's windows: the moving average, the sticky Viterbi decoder, the timeline hook."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emo_utils.cli import build_parser
from emo_utils.smoothing import (
    NO_LABEL,
    SMOOTHERS,
    count_switches,
    ema_alpha,
    exponential_moving_average,
    labels_of_takes,
    smooth_labels,
    stay_probability,
    sticky_viterbi,
    top_labels,
)
from emo_utils.timeline import Timeline, read_timeline, read_timeline_csv, smooth_timeline, write_timeline

K = 4


def _noisy_takes(seed: int, n_takes: int = 12, per_take: int = 8, right: float = 0.55) -> tuple[np.ndarray, np.ndarray]:
    """Per-window probabilities of a classifier right ``right`` of the time on takes of ``per_take`` windows."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(rng.integers(0, K, n_takes), per_take)
    guess = np.where(rng.random(len(truth)) < right, truth, rng.integers(0, K, len(truth)))
    P = rng.dirichlet(np.ones(K), len(truth)) * 0.5
    P[np.arange(len(truth)), guess] += 0.5
    return P / P.sum(axis=1, keepdims=True), truth


def test_parameters_follow_from_time_constants() -> None:
    assert ema_alpha(0.5, 1.0) == pytest.approx(1 - np.exp(-0.5))
    assert stay_probability(0.5, 4.0) == pytest.approx(0.875)  # a mean stay of 8 windows
    with pytest.raises(ValueError, match="longer than a hop"):
        stay_probability(0.5, 0.5)
    with pytest.raises(ValueError, match="positive"):
        ema_alpha(0.0, 1.0)


def test_the_moving_average_is_causal_and_carries_over_windows_without_prediction() -> None:
    P, _ = _noisy_takes(0)
    P[5] = np.nan
    smoothed = exponential_moving_average(P, 0.4)
    assert np.isnan(smoothed[5]).all() and not np.isnan(smoothed[6]).any()
    np.testing.assert_allclose(smoothed[6], 0.4 * P[6] + 0.6 * smoothed[4])
    np.testing.assert_allclose(smoothed.sum(axis=1)[~np.isnan(smoothed).any(axis=1)], 1.0)
    later = P.copy()
    later[30:] = np.eye(K)[0]  # the future changes: the past does not move
    np.testing.assert_array_equal(exponential_moving_average(later, 0.4)[:30], smoothed[:30])
    np.testing.assert_array_equal(exponential_moving_average(P, 1.0)[6:], P[6:])  # alpha 1: no smoothing


def test_sticky_decoding_removes_isolated_flips_and_a_uniform_chain_is_the_argmax() -> None:
    truth = np.repeat([0, 2, 1], 10)
    P = np.full((30, K), 0.1)
    P[np.arange(30), truth] = 0.7
    for t in (3, 14, 25):  # one window each take says something else
        P[t] = 0.1
        P[t, 3] = 0.7
    np.testing.assert_array_equal(sticky_viterbi(P, 0.9), truth)
    np.testing.assert_array_equal(sticky_viterbi(P, 1 / K), P.argmax(axis=1))  # no stickiness: each window alone
    assert count_switches(sticky_viterbi(P, 0.9)) == 2 < count_switches(P.argmax(axis=1)) == 8


@pytest.mark.parametrize("method", ["ema", "viterbi"])
def test_smoothing_raises_window_accuracy_and_cuts_switches_on_noisy_takes(method: str) -> None:
    right_before = right_after = switches_before = switches_after = 0
    for seed in range(5):
        P, truth = _noisy_takes(seed)
        before, after = smooth_labels(P, "none", 0.5), smooth_labels(P, method, 0.5)
        right_before += (before == truth).sum()
        right_after += (after == truth).sum()
        switches_before += count_switches(before)
        switches_after += count_switches(after)
    assert right_after > right_before and switches_after < switches_before


def test_windows_without_prediction_get_no_label_and_unknown_methods_are_refused() -> None:
    P, _ = _noisy_takes(1)
    P[[0, 7]] = np.nan
    for method in SMOOTHERS:
        labels = smooth_labels(P, method, 0.5)
        assert labels[0] == labels[7] == NO_LABEL and (labels[1:7] != NO_LABEL).all()
    np.testing.assert_array_equal(smooth_labels(P, "none", 0.5), top_labels(P))
    assert count_switches(np.array([1, NO_LABEL, 1, 2, NO_LABEL])) == 1
    with pytest.raises(ValueError, match="unknown smoothing"):
        smooth_labels(P, "median", 0.5)
    with pytest.raises(ValueError, match="shape"):
        smooth_labels(np.ones(5), "ema", 0.5)


def test_a_window_belongs_to_the_take_holding_its_centre() -> None:
    spans = [(0.0, 2.0), (0.5, 2.5), (1.0, 3.0), (1.5, 3.5), (2.0, 4.0)]
    np.testing.assert_array_equal(labels_of_takes(spans, np.array([2.0, 4.0]), np.array([5, 6])), [5, 5, 6, 6, 6])


def test_the_cli_offers_every_smoother() -> None:
    action = next(
        a for a in build_parser()._subparsers._group_actions[0].choices["demo"]._actions if a.dest == "smooth"
    )
    assert tuple(action.choices) == SMOOTHERS and action.default == "none"


def test_a_smoothed_timeline_labels_each_window_and_its_segments_follow_the_smoothed_label(tmp_path: Path) -> None:
    labels = ["happy", "sad"]
    probabilities = [0.9, 0.8, 0.4, 0.9, None, 0.8, 0.2, 0.1, 0.2]  # p(happy); None: no prediction
    windows = [
        {
            "start_s": k * 0.5,
            "end_s": k * 0.5 + 2.0,
            "prediction": None if p is None else labels[int(p < 0.5)],
            "probabilities": {} if p is None else {"happy": p, "sad": 1 - p},
            "modalities": {},
        }
        for k, p in enumerate(probabilities)
    ]
    timeline = Timeline("clip.mp4", "run", labels, [], 2.0, 0.5, 10.0, windows)
    assert smooth_timeline(timeline, "none") is timeline
    smoothed = smooth_timeline(timeline, "viterbi")
    assert timeline.windows[2].get("smoothed") is None  # the original is left as it was
    assert [w["smoothed"] for w in smoothed.windows] == ["happy"] * 4 + [None] + ["happy"] + ["sad"] * 3
    assert [w["prediction"] for w in smoothed.windows] == [w["prediction"] for w in timeline.windows]
    assert [label for _, _, label in smoothed.segments()] == ["happy", "-", "happy", "sad"]
    assert "smoothed over time (viterbi" in smoothed.summary()
    paths = write_timeline(smoothed, tmp_path)
    frame = read_timeline_csv(paths["csv"])
    assert list(frame.columns[:5]) == ["start_s", "end_s", "prediction", "smoothed", "missing"]
    assert frame["smoothed"].tolist() == [w["smoothed"] or "" for w in smoothed.windows]
    again = read_timeline(paths["json"])
    assert again.smoothing == "viterbi" and again.segments() == smoothed.segments()
    assert "smoothed" not in read_timeline_csv(write_timeline(timeline, tmp_path / "raw")["csv"]).columns
