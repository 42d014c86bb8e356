"""The one canonical label space: the 8 RAVDESS emotions, CREMA-D's 6 mapped into it."""
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

# Columns of every probability table: one per emotion, in label order.
PROBA_COLUMNS: tuple[str, ...] = tuple(f"p_{e}" for e in EMOTIONS)


def emotion_index(emotion: str) -> int:
    """Index of ``emotion`` in :data:`EMOTIONS` (raises ``KeyError`` naming the valid labels)."""
    try:
        return EMOTION_TO_INDEX[emotion]
    except KeyError:
        raise KeyError(f"unknown emotion {emotion!r}; expected one of {', '.join(EMOTIONS)}") from None
