"""Calibrated, reliability-aware late fusion for the demo: one label space, temperatures, weights, a doubt flag.

Each modality reads a clip in its own label space (the face: FER2013's 7 classes, named as emotions; the voice:
RAVDESS's 8). :class:`CalibratedFusion` maps both explicitly into one fused space (:data:`FUSED_LABELS`, the 7
emotions the two share once RAVDESS's ``calm`` is folded into ``neutral``: the face has no calm, and calm is
RAVDESS's mild neutral), rescales each with the temperature fitted on held-out data of its own training set,
and averages them with per-clip weights::

    weight(modality, clip) = reliability(modality) * confidence(modality, clip)
    reliability = (held-out accuracy - chance) / (1 - chance), at least 0     (fixed a priori, see the card)
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
    """The fused probabilities (over ``labels``), each modality's calibrated probabilities and per-clip weight."""

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
    """The demo's fusion: label map, temperatures and reliabilities per modality, the doubt threshold."""

    modalities: dict[str, ModalityCalibration]
    labels: tuple[str, ...] = FUSED_LABELS
    label_map: dict[str, str] = field(default_factory=lambda: dict(LABEL_MAP))
    uncertain_below: float = UNCERTAIN_BELOW

    def calibrate(self, name: str, proba: np.ndarray, labels: Sequence[str]) -> np.ndarray:
        """One modality's probabilities in the fused label space, temperature-scaled."""
        mapped = map_labels(proba, labels, self.labels, self.label_map)
        return apply_temperature(mapped, self.modalities[name].temperature)

    def prior_weight(self, name: str) -> float:
        """The modality's chance-corrected held-out accuracy (its weight before the clip's confidence)."""
        return reliability(self.modalities[name].accuracy, len(self.labels))

    def fuse(self, readings: Mapping[str, tuple[np.ndarray, Sequence[str]]]) -> FusedReading:
        """Fuse ``{modality: (probabilities, their labels)}`` of one clip (only the modalities it has)."""
        if not readings:
            raise ValueError("nothing to fuse: no modality read the clip")
        calibrated = {name: self.calibrate(name, proba, labels) for name, (proba, labels) in readings.items()}
        weights = {name: self.prior_weight(name) * float(p.max()) for name, p in calibrated.items()}
        total = sum(weights.values())
        if total <= 0:  # every modality at chance: an unweighted mean, which the doubt flag will mark
            weights = {name: 1.0 for name in calibrated}
            total = float(len(calibrated))
        weights = {name: w / total for name, w in weights.items()}
        fused = sum(weights[name] * calibrated[name] for name in calibrated)
        return FusedReading(self.labels, np.asarray(fused), calibrated, weights, self.uncertain_below)

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
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(path, f"is not a readable calibration file ({exc})", "rebuild it: see MODEL_CARD.md") from exc
