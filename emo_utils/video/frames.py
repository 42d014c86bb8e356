"""Evenly spaced frames from a video clip, decoded with OpenCV.

Frames are read sequentially rather than by seeking (``CAP_PROP_POS_FRAMES`` is not frame-accurate on
many H.264 files), and the frame count in the container header (``CAP_PROP_FRAME_COUNT``) is treated as an
estimate only: when the decoded stream turns out longer or shorter, the clip is read a second time with
the true count, so the frames are always evenly spaced over what is really there.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from emo_utils.errors import DataError
from emo_utils.media import probe


def frame_indices(total: int, n: int) -> np.ndarray:
    """``n`` evenly spaced frame indices in ``[0, total)``: the centre of each of ``n`` equal segments.

    Indices are non-decreasing; when ``total < n`` some frames repeat, so there are always ``n``.
    """
    if total < 1 or n < 1:
        raise ValueError(f"need total >= 1 and n >= 1, got total={total}, n={n}")
    centres = (np.arange(n) + 0.5) * total / n
    return np.minimum(centres.astype(int), total - 1)


def _read_at(path: Path, wanted: np.ndarray) -> tuple[list[np.ndarray], int]:
    """Decode the clip front to back; return the RGB frames at ``wanted`` and the true frame count."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise DataError(path, "OpenCV cannot open it as a video", "re-encode it as H.264 mp4 (e.g. with ffmpeg)")
    picked: list[np.ndarray] = []
    want = iter(wanted.tolist() + [-1])
    target = next(want)
    count = 0
    try:
        while capture.grab():
            while count == target:
                ok, frame = capture.retrieve()
                if not ok:
                    raise DataError(path, f"frame {count} cannot be decoded", "the file is corrupt; re-download it")
                picked.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                target = next(want)
            count += 1
    finally:
        capture.release()
    return picked, count


def _header_frame_count(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    try:
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    finally:
        capture.release()


def sample_frames(path: str | Path, n_frames: int = 22) -> np.ndarray:
    """``n_frames`` RGB frames (n, H, W, 3) uint8, evenly spaced over the clip at ``path``.

    Raises :class:`DataError` naming the file when it is missing, empty, unreadable or has no video frames.
    """
    path = Path(path)
    info = probe(path)  # missing, empty and unreadable files raise DataError here
    if not info.has_video:
        raise DataError(path, "has no video stream", "use an audio-video clip (modality 01) for the face branch")
    total = _header_frame_count(path)
    if total <= 0:  # the header gives no count: count the frames first
        _, total = _read_at(path, np.empty(0, dtype=int))
    for _ in range(2):  # a second pass only when the header count was wrong
        if total == 0:
            raise DataError(path, "no video frame could be decoded", "the file is corrupt or empty; re-encode it")
        frames, decoded = _read_at(path, frame_indices(total, n_frames))
        if decoded == total:
            return np.stack(frames)
        total = decoded
    raise DataError(
        path, "the number of decodable frames changes from one read to the next", "the file is corrupt; re-encode it"
    )
