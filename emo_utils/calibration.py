"""Calibrated, reliability-aware late fusion for the demo: one label space, temperatures, weights, a doubt flag.

Each modality reads a clip in its own label space (the face: FER2013's 7 classes, named as emotions; the voice:
RAVDESS's 8). :class:`CalibratedFusion` maps both explicitly into one fused space (:data:`FUSED_LABELS`, the 7
emotions the two share once RAVDESS's ``calm`` is folded into ``neutral``: the face has no calm, and calm is
RAVDESS's mild neutral), rescales each with the temperature fitted on held-out data of its own training set,
and combines them by one of the rules of :data:`FUSION_RULES` (the shipped one is chosen on development pairs,
:mod:`emo_utils.fusion_dev`), e.g. ``reliability_x_confidence``::

    weight(modality, clip) = reliability(modality) * confidence(modality, clip)
    reliability = (held-out accuracy - chance) / (1 - chance), at least 0
    confidence  = the modality's calibrated top-1 probability on this clip

A fused top-1 probability below ``uncertain_below`` marks the reading as uncertain (threshold fixed a priori).
Temperatures are those of :func:`emo_utils.fusion.fit_temperature` (softmax(log p / T), T fitted by negative
log-likelihood).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emo_utils.errors import DataError
from emo_utils.fusion import apply_temperature
from emo_utils.provenance import write_json

CALIBRATION_FILE = "calibration.json"
FUSED_LABELS: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised")
LABEL_MAP: dict[str, str] = {"calm": "neutral"}  # every other label keeps its name
UNCERTAIN_BELOW = 0.4  # fused top-1 probability; fixed a priori (docs/demo.md), never tuned

# The family of fusion rules, fixed before any of them was scored, simplest first (a tie goes to the simpler rule).
FUSION_RULES: dict[str, str] = {
    "uncalibrated_equal": "the mean of the modalities' probabilities as they come (no temperature), equal weights",
    "calibrated_equal": "the mean of the temperature-scaled probabilities, equal weights",
    "calibrated_product": "the product of the temperature-scaled probabilities, renormalised (independent modalities, "
    "flat prior)",
    "reliability_weights": "the mean of the temperature-scaled probabilities weighted by each modality's "
    "chance-corrected held-out accuracy",
    "reliability_x_confidence": "the mean of the temperature-scaled probabilities weighted by each modality's "
    "chance-corrected held-out accuracy times its top-1 probability on the clip",
}


def map_labels(
    proba: np.ndarray,
    labels: Sequence[str],
    target: Sequence[str] = FUSED_LABELS,
    label_map: Mapping[str, str] = LABEL_MAP,
) -> np.ndarray:
    """Probabilities (..., len(labels)) moved into ``target`` (..., len(target)): each label goes to
    ``label_map.get(label, label)`` (probabilities of labels mapped together add up); a label with no place in
    ``target`` is an error, not a silent drop."""
    proba = np.asarray(proba, dtype=np.float64)
    if proba.shape[-1] != len(labels):
        raise ValueError(f"probabilities over {proba.shape[-1]} labels, but {len(labels)} labels given")
    out = np.zeros((*proba.shape[:-1], len(target)))
    for k, label in enumerate(labels):
        name = label_map.get(label, label)
        if name not in target:
            raise ValueError(f"label {label!r} has no place among {', '.join(target)}; add it to the label map")
        out[..., target.index(name)] += proba[..., k]
    return out


def reliability_bins(proba: np.ndarray, y: np.ndarray, n_bins: int = 10) -> list[dict[str, float]]:
    """Per confidence bin (top-1 probability in [i/n, (i+1)/n)): its count, mean confidence and accuracy."""
    proba, y = np.asarray(proba), np.asarray(y)
    top = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y
    which = np.minimum((top * n_bins).astype(int), n_bins - 1)
    return [
        {
            "low": i / n_bins,
            "high": (i + 1) / n_bins,
            "count": int((which == i).sum()),
            "confidence": float(top[which == i].mean()) if (which == i).any() else float("nan"),
            "accuracy": float(correct[which == i].mean()) if (which == i).any() else float("nan"),
        }
        for i in range(n_bins)
    ]


def expected_calibration_error(proba: np.ndarray, y: np.ndarray, n_bins: int = 10) -> float:
    """ECE: the count-weighted mean gap between confidence and accuracy over :func:`reliability_bins`."""
    bins = [b for b in reliability_bins(proba, y, n_bins) if b["count"]]
    total = sum(b["count"] for b in bins)
    return float(sum(b["count"] * abs(b["confidence"] - b["accuracy"]) for b in bins) / total)


def reliability(accuracy: float, n_labels: int) -> float:
    """Chance-corrected held-out accuracy in [0, 1]: 0 at (or below) chance, 1 when always right."""
    chance = 1.0 / n_labels
    return max(0.0, (accuracy - chance) / (1.0 - chance))


@dataclass(frozen=True)
class ModalityCalibration:
    """One modality's temperature and held-out accuracy (in the fused label space), and where they come from."""

    temperature: float
    accuracy: float
    data: str


@dataclass
class FusedReading:
    """The fused probabilities (over ``labels``), each modality's probabilities as the rule used them (``calibrated``:
    temperature-scaled, except under ``uncalibrated_equal``) and its per-clip weight (its share of the mean; under
    ``calibrated_product`` each modality's share of the product's log, equal)."""

    labels: tuple[str, ...]
    proba: np.ndarray
    calibrated: dict[str, np.ndarray]
    weights: dict[str, float]
    uncertain_below: float

    @property
    def confidence(self) -> float:
        return float(self.proba.max())

    @property
    def uncertain(self) -> bool:
        return self.confidence < self.uncertain_below

    def top(self, k: int = 2) -> list[tuple[str, float]]:
        order = np.argsort(-self.proba, kind="stable")[:k]
        return [(self.labels[i], float(self.proba[i])) for i in order]


@dataclass
class CalibratedFusion:
    """The demo's fusion: label map, temperatures and reliabilities per modality, the rule (one of
    :data:`FUSION_RULES`), the doubt threshold."""

    modalities: dict[str, ModalityCalibration]
    labels: tuple[str, ...] = FUSED_LABELS
    label_map: dict[str, str] = field(default_factory=lambda: dict(LABEL_MAP))
    uncertain_below: float = UNCERTAIN_BELOW
    rule: str = "reliability_x_confidence"

    def __post_init__(self) -> None:
        if self.rule not in FUSION_RULES:
            raise ValueError(f"unknown fusion rule {self.rule!r}; one of {', '.join(FUSION_RULES)}")

    def calibrate(self, name: str, proba: np.ndarray, labels: Sequence[str]) -> np.ndarray:
        """One modality's probabilities in the fused label space, temperature-scaled (as they come under
        ``uncalibrated_equal``)."""
        mapped = map_labels(proba, labels, self.labels, self.label_map)
        return (
            mapped
            if self.rule == "uncalibrated_equal"
            else apply_temperature(mapped, self.modalities[name].temperature)
        )

    def prior_weight(self, name: str) -> float:
        """The modality's chance-corrected held-out accuracy (its weight before the clip's confidence)."""
        return reliability(self.modalities[name].accuracy, len(self.labels))

    def fuse(self, readings: Mapping[str, tuple[np.ndarray, Sequence[str]]]) -> FusedReading:
        """Fuse ``{modality: (probabilities, their labels)}`` of one clip (only the modalities it has)."""
        if not readings:
            raise ValueError("nothing to fuse: no modality read the clip")
        calibrated = {name: self.calibrate(name, proba, labels) for name, (proba, labels) in readings.items()}
        weights = self._weights(calibrated)
        if self.rule == "calibrated_product":
            log_sum = sum(weights[name] * np.log(np.clip(calibrated[name], 1e-12, None)) for name in calibrated)
            fused = np.exp(len(calibrated) * (log_sum - np.max(log_sum)))
            fused = fused / fused.sum()
        else:
            fused = sum(weights[name] * calibrated[name] for name in calibrated)
        return FusedReading(self.labels, np.asarray(fused), calibrated, weights, self.uncertain_below)

    def _weights(self, calibrated: Mapping[str, np.ndarray]) -> dict[str, float]:
        """Each modality's share of this clip's fusion under the rule (they sum to 1)."""
        if self.rule == "reliability_weights":
            weights = {name: self.prior_weight(name) for name in calibrated}
        elif self.rule == "reliability_x_confidence":
            weights = {name: self.prior_weight(name) * float(p.max()) for name, p in calibrated.items()}
        else:
            weights = {name: 1.0 for name in calibrated}
        total = sum(weights.values())
        if total <= 0:  # every modality at chance: an unweighted mean, which the doubt flag will mark
            weights, total = {name: 1.0 for name in calibrated}, float(len(calibrated))
        return {name: w / total for name, w in weights.items()}

    def save(self, path: str | Path) -> Path:
        return write_json(path, asdict(self))


def load_calibration(path: str | Path) -> CalibratedFusion:
    """Read a :class:`CalibratedFusion` written by :meth:`CalibratedFusion.save`."""
    path = Path(path)
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return CalibratedFusion(
            modalities={k: ModalityCalibration(**v) for k, v in data["modalities"].items()},
            labels=tuple(data["labels"]),
            label_map=dict(data["label_map"]),
            uncertain_below=float(data["uncertain_below"]),
            rule=str(data.get("rule", "reliability_x_confidence")),  # files written before the rule was a choice
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(path, f"is not a readable calibration file ({exc})", "rebuild it: see MODEL_CARD.md") from exc
