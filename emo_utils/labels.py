"""The label space: the 8 RAVDESS emotions, CREMA-D's 6 mapped into them, and EmoDB's boredom beside them.

A run uses the labels its data has, in canonical order (:func:`run_labels`): 8 on RAVDESS, 6 on CREMA-D,
7 on EmoDB (its six shared emotions plus ``bored``, which no other corpus has).
"""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
EMOTION_TO_INDEX: dict[str, int] = {e: i for i, e in enumerate(EMOTIONS)}

RAVDESS_EMOTION_CODES: dict[str, str] = {f"{i + 1:02d}": e for i, e in enumerate(EMOTIONS)}

CREMA_D_EMOTION_CODES: dict[str, str] = {
    "NEU": "neutral",
    "HAP": "happy",
    "SAD": "sad",
    "ANG": "angry",
    "FEA": "fearful",
    "DIS": "disgust",
}

# Labels beyond RAVDESS's eight, in canonical order after them.
EXTRA_EMOTIONS: tuple[str, ...] = ("bored",)
CANONICAL_EMOTIONS: tuple[str, ...] = EMOTIONS + EXTRA_EMOTIONS
PROBA_PREFIX = "p_"


def proba_columns(labels: tuple[str, ...] | list[str] = EMOTIONS) -> list[str]:
    """The probability columns of a table over ``labels``: one per label, in that order."""
    return [PROBA_PREFIX + label for label in labels]


# Columns of every probability table over the RAVDESS labels.
PROBA_COLUMNS: tuple[str, ...] = tuple(proba_columns(EMOTIONS))


def labels_of(table: object) -> tuple[str, ...]:
    """The labels of a probability table (from its ``p_*`` columns, in column order)."""
    return tuple(c[len(PROBA_PREFIX) :] for c in table.columns if c.startswith(PROBA_PREFIX))  # type: ignore[attr-defined]


def run_labels(emotions: object) -> tuple[str, ...]:
    """The labels a run predicts: the canonical labels present in ``emotions`` (a column of the manifest)."""
    present = set(emotions)  # type: ignore[call-overload]
    unknown = present - set(CANONICAL_EMOTIONS)
    if unknown:
        raise KeyError(f"unknown emotion(s) {sorted(unknown)}; expected some of {', '.join(CANONICAL_EMOTIONS)}")
    return tuple(e for e in CANONICAL_EMOTIONS if e in present)


def emotion_index(emotion: str, labels: tuple[str, ...] = EMOTIONS) -> int:
    """Index of ``emotion`` in ``labels`` (raises ``KeyError`` naming the valid labels)."""
    try:
        return EMOTION_TO_INDEX[emotion] if labels is EMOTIONS else labels.index(emotion)
    except (KeyError, ValueError):
        raise KeyError(f"unknown emotion {emotion!r}; expected one of {', '.join(labels)}") from None
