"""load_audio: formats, channel mixing, resampling, and a clear error for every kind of unusable file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emo_utils.audio.io import load_audio
from emo_utils.errors import DataError, MissingModalityError
from emo_utils.media import write_video

SR = 16000


def tone(freq: float, seconds: float, sr: int, amplitude: float = 0.3) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def peak_hz(y: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.fft.rfftfreq(len(y), 1 / sr)[np.argmax(spectrum)])


@pytest.fixture()
def wav_16k(tmp_path: Path) -> Path:
    path = tmp_path / "mono16k.wav"
    sf.write(path, tone(220, 1.0, SR), SR, subtype="PCM_16")
    return path


def test_mono_16k_wav_and_flac_load_unchanged(tmp_path: Path, wav_16k: Path) -> None:
    flac = tmp_path / "mono16k.flac"
    sf.write(flac, tone(220, 1.0, SR), SR)
    for path in (wav_16k, flac):
        y = load_audio(path)
        assert y.dtype == np.float32 and y.ndim == 1 and len(y) == SR
        np.testing.assert_allclose(y, tone(220, 1.0, SR), atol=1e-4)


def test_stereo_48k_becomes_mono_16k(tmp_path: Path) -> None:
    left, right = tone(440, 1.0, 48000, 0.4), tone(440, 1.0, 48000, 0.2)
    path = tmp_path / "stereo48k.wav"
    sf.write(path, np.stack([left, right], axis=1), 48000, subtype="PCM_16")
    y = load_audio(path)
    assert len(y) == SR
    assert peak_hz(y, SR) == pytest.approx(440, abs=2)
    assert np.sqrt(np.mean(y[1000:-1000] ** 2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.01)  # channel mean


def test_8k_is_upsampled(tmp_path: Path) -> None:
    path = tmp_path / "tel8k.wav"
    sf.write(path, tone(300, 0.5, 8000), 8000)
    y = load_audio(path)
    assert len(y) == SR // 2
    assert peak_hz(y, SR) == pytest.approx(300, abs=3)


def test_mp4_audio_track_and_mp4_without_audio(tmp_path: Path) -> None:
    frames = np.zeros((10, 32, 32, 3), np.uint8)
    with_audio = write_video(tmp_path / "clip.mp4", frames, fps=10, audio=tone(330, 1.0, SR), sample_rate=SR)
    y = load_audio(with_audio)
    assert abs(len(y) - SR) < 0.1 * SR
    assert peak_hz(y, SR) == pytest.approx(330, abs=3)
    silent_video = write_video(tmp_path / "mute.mp4", frames, fps=10)
    with pytest.raises(MissingModalityError, match="no audio track"):
        load_audio(silent_video)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found") as missing:
        load_audio(tmp_path / "nope.wav")
    assert "nope.wav" in str(missing.value)
    empty = tmp_path / "empty.flac"
    empty.touch()
    with pytest.raises(DataError, match=r"empty \(0 bytes\)") as err:
        load_audio(empty)
    assert err.value.path == str(empty) and "re-download" in err.value.hint


def test_truncated_wav_is_detected(tmp_path: Path, wav_16k: Path) -> None:
    """libsndfile reads a WAV cut mid-data without complaint; the RIFF size gives it away."""
    data = wav_16k.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated") as err:
        load_audio(cut)
    assert str(cut) in str(err.value)
    header_only = tmp_path / "header.wav"
    header_only.write_bytes(data[:30])
    with pytest.raises(DataError, match="truncated|cannot be decoded"):
        load_audio(header_only)


def test_corrupt_files(tmp_path: Path, wav_16k: Path) -> None:
    flac = tmp_path / "half.flac"
    sf.write(flac, np.random.default_rng(0).uniform(-0.5, 0.5, SR).astype(np.float32), SR)
    flac.write_bytes(flac.read_bytes()[: flac.stat().st_size // 2])
    garbage_wav = tmp_path / "garbage.wav"
    garbage_wav.write_bytes(np.random.default_rng(1).bytes(5000))
    garbage_mp4 = tmp_path / "garbage.mp4"
    garbage_mp4.write_bytes(np.random.default_rng(2).bytes(5000))
    for path in (flac, garbage_wav, garbage_mp4):
        with pytest.raises(DataError) as err:
            load_audio(path)
        assert str(path) in str(err.value) and err.value.hint


def test_silent_and_too_short(tmp_path: Path) -> None:
    zeros, whisper = tmp_path / "zeros.wav", tmp_path / "whisper.wav"
    sf.write(zeros, np.zeros(SR, np.float32), SR)
    sf.write(whisper, 1e-5 * np.random.default_rng(0).standard_normal(SR).astype(np.float32), SR, subtype="FLOAT")
    for path in (zeros, whisper):
        with pytest.raises(MissingModalityError, match="silent"):
            load_audio(path)
    short = tmp_path / "short.wav"
    sf.write(short, tone(220, 0.05, SR), SR)
    with pytest.raises(DataError, match="too short"):
        load_audio(short)
    assert len(load_audio(short, min_duration_s=0.01)) == 800


@pytest.mark.shared_data
def test_real_48k_stereo_matches_16k_flac(shared_ravdess: Path) -> None:
    """The two stereo originals of actor 01 load as mono 16 kHz and match the distributed 16 kHz FLAC."""
    originals = sorted((shared_ravdess / "speech-48k-sample" / "Actor_01").glob("*.wav"))
    stereo = [p for p in originals if sf.info(p).channels == 2]
    assert [p.name for p in stereo] == ["03-01-02-01-01-02-01.wav", "03-01-08-01-02-02-01.wav"]
    for path in stereo:
        y = load_audio(path)
        reference = load_audio(shared_ravdess / "speech-16k" / "Actor_01" / path.with_suffix(".flac").name)
        assert abs(len(y) - len(reference)) <= 1
        n = min(len(y), len(reference))
        assert np.corrcoef(y[:n], reference[:n])[0, 1] > 0.99
