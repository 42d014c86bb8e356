"""Parse RAVDESS (``MM-VV-EE-II-SS-RR-AA``), CREMA-D (``1001_DFA_ANG_XX``) and EmoDB (``03a01Fa``) clip names.

A malformed or out-of-range name raises :class:`FilenameError` naming the file and the bad field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from emo_utils.errors import FilenameError
from emo_utils.labels import CREMA_D_EMOTION_CODES, RAVDESS_EMOTION_CODES

RAVDESS_MODALITIES = {"01": "audio-video", "02": "video-only", "03": "audio-only"}
RAVDESS_CHANNELS = {"01": "speech", "02": "song"}
RAVDESS_INTENSITIES = {"01": "normal", "02": "strong"}
RAVDESS_STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
CREMA_D_SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")
CREMA_D_LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}

# EmoDB (Burkhardt et al. 2005): speaker code -> (sex, age at recording), from the corpus documentation.
EMODB_SPEAKERS: dict[str, tuple[str, int]] = {
    "03": ("male", 31),
    "08": ("female", 34),
    "09": ("female", 21),
    "10": ("male", 32),
    "11": ("male", 26),
    "12": ("male", 30),
    "13": ("female", 32),
    "14": ("female", 35),
    "15": ("male", 25),
    "16": ("female", 31),
}
EMODB_SENTENCES = ("a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03", "b09", "b10")
# German initials -> labels. Six map onto RAVDESS labels; "bored" (Langeweile) has no RAVDESS counterpart.
EMODB_EMOTION_CODES: dict[str, str] = {
    "W": "angry",
    "L": "bored",
    "E": "disgust",
    "A": "fearful",
    "F": "happy",
    "T": "sad",
    "N": "neutral",
}
EMODB_FIELDS = ("speaker", "sentence", "emotion", "version")


@dataclass(frozen=True)
class ClipName:
    """What a clip's file name says about it, in the canonical label space."""

    dataset: str
    take_id: str
    actor: str
    gender: str
    emotion: str
    intensity: str
    statement: str
    repetition: int
    modality: str


def _stem(path: str | Path) -> str:
    name = Path(path).name
    for suffix in (".csv.gz", ".mp4", ".wav", ".flac", ".csv", ".npz"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def _check(path: str | Path, field: str, code: str, valid: dict[str, str] | range) -> None:
    ok = code in valid if isinstance(valid, dict) else code.isdigit() and int(code) in valid
    if not ok:
        allowed = ", ".join(valid) if isinstance(valid, dict) else f"{valid.start:02d}-{valid.stop - 1:02d}"
        raise FilenameError(
            path,
            f"RAVDESS field '{field}' is {code!r}, expected one of {allowed}",
            "rename the file to the official MM-VV-EE-II-SS-RR-AA pattern (see data/README.md)",
        )


def parse_ravdess(path: str | Path) -> ClipName:
    """Parse a RAVDESS name such as ``03-01-05-02-01-01-12.wav`` (all seven fields checked)."""
    stem = _stem(path)
    parts = stem.split("-")
    if len(parts) != 7 or not all(re.fullmatch(r"\d\d", p) for p in parts):
        raise FilenameError(
            path,
            f"name {stem!r} is not seven two-digit fields MM-VV-EE-II-SS-RR-AA",
            "rename it to the official RAVDESS pattern (see data/README.md)",
        )
    modality, channel, emotion, intensity, statement, repetition, actor = parts
    _check(path, "modality", modality, RAVDESS_MODALITIES)
    _check(path, "vocal_channel", channel, RAVDESS_CHANNELS)
    _check(path, "emotion", emotion, RAVDESS_EMOTION_CODES)
    _check(path, "intensity", intensity, RAVDESS_INTENSITIES)
    _check(path, "statement", statement, RAVDESS_STATEMENTS)
    _check(path, "repetition", repetition, range(1, 3))
    _check(path, "actor", actor, range(1, 100))
    if emotion == "01" and intensity == "02":
        raise FilenameError(
            path,
            "RAVDESS field 'intensity' is '02' (strong) but neutral has no strong intensity",
            "check the emotion and intensity fields",
        )
    return ClipName(
        dataset="ravdess",
        take_id="-".join(parts[1:]),
        actor=f"ravdess_{actor}",
        gender="male" if int(actor) % 2 else "female",
        emotion=RAVDESS_EMOTION_CODES[emotion],
        intensity=RAVDESS_INTENSITIES[intensity],
        statement=statement,
        repetition=int(repetition),
        modality=RAVDESS_MODALITIES[modality],
    )


def parse_crema_d(path: str | Path, genders: dict[str, str] | None = None) -> ClipName:
    """Parse a CREMA-D name such as ``1001_DFA_ANG_XX.wav``; ``genders`` maps actor id to gender."""
    stem = _stem(path)
    parts = stem.split("_")
    if len(parts) != 4:
        raise FilenameError(
            path,
            f"name {stem!r} is not ActorID_Sentence_Emotion_Level",
            "rename it to the CREMA-D pattern, e.g. 1001_DFA_ANG_XX",
        )
    actor, sentence, emotion, level = parts
    if not re.fullmatch(r"1\d\d\d", actor) or not 1001 <= int(actor) <= 1091:
        raise FilenameError(path, f"CREMA-D field 'actor' is {actor!r}, expected 1001-1091", "check the actor id")
    if sentence not in CREMA_D_SENTENCES:
        raise FilenameError(
            path,
            f"CREMA-D field 'sentence' is {sentence!r}, expected one of {', '.join(CREMA_D_SENTENCES)}",
            "check the sentence code",
        )
    if emotion not in CREMA_D_EMOTION_CODES:
        raise FilenameError(
            path,
            f"CREMA-D field 'emotion' is {emotion!r}, expected one of {', '.join(CREMA_D_EMOTION_CODES)}",
            "check the emotion code",
        )
    if level not in CREMA_D_LEVELS:
        raise FilenameError(
            path,
            f"CREMA-D field 'level' is {level!r}, expected one of {', '.join(CREMA_D_LEVELS)}",
            "check the level code",
        )
    return ClipName(
        dataset="crema-d",
        take_id=stem,
        actor=f"cremad_{actor}",
        gender=(genders or {}).get(actor, "unknown"),
        emotion=CREMA_D_EMOTION_CODES[emotion],
        intensity=CREMA_D_LEVELS[level],
        statement=sentence,
        repetition=1,
        modality="audio-video" if Path(path).suffix.lower() in (".mp4", ".flv") else "audio-only",
    )


def _emodb_field(path: str | Path, field: str, code: str, allowed: str) -> FilenameError:
    return FilenameError(
        path,
        f"EmoDB field '{field}' is {code!r}, expected one of {allowed}",
        "rename the file to the EmoDB pattern SSTTTEV, e.g. 03a01Fa.wav (see data/README.md)",
    )


def parse_emodb(path: str | Path) -> ClipName:
    """Parse an EmoDB name such as ``03a01Fa.wav``: speaker, sentence, emotion initial, version letter.

    The actor keeps the two-digit speaker code (``emodb_03``); the sex comes from the corpus's speaker
    table. Every field is checked; a bad one raises :class:`FilenameError` naming it.
    """
    stem = _stem(path)
    if len(stem) != 7:
        raise FilenameError(
            path,
            f"name {stem!r} is not 7 characters SSTTTEV (speaker, sentence, emotion, version)",
            "rename it to the EmoDB pattern, e.g. 03a01Fa.wav (see data/README.md)",
        )
    speaker, sentence, emotion, version = stem[:2], stem[2:5], stem[5], stem[6]
    if speaker not in EMODB_SPEAKERS:
        raise _emodb_field(path, "speaker", speaker, ", ".join(EMODB_SPEAKERS))
    if sentence not in EMODB_SENTENCES:
        raise _emodb_field(path, "sentence", sentence, ", ".join(EMODB_SENTENCES))
    if emotion not in EMODB_EMOTION_CODES:
        raise _emodb_field(path, "emotion", emotion, ", ".join(EMODB_EMOTION_CODES))
    if not re.fullmatch(r"[a-z]", version):
        raise _emodb_field(path, "version", version, "a-z")
    return ClipName(
        dataset="emodb",
        take_id=stem,
        actor=f"emodb_{speaker}",
        gender=EMODB_SPEAKERS[speaker][0],
        emotion=EMODB_EMOTION_CODES[emotion],
        intensity="unspecified",
        statement=sentence,
        repetition=ord(version) - ord("a") + 1,
        modality="audio-only",
    )
