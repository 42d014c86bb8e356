"""Sliding windows over a video file or a camera, each predicted as the demo predicts a clip (see
:mod:`emo_utils.timeline`)."""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm.auto import tqdm

from emo_utils.audio.io import SILENCE_RMS, load_audio
from emo_utils.branches import BRANCHES
from emo_utils.clip_media import ClipMedia
from emo_utils.errors import DataError, EmoError, MissingModalityError
from emo_utils.fusion import FusionConfig
from emo_utils.inference import predict_media
from emo_utils.media import probe
from emo_utils.timeline.record import Timeline, modality_of

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # the sound is decoded once at this rate; branches resample from it as they need
DEFAULT_WINDOW_S = 2.0  # the length of the demo corpus's takes and of RAVDESS's statements
DEFAULT_HOP_S = 0.5
DEFAULT_FPS = 10.0
DEFAULT_MAX_SIDE = 640  # larger frames are shrunk (face crops are 48-224 pixels); bounds a window's memory
MIN_WINDOW_AUDIO_S = 0.1  # as load_audio's shortest usable clip
NO_MICROPHONE = (
    "camera mode reads faces only: no microphone library is a dependency of emo-fusion, so the audio branches "
    "are left out"
)


def window_spans(
    duration_s: float, window_s: float = DEFAULT_WINDOW_S, hop_s: float = DEFAULT_HOP_S
) -> list[tuple[float, float]]:
    """The windows ``[k * hop_s, k * hop_s + window_s)`` that fit in ``duration_s``; one window over the whole
    clip when it is shorter than ``window_s``."""
    if window_s <= 0 or hop_s <= 0:
        raise ValueError(f"window and hop must be positive, got window {window_s} s and hop {hop_s} s")
    if duration_s <= 0:
        raise ValueError(f"duration must be positive, got {duration_s} s")
    if duration_s <= window_s:
        return [(0.0, round(float(duration_s), 6))]
    n = int(np.floor((duration_s - window_s) / hop_s + 1e-6)) + 1
    return [(round(k * hop_s, 6), round(k * hop_s + window_s, 6)) for k in range(n)]


def _shrink(frame_bgr: np.ndarray, max_side: int | None) -> np.ndarray:
    """The frame as RGB, shrunk so that its longer side is at most ``max_side`` (even sizes kept as they are)."""
    rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
    side = max(rgb.shape[:2])
    if max_side is None or side <= max_side:
        return rgb
    scale = max_side / side
    return cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA)


def _stream_frames(
    capture: cv2.VideoCapture,
    fps: float | None,
    max_side: int | None,
    native_fps: float | None,
    stop_s: float | None = None,
) -> Iterator[tuple[float, np.ndarray | None]]:
    """(time s, RGB frame) of ``capture`` at about ``fps`` per second (every frame when None), until the stream
    ends or reaches ``stop_s``; then (end time, None). Times count frames at ``native_fps``; without one (a
    webcam), the wall clock since the first frame."""
    step = 1.0 / fps if fps else 0.0
    keep_from, index, t, started = 0.0, 0, 0.0, None
    while capture.grab():
        started = time.monotonic() if started is None else started
        t = index / native_fps if native_fps else time.monotonic() - started
        index += 1
        if stop_s is not None and t >= stop_s:
            break
        if t + 1e-6 < keep_from:  # between two kept frames
            continue
        keep_from += step
        if keep_from <= t:  # frames came late (a busy webcam): the next one a step after this one
            keep_from = t + step
        ok, frame = capture.retrieve()
        if ok:
            yield t, _shrink(frame, max_side)
    else:  # the stream ended: it lasted up to the end of its last frame
        if index and native_fps:
            t = index / native_fps
        elif started is not None:
            t = time.monotonic() - started
    yield t, None


def _windows_of(
    frames: Iterable[tuple[float, np.ndarray | None]], spans: list[tuple[float, float]], complete: bool
) -> Iterator[tuple[float, float, list[np.ndarray]]]:
    """Each span (start, end) with its frames, as soon as a later frame (or the stream's end, an item with no
    frame) closes it. ``complete``: the spans cover the stream's known length and all are given, frames or not;
    otherwise (a live stream) spans the stream did not reach are dropped, and a stream shorter than one window
    gives one window over what arrived."""
    pending = deque(spans)
    buffer: deque[tuple[float, np.ndarray]] = deque()
    emitted, stream_end = 0, 0.0

    def take(start: float, end: float) -> tuple[float, float, list[np.ndarray]]:
        while buffer and buffer[0][0] < start:
            buffer.popleft()
        return start, end, [image for t, image in buffer if t < end]

    for t, image in frames:
        if image is None:
            stream_end = t
            break
        while pending and t >= pending[0][1]:
            yield take(*pending.popleft())
            emitted += 1
        if not pending:
            return
        buffer.append((t, image))
    while pending and (complete or pending[0][1] <= stream_end + 1e-6):
        yield take(*pending.popleft())
        emitted += 1
    if emitted == 0 and stream_end > 0:
        yield take(0.0, round(stream_end, 6))


def _predict_window(
    start: float,
    end: float,
    frames: list[np.ndarray] | None,
    waveform: np.ndarray | None,
    reasons: dict[str, str],
    source: str,
    run: Path,
    config: FusionConfig,
    branches: list[str],
    enrolment: list[ClipMedia] | None,
    device: str = "cpu",
) -> tuple[dict[str, Any], list[str]]:
    """One window's row of the timeline (and the notes of its prediction)."""
    span = f"{start:.1f}-{end:.1f} s"
    known = dict(reasons)  # modality -> why it is missing in this window
    if waveform is not None and "audio" not in known:
        segment = waveform[int(round(start * SAMPLE_RATE)) : int(round(end * SAMPLE_RATE))]
        rms = float(np.sqrt(np.mean(np.square(segment, dtype=np.float64)))) if len(segment) else 0.0
        if len(segment) < MIN_WINDOW_AUDIO_S * SAMPLE_RATE:
            known["audio"] = f"{source} {span}: no sound in this window (the sound ends earlier)"
        elif rms < SILENCE_RMS:
            known["audio"] = f"{source} {span}: the window is silent (RMS {rms:.1e}); no voice to read"
        else:
            waveform = segment
    if frames is not None and not frames and "video" not in known:
        known["video"] = f"{source} {span}: no video frame in this window"
    media = ClipMedia(
        frames=np.stack(frames) if frames else None,
        waveform=waveform if "audio" not in known else None,
        sample_rate=SAMPLE_RATE,
        label=f"{source} {span}",
    )
    row: dict[str, Any] = {"start_s": start, "end_s": end, "prediction": None, "probabilities": {}}
    try:
        result = predict_media(media, run, config, enrolment, device)
    except EmoError as exc:
        row["missing"] = str(exc)
        row["modalities"] = {b: {"missing": known.get(modality_of(b), str(exc))} for b in branches}
        return row, []
    row["prediction"] = result["prediction"]
    row["probabilities"] = result["probabilities"]
    row["modalities"] = {}
    for branch in branches:
        entry = result["modalities"][branch]
        if "probabilities" in entry:
            row["modalities"][branch] = {"probabilities": entry["probabilities"]}
        else:
            row["modalities"][branch] = {"missing": known.get(modality_of(branch), entry["missing"])}
    return row, result["notes"]


def _used_branches(config: FusionConfig) -> list[str]:
    """The config's branches with a weight (the others are never computed)."""
    unused = [b for b in config.branches if config.weight_of(b) == 0]
    if unused:
        log.info("not in the timeline (weight 0 in the fusion config): %s", ", ".join(unused))
    return [b for b in config.branches if config.weight_of(b) > 0]


def _run_windows(
    windows: Iterable[tuple[float, float, list[np.ndarray]]],
    timeline: Timeline,
    waveform: np.ndarray | None,
    reasons: dict[str, str],
    run: Path,
    config: FusionConfig,
    enrolment: list[ClipMedia] | None,
    total: int | None,
    progress: bool,
    device: str = "cpu",
) -> Timeline:
    """Predict each window as it comes, then log which modality each window lacked."""
    notes: dict[str, None] = {}
    bar = tqdm(windows, total=total, desc="timeline", unit="window", disable=not progress)
    for start, end, frames in bar:
        row, window_notes = _predict_window(
            start,
            end,
            frames,
            waveform,
            reasons,
            timeline.source,
            run,
            config,
            timeline.branches,
            enrolment,
            device,
        )
        timeline.windows.append(row)
        notes.update(dict.fromkeys(window_notes))
        log.debug("%.1f-%.1f s: %s", start, end, row["prediction"])
    timeline.notes = list(dict.fromkeys([*timeline.notes, *notes]))
    _log_missing(timeline)
    return timeline


def _log_missing(timeline: Timeline) -> None:
    n = len(timeline)
    log.info("timeline of %s: %d windows", timeline.source, n)
    for branch, count in timeline.missing_counts().items():
        if count:
            entries = (w["modalities"][branch] for w in timeline.windows)
            example = Counter(e["missing"] for e in entries if "missing" in e).most_common(1)[0][0]
            log.warning("%s missing in %d of %d windows (e.g. %s)", branch, count, n, example)
    unfused = sum(w["prediction"] is None for w in timeline.windows)
    if unfused:
        log.warning("%d of %d windows had no usable modality and no fused prediction", unfused, n)


def predict_timeline(
    video: str | Path,
    audio: str | Path | None = None,
    *,
    run: str | Path,
    config: FusionConfig,
    window_s: float = DEFAULT_WINDOW_S,
    hop_s: float = DEFAULT_HOP_S,
    fps: float | None = DEFAULT_FPS,
    max_side: int | None = DEFAULT_MAX_SIDE,
    enrolment: list[ClipMedia] | None = None,
    progress: bool = True,
    device: str = "cpu",
) -> Timeline:
    """Fused predictions over sliding windows of ``video`` (its frames at ``fps`` per second, None for every
    frame) with its sound, or ``audio``'s; see the module docstring for the windows and missing modalities.
    ``enrolment``: unlabelled clips of the same person (decoded once), as for :func:`~emo_utils.inference.predict_file`;
    ``device``: where the backbones run.
    """
    video = Path(video)
    for path in (video, audio):
        if path is not None and not Path(path).is_file():
            raise DataError(path, "file not found", "check the path")
    info = probe(video)
    reasons: dict[str, str] = {}
    waveform = None
    try:
        waveform = load_audio(audio or video, SAMPLE_RATE)
    except MissingModalityError as exc:
        reasons["audio"] = str(exc)
    if not info.has_video:
        reasons["video"] = f"{video}: has no video stream"
    if info.has_video and info.n_frames and info.fps:
        duration = info.n_frames / info.fps
    elif not info.has_video and waveform is not None:
        duration = len(waveform) / SAMPLE_RATE
    else:
        duration = info.duration_s
    if duration <= 0:
        raise DataError(video, "has no duration (no frame and no sound)", "re-encode it, e.g. with ffmpeg")
    spans = window_spans(duration, window_s, hop_s)
    enrolment = [_in_memory(m, fps, max_side) for m in enrolment] if enrolment else None
    timeline = Timeline(str(video), str(run), list(config.labels), _used_branches(config), window_s, hop_s, fps)
    capture = cv2.VideoCapture(str(video)) if info.has_video else None
    if capture is not None and not capture.isOpened():
        raise DataError(video, "OpenCV cannot open it as a video", "re-encode it as H.264 mp4 (e.g. with ffmpeg)")
    try:
        native = (capture.get(cv2.CAP_PROP_FPS) if capture is not None else 0) or info.fps or DEFAULT_FPS
        frames = _stream_frames(capture, fps, max_side, native) if capture is not None else iter(())
        windows = _windows_of(frames, spans, complete=True)
        return _run_windows(
            windows,
            timeline,
            waveform,
            reasons,
            Path(run),
            config,
            enrolment,
            len(spans),
            progress,
            device,
        )
    finally:
        if capture is not None:
            capture.release()


def _in_memory(media: ClipMedia, fps: float | None, max_side: int | None) -> ClipMedia:
    """``media`` with its sound and frames decoded once (an enrolment clip is read for every window)."""
    if media.waveform is not None or media.frames is not None:
        return media
    try:
        waveform = load_audio(media.audio or media.video, SAMPLE_RATE) if media.has_audio() else None
    except MissingModalityError:
        waveform = None
    frames = None
    if media.video and probe(media.video).has_video:
        capture = cv2.VideoCapture(media.video)
        try:
            native = capture.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS
            frames = [image for _, image in _stream_frames(capture, fps, max_side, native) if image is not None]
        finally:
            capture.release()
    return ClipMedia(
        waveform=waveform, sample_rate=SAMPLE_RATE, frames=np.stack(frames) if frames else None, label=media.name
    )


def face_config(config: FusionConfig, run: str | Path = "") -> FusionConfig:
    """``config`` restricted to its face branches that the demo can compute (for the camera, which has no sound);
    raises :class:`DataError` when it weights none."""
    face = [b for b in config.branches if modality_of(b) == "video" and config.weight_of(b) > 0 and not _demo_limit(b)]
    if not face:
        raise DataError(
            run or "fusion config",
            "the fusion config gives no face branch the demo can compute a weight; the camera reads faces only",
            "train a video branch (video_slowfast, video_vit_cnn or video_fer) or pass --config with one weighted",
        )
    return FusionConfig(
        face,
        [config.weight_of(b) for b in face],
        strategy=config.strategy,
        labels=list(config.labels),
        note=(config.note + " Face branches only (camera).").strip(),
        created=config.created,
        reasons={b: r for b, r in config.reasons.items() if b in face},
    )


def _demo_limit(branch: str) -> str:
    spec = BRANCHES.get(branch)
    return spec.demo_limit if spec is not None else ""


def camera_name(source: int | str | Path) -> str:
    """What messages and output folders call a camera source."""
    return f"camera {source}" if isinstance(source, int) else str(source)


def camera_timeline(
    source: int | str | Path,
    run: str | Path,
    config: FusionConfig,
    seconds: float = 30.0,
    window_s: float = DEFAULT_WINDOW_S,
    hop_s: float = DEFAULT_HOP_S,
    fps: float | None = DEFAULT_FPS,
    max_side: int | None = DEFAULT_MAX_SIDE,
    progress: bool = True,
    device: str = "cpu",
) -> Timeline:
    """Face-only predictions over windows of ``cv2.VideoCapture(source)`` (a webcam index, or a video file standing
    in for one), each predicted as soon as its frames have arrived; stops after ``seconds`` or when the stream ends.

    Raises :class:`DataError` naming the source when it cannot be opened, or when ``config`` weights no face branch.
    """
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    name = camera_name(source)
    if not isinstance(source, int) and not Path(source).is_file():
        raise DataError(source, "file not found", "pass a webcam index (--camera 0) or an existing video file")
    faces = face_config(config, run)
    log.info(NO_MICROPHONE)
    capture = cv2.VideoCapture(source if isinstance(source, int) else str(source))
    if not capture.isOpened():
        capture.release()
        raise DataError(
            name,
            "cannot be opened",
            "check the index (0 is usually the built-in webcam), that no other program is using it and that this "
            "user may read /dev/video*; or pass a video file with --video",
        )
    timeline = Timeline(name, str(run), list(faces.labels), list(faces.branches), window_s, hop_s, fps)
    timeline.notes.append(NO_MICROPHONE)
    spans = window_spans(seconds, window_s, hop_s)
    try:
        native = None if isinstance(source, int) else (capture.get(cv2.CAP_PROP_FPS) or None)
        windows = _windows_of(_stream_frames(capture, fps, max_side, native, stop_s=seconds), spans, complete=False)
        _run_windows(windows, timeline, None, {}, Path(run), faces, None, len(spans), progress, device)
    finally:
        capture.release()
    if not timeline.windows:
        raise DataError(name, "opened, but gave no frame", "check that the camera is on and not covered, or the file")
    return timeline
