"""The demo's calibrated fusion: one label space, temperatures, weights from reliability and confidence, the doubt
flag, and the calibration error."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from emo_utils.calibration import (
    FUSED_LABELS,
    FUSION_RULES,
    CalibratedFusion,
    ModalityCalibration,
    expected_calibration_error,
    load_calibration,
    map_labels,
    reliability,
    reliability_bins,
)
from emo_utils.errors import DataError
from emo_utils.inference import render_text
from emo_utils.labels import EMOTIONS

FACE_LABELS = ("angry", "disgust", "fearful", "happy", "sad", "surprised", "neutral")


def one_hot_ish(labels: tuple[str, ...], top: str, p: float) -> np.ndarray:
    """``p`` on ``top``, the rest spread evenly."""
    out = np.full(len(labels), (1 - p) / (len(labels) - 1))
    out[labels.index(top)] = p
    return out


def fusion(face_accuracy: float = 0.5, voice_accuracy: float = 0.65) -> CalibratedFusion:
    return CalibratedFusion(
        {"face": ModalityCalibration(1.0, face_accuracy, "t"), "voice": ModalityCalibration(1.0, voice_accuracy, "t")}
    )


def test_calm_is_counted_as_neutral_and_an_unmapped_label_is_refused():
    voice = np.zeros(len(EMOTIONS))
    voice[EMOTIONS.index("calm")], voice[EMOTIONS.index("neutral")], voice[EMOTIONS.index("sad")] = 0.5, 0.2, 0.3
    mapped = map_labels(voice, EMOTIONS)
    assert mapped.shape == (len(FUSED_LABELS),) and "calm" not in FUSED_LABELS
    assert mapped[FUSED_LABELS.index("neutral")] == pytest.approx(0.7)
    assert mapped[FUSED_LABELS.index("sad")] == pytest.approx(0.3)
    face = map_labels(one_hot_ish(FACE_LABELS, "happy", 0.7), FACE_LABELS)  # same names, another order
    assert FUSED_LABELS[int(face.argmax())] == "happy"
    with pytest.raises(ValueError, match="bored"):
        map_labels(np.ones(2) / 2, ("bored", "sad"))


def test_reliability_is_zero_at_chance_and_one_when_always_right():
    assert reliability(1 / 7, 7) == 0.0 and reliability(0.1, 7) == 0.0 and reliability(1.0, 7) == 1.0
    assert reliability(4 / 7, 7) == pytest.approx(0.5)


def test_weights_are_reliability_times_the_clips_confidence():
    fuse = fusion(face_accuracy=4 / 7, voice_accuracy=1.0)  # reliabilities 0.5 and 1.0
    face = one_hot_ish(FACE_LABELS, "happy", 0.8)
    voice = one_hot_ish(EMOTIONS, "angry", 0.4)
    reading = fuse.fuse({"face": (face, FACE_LABELS), "voice": (voice, EMOTIONS)})
    raw = {"face": 0.5 * reading.calibrated["face"].max(), "voice": 1.0 * reading.calibrated["voice"].max()}
    total = sum(raw.values())
    assert reading.weights == pytest.approx({k: v / total for k, v in raw.items()})
    expected = sum(reading.weights[k] * reading.calibrated[k] for k in raw)
    np.testing.assert_allclose(reading.proba, expected)
    assert reading.proba.sum() == pytest.approx(1.0)
    # a more confident reading of the same modality weighs more
    sure = fuse.fuse({"face": (one_hot_ish(FACE_LABELS, "happy", 0.95), FACE_LABELS), "voice": (voice, EMOTIONS)})
    assert sure.weights["face"] > reading.weights["face"]


def test_a_modality_at_chance_gets_no_weight_and_one_modality_alone_is_its_own_reading():
    fuse = fusion(face_accuracy=0.1)
    face = one_hot_ish(FACE_LABELS, "happy", 0.9)
    voice = one_hot_ish(EMOTIONS, "sad", 0.6)
    reading = fuse.fuse({"face": (face, FACE_LABELS), "voice": (voice, EMOTIONS)})
    assert reading.weights["face"] == 0.0 and reading.top(1)[0][0] == "sad"
    alone = fuse.fuse({"face": (face, FACE_LABELS)})  # every modality at chance: an unweighted mean
    assert alone.weights == {"face": 1.0} and alone.top(1)[0][0] == "happy"


def test_temperature_softens_the_reading():
    fuse = CalibratedFusion({"face": ModalityCalibration(2.0, 0.5, "test")})
    face = one_hot_ish(FACE_LABELS, "happy", 0.9)
    assert fuse.calibrate("face", face, FACE_LABELS).max() < 0.9


def test_the_uncertain_flag_and_the_printed_top_two():
    fuse = fusion()
    unsure = fuse.fuse({"face": (one_hot_ish(FACE_LABELS, "happy", 0.3), FACE_LABELS)})
    sure = fuse.fuse({"face": (one_hot_ish(FACE_LABELS, "happy", 0.9), FACE_LABELS)})
    assert unsure.uncertain and not sure.uncertain
    assert [label for label, _ in sure.top(2)][0] == "happy"
    result = {
        "video": "clip.mp4",
        "audio": None,
        "run": "somewhere",
        "modalities": {"face": {"weight": 1.0, "probabilities": {"happy": 0.3}, "clip_weight": 1.0}},
        "fused_from": ["face"],
        "notes": [],
        "calibrated": True,
        "probabilities": dict(zip(FUSED_LABELS, unsure.proba.round(4).tolist())),
        "top_two": [[label, p] for label, p in unsure.top(2)],
        "confidence": unsure.confidence,
        "uncertain": unsure.uncertain,
        "uncertain_below": unsure.uncertain_below,
        "label_map": fuse.label_map,
    }
    text = render_text(result)
    assert "UNCERTAIN" in text and "calm counted as neutral" in text
    first, second = unsure.top(2)
    assert f"PREDICTION: {first[0]} ({first[1]:.2f}; then {second[0]} {second[1]:.2f})" in text
    assert "weights for this clip: face 1.00" in text
    product = render_text({**result, "fusion_rule": "calibrated_product"})
    assert "product of the calibrated readings" in product and "weights for this clip" not in product


def test_expected_calibration_error_and_bins():
    rng = np.random.default_rng(0)
    n = 4000
    confidence = rng.uniform(0.3, 1.0, n)
    y = np.zeros(n, dtype=int)
    right = rng.uniform(size=n) < confidence  # right exactly as often as it says: calibrated
    said = np.where(right, 0, 1)

    def saying(p: np.ndarray) -> np.ndarray:
        return np.stack([np.where(said == 0, p, 1 - p), np.where(said == 1, p, 1 - p)], axis=1)

    proba = saying(confidence)
    assert expected_calibration_error(proba, y) < 0.05
    assert expected_calibration_error(saying(np.full(n, 0.99)), y) > 0.2
    bins = reliability_bins(proba, y)
    assert sum(b["count"] for b in bins) == n and len(bins) == 10


def test_calibration_file_round_trip_and_a_bad_file_names_itself(tmp_path: Path):
    path = fusion().save(tmp_path / "fusion" / "calibration.json")
    loaded = load_calibration(path)
    assert loaded == fusion()
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(DataError, match="bad.json"):
        load_calibration(tmp_path / "bad.json")


@pytest.mark.parametrize("rule", list(FUSION_RULES))
def test_every_rule_gives_probabilities_and_one_modality_alone_keeps_its_top(rule: str):
    fuse = replace(fusion(), rule=rule)
    face, voice = one_hot_ish(FACE_LABELS, "happy", 0.8), one_hot_ish(EMOTIONS, "angry", 0.4)
    both = fuse.fuse({"face": (face, FACE_LABELS), "voice": (voice, EMOTIONS)})
    assert both.proba.sum() == pytest.approx(1.0) and sum(both.weights.values()) == pytest.approx(1.0)
    assert both.top(1)[0][0] in ("happy", "angry")
    alone = fuse.fuse({"voice": (voice, EMOTIONS)})
    assert alone.weights == {"voice": 1.0} and alone.top(1)[0][0] == "angry"


def test_the_rules_differ_as_they_say():
    face, voice = one_hot_ish(FACE_LABELS, "happy", 0.6), one_hot_ish(EMOTIONS, "angry", 0.55)
    clip = {"face": (face, FACE_LABELS), "voice": (voice, EMOTIONS)}
    sharp = CalibratedFusion(
        {"face": ModalityCalibration(3.0, 4 / 7, "t"), "voice": ModalityCalibration(1.0, 1.0, "t")}
    )  # the face softened by its temperature; reliabilities 0.5 and 1.0
    equal = replace(sharp, rule="uncalibrated_equal").fuse(clip)
    assert equal.weights == {"face": 0.5, "voice": 0.5} and equal.top(1)[0][0] == "happy"  # raw 0.6 beats 0.55
    np.testing.assert_allclose(equal.calibrated["face"], map_labels(face, FACE_LABELS))  # no temperature
    assert replace(sharp, rule="calibrated_equal").fuse(clip).top(1)[0][0] == "angry"  # the softened face loses
    assert replace(sharp, rule="reliability_weights").fuse(clip).weights == pytest.approx(
        {"face": 1 / 3, "voice": 2 / 3}
    )
    product = replace(sharp, rule="calibrated_product").fuse(clip)
    calibrated = product.calibrated["face"] * product.calibrated["voice"]
    np.testing.assert_allclose(product.proba, calibrated / calibrated.sum())
    assert product.confidence > replace(sharp, rule="calibrated_equal").fuse(clip).confidence  # sharper
    with pytest.raises(ValueError, match="unknown fusion rule"):
        replace(sharp, rule="vote")


def test_a_calibration_file_keeps_its_rule_and_an_older_one_reads_as_the_first_shipped_rule(tmp_path: Path):
    chosen = replace(fusion(), rule="calibrated_equal")
    assert load_calibration(chosen.save(tmp_path / "calibration.json")).rule == "calibrated_equal"
    data = json.loads((tmp_path / "calibration.json").read_text())
    del data["rule"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    assert load_calibration(tmp_path / "old.json").rule == "reliability_x_confidence"
