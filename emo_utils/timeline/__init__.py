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

from emo_utils.timeline.record import (
    Timeline,
    plot_timeline,
    read_timeline,
    read_timeline_csv,
    smooth_timeline,
    write_timeline,
)
from emo_utils.timeline.windows import (
    DEFAULT_FPS,
    DEFAULT_HOP_S,
    DEFAULT_MAX_SIDE,
    DEFAULT_WINDOW_S,
    MIN_WINDOW_AUDIO_S,
    NO_MICROPHONE,
    SAMPLE_RATE,
    camera_name,
    camera_timeline,
    face_config,
    predict_timeline,
    window_spans,
)

__all__ = [
    "DEFAULT_FPS",
    "DEFAULT_HOP_S",
    "DEFAULT_MAX_SIDE",
    "DEFAULT_WINDOW_S",
    "MIN_WINDOW_AUDIO_S",
    "NO_MICROPHONE",
    "SAMPLE_RATE",
    "Timeline",
    "camera_name",
    "camera_timeline",
    "face_config",
    "plot_timeline",
    "predict_timeline",
    "read_timeline",
    "read_timeline_csv",
    "smooth_timeline",
    "window_spans",
    "write_timeline",
]
