"""One prediction table: per clip its actor, its test fold, its true label and one probability per label.

Every model of the project (a branch, a fusion strategy, a baseline, the cross-corpus and fine-tuned models, the
zero-shot face model) writes its predictions as a :class:`PredictionTable`, so the metrics, reports, plots and
fusion read them all alike:

    clip_id, actor, fold, emotion, p_<label> for each label[, further columns such as fused_from, outer_fold]

``fold`` is the test fold whose model predicted the clip (absent where no model was fitted per fold, as for the
zero-shot face model). Each row's probabilities sum to 1, or are all NaN for a clip that was not scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emo_utils.labels import labels_of, proba_columns

KEYS: tuple[str, ...] = ("clip_id", "actor", "fold", "emotion")
REQUIRED: tuple[str, ...] = ("clip_id", "actor", "emotion")  # fold only where models were fitted per fold
SUM_TOLERANCE = 1e-3  # probabilities saved as float32 or rounded in a CSV still sum to 1 within this


class PredictionTableError(ValueError):
    """A table that is not a valid prediction table (says which column or row is wrong)."""


@dataclass(frozen=True)
class PredictionTable:
    """Validated predictions over ``labels`` (the ``p_*`` columns, in order); ``frame`` is the table itself."""

    frame: pd.DataFrame

    def __post_init__(self) -> None:
        validate(self.frame)

    @classmethod
    def build(
        cls,
        proba: np.ndarray,
        clip_ids: Sequence[Any] | np.ndarray,
        actors: Sequence[Any] | np.ndarray,
        emotions: Sequence[str] | np.ndarray,
        labels: Sequence[str],
        folds: Sequence[Any] | np.ndarray | int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> PredictionTable:
        """The table of ``proba`` (N, len(labels)) for these clips; ``folds`` None leaves out the fold column,
        ``extra`` adds columns after the probabilities."""
        frame = pd.DataFrame(np.asarray(proba), columns=proba_columns(tuple(labels)))
        keys = {"clip_id": clip_ids, "actor": actors, "fold": folds, "emotion": emotions}
        for position, (column, values) in enumerate((c, v) for c, v in keys.items() if v is not None):
            frame.insert(position, column, np.asarray(values) if not np.isscalar(values) else values)
        for column, values in (extra or {}).items():
            frame[column] = values
        return cls(frame)

    @classmethod
    def read_csv(cls, path: str | Path) -> PredictionTable:
        """A saved table, with ids read as text."""
        try:
            return cls(pd.read_csv(path, dtype={"clip_id": str, "actor": str}))
        except PredictionTableError as exc:
            raise PredictionTableError(f"{path}: {exc}") from None

    def to_csv(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.frame.to_csv(path, index=False)
        return path

    @property
    def labels(self) -> tuple[str, ...]:
        return labels_of(self.frame)

    @property
    def proba(self) -> np.ndarray:
        """(N, len(labels)) probabilities, NaN rows for unscored clips."""
        return self.frame[proba_columns(self.labels)].to_numpy(dtype=np.float64)

    @property
    def scored(self) -> np.ndarray:
        """True for the rows that carry probabilities."""
        return ~np.isnan(self.proba).all(axis=1)


def validate(frame: pd.DataFrame) -> None:
    """Raise :class:`PredictionTableError` unless ``frame`` has the key columns, ``p_*`` columns, true labels
    among those labels and rows of probabilities summing to 1 (or all NaN)."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    labels = labels_of(frame)
    if missing or not labels:
        raise PredictionTableError(f"the prediction table lacks columns {missing or ['p_<label>']}")
    unknown = sorted(set(frame["emotion"]) - set(labels))
    if unknown:
        raise PredictionTableError(f"true labels {unknown} have no probability column (labels: {', '.join(labels)})")
    proba = frame[proba_columns(labels)].to_numpy(dtype=np.float64)
    unscored = np.isnan(proba).all(axis=1)
    scored = proba[~unscored]
    bad = ~(np.isfinite(scored).all(axis=1) & (np.abs(scored.sum(axis=1) - 1.0) <= SUM_TOLERANCE))
    bad |= (scored < -SUM_TOLERANCE).any(axis=1)
    if bad.any():
        row = int(np.flatnonzero(~unscored)[np.argmax(bad)])
        raise PredictionTableError(
            f"{int(bad.sum())} rows' probabilities do not sum to 1 (nor are all NaN), "
            f"e.g. clip {frame['clip_id'].iloc[row]}: {proba[row].round(4).tolist()}"
        )
