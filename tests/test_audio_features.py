"""Frame features (ZCR/RMS/MFCC + deltas), augmentation, and the cached, resumable dataset extraction."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from emo_utils.audio import features
from emo_utils.audio.augment import (
    add_noise,
    augment,
    change_speed,
    phase_vocoder,
    pitch_shift,
    reverberate,
    room_response,
)
from emo_utils.audio.features import (
    FeatureParams,
    clip_features,
    deltas,
    extract_dataset_features,
    fix_frames,
    frame_features,
    trim_silence,
)
from emo_utils.errors import DataError
from emo_utils.feature_store import load_features

SR = 16000


def voiced(seconds: float, f0: float = 150.0, seed: int = 0) -> np.ndarray:
    """A speech-like harmonic tone with a slow amplitude envelope and a little noise."""
    t = np.arange(int(seconds * SR)) / SR
    y = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8))
    y *= 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    y += 0.01 * np.random.default_rng(seed).standard_normal(len(t))
    return (0.2 * y / np.abs(y).max()).astype(np.float32)


def f0_hz(y: np.ndarray) -> float:
    """Frequency of the strongest spectral peak, refined by parabolic interpolation."""
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y)), n=8 * len(y)))
    i = int(np.argmax(spectrum))
    a, b, c = np.log(spectrum[i - 1 : i + 2])
    return (i + 0.5 * (a - c) / (a - 2 * b + c)) * SR / (8 * len(y))


def write_clips(folder: Path, n: int) -> list[tuple[str, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    tasks = []
    for i in range(n):
        path = folder / f"clip{i}.wav"
        y = np.concatenate(
            [np.zeros(SR // 4, np.float32), voiced(1.0 + 0.5 * i, 120 + 20 * i, i), np.zeros(SR // 4, np.float32)]
        )
        sf.write(path, y, SR, subtype="FLOAT")
        tasks.append((f"c{i}", str(path)))
    return tasks


def test_frame_features_equal_librosa() -> None:
    """The shared single-framing pipeline gives librosa's MFCC, RMS and ZCR values."""
    params = FeatureParams()
    y = voiced(1.3)
    x = frame_features(y, params)
    assert x.dtype == np.float32 and x.shape == (1 + len(y) // params.hop_length, len(params.feature_names))
    kwargs = {"n_fft": params.n_fft, "hop_length": params.hop_length}
    mfcc = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=params.n_mfcc, n_mels=params.n_mels, **kwargs).T
    np.testing.assert_allclose(x[:, 2 : 2 + params.n_mfcc], mfcc, atol=1e-2)
    rms = librosa.feature.rms(y=y, frame_length=params.n_fft, hop_length=params.hop_length, pad_mode="constant")
    np.testing.assert_allclose(x[:, 1], rms[0], rtol=1e-4, atol=1e-6)
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=params.n_fft, hop_length=params.hop_length)
    assert np.abs(x[1:-1, 0] - zcr[0, 1:-1]).max() < 3 / params.n_fft  # edges: librosa pads differently


def test_trim_and_decibels_equal_librosa() -> None:
    rng = np.random.default_rng(3)
    quiet = (1e-4 * rng.normal(size=SR // 3)).astype(np.float32)
    for y in (np.concatenate([quiet, voiced(0.8), quiet]), voiced(0.4), np.concatenate([quiet, voiced(0.3)])):
        for top_db in (20.0, 30.0, 60.0):
            ours = features.trim_silence(y, top_db, 640, 320)
            reference, _ = librosa.effects.trim(y, top_db=top_db, frame_length=640, hop_length=320)
            np.testing.assert_array_equal(ours, reference)
    silence = np.zeros(SR, np.float32)  # no loudest frame to compare with: both keep it all
    assert len(features.trim_silence(silence)) == len(librosa.effects.trim(silence, top_db=30)[0]) == SR
    power = np.abs(rng.normal(size=(20, 64))) ** 2 * np.logspace(-14, 0, 64)
    np.testing.assert_allclose(features.power_to_db(power), librosa.power_to_db(power), rtol=1e-6)


def test_feature_layout_follows_delta_order() -> None:
    y = voiced(0.5)
    for order, n_features in ((0, 42), (1, 82), (2, 122)):
        params = FeatureParams(delta_order=order)
        assert len(params.feature_names) == n_features == frame_features(y, params).shape[1]
    assert FeatureParams().feature_names[:3] == ["zcr", "rms", "mfcc_0"]
    assert FeatureParams(delta_order=2).feature_names[-1] == "dd_mfcc_39"


def test_deltas_of_a_ramp_are_its_slope() -> None:
    ramp = np.arange(20, dtype=np.float32)[:, None] * np.array([[1.0, -3.0]], np.float32)
    d = deltas(ramp)
    np.testing.assert_allclose(d[2:-2], np.tile([[1.0, -3.0]], (16, 1)), atol=1e-6)
    assert d.shape == ramp.shape and abs(d[0, 0]) < 1.0  # edges repeated: flatter
    assert deltas(ramp[:1]).shape == (1, 2)  # a single frame works


def test_fix_frames_centre_crops_and_zero_pads() -> None:
    x = np.arange(10, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(fix_frames(x, 4)[:, 0], [3, 4, 5, 6])
    padded = fix_frames(x, 13)
    np.testing.assert_array_equal(padded[:10], x)
    assert padded.shape == (13, 1) and not padded[10:].any()


def test_trim_silence_removes_quiet_edges() -> None:
    speech = voiced(1.0)
    y = np.concatenate([np.zeros(SR // 2, np.float32), speech, 1e-5 * np.ones(SR, np.float32)])
    trimmed = trim_silence(y)
    assert abs(len(trimmed) - len(speech)) < 2 * 320
    assert np.abs(trimmed[:320]).max() > 1e-3


@pytest.mark.parametrize("snr_db", [0.0, 12.5, 30.0])
def test_add_noise_hits_the_snr_exactly(snr_db: float) -> None:
    y = voiced(1.0)
    noisy = add_noise(y, snr_db, np.random.default_rng(0))
    noise = noisy.astype(np.float64) - y
    measured = 10 * np.log10(np.mean(y.astype(np.float64) ** 2) / np.mean(noise**2))
    assert noisy.dtype == np.float32 and measured == pytest.approx(snr_db, abs=0.01)
    assert abs(np.mean(noise) / np.std(noise)) < 0.05  # zero-mean Gaussian


@pytest.mark.parametrize("n_steps", [3.0, -2.0, 0.5])
def test_pitch_shift_moves_f0_by_the_ratio(n_steps: float) -> None:
    y = (0.3 * np.sin(2 * np.pi * 220.0 * np.arange(SR) / SR)).astype(np.float32)
    shifted = pitch_shift(y, SR, n_steps)
    assert shifted.shape == y.shape and shifted.dtype == np.float32
    core = slice(SR // 8, -SR // 8)
    assert f0_hz(shifted[core]) == pytest.approx(220.0 * 2 ** (n_steps / 12), rel=0.005)
    assert np.std(shifted[core]) == pytest.approx(np.std(y[core]), rel=0.1)


def test_phase_vocoder_equals_librosa_loop() -> None:
    stft = librosa.stft(voiced(1.0), n_fft=512, hop_length=128)
    for rate in (0.8, 1.25):
        ours, reference = phase_vocoder(stft, rate, 128), librosa.phase_vocoder(stft, rate=rate, hop_length=128)
        assert ours.shape == reference.shape
        assert np.abs(ours - reference).max() < 1e-2 * np.abs(reference).max()


def test_room_response_decays_by_60_db_in_rt60() -> None:
    rt60 = 0.4
    h = room_response(SR, rt60, 0.0, np.random.default_rng(0))
    assert len(h) == int(rt60 * SR) and h[0] == 1.0
    assert np.sum(h[1:] ** 2) == pytest.approx(1.0, rel=1e-4)  # tail energy equal to the direct path's at 0 dB
    quarter = len(h) // 4
    early, late = np.mean(h[1 : 1 + quarter] ** 2), np.mean(h[-quarter:] ** 2)
    assert 10 * np.log10(early / late) == pytest.approx(0.75 * 60.0, abs=3.0)  # energy falls 60 dB per rt60


def test_reverberate_smears_a_click_and_keeps_level() -> None:
    y = voiced(1.0)
    wet = reverberate(y, SR, 0.6, 3.0, np.random.default_rng(1))
    assert wet.shape == y.shape and wet.dtype == np.float32
    assert np.sqrt(np.mean(wet**2)) == pytest.approx(np.sqrt(np.mean(y**2)), rel=1e-3)
    click = np.zeros(SR, np.float32)
    click[100] = 1.0
    smeared = reverberate(click, SR, 0.6, 3.0, np.random.default_rng(1))
    assert np.abs(smeared[SR // 4 :]).max() > 0  # energy a quarter of a second after the click
    assert np.abs(smeared[:100]).max() < 1e-6  # nothing before it (FFT round-off aside)


@pytest.mark.parametrize("rate", [0.9, 1.1])
def test_change_speed_scales_duration_and_pitch(rate: float) -> None:
    y = (0.3 * np.sin(2 * np.pi * 220.0 * np.arange(SR) / SR)).astype(np.float32)
    fast = change_speed(y, SR, rate)
    assert len(fast) == pytest.approx(SR / rate, abs=2) and fast.dtype == np.float32
    core = slice(SR // 8, -SR // 8)
    assert f0_hz(fast[core]) == pytest.approx(220.0 * rate, rel=0.005)
    with pytest.raises(ValueError, match="positive"):
        change_speed(y, SR, 0.0)


def test_augment_kinds() -> None:
    y = voiced(1.0)
    for kind in ("noise", "pitch", "both", "reverb"):
        out = augment(y, SR, kind, np.random.default_rng(0))
        assert out.shape == y.shape and np.isfinite(out).all() and not np.allclose(out, y)
    sped = augment(y, SR, "speed", np.random.default_rng(0))
    assert 0.9 * len(y) - 2 <= len(sped) <= len(y) / 0.9 + 2 and len(sped) != len(y)
    np.testing.assert_array_equal(
        augment(y, SR, "both", np.random.default_rng(5)), augment(y, SR, "both", np.random.default_rng(5))
    )
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment(y, SR, "echo", np.random.default_rng(0))


def test_clip_features_augmentation_is_seeded_and_kept_apart(tmp_path: Path) -> None:
    ((_, path),) = write_clips(tmp_path, 1)
    clean = clip_features(path)
    first = clip_features(path, augment_kinds=("noise", "pitch"), seed=3)
    again = clip_features(path, augment_kinds=("noise", "pitch"), seed=3)
    other = clip_features(path, augment_kinds=("noise", "pitch"), seed=4)
    np.testing.assert_array_equal(first["X"], clean["X"])  # X never sees augmentation
    assert first["X_aug"].shape == (2, *clean["X"].shape)
    np.testing.assert_array_equal(first["X_aug"], again["X_aug"])
    assert not np.allclose(first["X_aug"], other["X_aug"])
    assert not np.allclose(first["X_aug"][0], clean["X"]) and not np.allclose(first["X_aug"][1], clean["X"])


def test_extract_dataset_features_writes_skips_and_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tasks = write_clips(tmp_path / "clips", 3)
    bad = tmp_path / "clips" / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEjunk")
    tasks.append(("bad", str(bad)))
    out = tmp_path / "out" / "mfcc.npz"
    result, skipped = extract_dataset_features(tasks, out, tmp_path / "cache", n_jobs=2, progress=False, seed=7)
    params = FeatureParams()
    assert list(result.clip_ids) == ["c0", "c1", "c2"]
    n_features = len(params.feature_names)
    assert result.X.shape == (3, params.max_frames, n_features) and result.X.dtype == np.float32
    assert result.X_aug is not None and result.X_aug.shape == (3, 2, params.max_frames, n_features)
    assert result.meta["augment"] == ["noise", "pitch"] and result.meta["feature_names"] == params.feature_names
    assert result.meta["params"]["n_mfcc"] == 40 and result.meta["seed"] == 7
    assert len(skipped) == 1 and skipped.rows[0]["clip"] == "bad" and str(bad) in skipped.rows[0]["reason"]
    on_disk = load_features(out)
    np.testing.assert_array_equal(on_disk.X_aug, result.X_aug)

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("recomputed")

    monkeypatch.setattr(features, "clip_features", must_not_run)
    reused, _ = extract_dataset_features(tasks[:2], out, tmp_path / "cache", progress=False, seed=7)
    assert list(reused.clip_ids) == ["c0", "c1"]
    np.testing.assert_array_equal(reused.X, result.X[:2])
    monkeypatch.undo()
    plain, _ = extract_dataset_features(
        tasks[:2], tmp_path / "out" / "plain.npz", tmp_path / "cache", augment=(), n_jobs=1, progress=False
    )
    assert plain.X_aug is None and plain.meta["augment"] == []
    np.testing.assert_array_equal(plain.X, result.X[:2])
    with pytest.raises(DataError, match="none of the 1 clips"):
        extract_dataset_features(tasks[3:], tmp_path / "out" / "none.npz", tmp_path / "cache", progress=False)
    with pytest.raises(ValueError, match="unknown augmentation"):
        extract_dataset_features(tasks, out, tmp_path / "cache", augment=("echo",), progress=False)


@pytest.mark.shared_data
def test_real_clips_extract_and_resume(shared_ravdess: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """8 real RAVDESS clips: shapes and finite values; with the output deleted, the shard cache serves a rerun."""
    paths = sorted((shared_ravdess / "speech-16k" / "Actor_02").glob("*.flac"))[::8][:8]
    tasks = [(p.stem, str(p)) for p in paths]
    out, cache = tmp_path / "mfcc.npz", tmp_path / "cache"
    first, skipped = extract_dataset_features(tasks, out, cache, augment=("noise",), n_jobs=2, progress=False)
    n_features = len(FeatureParams().feature_names)
    assert len(skipped) == 0 and first.X.shape == (8, 150, n_features) and first.X_aug.shape == (8, 1, 150, n_features)
    assert np.isfinite(first.X).all() and np.isfinite(first.X_aug).all()
    assert (np.abs(first.X).sum(axis=2) > 0).sum(axis=1).min() > 50  # > 1 s of speech kept in every clip
    out.unlink()
    calls: list[str] = []

    def counting(path: str, **kwargs: object) -> dict[str, np.ndarray]:
        calls.append(path)
        return clip_features(path, **kwargs)

    monkeypatch.setattr(features, "clip_features", counting)
    second, _ = extract_dataset_features(tasks, out, cache, augment=("noise",), n_jobs=1, progress=False)
    assert calls == [] and out.exists()
    np.testing.assert_array_equal(second.X, first.X)
    np.testing.assert_array_equal(second.X_aug, first.X_aug)
