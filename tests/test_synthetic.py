"""The generated demo corpus: layout and naming, media streams, reproducibility, and the designed cues."""

from __future__ import annotations

from pathlib import Path

import cv2
import librosa
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emo_utils.data.naming import parse_ravdess
from emo_utils.errors import DataError
from emo_utils.labels import EMOTIONS
from emo_utils.media import probe, read_audio_track
from emo_utils.synthetic import (
    AU_TABLE,
    SYNTHETIC_NOTICE,
    corpus_parameters,
    expression_track,
    face_identity,
    generate_demo_corpus,
    is_synthetic_root,
    render_clip,
    synthesize_speech,
)
from emo_utils.synthetic.face import AU_INDEX
from emo_utils.synthetic.voice import SAMPLE_RATE
from emo_utils.video.openface import AU_COLUMNS

TINY = {"n_actors": 2, "takes_per_emotion": 1, "duration_s": 1.0, "fps": 10, "frame_size": 96, "seed": 0}


def _generate(root: Path, **overrides) -> Path:
    return generate_demo_corpus(root, **{**TINY, "progress": False, "workers": 1, **overrides})


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("demo"))


def _wavs(root: Path) -> dict[str, np.ndarray]:
    return {p.name: sf.read(p, dtype="int16")[0] for p in sorted(root.glob("Actor_*/03-*.wav"))}


def test_layout_and_names_parse(tiny_corpus):
    mp4s = sorted(tiny_corpus.glob("Actor_*/01-01-*.mp4"))
    wavs = sorted(tiny_corpus.glob("Actor_*/03-01-*.wav"))
    assert len(mp4s) == len(wavs) == 2 * len(EMOTIONS)
    names = [parse_ravdess(p) for p in mp4s]
    assert {n.emotion for n in names} == set(EMOTIONS)
    assert {n.gender for n in names} == {"male", "female"}
    assert all(p.parent.name == f"Actor_{p.stem[-2:]}" for p in mp4s + wavs)
    assert [p.stem[3:] for p in mp4s] == [p.stem[3:] for p in wavs]  # same takes in both modalities
    neutral = [n for n in names if n.emotion == "neutral"]
    assert all(n.intensity == "normal" for n in neutral)


def test_mp4_has_video_and_speech(tiny_corpus):
    path = next(tiny_corpus.glob("Actor_01/01-01-08-*.mp4"))
    info = probe(path)
    assert info.has_video and info.has_audio
    assert info.n_frames == 10 and info.fps == pytest.approx(10)
    assert (info.width, info.height) == (96, 96)
    audio = read_audio_track(path, SAMPLE_RATE)
    assert abs(len(audio) - SAMPLE_RATE) < 0.1 * SAMPLE_RATE
    assert np.sqrt(np.mean(audio**2)) > 0.01  # it carries the speech, not silence


def test_wav_format(tiny_corpus):
    for path in tiny_corpus.glob("Actor_02/03-*.wav"):
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (SAMPLE_RATE, 1, "PCM_16", SAMPLE_RATE)


def test_au_table(tiny_corpus):
    table = pd.read_csv(tiny_corpus / AU_TABLE, index_col="clip_id")
    assert tuple(table.columns) == AU_COLUMNS
    assert sorted(table.index) == sorted(p.stem for p in tiny_corpus.glob("Actor_*/01-*.mp4"))
    r = table[[c for c in table.columns if c.endswith("_r")]]
    c = table[[c for c in table.columns if c.endswith("_c")]]
    assert r.to_numpy().min() >= 0 and r.to_numpy().max() <= 5
    assert c.to_numpy().min() >= 0 and c.to_numpy().max() <= 1


@pytest.mark.shared_data
def test_au_columns_match_real_openface_table(shared_ravdess):
    real = pd.read_csv(shared_ravdess / "facial-au" / "openface_au_means.csv", index_col="clip_id", nrows=2)
    assert tuple(real.columns) == AU_COLUMNS


def test_marker_and_skip(tiny_corpus):
    assert is_synthetic_root(tiny_corpus)
    assert SYNTHETIC_NOTICE in (tiny_corpus / "SYNTHETIC.txt").read_text()
    assert {k: corpus_parameters(tiny_corpus)[k] for k in TINY} == TINY
    wav = next(tiny_corpus.glob("Actor_01/03-*.wav"))
    before = wav.stat().st_mtime_ns
    _generate(tiny_corpus)  # complete: nothing rewritten
    assert wav.stat().st_mtime_ns == before


def test_reproducible_and_seed_dependent(tmp_path):
    small = {"n_actors": 1, "duration_s": 0.6, "frame_size": 64}
    a = _generate(tmp_path / "a", **small)
    b = _generate(tmp_path / "b", **small, workers=2)  # worker count does not matter
    c = _generate(tmp_path / "c", **small, seed=1)
    wav_a, wav_b, wav_c = _wavs(a), _wavs(b), _wavs(c)
    assert wav_a.keys() == wav_b.keys() == wav_c.keys()
    assert all(np.array_equal(wav_a[k], wav_b[k]) for k in wav_a)
    assert not any(np.array_equal(wav_a[k], wav_c[k]) for k in wav_a)
    table = {name: pd.read_csv(root / AU_TABLE, index_col=0) for name, root in (("a", a), ("b", b), ("c", c))}
    pd.testing.assert_frame_equal(table["a"], table["b"])
    assert not table["a"].equals(table["c"])
    # Regenerating an existing corpus with other parameters replaces it.
    _generate(tmp_path / "a", **small, seed=1)
    assert all(np.array_equal(x, wav_c[k]) for k, x in _wavs(a).items())


def test_frames_are_deterministic():
    identity = face_identity(3)
    clips = [
        render_clip(expression_track("happy", 6, np.random.default_rng(5)), identity, 64, np.random.default_rng(6))
        for _ in range(2)
    ]
    assert clips[0].shape == (6, 64, 64, 3) and clips[0].dtype == np.uint8
    assert np.array_equal(clips[0], clips[1])


def test_refuses_folder_without_marker(tmp_path):
    (tmp_path / "Actor_01").mkdir()
    (tmp_path / "Actor_01" / "03-01-01-01-01-01-01.wav").write_bytes(b"real?")
    with pytest.raises(DataError, match="SYNTHETIC.txt"):
        _generate(tmp_path)


def test_haar_finds_the_drawn_faces():
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    found = []
    for actor in (2, 5, 9):
        identity = face_identity(actor)
        for k, emotion in enumerate(EMOTIONS):
            rng = np.random.default_rng([actor, k])
            track = expression_track(emotion, 30, rng, "strong", speech_envelope=np.abs(np.sin(np.arange(30))))
            for frame in render_clip(track, identity, 128, rng)[::5]:
                faces = cascade.detectMultiScale(
                    cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), scaleFactor=1.1, minNeighbors=5
                )
                found.append(len(faces) > 0)
    assert np.mean(found) >= 0.9, f"face found in only {np.mean(found):.0%} of the drawn frames"


def _mean_au_track(emotion: str) -> np.ndarray:
    return np.mean([expression_track(emotion, 30, np.random.default_rng(s)).mean(axis=0) for s in range(8)], axis=0)


def test_face_cues_follow_design(tiny_corpus):
    table = pd.read_csv(tiny_corpus / AU_TABLE, index_col="clip_id")
    emotion = table.index.map(lambda clip: parse_ravdess(clip + ".mp4").emotion)
    au12 = table.groupby(emotion)["AU12_r"].mean()
    assert au12["happy"] > au12["sad"] + 0.5
    tracks = {e: _mean_au_track(e) for e in ("neutral", "calm", "fearful", "surprised", "happy", "angry")}
    assert tracks["happy"][AU_INDEX["AU12"]] > tracks["neutral"][AU_INDEX["AU12"]] + 0.3
    assert tracks["angry"][AU_INDEX["AU04"]] > tracks["neutral"][AU_INDEX["AU04"]] + 0.3
    # Visual difficulty by design: fear and surprise look alike, calm and neutral do not.
    calm_vs_neutral = np.linalg.norm(tracks["calm"] - tracks["neutral"])
    fear_vs_surprise = np.linalg.norm(tracks["fearful"] - tracks["surprised"])
    assert calm_vs_neutral > 1.5 * fear_vs_surprise


def _voice_measures(emotion: str, actor: int) -> np.ndarray:
    """Mean f0 (semitones re 1 Hz), syllable rate (voiced bursts per second) and energy above 2 kHz (dB),
    averaged over three takes."""
    measures = []
    for take in range(3):
        y = synthesize_speech(emotion, actor, np.random.default_rng([actor, take]), duration_s=2.0).samples
        power = np.abs(librosa.stft(y, n_fft=256, hop_length=80)) ** 2
        freqs = librosa.fft_frequencies(sr=SAMPLE_RATE, n_fft=256)
        low = np.sqrt(power[freqs < 1000].sum(axis=0))
        voiced = low > 0.2 * np.percentile(low, 90)
        syllables = np.count_nonzero(np.diff(voiced.astype(int)) == 1)
        f0 = librosa.yin(y, fmin=60, fmax=600, sr=SAMPLE_RATE, frame_length=1024, hop_length=80)[: len(voiced)]
        high = 10 * np.log10(power[freqs > 2000].sum() / power.sum())
        measures.append([np.mean(12 * np.log2(f0[voiced])), syllables / 2.0, high])
    return np.mean(measures, axis=0)


@pytest.mark.isolated  # librosa.yin runs numba-compiled code: a crash there must not end the test run
def test_voice_cues_follow_design():
    for actor in (1, 2):
        m = {e: _voice_measures(e, actor) for e in ("neutral", "calm", "fearful", "surprised")}
        assert m["surprised"][0] > m["neutral"][0] + 1.0  # higher pitch (semitones)
        assert m["fearful"][1] > m["surprised"][1]  # fear speaks faster
        # Acoustic difficulty by design: calm and neutral sound alike, fear and surprise do not.
        assert np.linalg.norm(m["calm"] - m["neutral"]) < np.linalg.norm(m["fearful"] - m["surprised"])
    male, female = _voice_measures("neutral", 1)[0], _voice_measures("neutral", 2)[0]
    assert female > male + 6.0  # more than half an octave apart
