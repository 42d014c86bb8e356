"""Clips assembled from real RAVDESS faces and speech, and the bad clips users hit."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf

from emo_utils.data.naming import parse_ravdess
from emo_utils.errors import MissingModalityError
from emo_utils.media import probe, read_audio_track
from emo_utils.video.assemble import NOTE_FILE, assemble_real_face_clips, make_bad_clips
from emo_utils.video.faces import clip_face_crops
from emo_utils.video.frames import sample_frames

cv2.setNumThreads(1)
FPS = 15
MAX_LAG = 2048  # samples of AAC encoder delay tolerated when lining the tracks up


@pytest.fixture(scope="module")
def assembled(shared_ravdess: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    out_root = tmp_path_factory.mktemp("assembled")
    return out_root, assemble_real_face_clips(shared_ravdess, out_root, actors=(1, 2), takes_per_actor=2, fps=FPS)


def _source_take(shared_ravdess: Path, clip: Path) -> Path:
    return shared_ravdess / "speech-16k" / clip.parent.name / ("03" + clip.stem[2:] + ".flac")


def _best_correlation(decoded: np.ndarray, source: np.ndarray) -> float:
    """Highest Pearson correlation of the two signals over lags 0..MAX_LAG of ``decoded``."""
    best = -1.0
    for lag in range(MAX_LAG + 1):
        n = min(len(source), len(decoded) - lag)
        best = max(best, float(np.corrcoef(decoded[lag : lag + n], source[:n])[0, 1]))
        if best > 0.99:
            break
    return best


def test_assembled_names_parse_and_pair_with_their_speech_take(shared_ravdess: Path, assembled):
    out_root, clips = assembled
    assert len(clips) == 4 and len({c.name for c in clips}) == 4
    for clip in clips:
        name = parse_ravdess(clip)
        assert name.modality == "audio-video"
        assert clip.parent.name == f"Actor_{name.actor[-2:]}" and name.actor in ("ravdess_01", "ravdess_02")
        source = _source_take(shared_ravdess, clip)
        assert source.is_file() and parse_ravdess(source).take_id == name.take_id
    note = (out_root / NOTE_FILE).read_text()
    assert "REAL still frame" in note and "SYNTHETIC motion" in note and "does not act" in note


def test_assembled_audio_is_the_real_speech_take(shared_ravdess: Path, assembled):
    for clip in assembled[1]:
        source, rate = sf.read(str(_source_take(shared_ravdess, clip)), dtype="float32")
        decoded = read_audio_track(clip, sample_rate=rate)
        assert abs(len(decoded) - len(source)) < MAX_LAG
        assert _best_correlation(decoded, source) > 0.99, clip.name


def test_assembled_video_lasts_as_long_as_the_take_and_moves(assembled):
    for clip in assembled[1]:
        info = probe(clip)
        assert info.has_video and info.has_audio and info.fps == FPS
        assert (info.width, info.height) == (398, 224)
        audio_s = len(read_audio_track(clip)) / 16000
        assert abs(info.n_frames / FPS - audio_s) < 2 / FPS + 0.1
        first, last = sample_frames(clip, n_frames=2).astype(np.float32)
        assert np.abs(first - last).mean() > 2.0  # synthetic motion, not a frozen frame


@pytest.mark.slow  # seconds: left out of the fast loop
def test_faces_are_detected_in_the_assembled_clips(assembled):
    for clip in assembled[1]:
        detected = clip_face_crops(clip, n_frames=22)["detected"]
        assert detected.mean() >= 0.9, f"{clip.name}: face in {detected.sum()} of 22 frames"


def test_bad_clips_are_what_they_claim(shared_ravdess: Path, tmp_path: Path):
    bad = make_bad_clips(tmp_path, face_image=shared_ravdess / "actor-faces" / "Actor_03.png")
    assert set(bad) == {"no_face", "no_audio", "unreadable", "empty"}
    no_face = probe(bad["no_face"])
    assert no_face.has_video and no_face.has_audio
    no_audio = probe(bad["no_audio"])
    assert no_audio.has_video and not no_audio.has_audio
    with pytest.raises(MissingModalityError, match="no audio track") as err:
        read_audio_track(bad["no_audio"])
    assert str(bad["no_audio"]) in str(err.value)
    assert clip_face_crops(bad["no_audio"], n_frames=4)["detected"].all()  # it does show a face
    assert bad["empty"].stat().st_size == 0
    assert bad["unreadable"].stat().st_size > 0


def test_chained_clips_play_one_after_another(assembled, tmp_path: Path):
    from emo_utils.audio.io import load_audio
    from emo_utils.video.assemble import chain_clips

    _, clips = assembled
    chained = chain_clips(clips[:2], tmp_path / "chained.mp4")
    parts = [load_audio(clip, 16000) for clip in clips[:2]]
    whole = load_audio(chained, 16000)
    assert abs(len(whole) - sum(len(p) for p in parts)) < 0.05 * 16000  # the AAC track pads a few ms
    assert abs(probe(chained).duration_s - sum(len(p) for p in parts) / 16000) < 0.2
    assert _best_correlation(whole[: len(parts[0])], parts[0]) > 0.9
