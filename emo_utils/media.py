"""Reading and writing audio-video files (.mp4 with an audio track) with PyAV.

Frames for the video branches are read with OpenCV (``emo_utils.video.frames``); this module handles
what OpenCV cannot: writing an mp4 that carries a real audio track, and reading that track back.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from emo_utils.errors import DataError, MissingModalityError


@dataclass(frozen=True)
class MediaInfo:
    """What a container holds."""

    duration_s: float
    has_video: bool
    has_audio: bool
    fps: float | None
    n_frames: int | None
    width: int | None
    height: int | None
    audio_sample_rate: int | None


def _open(path: str | Path) -> av.container.InputContainer:
    path = Path(path)
    if not path.exists():
        raise DataError(path, "file not found", "check the path (and --data-root)")
    if path.stat().st_size == 0:
        raise DataError(path, "file is empty (0 bytes)", "re-copy or re-download this clip")
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise DataError(
            path,
            f"cannot be read as audio/video ({exc.__class__.__name__})",
            "the file is corrupt or not a media file; re-download it or remove it",
        ) from exc


def probe(path: str | Path) -> MediaInfo:
    """Describe the streams of a media file without decoding it."""
    with _open(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        duration = float(container.duration / av.time_base) if container.duration else 0.0
        return MediaInfo(
            duration_s=duration,
            has_video=video is not None,
            has_audio=audio is not None,
            fps=float(video.average_rate) if video is not None and video.average_rate else None,
            n_frames=int(video.frames) if video is not None and video.frames else None,
            width=video.codec_context.width if video is not None else None,
            height=video.codec_context.height if video is not None else None,
            audio_sample_rate=audio.rate if audio is not None else None,
        )


def read_audio_track(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Decode the audio track of a media file to mono float32 at ``sample_rate``.

    Raises :class:`MissingModalityError` when the file has no audio track.
    """
    with _open(path) as container:
        if not container.streams.audio:
            raise MissingModalityError(
                path, "has no audio track", "pass the audio separately (--audio FILE) or use a clip with sound"
            )
        stream = container.streams.audio[0]
        expected = (
            int(round(float(stream.duration * stream.time_base) * sample_rate))
            if stream.duration and stream.time_base
            else None
        )
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            raise DataError(path, f"audio track is corrupt ({exc})", "re-download or re-encode the clip") from exc
    if not chunks:
        raise MissingModalityError(path, "audio track is empty", "use a clip with sound")
    samples = np.concatenate(chunks).astype(np.float32)
    return samples[:expected] if expected else samples  # AAC pads its last frame


def write_video(
    path: str | Path,
    frames: np.ndarray,
    fps: float,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
    crf: int = 23,
) -> Path:
    """Write RGB ``frames`` (T, H, W, 3 uint8) as H.264 mp4, with mono ``audio`` (float in [-1, 1]) as AAC."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"H.264 needs even frame sizes, got {width}x{height}")
    with av.open(str(path), mode="w") as container:
        vstream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        vstream.options = {"crf": str(crf), "preset": "veryfast"}
        astream = None
        if audio is not None:
            astream = container.add_stream("aac", rate=sample_rate)
            astream.layout = "mono"
        for image in frames:
            for packet in vstream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in vstream.encode():
            container.mux(packet)
        if astream is not None:
            samples = np.clip(np.asarray(audio, dtype=np.float32).reshape(1, -1), -1.0, 1.0)
            frame_size = astream.codec_context.frame_size or 1024
            for start in range(0, samples.shape[1], frame_size):
                chunk = np.ascontiguousarray(samples[:, start : start + frame_size])
                aframe = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                aframe.sample_rate = sample_rate
                aframe.pts = start
                for packet in astream.encode(aframe):
                    container.mux(packet)
            for packet in astream.encode():
                container.mux(packet)
    return path
