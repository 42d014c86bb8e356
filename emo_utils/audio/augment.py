"""Waveform augmentation for training: Gaussian noise at a set SNR, pitch shift, both, reverberation (a synthetic
room response) or a speed change (tempo and pitch together, as a tape played faster or slower).

Augmented copies are for training only; features of test clips always come from the clean waveform.
"""

from __future__ import annotations

from typing import Literal

import librosa
import numpy as np
import soxr

AugmentKind = Literal["noise", "pitch", "both", "reverb", "speed"]
AUGMENT_KINDS: tuple[str, ...] = ("noise", "pitch", "both", "reverb", "speed")
NOISE_SNR_DB = (15.0, 30.0)  # range the SNR of "noise" is drawn from
PITCH_STEPS = (-2.0, 2.0)  # range (semitones) the shift of "pitch" is drawn from
REVERB_RT60_S = (0.2, 0.8)  # range the reverberation time of "reverb" is drawn from (small room to lecture hall)
REVERB_DIRECT_TO_LATE_DB = (0.0, 10.0)  # range of the direct sound's energy over the reverberant tail's
SPEED_RATES = (0.9, 1.1)  # range the speed factor of "speed" is drawn from (1.1: 10% faster and higher)
PITCH_N_FFT = 512  # 32 ms at 16 kHz: a speech-sized window (librosa's default, 2048, is 128 ms and smears)


def add_noise(y: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``y`` plus white Gaussian noise scaled so the signal-to-noise ratio is exactly ``snr_db``."""
    noise = rng.standard_normal(len(y))
    signal_power = np.mean(np.square(y, dtype=np.float64))
    noise *= np.sqrt(signal_power / 10.0 ** (snr_db / 10.0) / np.mean(np.square(noise)))
    return (y + noise).astype(np.float32)


def phase_vocoder(D: np.ndarray, rate: float, hop_length: int) -> np.ndarray:
    """Time-stretch an STFT ``D`` (bins, frames) by ``rate``: librosa's phase vocoder, vectorised over frames.

    ``librosa.phase_vocoder`` runs the same recurrence in a Python loop, one output frame at a time;
    the phase accumulator is a cumulative sum, so all frames can be computed at once.
    """
    n_fft = 2 * (D.shape[0] - 1)
    steps = np.arange(0, D.shape[1], rate, dtype=np.float64)
    left, alpha = steps.astype(int), np.mod(steps, 1.0).astype(np.float32)
    magnitude = np.pad(np.abs(D), ((0, 0), (0, 2)))
    phase = np.pad(np.angle(D), ((0, 0), (0, 2)))  # atan2 once per input frame: the costly step
    magnitude = (1.0 - alpha) * magnitude[:, left] + alpha * magnitude[:, left + 1]
    # expected phase advance per hop, wrapped to [0, 2 pi): only phases modulo 2 pi matter, and small
    # increments keep the float32 accumulation accurate
    two_pi = np.float32(2.0 * np.pi)
    phi_advance = np.mod(hop_length * librosa.fft_frequencies(sr=2 * np.pi, n_fft=n_fft), 2.0 * np.pi)
    phi_advance = phi_advance.astype(np.float32)[:, None]
    dphase = phase[:, left + 1] - phase[:, left] - phi_advance
    dphase -= two_pi * np.round(dphase / two_pi)
    accumulated = np.cumsum(np.concatenate([phase[:, :1], (phi_advance + dphase)[:, :-1]], axis=1), axis=1)
    stretched = np.empty(magnitude.shape, dtype=np.result_type(D.dtype, np.complex64))
    stretched.real = magnitude * np.cos(accumulated)
    stretched.imag = magnitude * np.sin(accumulated)
    return stretched


def pitch_shift(y: np.ndarray, sr: int, n_steps: float, n_fft: int = PITCH_N_FFT) -> np.ndarray:
    """Shift the pitch of ``y`` by ``n_steps`` semitones, keeping its duration.

    Same method as ``librosa.effects.pitch_shift`` (phase-vocoder time stretch, then soxr resampling),
    with a vectorised phase vocoder and a speech-sized window (32 ms at 16 kHz, where librosa's default
    is 128 ms): about 2x faster than librosa with the same window.
    """
    rate = 2.0 ** (-n_steps / 12.0)
    hop = n_fft // 4
    stft = librosa.stft(y, n_fft=n_fft, hop_length=hop)
    stretched = librosa.istft(
        phase_vocoder(stft, rate, hop), hop_length=hop, n_fft=n_fft, length=int(round(len(y) / rate))
    )
    shifted = soxr.resample(stretched, sr / rate, sr, quality="HQ")
    return librosa.util.fix_length(shifted, size=len(y)).astype(np.float32)


def room_response(sr: int, rt60: float, direct_to_late_db: float, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room impulse response: a unit direct path followed by exponentially decaying Gaussian noise
    that falls by 60 dB in ``rt60`` seconds, its energy ``direct_to_late_db`` below the direct sound's."""
    n = max(2, int(round(rt60 * sr)))
    t = np.arange(1, n) / sr
    tail = rng.standard_normal(n - 1) * np.exp(-3.0 * np.log(10.0) * t / rt60)  # -60 dB at rt60
    tail *= np.sqrt(10.0 ** (-direct_to_late_db / 10.0) / np.sum(np.square(tail)))
    return np.concatenate([[1.0], tail]).astype(np.float32)


def reverberate(y: np.ndarray, sr: int, rt60: float, direct_to_late_db: float, rng: np.random.Generator) -> np.ndarray:
    """``y`` as heard in a room (:func:`room_response`), same length, same RMS level as ``y``."""
    import scipy.signal

    wet = scipy.signal.fftconvolve(y, room_response(sr, rt60, direct_to_late_db, rng))[: len(y)]
    scale = np.sqrt(np.mean(np.square(y, dtype=np.float64)) / max(np.mean(np.square(wet, dtype=np.float64)), 1e-20))
    return (wet * scale).astype(np.float32)


def change_speed(y: np.ndarray, sr: int, rate: float) -> np.ndarray:
    """``y`` played ``rate`` times as fast (shorter and higher for ``rate > 1``): resampled to ``len(y) / rate``."""
    if rate <= 0:
        raise ValueError(f"speed rate must be positive, got {rate}")
    return soxr.resample(y.astype(np.float32), sr, sr / rate, quality="HQ").astype(np.float32)


def augment(y: np.ndarray, sr: int, kind: AugmentKind, rng: np.random.Generator) -> np.ndarray:
    """One augmented copy of ``y``: ``"noise"``, ``"pitch"``, ``"both"`` (pitch shift, then noise), ``"reverb"``
    or ``"speed"`` (the only kind that changes the length).

    The SNR is drawn from :data:`NOISE_SNR_DB`, the shift from :data:`PITCH_STEPS`, the room from
    :data:`REVERB_RT60_S` and :data:`REVERB_DIRECT_TO_LATE_DB`, the speed from :data:`SPEED_RATES`, with ``rng``.
    """
    if kind not in AUGMENT_KINDS:
        raise ValueError(f"unknown augmentation {kind!r}; expected one of {AUGMENT_KINDS}")
    if kind == "reverb":
        rt60, direct_to_late_db = float(rng.uniform(*REVERB_RT60_S)), float(rng.uniform(*REVERB_DIRECT_TO_LATE_DB))
        return reverberate(y, sr, rt60, direct_to_late_db, rng)
    if kind == "speed":
        return change_speed(y, sr, float(rng.uniform(*SPEED_RATES)))
    if kind in ("pitch", "both"):
        y = pitch_shift(y, sr, float(rng.uniform(*PITCH_STEPS)))
    if kind in ("noise", "both"):
        y = add_noise(y, float(rng.uniform(*NOISE_SNR_DB)), rng)
    return y
