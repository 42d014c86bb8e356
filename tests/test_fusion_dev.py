"""Development congruent pairs and the choice of the demo's fusion rule (tiny synthetic readings)."""

from __future__ import annotations

import numpy as np
import pytest

from emo_utils.calibration import FUSION_RULES, CalibratedFusion, ModalityCalibration
from emo_utils.fusion_dev import CONGRUENT_CLASSES, DevReadings, choose_rule, draw_pairs, score_rules, top1_over
from emo_utils.labels import EMOTIONS

FACE_LABELS = ("angry", "disgust", "fearful", "happy", "sad", "surprised", "neutral")


def saying(labels: tuple[str, ...], top: str, p: float) -> np.ndarray:
    out = np.full(len(labels), (1 - p) / (len(labels) - 1))
    out[labels.index(top)] = p
    return out


def test_top1_is_over_the_five_classes_with_calm_counted_as_neutral():
    proba = saying(EMOTIONS, "surprised", 0.5)
    proba[EMOTIONS.index("calm")] += 0.1
    proba /= proba.sum()
    assert top1_over(proba, EMOTIONS) == "neutral"  # surprised is not among the five; calm adds to neutral


def test_pairs_are_congruent_drawn_without_replacement_and_reproducible():
    faces = [e for e in CONGRUENT_CLASSES for _ in range(4)] + ["disgust"] * 3
    voices = [e for e in CONGRUENT_CLASSES for _ in range(6)] + ["calm"] * 6
    pairs = draw_pairs(faces, voices, per_class=3, seed=1)
    assert len(pairs) == 3 * len(CONGRUENT_CLASSES)
    assert all(faces[f] == voices[v] == e for f, v, e in pairs)
    assert len({f for f, _, _ in pairs}) == len({v for _, v, _ in pairs}) == len(pairs)
    assert draw_pairs(faces, voices, 3, seed=1) == pairs and draw_pairs(faces, voices, 3, seed=2) != pairs
    with pytest.raises(ValueError, match="neutral"):  # calm voices are not neutral ones
        draw_pairs(faces, [v if v != "neutral" else "calm" for v in voices], per_class=3, seed=0)


def readings(face_right: bool, voice_right: bool) -> DevReadings:
    """Four items per class; a modality that is 'right' says the truth at 0.6, else the next class at 0.6."""
    truth = [e for e in CONGRUENT_CLASSES for _ in range(4)]

    def said(labels: tuple[str, ...], right: bool) -> list[np.ndarray]:
        shift = 0 if right else 1
        return [
            saying(labels, CONGRUENT_CLASSES[(CONGRUENT_CLASSES.index(e) + shift) % len(CONGRUENT_CLASSES)], 0.6)
            for e in truth
        ]

    faces: list[np.ndarray | None] = list(said(FACE_LABELS, face_right))
    faces[0] = None  # a face not found
    return DevReadings(faces, FACE_LABELS, truth, np.stack(said(EMOTIONS, voice_right)), EMOTIONS, truth)


def test_scores_per_draw_with_a_face_not_found_counted_wrong_for_the_face_alone():
    fusion = CalibratedFusion({"f": ModalityCalibration(1.0, 0.9, "t"), "v": ModalityCalibration(1.0, 0.3, "t")})
    scores, uncertain = score_rules(
        fusion, readings(face_right=True, voice_right=False), "f", "v", seeds=(0, 1), per_class=2
    )
    assert set(scores) == {"face_alone", "voice_alone", *FUSION_RULES} and set(uncertain) == set(FUSION_RULES)
    assert all(len(v) == 2 for v in (*scores.values(), *uncertain.values()))
    assert all(0.0 <= share <= 1.0 for shares in uncertain.values() for share in shares)
    # 0.6 against 0.6 on another class: a fused top near 0.35, uncertain (the voice alone at 0.6 is not)
    assert all(share >= 0.9 for share in uncertain["uncalibrated_equal"])
    assert scores["voice_alone"] == [0.0, 0.0]
    # 10 pairs a draw; the one pair whose face was not found (if drawn) is wrong alone and fused from the wrong voice
    assert all(s in (0.9, 1.0) for s in scores["face_alone"])
    assert scores["reliability_weights"] == scores["face_alone"]  # the reliable face outweighs the voice


def test_the_choice_takes_the_highest_mean_and_a_tie_goes_to_the_simpler_rule():
    assert choose_rule({"calibrated_equal": [0.6, 0.62], "reliability_x_confidence": [0.7, 0.7]}) == (
        "reliability_x_confidence"
    )
    assert choose_rule({"reliability_x_confidence": [0.705], "uncalibrated_equal": [0.70]}) == "uncalibrated_equal"
    assert choose_rule({"face_alone": [0.9], "calibrated_product": [0.5]}) == "calibrated_product"  # rules only
    with pytest.raises(ValueError):
        choose_rule({"face_alone": [0.9]})
