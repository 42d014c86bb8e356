"""Emotion over time: the demo applied to sliding windows of one video, or of a webcam's live frames.

:func:`predict_timeline` decodes a video's frames once (at ``fps``, default 10 per second) and its sound once
(the video's track, or a separate ``audio`` file), then for each window ``[t, t + window_s)``, ``t`` a multiple
of ``hop_s``, builds an in-memory :class:`~emo_utils.clip_media.ClipMedia` and fuses the run's branches for it
with :func:`emo_utils.inference.predict_media`, exactly as the demo does for a whole clip. A clip shorter than one
window gives one window over the whole clip; windows are planned over the clip's length, so a tail shorter than
``hop_s`` after the last full window is not predicted. A window without a face, or with silence (or a clip
without sound), records that modality as missing with its reason and is fused from what it has; a window with
nothing usable has no fused prediction. Frames are read as a stream, so only one window's frames are held.

:func:`camera_timeline` does the same for ``cv2.VideoCapture(source)``: a webcam index, or a video file standing
in for one. It reads **faces only** (no microphone library is a dependency of this project), predicting each
window as soon as its frames have arrived.

:func:`smooth_timeline` adds each window's label after temporal smoothing of the fused probabilities
(:mod:`emo_utils.smoothing`: ``ema`` or ``viterbi``) as ``smoothed``; the stretches of one label then follow it.

Outputs (:func:`write_timeline`): ``timeline.json`` (the settings and, per window, its span, the fused
probabilities and label and each branch's probabilities or the reason it is missing) and ``timeline.csv``, one
row per window, wide: ``start_s, end_s, prediction`` (then ``smoothed`` when smoothed), ``missing`` (why nothing
could be fused, else empty), then
``fused:<label>`` per label, then per branch ``<branch>:<label>`` and ``<branch>:missing`` (empty where the branch
was read; its probabilities are then empty). :func:`plot_timeline` draws one heat-map per branch plus the fused
one (time on x, emotions on y) with the fused top label marked.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from emo_utils.audio.io import SILENCE_RMS, load_audio
from emo_utils.branches import BRANCHES
from emo_utils.clip_media import ClipMedia
from emo_utils.errors import DataError, EmoError, MissingModalityError
from emo_utils.fusion import FusionConfig
from emo_utils.inference import predict_media
from emo_utils.media import probe
from emo_utils.smoothing import NO_LABEL, smooth_labels

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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


@dataclass
class Timeline:
    """Predictions per window. Each window is a dict: ``start_s``, ``end_s``, ``prediction`` (fused top label, or
    None when no branch could be used), ``probabilities`` (fused, label -> p; empty when None), ``modalities``
    (branch -> ``{"probabilities": {...}}`` or ``{"missing": reason}``), ``missing`` (why nothing was fused) and,
    when ``smoothing`` is not "none", ``smoothed`` (the label after temporal smoothing, None where no prediction)."""

    source: str
    run: str
    labels: list[str]
    branches: list[str]
    window_s: float
    hop_s: float
    fps: float | None
    windows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    smoothing: str = "none"

    def __len__(self) -> int:
        return len(self.windows)

    def missing_counts(self) -> dict[str, int]:
        """Per branch, the number of windows it was missing from."""
        return {b: sum("missing" in w["modalities"][b] for w in self.windows) for b in self.branches}

    def frame(self) -> pd.DataFrame:
        """One row per window, wide (the columns of ``timeline.csv``, see the module docstring)."""
        rows = []
        for w in self.windows:
            row: dict[str, Any] = {
                "start_s": w["start_s"],
                "end_s": w["end_s"],
                "prediction": w["prediction"] or "",
                "missing": w.get("missing", ""),
            }
            if self.smoothed:
                row["smoothed"] = w["smoothed"] or ""
            row.update({f"fused:{e}": w["probabilities"].get(e, np.nan) for e in self.labels})
            for branch in self.branches:
                entry = w["modalities"][branch]
                probabilities = entry.get("probabilities", {})
                row.update({f"{branch}:{e}": probabilities.get(e, np.nan) for e in self.labels})
                row[f"{branch}:missing"] = entry.get("missing", "")
            rows.append(row)
        return pd.DataFrame(rows, columns=_columns(self.labels, self.branches, self.smoothed))

    @property
    def smoothed(self) -> bool:
        """Whether the windows carry a label after temporal smoothing (``smoothed``)."""
        return self.smoothing != "none"

    def segments(self) -> list[tuple[float, float, str]]:
        """Stretches where the fused label (after smoothing, when smoothed) stays the same: (start s, end s, label;
        "-" where nothing was fused). Each window stands for the time around its centre: neighbours meet half-way
        between their centres."""
        if not self.windows:
            return []
        centres = [(w["start_s"] + w["end_s"]) / 2 for w in self.windows]
        bounds = [self.windows[0]["start_s"], *((a + b) / 2 for a, b in zip(centres, centres[1:]))]
        bounds.append(self.windows[-1]["end_s"])
        out: list[tuple[float, float, str]] = []
        for i, w in enumerate(self.windows):
            label = w["smoothed" if self.smoothed else "prediction"] or "-"
            if out and out[-1][2] == label:
                out[-1] = (out[-1][0], bounds[i + 1], label)
            else:
                out.append((bounds[i], bounds[i + 1], label))
        return out

    def summary(self) -> str:
        """A short text: the windows, each branch's missing windows, and the segments of one fused label."""
        lines = [
            f"timeline of {self.source}: {len(self)} windows of {self.window_s:g} s every {self.hop_s:g} s",
            f"run: {self.run}",
        ]
        for branch, n in self.missing_counts().items():
            lines.append(f"  {branch:<20} read in {len(self) - n} of {len(self)} windows")
        if self.smoothed:
            lines.append(f"labels smoothed over time ({self.smoothing}, emo_utils.smoothing):")
        lines += [f"{start:.1f}-{end:.1f} s {label}" for start, end, label in self.segments()]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The timeline as a JSON-ready dict (what ``timeline.json`` holds)."""
        return asdict(self)


def _columns(labels: list[str], branches: list[str], smoothed: bool = False) -> list[str]:
    columns = ["start_s", "end_s", "prediction", *(["smoothed"] if smoothed else []), "missing"]
    columns += [f"fused:{e}" for e in labels]
    for branch in branches:
        columns += [*(f"{branch}:{e}" for e in labels), f"{branch}:missing"]
    return columns


def _modality(branch: str) -> str:
    spec = BRANCHES.get(branch)
    return spec.modality if spec is not None else ("audio" if branch.startswith("audio") else "video")


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
        row["modalities"] = {b: {"missing": known.get(_modality(b), str(exc))} for b in branches}
        return row, []
    row["prediction"] = result["prediction"]
    row["probabilities"] = result["probabilities"]
    row["modalities"] = {}
    for branch in branches:
        entry = result["modalities"][branch]
        if "probabilities" in entry:
            row["modalities"][branch] = {"probabilities": entry["probabilities"]}
        else:
            row["modalities"][branch] = {"missing": known.get(_modality(branch), entry["missing"])}
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
    face = [b for b in config.branches if _modality(b) == "video" and config.weight_of(b) > 0 and not _demo_limit(b)]
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


def smooth_timeline(timeline: Timeline, method: str) -> Timeline:
    """``timeline`` with each window's label after temporal smoothing of the fused probabilities (``method``:
    ``ema`` or ``viterbi``, see :mod:`emo_utils.smoothing`; "none" returns it as it is)."""
    if method == "none":
        return timeline
    P = np.full((len(timeline), len(timeline.labels)), np.nan)
    for i, w in enumerate(timeline.windows):
        if w["prediction"]:
            P[i] = [w["probabilities"][e] for e in timeline.labels]
    labels = smooth_labels(P, method, timeline.hop_s)
    windows = [
        {**w, "smoothed": timeline.labels[k] if k != NO_LABEL else None} for w, k in zip(timeline.windows, labels)
    ]
    return replace(timeline, windows=windows, smoothing=method)


def write_timeline(timeline: Timeline, out_dir: str | Path) -> dict[str, Path]:
    """Write ``timeline.json`` and ``timeline.csv`` (wide, see the module docstring) to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "timeline.json", "csv": out / "timeline.csv"}
    paths["json"].write_text(json.dumps(timeline.to_json(), indent=2) + "\n")
    timeline.frame().to_csv(paths["csv"], index=False)
    return paths


def read_timeline(path: str | Path) -> Timeline:
    """A timeline written by :func:`write_timeline` (its ``timeline.json``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "timeline not found", "write one with emo demo --timeline")
    return Timeline(**json.loads(path.read_text()))


def read_timeline_csv(path: str | Path) -> pd.DataFrame:
    """``timeline.csv`` as :meth:`Timeline.frame` gives it (empty reasons as "", missing probabilities NaN)."""
    head = pd.read_csv(path, nrows=0).columns
    text = [c for c in head if c in ("prediction", "smoothed", "missing") or c.endswith(":missing")]
    return pd.read_csv(
        path, dtype={c: str for c in text}, keep_default_na=False, na_values={c: [""] for c in head if c not in text}
    )


def plot_timeline(timeline: Timeline) -> Figure:
    """One heat-map per branch plus the fused one: emotions (y) over time (x, window centres), the fused top
    label marked with dots; windows where a branch is missing are left grey."""
    import matplotlib.pyplot as plt

    from emo_utils.plotting import use_style

    if not timeline.windows:
        raise ValueError("the timeline has no window to plot")
    use_style()
    names = [*timeline.branches, "fused"]
    frame = timeline.frame()
    centres = ((frame["start_s"] + frame["end_s"]) / 2).to_numpy(dtype=float)
    if len(centres) > 1:
        mids = (centres[1:] + centres[:-1]) / 2
        edges = np.concatenate([[2 * centres[0] - mids[0]], mids, [2 * centres[-1] - mids[-1]]])
    else:
        edges = np.array([frame["start_s"].iloc[0], frame["end_s"].iloc[0]], dtype=float)
    labels = timeline.labels
    fig, axes = plt.subplots(
        len(names), 1, figsize=(max(7.0, 0.12 * len(frame) + 4), 1.0 + 1.6 * len(names)), sharex=True, squeeze=False
    )
    missing = timeline.missing_counts()
    mesh = None
    for ax, name in zip(axes[:, 0], names):
        values = frame[[f"{name}:{e}" for e in labels]].to_numpy(dtype=float).T
        ax.set_facecolor("0.85")
        mesh = ax.pcolormesh(
            edges, np.arange(len(labels) + 1) - 0.5, np.ma.masked_invalid(values), cmap="magma_r", vmin=0, vmax=1
        )
        ax.set_yticks(range(len(labels)), labels)
        ax.invert_yaxis()
        ax.grid(False)
        title = name if name == "fused" else f"{name} ({_modality(name)})"
        if name != "fused" and missing[name]:
            title += f": missing in {missing[name]} of {len(frame)} windows"
        ax.set_title(title, loc="left")
    fused_ax = axes[-1, 0]
    top = [labels.index(p) if p in labels else np.nan for p in frame["prediction"]]
    fused_ax.scatter(
        centres,
        top,
        marker="o",
        s=14,
        color="tab:cyan",
        edgecolor="black",
        linewidth=0.5,
        label="fused top label",
        zorder=3,
    )
    if timeline.smoothed:
        smoothed = [labels.index(p) if p in labels else np.nan for p in frame["smoothed"]]
        fused_ax.plot(centres, smoothed, color="tab:green", linewidth=2, label=f"smoothed ({timeline.smoothing})")
    fused_ax.legend(loc="upper right", fontsize=7)
    fused_ax.set_xlabel("time (s, window centres)")
    if mesh is not None:
        fig.colorbar(mesh, ax=axes[:, 0].tolist(), label="probability", fraction=0.03, pad=0.01)
    fig.suptitle(
        f"emotion over time: {Path(timeline.source).name} ({timeline.window_s:g} s windows every {timeline.hop_s:g} s)",
        fontsize=10,
    )
    return fig
