"""openSMILE eGeMAPS / ComParE features: what the parameters measure, shapes, and the cached extraction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emo_utils.audio import opensmile_features
from emo_utils.audio.opensmile_features import (
    SmileParams,
    clip_smile_features,
    extract_smile_features,
    feature_names,
    signal_features,
)
from emo_utils.clip_media import ClipMedia
from emo_utils.errors import DataError
from emo_utils.feature_store import load_features

SR = 16000
F0_MEAN = "F0semitoneFrom27.5Hz_sma3nz_amean"
LOUDNESS_MEAN = "loudness_sma3_amean"


def voice(seconds: float, f0: float, amplitude: float = 0.2, seed: int = 0) -> np.ndarray:
    """A voiced, speech-like harmonic tone with syllable-rate amplitude modulation and a little noise."""
    t = np.arange(int(seconds * SR)) / SR
    y = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 10))
    y *= 0.3 + 0.7 * np.sin(2 * np.pi * 2.5 * t) ** 2
    y += 0.005 * np.random.default_rng(seed).standard_normal(len(t))
    return (amplitude * y / np.abs(y).max()).astype(np.float32)


def test_egemaps_pitch_and_loudness_follow_the_signal() -> None:
    names = feature_names()
    assert len(names) == 88 and F0_MEAN in names and "jitterLocal_sma3nz_amean" in names
    low, high = (signal_features(voice(1.5, f0)) for f0 in (120.0, 240.0))
    semitones = {f0: x[names.index(F0_MEAN)] for f0, x in ((120.0, low), (240.0, high))}
    assert abs(semitones[120.0] - 12 * np.log2(120 / 27.5)) < 1.0  # F0 in semitones above 27.5 Hz
    assert abs(semitones[240.0] - semitones[120.0] - 12) < 1.0  # one octave = 12 semitones
    quiet = signal_features(voice(1.5, 120.0, amplitude=0.02))
    assert quiet[names.index(LOUDNESS_MEAN)] < low[names.index(LOUDNESS_MEAN)]


def test_descriptor_level_and_compare_shapes() -> None:
    y = voice(1.2, 150.0)
    lld = signal_features(y, SmileParams(level="lld", max_frames=200))
    assert lld.shape == (200, 25) and lld.dtype == np.float32
    assert (np.abs(lld).sum(axis=1) > 0).sum() in range(110, 125)  # 1.2 s of 10 ms frames, then zero padding
    compare = signal_features(y, SmileParams(feature_set="compare"))
    assert compare.shape == (6373,) and len(feature_names(SmileParams(feature_set="compare"))) == 6373
    with pytest.raises(ValueError, match="feature_set"):
        SmileParams(feature_set="gemaps")


def test_silent_edges_are_trimmed(tmp_path: Path) -> None:
    speech = voice(1.0, 150.0)
    path = tmp_path / "padded.wav"
    sf.write(path, np.concatenate([np.zeros(SR, np.float32), speech, np.zeros(SR, np.float32)]), SR)
    names = feature_names()
    trimmed = clip_smile_features(path)["X"]
    whole = clip_smile_features(path, SmileParams(top_db=None))["X"]
    unpadded = signal_features(speech)
    for name in (F0_MEAN, LOUDNESS_MEAN, "MeanUnvoicedSegmentLength"):
        i = names.index(name)
        assert abs(trimmed[i] - unpadded[i]) < 0.1 * abs(unpadded[i]) + 0.02, name
    i = names.index("MeanUnvoicedSegmentLength")  # the 1 s silences would count as long pauses
    assert whole[i] > 5 * unpadded[i]


def test_extraction_saves_names_skips_bad_clips_and_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tasks = []
    for i in range(3):
        path = tmp_path / "clips" / f"c{i}.flac"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, np.concatenate([voice(0.8 + 0.2 * i, 110.0 + 40 * i, seed=i), np.zeros(SR // 4)]), SR)
        tasks.append((f"c{i}", str(path)))
    empty = tmp_path / "clips" / "empty.wav"
    empty.write_bytes(b"")
    tasks.append(("empty", str(empty)))
    out = tmp_path / "out" / "egemaps.npz"
    result, skipped = extract_smile_features(tasks, out, tmp_path / "cache", n_jobs=2, progress=False)
    assert list(result.clip_ids) == ["c0", "c1", "c2"] and result.X.shape == (3, 88)
    assert np.isfinite(result.X).all() and result.meta["feature_names"] == feature_names()
    assert result.meta["feature_set"] == "eGeMAPSv02" and result.meta["params"]["level"] == "functionals"
    assert len(skipped) == 1 and skipped.rows[0]["clip"] == "empty" and "empty" in skipped.rows[0]["reason"]
    np.testing.assert_array_equal(load_features(out).X, result.X)

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("recomputed")

    monkeypatch.setattr(opensmile_features, "clip_smile_features", must_not_run)
    reused, _ = extract_smile_features(tasks[:2], out, tmp_path / "cache", progress=False)
    np.testing.assert_array_equal(reused.X, result.X[:2])
    out.unlink()  # the shard cache serves a rerun without the output file
    again, _ = extract_smile_features(tasks[:3], out, tmp_path / "cache", n_jobs=1, progress=False)
    np.testing.assert_array_equal(again.X, result.X)
    with pytest.raises(DataError, match="none of the 1 clips"):
        extract_smile_features(tasks[3:], tmp_path / "out" / "none.npz", tmp_path / "cache", progress=False)


@pytest.mark.shared_data
def test_real_ravdess_clips(shared_ravdess: Path, tmp_path: Path) -> None:
    """Two real clips of one actor: angry speech is louder and higher than neutral speech."""
    folder = shared_ravdess / "speech-16k" / "Actor_01"
    neutral, angry = folder / "03-01-01-01-01-01-01.flac", folder / "03-01-05-02-01-01-01.flac"
    names = feature_names()
    x = {p.name: clip_smile_features(p)["X"] for p in (neutral, angry)}
    assert x[angry.name][names.index(LOUDNESS_MEAN)] > x[neutral.name][names.index(LOUDNESS_MEAN)]
    assert x[angry.name][names.index(F0_MEAN)] > x[neutral.name][names.index(F0_MEAN)]


@pytest.mark.parametrize("branch", ["audio_egemaps", "audio_compare"])
def test_branch_features_and_demo_input_agree(branch: str, tmp_path: Path) -> None:
    """The branch's dataset features and its one-clip demo input are computed the same way."""
    import pandas as pd

    from emo_utils.branches import BRANCHES, FeatureContext

    paths = []
    for i, f0 in enumerate((130.0, 210.0)):
        paths.append(tmp_path / f"c{i}.wav")
        sf.write(paths[-1], voice(1.0, f0, seed=i), SR)
    manifest = pd.DataFrame({"take_id": ["c0", "c1"], "audio_path": [str(p) for p in paths], "video_path": ""})
    spec = BRANCHES[branch]
    ctx = FeatureContext(manifest, tmp_path / "features", "unused", "unused", False, 1, False)
    features, skipped = spec.build_features(ctx)
    assert len(skipped) == 0 and features.X.shape[0] == 2 and spec.needs == ("audio_path", "video_path")
    np.testing.assert_array_equal(spec.clip_input(ClipMedia(audio=str(paths[1])), features.meta), features.X[1])
    assert spec.pooled(features.X) is features.X  # an utterance vector already: early fusion takes it as is
