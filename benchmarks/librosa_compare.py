"""Hand-written audio code against plain librosa, per clip, on real RAVDESS speech (one process, one thread).

    .venv/bin/python benchmarks/librosa_compare.py            # 120 clips of ../shared/data/ravdess

Compares (1) :func:`emo_utils.audio.features.frame_features` (ZCR, RMS, MFCC from one framing) with
``librosa.feature.zero_crossing_rate`` + ``rms`` + ``mfcc`` on the same settings, and (2)
:func:`emo_utils.audio.augment.pitch_shift` (vectorised phase vocoder) with ``librosa.effects.pitch_shift``
with the same window; for each, the time per clip and the largest difference of the outputs. Writes
benchmarks/librosa_compare.md. Measurement, not a test: nothing here is asserted.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import librosa
import numpy as np
import torch

from emo_utils.audio.augment import PITCH_N_FFT, pitch_shift
from emo_utils.audio.features import FeatureParams, frame_features, trim_silence
from emo_utils.audio.io import load_audio

ROOT = Path(__file__).resolve().parents[1]


def librosa_frame_features(y: np.ndarray, p: FeatureParams) -> np.ndarray:
    """ZCR, RMS and MFCCs with three librosa calls (each frames the signal again)."""
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=p.n_fft, hop_length=p.hop_length)[0]
    rms = librosa.feature.rms(y=y, frame_length=p.n_fft, hop_length=p.hop_length)[0]
    mfcc = librosa.feature.mfcc(
        y=y, sr=p.sample_rate, n_mfcc=p.n_mfcc, n_fft=p.n_fft, hop_length=p.hop_length, n_mels=p.n_mels
    )
    return np.concatenate([zcr[:, None], rms[:, None], mfcc.T], axis=1).astype(np.float32)


def librosa_pitch_shift(y: np.ndarray, sr: int, n_steps: float) -> np.ndarray:
    return librosa.effects.pitch_shift(y, sr=sr, n_steps=n_steps, n_fft=PITCH_N_FFT).astype(np.float32)


def per_clip_seconds(function: Callable[[np.ndarray], np.ndarray], clips: list[np.ndarray]) -> float:
    function(clips[0])  # warm-up: caches, lazy imports
    started = time.perf_counter()
    for y in clips:
        function(y)
    return (time.perf_counter() - started) / len(clips)


def max_difference(a: Callable, b: Callable, clips: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(a(y) - b(y)))) for y in clips[:10])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data" / "ravdess")
    parser.add_argument("--clips", type=int, default=120)
    args = parser.parse_args()
    torch.set_num_threads(1)
    p = FeatureParams()
    paths = sorted((args.data_root / "speech-16k").glob("Actor_*/*.flac"))[:: max(1, 1440 // args.clips)][: args.clips]
    clips = [trim_silence(load_audio(path, p.sample_rate), p.top_db, p.n_fft, p.hop_length) for path in paths]
    seconds = sum(len(y) for y in clips) / p.sample_rate / len(clips)

    def ours_features(y: np.ndarray) -> np.ndarray:
        return frame_features(y, p)

    def theirs_features(y: np.ndarray) -> np.ndarray:
        return librosa_frame_features(y, p)

    def ours_pitch(y: np.ndarray) -> np.ndarray:
        return pitch_shift(y, p.sample_rate, 1.5)

    def theirs_pitch(y: np.ndarray) -> np.ndarray:
        return librosa_pitch_shift(y, p.sample_rate, 1.5)

    rows = []
    for what, ours, theirs in (
        ("ZCR + RMS + 40 MFCC per frame", ours_features, theirs_features),
        ("pitch shift by 1.5 semitones", ours_pitch, theirs_pitch),
    ):
        mine, lib = per_clip_seconds(ours, clips), per_clip_seconds(theirs, clips)
        rows.append(
            f"| {what} | {1000 * mine:.1f} ms | {1000 * lib:.1f} ms | {lib / mine:.1f}x | "
            f"{max_difference(ours, theirs, clips):.2g} |"
        )
    text = "\n".join(
        [
            f"Per clip, one process, one thread; {len(clips)} real RAVDESS clips (trimmed, mean {seconds:.1f} s), "
            f"{time.strftime('%Y-%m-%d')}, benchmarks/librosa_compare.py.",
            "",
            "| step | hand-written | librosa | librosa / hand-written | largest difference (10 clips) |",
            "|---|---|---|---|---|",
            *rows,
            "",
        ]
    )
    (ROOT / "benchmarks" / "librosa_compare.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
