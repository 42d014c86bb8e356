"""Development congruent pairs: where the demo's fusion rule is chosen, never on the test clips.

A development pair is one face of the DEVELOPMENT half of the FER2013 sample (the half that calibrates the face
model; :func:`emo_utils.video.face_eval.split_labelled_images`) and one RAVDESS clip's out-of-fold voice reading
(actors held out; the voice's calibration data) of the same emotion, over the five classes the congruent test
clips use (:data:`CONGRUENT_CLASSES`). Pairs are drawn with fixed seeds, several draws for a spread
(:func:`draw_pairs`); each rule of :data:`~emo_utils.calibration.FUSION_RULES` is scored on every draw with the
demo's own :meth:`~emo_utils.calibration.CalibratedFusion.fuse` (:func:`score_rules`) and the rule is chosen by a
rule fixed a priori (:func:`choose_rule`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from emo_utils.calibration import FUSION_RULES, CalibratedFusion

CONGRUENT_CLASSES: tuple[str, ...] = ("angry", "fearful", "happy", "neutral", "sad")  # shared by face and EmoDB
TIE_POINTS = 0.01  # mean dev accuracies this close count as a tie, won by the simpler rule (fixed a priori)
FACE_SIDES = (120, 260)  # px, the face's side in a 640x360 frame: as benchmarks/congruent_clips.py places faces
CLIP_SECONDS, CLIP_FPS = 2.0, 15


def top1_over(proba: np.ndarray, labels: Sequence[str], classes: Sequence[str] = CONGRUENT_CLASSES) -> str:
    """The most probable of ``classes`` (calm counted as neutral) in ``proba`` over ``labels``."""
    scores = {c: 0.0 for c in classes}
    for label, p in zip(labels, np.asarray(proba, dtype=float)):
        name = "neutral" if label == "calm" else label
        if name in scores:
            scores[name] += p
    return max(classes, key=scores.__getitem__)


@dataclass
class DevReadings:
    """Each modality's readings of its development items, in its own label space, with their true emotions.

    ``face[i]`` is None where no face was found (the pair is then fused from the voice alone, as the demo does).
    """

    face: list[np.ndarray | None]
    face_labels: tuple[str, ...]
    face_truth: list[str]
    voice: np.ndarray
    voice_labels: tuple[str, ...]
    voice_truth: list[str]


def draw_pairs(
    face_truth: Sequence[str],
    voice_truth: Sequence[str],
    per_class: int,
    seed: int,
    classes: Sequence[str] = CONGRUENT_CLASSES,
) -> list[tuple[int, int, str]]:
    """``per_class`` (face index, voice index, emotion) pairs per class, faces and voices of that emotion drawn
    without replacement with ``seed``. A voice labelled calm is not a neutral voice here (the test's neutral voices
    are neutral). Raises ValueError when a class has too few faces or voices."""
    rng = np.random.default_rng(seed)
    pairs = []
    for emotion in classes:
        faces = [i for i, e in enumerate(face_truth) if e == emotion]
        voices = [i for i, e in enumerate(voice_truth) if e == emotion]
        if len(faces) < per_class or len(voices) < per_class:
            raise ValueError(f"{emotion}: {len(faces)} faces and {len(voices)} voices, fewer than {per_class}")
        chosen = zip(rng.choice(faces, per_class, replace=False), rng.choice(voices, per_class, replace=False))
        pairs += [(int(f), int(v), emotion) for f, v in chosen]
    return pairs


def score_rules(
    fusion: CalibratedFusion,
    readings: DevReadings,
    face_name: str,
    voice_name: str,
    seeds: Sequence[int],
    per_class: int,
    rules: Sequence[str] = tuple(FUSION_RULES),
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per rule (and ``face_alone``, ``voice_alone``, calibrated), the top-1 accuracy over the five classes on each
    seed's draw of pairs; and per rule, the share of each draw's pairs marked uncertain. Every rule fuses through
    :meth:`CalibratedFusion.fuse` with ``fusion``'s temperatures, reliabilities and doubt threshold; a face not
    found counts as wrong for the face alone."""
    variants = {rule: replace(fusion, rule=rule) for rule in rules}
    scores: dict[str, list[float]] = {name: [] for name in ("face_alone", "voice_alone", *rules)}
    uncertain: dict[str, list[float]] = {rule: [] for rule in rules}
    for seed in seeds:
        right: dict[str, list[bool]] = {name: [] for name in scores}
        unsure: dict[str, list[bool]] = {rule: [] for rule in rules}
        for f, v, emotion in draw_pairs(readings.face_truth, readings.voice_truth, per_class, seed):
            clip = {voice_name: (readings.voice[v], readings.voice_labels)}
            face = readings.face[f]
            if face is not None:
                clip[face_name] = (face, readings.face_labels)
                face_said = top1_over(fusion.calibrate(face_name, face, readings.face_labels), fusion.labels)
                right["face_alone"].append(face_said == emotion)
            else:
                right["face_alone"].append(False)
            voice_said = top1_over(
                fusion.calibrate(voice_name, readings.voice[v], readings.voice_labels), fusion.labels
            )
            right["voice_alone"].append(voice_said == emotion)
            for rule, variant in variants.items():
                reading = variant.fuse(clip)
                right[rule].append(top1_over(reading.proba, fusion.labels) == emotion)
                unsure[rule].append(reading.uncertain)
        for name, flags in right.items():
            scores[name].append(float(np.mean(flags)))
        for rule, flags in unsure.items():
            uncertain[rule].append(float(np.mean(flags)))
    return scores, uncertain


def choose_rule(scores: Mapping[str, Sequence[float]], tie: float = TIE_POINTS) -> str:
    """The rule with the highest mean accuracy; rules within ``tie`` of it are tied and the one listed first in
    :data:`~emo_utils.calibration.FUSION_RULES` (the simplest) wins. Fixed before any rule was scored."""
    means = {rule: float(np.mean(scores[rule])) for rule in FUSION_RULES if rule in scores}
    if not means:
        raise ValueError(f"no fusion rule among the scores ({', '.join(scores)})")
    best = max(means.values())
    return next(rule for rule, mean in means.items() if mean >= best - tie)


def face_readings_in_frames(images: Sequence[Path], seed: int) -> list[np.ndarray | None]:
    """The shipped face model's reading (8 emotions) of each FER2013 image enlarged onto a plain 640x360 frame
    (side and centre drawn with ``seed`` as the congruent test clips draw them) with camera drift, read by the
    demo's own face predictor (:class:`emo_utils.inference.ZeroShotFacePredictor`); None where no face is found."""
    import cv2

    from emo_utils.clip_media import ClipMedia
    from emo_utils.errors import MissingModalityError
    from emo_utils.inference import load_predictor
    from emo_utils.pretrained import FACE_BRANCH, SHIPPED_DIR
    from emo_utils.video.assemble import animate_still, place_face

    predictor = load_predictor(SHIPPED_DIR / "branches" / FACE_BRANCH)
    rng = np.random.default_rng(seed)
    out: list[np.ndarray | None] = []
    for path in images:
        face = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        side = int(rng.integers(*FACE_SIDES))
        frame, _ = place_face(face, side, (rng.uniform(0.3, 0.7), rng.uniform(0.35, 0.65)))
        frames = animate_still(frame, int(CLIP_SECONDS * CLIP_FPS), CLIP_FPS, rng)
        try:
            out.append(predictor.predict(ClipMedia(frames=frames, label=str(path))))
        except MissingModalityError:
            out.append(None)
    return out
