"""One clip's media as a branch reads it: files on disk, or arrays already in memory.

The demo passes files; the robustness curve passes noisy waveforms; the timeline passes windows of frames and
sound. Every branch's per-clip input reads them through :class:`ClipMedia`, so all three go through the same
feature code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emo_utils.errors import MissingModalityError


@dataclass
class ClipMedia:
    """A clip's video and/or audio: paths, or a waveform (mono float) and frames ((T, H, W, 3) RGB uint8)."""

    video: str | None = None
    audio: str | None = None
    waveform: np.ndarray | None = None
    sample_rate: int | None = None
    frames: np.ndarray | None = None
    label: str | None = None  # what messages call in-memory media (e.g. "talk.mp4 4.0-6.0 s")

    @property
    def name(self) -> str:
        """What error messages call this clip."""
        return self.label or self.video or self.audio or "in-memory clip"

    def has_audio(self) -> bool:
        return self.waveform is not None or bool(self.audio or self.video)

    def has_video(self) -> bool:
        return self.frames is not None or bool(self.video)

    def waveform_at(self, sample_rate: int) -> np.ndarray:
        """The sound as mono float32 at ``sample_rate`` (from memory, the audio file or the video's track)."""
        from emo_utils.audio.io import load_audio, resample

        if self.waveform is not None:
            if self.sample_rate is None:
                raise ValueError("a waveform needs its sample_rate")
            return resample(np.asarray(self.waveform, dtype=np.float32), self.sample_rate, sample_rate)
        source = self.audio or self.video
        if not source:
            raise MissingModalityError(self.name, "no audio given", "pass a file with sound (--audio or a video)")
        return load_audio(source, sample_rate)

    def sampled_frames(self, n_frames: int) -> np.ndarray:
        """``n_frames`` frames spread evenly over the clip (from memory or decoded from the video)."""
        from emo_utils.video.frames import frame_indices, sample_frames

        if self.frames is not None:
            if len(self.frames) == 0:
                raise MissingModalityError(self.name, "no frames given", "pass a window with video frames")
            return np.asarray(self.frames)[frame_indices(len(self.frames), n_frames)]
        if not self.video:
            raise MissingModalityError(self.name, "no video given", "pass a video file")
        return sample_frames(self.video, n_frames)
