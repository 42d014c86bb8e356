"""Feature files: one ``.npz`` per feature set, rows aligned with clip ids, with metadata.

Every stage after the manifest reads and writes these, so data flows one way through the output folder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class FeatureSet:
    """``X[i]`` belongs to ``clip_ids[i]``; ``X_aug[i, k]`` (optional) are augmented copies for training only."""

    clip_ids: np.ndarray
    X: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    X_aug: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.clip_ids = np.asarray(self.clip_ids).astype(str)
        if len(self.clip_ids) != len(self.X):
            raise ValueError(f"{len(self.clip_ids)} clip ids but {len(self.X)} feature rows")
        if self.X_aug is not None and len(self.X_aug) != len(self.X):
            raise ValueError(f"X_aug has {len(self.X_aug)} rows, X has {len(self.X)}")

    def __len__(self) -> int:
        return len(self.clip_ids)

    @property
    def random_weights(self) -> bool:
        """True when the features come from randomly initialised stand-in weights."""
        return bool(self.meta.get("random_weights", False))

    def subset(self, clip_ids: np.ndarray | list[str]) -> FeatureSet:
        """Rows for ``clip_ids`` in that order (raises ``KeyError`` for an unknown id)."""
        position = {c: i for i, c in enumerate(self.clip_ids)}
        rows = np.array([position[c] for c in clip_ids], dtype=int)
        aug = None if self.X_aug is None else self.X_aug[rows]
        return FeatureSet(self.clip_ids[rows], self.X[rows], dict(self.meta), aug)


def save_features(path: str | Path, features: FeatureSet) -> Path:
    """Write ``features`` to ``path`` (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"clip_ids": features.clip_ids, "X": features.X, "meta": np.array(json.dumps(features.meta))}
    if features.X_aug is not None:
        arrays["X_aug"] = features.X_aug
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.rename(path)
    return path


def saved_features(path: str | Path, made_with: Mapping[str, Any], clip_ids: Sequence[str]) -> FeatureSet | None:
    """The rows of ``clip_ids`` (in that order) of the feature file at ``path`` when its meta records every
    setting of ``made_with`` and it holds all those clips; None when it is missing or was made otherwise.

    The one rule by which an extractor reuses its output file instead of recomputing (a stage's folder is
    already named by its fingerprint, :mod:`emo_utils.stages`; this guards a file written for other clips or
    settings in the same place, e.g. by a direct call).
    """
    path = Path(path)
    if not path.is_file():
        return None
    saved = load_features(path)
    expected = json.loads(json.dumps(made_with))  # as the meta reads back from disk (tuples become lists)
    if any(saved.meta.get(name) != value for name, value in expected.items()):
        return None
    if not set(clip_ids) <= set(saved.clip_ids.tolist()):
        return None
    return saved.subset(list(clip_ids))


def load_features(path: str | Path) -> FeatureSet:
    """Read a feature file written by :func:`save_features`."""
    with np.load(path, allow_pickle=False) as data:
        return FeatureSet(
            clip_ids=data["clip_ids"],
            X=data["X"],
            meta=json.loads(str(data["meta"])),
            X_aug=data["X_aug"] if "X_aug" in data.files else None,
        )
