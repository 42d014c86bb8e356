"""Load one audio file (or the audio track of a video) as mono float32 at a fixed sample rate.

Every way a clip can be unusable (missing, empty, truncated, corrupt, silent, too short) raises an
error that names the file and says what to do, so extraction stages can log it and go on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from emo_utils.errors import DataError, MissingModalityError
from emo_utils.media import read_audio_track

SOUNDFILE_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")
SILENCE_RMS = 1e-4  # -80 dBFS: below this a clip holds no usable sound
_RIFF_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # written by streaming encoders that do not know the length


def _check_wav_complete(path: Path) -> None:
    """Raise when a RIFF/WAVE header promises more bytes than the file holds (libsndfile reads it silently)."""
    with path.open("rb") as handle:
        header = handle.read(12)
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return
    declared = int.from_bytes(header[4:8], "little")
    actual = path.stat().st_size
    if declared not in _RIFF_UNKNOWN_SIZES and declared + 8 > actual + 1:
        raise DataError(
            path,
            f"WAV file is truncated ({actual} of {declared + 8} bytes)",
            "the copy or download was interrupted; re-copy or re-download this clip",
        )


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    _check_wav_complete(path)
    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except sf.LibsndfileError as exc:
        raise DataError(
            path,
            f"cannot be decoded as audio ({exc.error_string})",
            "the file is truncated or corrupt; re-copy or re-download it",
        ) from exc
    return samples.mean(axis=1), int(rate)


def resample(y: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    """``y`` from ``rate`` to ``sample_rate`` Hz (soxr, high quality); unchanged when the rates agree."""
    if rate == sample_rate:
        return y
    return soxr.resample(y, rate, sample_rate, quality="HQ")


def load_audio(path: str | Path, sample_rate: int = 16000, min_duration_s: float = 0.1) -> np.ndarray:
    """Mono float32 samples of ``path`` at ``sample_rate``.

    WAV/FLAC/OGG/AIFF are read with soundfile; any other container (mp4, ...) through PyAV. Channels
    are averaged; other rates are resampled with soxr (high quality). Raises :class:`DataError` for a
    missing, empty, truncated, corrupt or too short file and :class:`MissingModalityError` for a file
    without sound (no audio track, or silent).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found", "check the path (and --data-root)")
    if path.stat().st_size == 0:
        raise DataError(path, "file is empty (0 bytes)", "re-copy or re-download this clip")
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        y, rate = _read_soundfile(path)
    else:
        y, rate = read_audio_track(path, sample_rate), sample_rate
    y = np.ascontiguousarray(resample(y, rate, sample_rate), dtype=np.float32)
    duration = len(y) / sample_rate
    if duration < min_duration_s:
        raise DataError(
            path,
            f"audio is too short ({duration:.3f} s < {min_duration_s} s)",
            "use a longer clip, or lower min_duration_s",
        )
    if not np.all(np.isfinite(y)):
        raise DataError(path, "audio holds NaN or infinite samples", "re-export the file from its source")
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
    if rms < SILENCE_RMS:
        raise MissingModalityError(
            path,
            f"audio is silent (RMS {rms:.1e} < {SILENCE_RMS:.0e})",
            "check the microphone channel or the export; leave this clip out",
        )
    return y
