"""Emotion over time (``emo demo --timeline`` / ``--camera``) on clips chained from demo-corpus takes of
different emotions, with the shared tiny run's branches: windows, missing modalities, outputs, the camera mode."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emo_utils.cli import main as emo
from emo_utils.clip_media import ClipMedia
from emo_utils.errors import DataError
from emo_utils.fusion import FusionConfig, save_fusion_config
from emo_utils.inference import predict_media
from emo_utils.labels import RAVDESS_EMOTION_CODES
from emo_utils.media import probe, write_video
from emo_utils.timeline import (
    Timeline,
    camera_timeline,
    plot_timeline,
    predict_timeline,
    read_timeline,
    read_timeline_csv,
    window_spans,
    write_timeline,
)
from emo_utils.video.frames import sample_frames

matplotlib.use("Agg")

AUDIO = ["audio_mfcc_cnn", "audio_egemaps"]
FACE = "video_slowfast"
SAMPLE_RATE = 16000
FPS = 15
TAKE_S = 2.0
N_TAKES = 6  # 6 takes of 2 s: a 12 s clip


@dataclass
class Chained:
    """A 12 s clip of one actor's takes, a few takes of each emotion in turn, and what each take alone gives."""

    run: Path
    audio_config: FusionConfig
    face_config: FusionConfig
    config_paths: dict[str, Path]
    emotions: list[str]  # per take
    wavs: list[Path]  # each take's own speech file
    frames: list[np.ndarray]  # each take's frames
    singles: list[dict]  # each take's own prediction (predict_media on its speech file, audio config)
    mp4: Path  # the takes' frames with their speech as the audio track
    wav: Path  # the takes' speech files end to end (the same samples as each take's file)


def _emotion(path: Path) -> str:
    return RAVDESS_EMOTION_CODES[path.name.split("-")[2]]


def _pick_takes(run: Path, config: FusionConfig) -> tuple[list[Path], list[dict]]:
    """Takes of one actor that the run predicts right: two or three emotions, the same number of takes each
    (a take repeats when its emotion has too few right ones)."""
    for actor in sorted((run / "demo_data").glob("Actor_*")):
        right: dict[str, list[tuple[Path, dict]]] = {}
        for wav in sorted(actor.glob("03-*.wav")):
            result = predict_media(ClipMedia(audio=str(wav)), run, config)
            if result["prediction"] == _emotion(wav):
                right.setdefault(_emotion(wav), []).append((wav, result))
        if len(right) >= 2:
            emotions = list(right)[:3]
            per_emotion = N_TAKES // len(emotions)
            picked = [right[e][i % len(right[e])] for e in emotions for i in range(per_emotion)]
            return [wav for wav, _ in picked], [result for _, result in picked]
    raise AssertionError("the tiny run predicts fewer than two emotions right for every actor")


def _write_clip(path: Path, frames: list[np.ndarray], audio: list[np.ndarray]) -> Path:
    return write_video(path, np.concatenate(frames), FPS, audio=np.concatenate(audio), sample_rate=SAMPLE_RATE)


@pytest.fixture(scope="module")
def chained(tiny_run: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> Chained:
    run = tiny_run[0]
    folder = tmp_path_factory.mktemp("timeline")
    audio_config = FusionConfig(AUDIO, [1.0, 1.0], note="equal weights, voice only (timeline test)")
    face_config = FusionConfig([*AUDIO, FACE], [1.0, 1.0, 1.0], note="equal weights, voice and face (timeline test)")
    paths = {
        "audio": save_fusion_config(audio_config, folder / "audio.json"),
        "face": save_fusion_config(face_config, folder / "face.json"),
    }
    wavs, singles = _pick_takes(run, audio_config)
    audio = [sf.read(wav, dtype="float32")[0] for wav in wavs]
    assert all(len(y) == TAKE_S * SAMPLE_RATE for y in audio)  # windows then hold exactly each take's samples
    frames = []
    for wav in wavs:
        video = wav.with_name("01" + wav.name[2:]).with_suffix(".mp4")
        frames.append(sample_frames(video, probe(video).n_frames))
        assert len(frames[-1]) == TAKE_S * FPS
    wav_path = folder / "chained.wav"
    sf.write(wav_path, np.concatenate(audio), SAMPLE_RATE, subtype="PCM_16")  # the takes' own PCM16 samples
    return Chained(
        run,
        audio_config,
        face_config,
        paths,
        [_emotion(w) for w in wavs],
        wavs,
        frames,
        singles,
        _write_clip(folder / "chained.mp4", frames, audio),
        wav_path,
    )


@pytest.fixture(scope="module")
def gappy_clip(chained: Chained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s: a take as it is, one with blank frames, one with silence, one with both."""
    frames, audio = [], []
    for k in range(4):
        f, y = chained.frames[k], sf.read(chained.wavs[k], dtype="float32")[0]
        frames.append(np.full_like(f, 128) if k in (1, 3) else f)
        audio.append(np.zeros_like(y) if k in (2, 3) else y)
    return _write_clip(tmp_path_factory.mktemp("gappy") / "gappy.mp4", frames, audio)


def _panels(fig: plt.Figure) -> list[str]:
    return [ax.get_title(loc="left") for ax in fig.axes if ax.get_label() != "<colorbar>"]


@pytest.mark.slow
def test_timeline_follows_the_emotion_from_take_to_take(chained: Chained, tmp_path: Path) -> None:
    timeline = predict_timeline(chained.mp4, chained.wav, run=chained.run, config=chained.audio_config, progress=False)
    assert len(timeline) == 21  # 12 s, windows of 2 s every 0.5 s
    assert (timeline.windows[0]["start_s"], timeline.windows[-1]["end_s"]) == (0.0, 12.0)
    assert timeline.branches == AUDIO and timeline.missing_counts() == {b: 0 for b in AUDIO}
    by_start = {w["start_s"]: w for w in timeline.windows}
    for k, (emotion, single) in enumerate(zip(chained.emotions, chained.singles)):
        window = by_start[k * TAKE_S]  # the window lying exactly over take k
        assert window["prediction"] == single["prediction"] == emotion
        assert window["probabilities"] == single["probabilities"]
        for branch in AUDIO:
            assert window["modalities"][branch]["probabilities"] == single["modalities"][branch]["probabilities"]
    changes = [k for k in range(1, N_TAKES) if chained.emotions[k] != chained.emotions[k - 1]]
    assert changes  # the clip changes emotion, and so does the timeline
    for k in changes:
        assert by_start[k * TAKE_S]["prediction"] != by_start[(k - 1) * TAKE_S]["prediction"]
    segments = timeline.segments()
    assert segments[0][0] == 0.0 and segments[-1][1] == 12.0
    assert segments[0][2] == chained.emotions[0] and segments[-1][2] == chained.emotions[-1]
    assert f"0.0-{segments[0][1]:.1f} s {chained.emotions[0]}" in timeline.summary()

    paths = write_timeline(timeline, tmp_path / "out")
    assert read_timeline(paths["json"]) == timeline
    pd.testing.assert_frame_equal(read_timeline_csv(paths["csv"]), timeline.frame())
    frame = timeline.frame()
    assert list(frame["prediction"]) == [w["prediction"] for w in timeline.windows]
    assert frame[[f"fused:{e}" for e in timeline.labels]].sum(axis=1).round(2).eq(1.0).all()

    fig = plot_timeline(timeline)
    assert _panels(fig) == [f"{b} (audio)" for b in AUDIO] + ["fused"]
    plt.close(fig)


@pytest.mark.slow
def test_a_window_without_a_face_or_sound_is_fused_from_what_it_has(chained: Chained, gappy_clip: Path) -> None:
    timeline = predict_timeline(gappy_clip, run=chained.run, config=chained.face_config, hop_s=2.0, progress=False)
    assert [(w["start_s"], w["end_s"]) for w in timeline.windows] == [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0), (6.0, 8.0)]
    both, no_face, silent, nothing = timeline.windows
    assert all("probabilities" in both["modalities"][b] for b in timeline.branches) and both["prediction"]
    assert "no face found" in no_face["modalities"][FACE]["missing"]
    assert all("probabilities" in no_face["modalities"][b] for b in AUDIO)  # the voice is still read
    assert no_face["prediction"] is not None
    for branch in AUDIO:
        assert "silent" in silent["modalities"][branch]["missing"]
    assert silent["probabilities"] == silent["modalities"][FACE]["probabilities"]  # fused from the face alone
    assert nothing["prediction"] is None and "no modality could be used" in nothing["missing"]
    assert "no face found" in nothing["modalities"][FACE]["missing"]
    assert timeline.missing_counts() == {"audio_mfcc_cnn": 2, "audio_egemaps": 2, FACE: 2}
    assert timeline.segments()[-1] == (6.0, 8.0, "-")

    frame = timeline.frame()
    assert frame.loc[3, "prediction"] == "" and frame[[f"fused:{e}" for e in timeline.labels]].loc[3].isna().all()
    assert frame.loc[1, f"{FACE}:missing"] != "" and frame.loc[1, "audio_mfcc_cnn:missing"] == ""
    fig = plot_timeline(timeline)
    panels = _panels(fig)
    assert len(panels) == 4 and panels[-1] == "fused"
    assert panels[2] == f"{FACE} (video): missing in 2 of 4 windows"
    plt.close(fig)


@pytest.mark.slow
def test_camera_mode_reads_the_faces_of_a_stream_until_it_ends(chained: Chained, gappy_clip: Path) -> None:
    timeline = camera_timeline(
        str(gappy_clip), chained.run, chained.face_config, seconds=30.0, window_s=2.0, hop_s=2.0, progress=False
    )
    assert timeline.branches == [FACE]  # faces only: no microphone
    assert any("faces only" in note for note in timeline.notes)
    assert [w["start_s"] for w in timeline.windows] == [0.0, 2.0, 4.0, 6.0]  # the 8 s file ended before 30 s
    for window in timeline.windows[0::2]:
        assert window["probabilities"] == window["modalities"][FACE]["probabilities"]
    for window in timeline.windows[1::2]:  # blank frames
        assert window["prediction"] is None and "no face found" in window["modalities"][FACE]["missing"]
    short = camera_timeline(str(gappy_clip), chained.run, chained.face_config, seconds=3.0, hop_s=1.0, progress=False)
    assert [(w["start_s"], w["end_s"]) for w in short.windows] == [(0.0, 2.0), (1.0, 3.0)]  # stopped after 3 s


@pytest.mark.slow
def test_cli_demo_timeline_and_camera_write_their_files(
    chained: Chained, gappy_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "timeline"
    common = ["--run", str(chained.run), "--hop", "1", "--quiet"]
    assert emo(["demo", "--video", str(chained.mp4), "--timeline", "--config", str(chained.config_paths["audio"])]
               + common + ["--out", str(out), "--smooth", "viterbi"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    for name in ("timeline.json", "timeline.csv", "timeline.png"):
        assert (out / name).stat().st_size > 0
    timeline = read_timeline(out / "timeline.json")
    assert len(timeline) == 11 and timeline.source == str(chained.mp4)
    assert timeline.smoothing == "viterbi" and all(w["smoothed"] in timeline.labels for w in timeline.windows)
    assert "smoothed" in read_timeline_csv(out / "timeline.csv").columns
    assert f"0.0-{timeline.segments()[0][1]:.1f} s {timeline.segments()[0][2]}" in printed

    camera_out = tmp_path / "camera"
    argv = [
        "demo",
        "--camera",
        str(gappy_clip),
        "--config",
        str(chained.config_paths["face"]),
        "--out",
        str(camera_out),
    ]
    assert emo(argv + common) == 0
    assert "faces only" in capsys.readouterr().out
    assert read_timeline(camera_out / "timeline.json").branches == [FACE]


def test_window_spans_cover_the_clip_and_a_short_clip_is_one_window() -> None:
    spans = window_spans(12.0, 2.0, 0.5)
    assert len(spans) == 21 and spans[0] == (0.0, 2.0) and spans[1] == (0.5, 2.5) and spans[-1] == (10.0, 12.0)
    assert window_spans(12.3, 2.0, 0.5)[-1] == (10.0, 12.0)  # a tail shorter than a hop is not a window
    assert window_spans(1.4, 2.0, 0.5) == [(0.0, 1.4)]
    with pytest.raises(ValueError, match="positive"):
        window_spans(5.0, 2.0, 0.0)


def test_segments_join_windows_of_one_fused_label() -> None:
    predictions = ["happy", "happy", "sad", None, "sad", "sad"]
    windows = [
        {"start_s": k * 0.5, "end_s": k * 0.5 + 2.0, "prediction": p, "probabilities": {}, "modalities": {}}
        for k, p in enumerate(predictions)
    ]
    timeline = Timeline("clip.mp4", "run", ["happy", "sad"], [], 2.0, 0.5, 10.0, windows)
    assert timeline.segments() == [(0.0, 1.75, "happy"), (1.75, 2.25, "sad"), (2.25, 2.75, "-"), (2.75, 4.5, "sad")]
    assert "1.8-2.2 s sad" in timeline.summary()


def test_demo_needs_a_video_or_a_camera(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        emo(["demo", "--timeline"])
    assert "one of the arguments --video --camera is required" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        emo(["demo", "--video", "a.mp4", "--camera", "0"])
    assert "not allowed with" in capsys.readouterr().err


def test_a_camera_that_cannot_be_opened_is_named(tmp_path: Path) -> None:
    face = FusionConfig([FACE], [1.0])
    with pytest.raises(DataError, match="camera 99: cannot be opened"):
        camera_timeline(99, tmp_path, face, seconds=1.0, progress=False)
    with pytest.raises(DataError, match="missing.mp4: file not found"):
        camera_timeline(str(tmp_path / "missing.mp4"), tmp_path, face, seconds=1.0, progress=False)
    with pytest.raises(DataError, match="no face branch"):
        camera_timeline(0, tmp_path, FusionConfig(AUDIO, [1.0, 1.0]), seconds=1.0, progress=False)
