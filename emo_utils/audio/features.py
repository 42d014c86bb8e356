"""Hand-crafted frame features of the late-fusion reference design: ZCR, RMS energy and MFCCs (+ deltas).

All three come from one framing of the signal: the frames give ZCR and RMS directly and, windowed, the
STFT that the mel filterbank and the DCT turn into MFCCs (the same values as ``librosa.feature.mfcc``,
without re-framing the signal once per feature). Leading/trailing silence is trimmed first and every
clip is centre-cropped or zero-padded to ``max_frames`` so a dataset stacks to (N, T, F).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache, partial
from pathlib import Path

import numpy as np
import scipy.fft
import scipy.signal
import scipy.sparse
from librosa.filters import mel as mel_filterbank

from emo_utils.audio.augment import AUGMENT_KINDS
from emo_utils.audio.augment import augment as augment_waveform
from emo_utils.audio.io import load_audio
from emo_utils.errors import SkipLog
from emo_utils.extraction import extract_feature_set
from emo_utils.feature_store import FeatureSet

STAGE_VERSION = 1  # bump when a change alters the MFCC features (and their augmented copies) (emo_utils.stages)

STAGE = "audio_features"


@dataclass(frozen=True)
class FeatureParams:
    """Frame-feature settings. Defaults: 40 ms windows every 20 ms (50 frames/s, the frame rate of
    wav2vec 2.0), 3 s kept (150 frames: 98% of trimmed RAVDESS utterances are shorter, median 1.8 s)."""

    sample_rate: int = 16000
    n_fft: int = 640  # window length too
    hop_length: int = 320
    n_mels: int = 64
    n_mfcc: int = 40
    # 0: MFCCs only, 1: + deltas, 2: + delta-deltas. The 1-D CNN learns its own temporal filters, and
    # deltas made it overfit (real RAVDESS, 6 actor folds: 57.6% without, 53.7% with delta-deltas).
    delta_order: int = 0
    max_frames: int = 150
    top_db: float = 30.0  # trim edges quieter than the loudest frame by this much

    def __post_init__(self) -> None:
        if self.delta_order not in (0, 1, 2):
            raise ValueError(f"delta_order must be 0, 1 or 2, got {self.delta_order}")
        if self.n_mfcc > self.n_mels:
            raise ValueError(f"n_mfcc ({self.n_mfcc}) cannot exceed n_mels ({self.n_mels})")

    @property
    def feature_names(self) -> list[str]:
        mfcc = [f"mfcc_{i}" for i in range(self.n_mfcc)]
        prefixes = ["", "d_", "dd_"][: self.delta_order + 1]
        return ["zcr", "rms"] + [prefix + name for prefix in prefixes for name in mfcc]


@lru_cache(maxsize=8)
def _analysis(sample_rate: int, n_fft: int, n_mels: int) -> tuple[np.ndarray, scipy.sparse.csr_matrix]:
    """The Hann window and the (mels, bins) filterbank, built once per process.

    The filterbank is kept sparse (each filter spans a few bins): unlike a dense BLAS product, a sparse
    one starts no threads, whose wake-ups made this small product cost more than all other steps together.
    """
    window = scipy.signal.get_window("hann", n_fft, fftbins=True).astype(np.float32)
    mel_basis = mel_filterbank(sr=sample_rate, n_fft=n_fft, n_mels=n_mels).astype(np.float32)
    return window, scipy.sparse.csr_matrix(mel_basis)


def deltas(x: np.ndarray, width: int = 2) -> np.ndarray:
    """Regression deltas along time (axis 0) over +-``width`` frames, edges repeated (HTK's formula)."""
    padded = np.pad(x, ((width, width), (0, 0)), mode="edge")
    n = len(x)
    numerator = sum(
        k * (padded[width + k : width + k + n] - padded[width - k : width - k + n]) for k in range(1, width + 1)
    )
    return numerator / (2 * sum(k * k for k in range(1, width + 1)))


def centred_frames(y: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """(T, frame_length) view of ``y`` zero-padded by half a frame on each side: librosa's centred framing."""
    padded = np.pad(np.asarray(y, dtype=np.float32), frame_length // 2)
    return np.lib.stride_tricks.sliding_window_view(padded, frame_length)[::hop_length]


def power_to_db(power: np.ndarray, amin: float = 1e-10, top_db: float = 80.0) -> np.ndarray:
    """Power in decibels (reference 1), floored ``top_db`` below the maximum (``librosa.power_to_db``)."""
    log_power = 10.0 * np.log10(np.maximum(amin, power))
    return np.maximum(log_power, log_power.max() - top_db)


def trim_silence(y: np.ndarray, top_db: float = 30.0, frame_length: int = 640, hop_length: int = 320) -> np.ndarray:
    """``y`` without its leading and trailing frames quieter than its loudest frame by ``top_db``.

    The same cut as ``librosa.effects.trim`` (frame RMS in dB relative to the loudest frame), in NumPy:
    it spares each worker process the import of librosa's effects module (about a second).
    """
    rms = np.sqrt(np.mean(np.square(centred_frames(y, frame_length, hop_length)), axis=1))
    amin = 1e-5
    loud = 20.0 * np.log10(np.maximum(amin, rms)) - 20.0 * np.log10(max(amin, float(rms.max(initial=0.0))))
    kept = np.flatnonzero(loud > -top_db)
    if kept.size == 0:
        return y[:0]
    return y[kept[0] * hop_length : min(len(y), (kept[-1] + 1) * hop_length)]


def frame_features(y: np.ndarray, params: FeatureParams = FeatureParams()) -> np.ndarray:
    """(T, F) float32 features of every frame of ``y``: ZCR, RMS, MFCCs and their deltas (``feature_names``).

    Frames are centred (``T = 1 + len(y) // hop_length``), as in librosa.
    """
    window, mel_basis = _analysis(params.sample_rate, params.n_fft, params.n_mels)
    frames = centred_frames(y, params.n_fft, params.hop_length)
    signs = np.signbit(frames)
    zcr = np.count_nonzero(signs[:, 1:] != signs[:, :-1], axis=1) / (params.n_fft - 1)
    rms = np.sqrt(np.mean(np.square(frames), axis=1))
    spectrum = scipy.fft.rfft(frames * window, axis=1)
    power = np.square(spectrum.real) + np.square(spectrum.imag)
    log_mel = power_to_db((mel_basis @ power.T).T)
    mfcc = scipy.fft.dct(log_mel, type=2, norm="ortho", axis=1)[:, : params.n_mfcc]
    parts = [zcr[:, None], rms[:, None], mfcc]
    for _ in range(params.delta_order):
        parts.append(deltas(parts[-1]))
    return np.concatenate(parts, axis=1).astype(np.float32)


def fix_frames(x: np.ndarray, max_frames: int) -> np.ndarray:
    """``x`` (T, ...) centre-cropped or zero-padded at the end to exactly ``max_frames`` rows."""
    if len(x) >= max_frames:
        start = (len(x) - max_frames) // 2
        return x[start : start + max_frames]
    return np.pad(x, [(0, max_frames - len(x))] + [(0, 0)] * (x.ndim - 1))


def clip_rng(seed: int, key: str, kind: str) -> np.random.Generator:
    """Random generator for one augmentation of one clip: the same whatever the order, worker or resume."""
    return np.random.default_rng([seed, zlib.crc32(key.encode()), zlib.crc32(kind.encode())])


def waveform_features(y: np.ndarray, params: FeatureParams = FeatureParams()) -> np.ndarray:
    """(max_frames, F) features of a waveform at ``params.sample_rate``: edge silence trimmed, then framed."""
    y = trim_silence(y, params.top_db, params.n_fft, params.hop_length)
    return fix_frames(frame_features(y, params), params.max_frames)


def clip_features(
    path: str | Path, params: FeatureParams = FeatureParams(), augment_kinds: Sequence[str] = (), seed: int = 0
) -> dict[str, np.ndarray]:
    """Features of one clip: ``{"X": (T, F)}`` plus ``"X_aug": (K, T, F)`` when ``augment_kinds`` are given.

    The waveform is loaded, trimmed, then augmented (so noise covers speech, not the trimmed silence),
    each kind seeded by ``(seed, file name, kind)`` (the worker sees the path only; RAVDESS/CREMA-D file
    names are unique per clip). Module-level, hence picklable for worker processes.
    """
    y = trim_silence(load_audio(path, params.sample_rate), params.top_db, params.n_fft, params.hop_length)

    def fixed_features(waveform: np.ndarray) -> np.ndarray:
        return fix_frames(frame_features(waveform, params), params.max_frames)

    out = {"X": fixed_features(y)}
    if augment_kinds:
        name = Path(path).name
        out["X_aug"] = np.stack(
            [
                fixed_features(augment_waveform(y, params.sample_rate, kind, clip_rng(seed, name, kind)))
                for kind in augment_kinds
            ]
        )
    return out


def extract_dataset_features(
    tasks: Sequence[tuple[str, str | Path]],
    out_npz: str | Path,
    cache_dir: str | Path,
    augment: Sequence[str] = ("noise", "pitch"),
    n_jobs: int | None = None,
    progress: bool = True,
    seed: int = 0,
    params: FeatureParams = FeatureParams(),
) -> tuple[FeatureSet, SkipLog]:
    """Frame features of every ``(clip_id, path)`` task, saved to ``out_npz`` as a :class:`FeatureSet`.

    ``X`` is (N, T, F) from the clean clips; ``X_aug`` (N, K, T, F) holds one augmented copy per kind in
    ``augment`` (training only; ``None`` when ``augment`` is empty). Clips run in parallel and are cached
    in shards under ``cache_dir`` (a rerun or an interrupted run only computes what is missing); an
    existing ``out_npz`` made with the same settings and holding every clip is loaded as is. Unreadable
    clips are left out and listed in the returned :class:`SkipLog`.
    """
    unknown = set(augment) - set(AUGMENT_KINDS)
    if unknown:
        raise ValueError(f"unknown augmentation(s) {sorted(unknown)}; expected some of {AUGMENT_KINDS}")
    settings = {"params": asdict(params), "augment": list(augment), "seed": seed}
    meta = {
        "kind": "frame_features",
        "feature_names": params.feature_names,
        "sample_rate": params.sample_rate,
        "frame_rate_hz": params.sample_rate / params.hop_length,
    }
    fn = partial(clip_features, params=params, augment_kinds=tuple(augment), seed=seed)
    return extract_feature_set(tasks, fn, out_npz, cache_dir, STAGE, settings, meta, n_jobs=n_jobs, progress=progress)
