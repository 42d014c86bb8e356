"""Face detection and face crops for the video branches.

A clip becomes ``n_frames`` evenly spaced frames (:func:`~emo_utils.video.frames.sample_frames`); a
pluggable :class:`FaceDetector` finds the largest face in each; a frame where none is found borrows the
box of the nearest frame that has one (a clip with no face at all is a :class:`MissingModalityError`).
Each box is widened by a small margin, made square and kept inside the image, then cropped twice:

- ``grey48``: 48x48 grey uint8, the input of the small 2-D CNN (as in Srihari & Bhaskaran 2024);
- ``rgb``: ``rgb_size`` x ``rgb_size`` RGB uint8 for the ViT embedder. The default cache size is 112,
  not 224: 192 clips x 22 frames at 224x224x3 is 635 MB, at 112 it is 159 MB. The ViT image processor
  resizes the crops to 224 at embedding time; pass ``rgb_size=224`` to cache full-size crops instead.

Detectors: ``"mtcnn"`` (facenet-pytorch's MTCNN, weights inside its wheel) and ``"haar"`` (OpenCV's
cascade). ``"auto"``, the default, is MTCNN where facenet-pytorch is installed and Haar otherwise
(:func:`default_detector`); caches and feature metadata record the detector actually used.
``"mtcnn+haar"`` (:class:`FallbackFaceDetector`, the shipped face model's) asks MTCNN first, the Haar cascade
only when MTCNN finds nothing, then both with lower bars, then a last-resort MTCNN (lower bars still, a denser image
pyramid) whose faces are marked as such; it enlarges small frames before searching them.

**Framing for the FER2013 model.** FER2013's 48x48 faces are tight: the square runs from the top of the forehead
to the chin. :data:`FER_FRAMING` gives, per detector, the crop margin that makes a detector's box into that
square (:func:`fer_margin`); ``benchmarks/fer_in_frames.py`` checks it on FER2013 faces placed into frames.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import multiprocessing
import sys
import types
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from emo_utils.errors import MissingModalityError, SkipLog
from emo_utils.extraction import run_per_clip
from emo_utils.feature_store import FeatureSet, save_features
from emo_utils.video.frames import sample_frames

STAGE_VERSION = 1  # bump when a change alters the face crops (emo_utils.stages)

Box = tuple[int, int, int, int]  # x, y, width, height in pixels
GREY_SIZE = 48
RGB_SIZE = 112
CROP_MARGIN = 0.1
# Margin (each side, as a share of the box's longer side) that turns a detector's box into FER2013's framing:
# MTCNN's box already spans forehead to chin; Haar's is a little tighter. Read off the median box of FER2013
# faces placed into plain frames (benchmarks/fer_in_frames.py reports how well it holds). The fallback chain's
# boxes are a little larger and lower than FER2013's square on the development half of the FER2013 sample, but a
# crop tightened by their median excess, or raised by their median offset, read those faces no better beyond
# chance (benchmarks/fer_in_frames_development.md), so neither correction is applied.
FER_FRAMING: dict[str, float] = {"mtcnn": 0.0, "haar": 0.03, "mtcnn+haar": 0.0}
# The fallback detector's last-resort MTCNN: its proposal and refinement networks' bars far down, a denser image
# pyramid (MTCNN's default steps 0.709 between scales), the final face probability still >= min_prob. Chosen on the
# development half of the FER2013 sample placed into frames (the faces the other tiers missed) and faceless scenes.
LAST_RESORT: dict[str, Any] = {"min_prob": 0.6, "stage_thresholds": (0.2, 0.3, 0.3), "pyramid_factor": 0.9}
# A Haar box counts only when MTCNN's output network, reading it as it reads its own candidates, gives it at least the
# lower MTCNN tier's face probability (Haar alone took the sun of a faceless landscape for a face).
HAAR_CONFIRM = 0.4
GREY_FILE = "face_grey48.npz"
RGB_FILE = "face_rgb.npz"
DETECTED_COLOUR = (0, 200, 0)
BORROWED_COLOUR = (255, 140, 0)


class FaceDetector(Protocol):
    """Anything that finds faces in one RGB frame (H, W, 3 uint8)."""

    def detect(self, frame_rgb: np.ndarray) -> list[Box]:
        """Every face found, as ``(x, y, w, h)`` boxes (empty when there is none)."""
        ...


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade (``haarcascade_frontalface_default.xml``).

    Frames are shrunk so the longer side is at most ``max_side`` before detection (a 1280x720 RAVDESS
    frame is searched at 640x360), and faces smaller than ``min_size_frac`` of the shorter side are ignored.
    """

    def __init__(
        self, scale_factor: float = 1.1, min_neighbors: int = 5, min_size_frac: float = 0.12, max_side: int = 640
    ) -> None:
        path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise RuntimeError(f"OpenCV could not load the Haar cascade {path}; reinstall opencv-python-headless")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size_frac = min_size_frac
        self.max_side = max_side

    def detect(self, frame_rgb: np.ndarray) -> list[Box]:
        scale = min(1.0, self.max_side / max(frame_rgb.shape[:2]))
        grey = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2GRAY)
        if scale < 1.0:
            grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        grey = cv2.equalizeHist(grey)
        min_side = max(20, int(self.min_size_frac * min(grey.shape)))
        found = self.cascade.detectMultiScale(
            grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(min_side, min_side)
        )
        return [tuple(int(round(v / scale)) for v in box) for box in found]  # type: ignore[misc]


_TORCHVISION_STAND_INS = ("torchvision", "torchvision.ops", "torchvision.ops.boxes", "torchvision.transforms")


def _batched_nms(boxes: Any, scores: Any, idxs: Any, iou_threshold: float) -> Any:
    """torchvision's ``batched_nms`` (its coordinate trick) on torchvision's compiled ``nms`` operator."""
    import torch

    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    offsets = idxs.to(boxes) * (boxes.max() + 1)
    return torch.ops.torchvision.nms(boxes + offsets[:, None], scores, iou_threshold)


def _import_mtcnn() -> Any:
    """facenet-pytorch's ``MTCNN`` class, without importing torchvision where it is not loaded yet.

    facenet-pytorch imports torchvision for one function, ``batched_nms`` (and ``to_tensor`` for crops this project
    does not use); importing torchvision loads ``torch._dynamo``, over a second of CPU at every cold demo start. So,
    while facenet-pytorch is imported, stand-in torchvision modules give it :func:`_batched_nms` (on torchvision's
    own compiled operator, loaded as a library); they are removed at once, so a later ``import torchvision`` gets
    the real package.
    """
    if "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is None:
        from facenet_pytorch import MTCNN

        return MTCNN
    import torch

    package = Path(next(iter(importlib.util.find_spec("torchvision").submodule_search_locations)))  # type: ignore[union-attr]
    libraries = sorted(package.glob("_C*.so"))
    if not libraries:
        from facenet_pytorch import MTCNN

        return MTCNN
    torch.ops.load_library(str(libraries[0]))
    stand_ins = {name: types.ModuleType(name) for name in _TORCHVISION_STAND_INS}
    stand_ins["torchvision.ops.boxes"].batched_nms = _batched_nms  # type: ignore[attr-defined]
    stand_ins["torchvision.transforms"].functional = types.ModuleType("torchvision.transforms.functional")  # type: ignore[attr-defined]
    sys.modules.update(stand_ins)
    sys.modules["torchvision.transforms.functional"] = stand_ins["torchvision.transforms"].functional  # type: ignore[attr-defined]
    try:
        from facenet_pytorch import MTCNN
    finally:
        for name in [*_TORCHVISION_STAND_INS, "torchvision.transforms.functional"]:
            sys.modules.pop(name, None)
    return MTCNN


class MtcnnFaceDetector:
    """MTCNN from ``facenet-pytorch`` (optional; its weights ship inside the package).

    Like :class:`HaarFaceDetector`, frames are shrunk so the longer side is at most ``max_side`` before
    detection and faces smaller than ``min_size_frac`` of the shorter side (at least 20 px) are not searched
    for (fewer levels in MTCNN's image pyramid: faster on large frames); faces found with a probability
    below ``min_prob`` are dropped. Frames whose shorter side is under ``min_side`` are enlarged to it first
    (a small frame's face is otherwise below MTCNN's smallest search size). ``stage_thresholds`` (its three
    networks' bars) and ``pyramid_factor`` (the ratio between the image pyramid's scales; nearer 1 searches more
    face sizes) replace MTCNN's defaults where given.
    """

    def __init__(
        self,
        min_prob: float = 0.9,
        max_side: int = 640,
        min_size_frac: float = 0.12,
        min_side: int = 0,
        stage_thresholds: Sequence[float] | None = None,
        pyramid_factor: float | None = None,
    ) -> None:
        try:
            import torch

            MTCNN = _import_mtcnn()
        except ImportError as exc:
            raise ImportError(
                "face detector 'mtcnn' needs facenet-pytorch: pip install --no-deps facenet-pytorch "
                "(or use detector='haar')"
            ) from exc
        self.model = MTCNN(keep_all=True, device="cpu")
        if stage_thresholds is not None:
            self.model.thresholds = list(stage_thresholds)
        if pyramid_factor is not None:
            self.model.factor = pyramid_factor
        if multiprocessing.parent_process() is not None:
            # A worker of a pool that already uses every core: several torch threads per worker fight for the
            # cores (measured on 2 busy cores: 20x slower than one thread).
            torch.set_num_threads(1)
        self.min_prob = min_prob
        self.max_side = max_side
        self.min_size_frac = min_size_frac
        self.min_side = min_side

    def face_probability(self, frame_rgb: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
        """MTCNN's output-network face probability of each box (kept inside the frame), read at 48x48 as MTCNN reads
        its own candidates: a second opinion on another detector's boxes."""
        import torch

        height, width = frame_rgb.shape[:2]
        crops = []
        for x, y, w, h in boxes:
            x0, y0 = max(0, x), max(0, y)
            face = frame_rgb[y0 : max(y0 + 1, min(height, y + h)), x0 : max(x0 + 1, min(width, x + w))]
            crops.append(cv2.resize(face, (48, 48), interpolation=cv2.INTER_AREA))
        if not crops:
            return np.zeros(0)
        batch = (torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() - 127.5) * 0.0078125
        with torch.no_grad():
            return self.model.onet(batch)[2][:, 1].numpy()

    def detect(self, frame_rgb: np.ndarray) -> list[Box]:
        scale = min(1.0, self.max_side / max(frame_rgb.shape[:2]))
        scale = max(scale, self.min_side / min(frame_rgb.shape[:2]))
        if scale != 1.0:
            interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
            frame_rgb = cv2.resize(frame_rgb, None, fx=scale, fy=scale, interpolation=interpolation)
        self.model.min_face_size = max(20, int(self.min_size_frac * min(frame_rgb.shape[:2])))  # read per call
        boxes, probs = self.model.detect(np.ascontiguousarray(frame_rgb))
        if boxes is None:
            return []
        return [
            (
                int(round(x0 / scale)),
                int(round(y0 / scale)),
                int(round((x1 - x0) / scale)),
                int(round((y1 - y0) / scale)),
            )
            for (x0, y0, x1, y1), p in zip(boxes, probs)
            if p >= self.min_prob
        ]


class FallbackFaceDetector:
    """Detectors tried in turn on a frame until one finds a face: MTCNN (face probability >= ``min_prob``, small
    frames enlarged to ``min_side``), the Haar cascade, then both again with lower bars (MTCNN's three stage
    thresholds and ``min_prob`` lowered, fewer Haar neighbours), and last the **last-resort stage**: MTCNN with
    its first two networks' bars lower still and a denser image pyramid (:data:`LAST_RESORT`), which finds tilted,
    occluded and tightly framed faces the default pyramid steps over. A clear face is found by the first; the later,
    more permissive tiers run only on frames where the stricter ones saw nothing. A Haar box counts only when
    MTCNN's output network confirms it (:data:`HAAR_CONFIRM`), and is widened to MTCNN's framing
    (:data:`FER_FRAMING`), so every box is framed alike. The tiers and bars were chosen on FER2013
    faces placed into frames (the development half of the sample) and on faceless scenes (no false face in a
    landscape). A face only the last-resort stage found is marked (:meth:`find`), so a clip's pooling can count it
    for less (:func:`~emo_utils.video.expression.pool_frames`)."""

    def __init__(self, min_prob: float = 0.8, min_side: int = 360) -> None:
        strict = MtcnnFaceDetector(min_prob=min_prob, min_side=min_side)
        lower = MtcnnFaceDetector(min_prob=0.4, min_side=min_side, stage_thresholds=(0.4, 0.5, 0.5))
        self.tiers: list[tuple[FaceDetector, bool]] = [
            (strict, False),
            (HaarFaceDetector(min_neighbors=3), True),
            (lower, False),
            (HaarFaceDetector(min_neighbors=2), True),
        ]
        self.last_resort = MtcnnFaceDetector(min_side=min_side, **LAST_RESORT)
        self.confirm = strict

    def find(self, frame_rgb: np.ndarray) -> tuple[list[Box], bool]:
        """Every face the first tier to find any found, and whether that was the last-resort stage."""
        widen = FER_FRAMING["haar"] - FER_FRAMING["mtcnn"]
        for detector, haar in self.tiers:
            found = detector.detect(frame_rgb)
            if haar and found:
                probability = self.confirm.face_probability(frame_rgb, found)
                found = [box for box, p in zip(found, probability) if p >= HAAR_CONFIRM]
            if found:
                return ([square_crop_box(box, frame_rgb.shape, widen) for box in found] if haar else found), False
        found = self.last_resort.detect(frame_rgb)
        return found, bool(found)

    def detect(self, frame_rgb: np.ndarray) -> list[Box]:
        return self.find(frame_rgb)[0]


DETECTORS: dict[str, Callable[[], FaceDetector]] = {
    "haar": HaarFaceDetector,
    "mtcnn": MtcnnFaceDetector,
    "mtcnn+haar": FallbackFaceDetector,
}
AUTO = "auto"


def default_detector() -> str:
    """The detector ``"auto"`` stands for: ``"mtcnn"`` where facenet-pytorch is installed, else ``"haar"``."""
    return "mtcnn" if importlib.util.find_spec("facenet_pytorch") is not None else "haar"


def resolve_detector_name(name: str) -> str:
    """``name`` itself, or the detector ``"auto"`` stands for on this machine."""
    return default_detector() if name == AUTO else name


def make_detector(name: str = AUTO) -> FaceDetector:
    """A new face detector by name: ``"mtcnn"`` (needs facenet-pytorch), ``"haar"`` or ``"auto"`` (the first
    where installed, else the second)."""
    name = resolve_detector_name(name)
    try:
        factory = DETECTORS[name]
    except KeyError:
        raise ValueError(f"unknown face detector {name!r}; expected one of {', '.join([*DETECTORS, AUTO])}") from None
    return factory()


@functools.cache
def _shared_detector(name: str) -> FaceDetector:
    """One detector per name and process (loading a cascade or a network once, not once per clip)."""
    return make_detector(name)


def shared_detector(detector: str | FaceDetector = AUTO) -> FaceDetector:
    """The process's detector of that name (made once), or ``detector`` itself when it is an instance."""
    return _shared_detector(resolve_detector_name(detector)) if isinstance(detector, str) else detector


Found = tuple[Box | None, bool]  # the largest face in a frame (None: none) and whether only the last resort found it
_SEEN_BOXES: OrderedDict[tuple[str, tuple[int, ...], bytes], Found] = OrderedDict()  # (detector, shape, digest)
_SEEN_LIMIT = 4096


def _largest_face(face_detector: FaceDetector, frame: np.ndarray) -> Found:
    if isinstance(face_detector, FallbackFaceDetector):
        faces, last_resort = face_detector.find(frame)
    else:
        faces, last_resort = face_detector.detect(frame), False
    return (max(faces, key=lambda b: b[2] * b[3]) if faces else None), last_resort


def find_faces_in_clip(
    frames: np.ndarray | Sequence[np.ndarray], detector: str | FaceDetector
) -> tuple[list[Box | None], np.ndarray]:
    """The largest face in each frame (``None`` for a frame where the detector finds none), and (n,) bool: True
    where only the fallback detector's last-resort stage found it (:class:`FallbackFaceDetector`).

    With a detector given by name, the boxes of the last few thousand frames are remembered in this process (keyed
    by the frame's bytes), so a frame seen again (overlapping timeline windows, a short window's frames sampled
    twice) is not searched again.
    """
    face_detector = shared_detector(detector)
    if not isinstance(detector, str):
        found = [_largest_face(face_detector, frame) for frame in frames]
    else:
        name = resolve_detector_name(detector)
        found = []
        for frame in frames:
            frame = np.ascontiguousarray(frame)
            key = (name, frame.shape, hashlib.blake2b(frame.tobytes(), digest_size=16).digest())
            if key not in _SEEN_BOXES:
                _SEEN_BOXES[key] = _largest_face(face_detector, frame)
                if len(_SEEN_BOXES) > _SEEN_LIMIT:
                    _SEEN_BOXES.popitem(last=False)
            found.append(_SEEN_BOXES[key])
    return [box for box, _ in found], np.array([last_resort for _, last_resort in found], dtype=bool)


def detect_faces_in_clip(frames: np.ndarray | Sequence[np.ndarray], detector: str | FaceDetector) -> list[Box | None]:
    """The largest face in each frame, or ``None`` for a frame where the detector finds none (see
    :func:`find_faces_in_clip`)."""
    return find_faces_in_clip(frames, detector)[0]


def fill_missing_boxes(boxes: Sequence[Box | None], path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Give each frame without a face the box of the nearest frame with one (the earlier one on a tie).

    Returns ``boxes`` (n, 4) int and ``detected`` (n,) bool (False where the box was borrowed). Raises
    :class:`MissingModalityError` naming ``path`` when no frame has a face.
    """
    detected = np.array([b is not None for b in boxes], dtype=bool)
    if not detected.any():
        raise MissingModalityError(
            path,
            f"no face found in any of the {len(boxes)} sampled frames",
            "check the clip shows a frontal face, or try the other detector (detector='haar' or 'mtcnn')",
        )
    have = np.flatnonzero(detected)
    nearest = have[np.abs(have[None, :] - np.arange(len(boxes))[:, None]).argmin(axis=1)]
    return np.array([boxes[i] for i in nearest], dtype=np.int32), detected


def fer_margin(detector: str) -> float:
    """The crop margin that frames a face found by ``detector`` (a name, ``"auto"`` resolved) as FER2013's are."""
    return FER_FRAMING[resolve_detector_name(detector)]


def square_crop_box(box: Sequence[int], image_shape: Sequence[int], margin: float = CROP_MARGIN) -> Box:
    """``box`` widened by ``margin`` on each side, made square and moved (or shrunk) to fit the image."""
    x, y, w, h = box
    height, width = image_shape[:2]
    side = min(int(round(max(w, h) * (1 + 2 * margin))), height, width)
    cx, cy = x + w / 2, y + h / 2
    x0 = int(np.clip(round(cx - side / 2), 0, width - side))
    y0 = int(np.clip(round(cy - side / 2), 0, height - side))
    return x0, y0, side, side


def crop_faces(
    frames: np.ndarray, boxes: np.ndarray, rgb_size: int = RGB_SIZE, margin: float = CROP_MARGIN
) -> tuple[np.ndarray, np.ndarray]:
    """Square face crops (``margin``: see :func:`square_crop_box`): (n, 48, 48) grey and (n, rgb_size, rgb_size, 3)
    RGB uint8."""
    grey, rgb = [], []
    for frame, box in zip(frames, boxes):
        x0, y0, side, _ = square_crop_box(box, frame.shape, margin)
        face = frame[y0 : y0 + side, x0 : x0 + side]
        rgb.append(cv2.resize(face, (rgb_size, rgb_size), interpolation=cv2.INTER_AREA))
        grey.append(
            cv2.resize(cv2.cvtColor(face, cv2.COLOR_RGB2GRAY), (GREY_SIZE, GREY_SIZE), interpolation=cv2.INTER_AREA)
        )
    return np.stack(grey), np.stack(rgb)


def clip_face_crops(
    path: str | Path, n_frames: int = 22, detector: str | FaceDetector = AUTO, rgb_size: int = RGB_SIZE
) -> dict[str, np.ndarray]:
    """Face crops of one clip: ``grey48`` (n, 48, 48), ``rgb`` (n, s, s, 3), ``boxes`` (n, 4), ``detected`` (n,) and
    ``last_resort`` (n,) (see :func:`frames_face_crops`).

    Raises :class:`DataError` for an unreadable clip and :class:`MissingModalityError` when no sampled
    frame shows a face. With a detector name (not an instance) it can be sent to worker processes.
    """
    return frames_face_crops(sample_frames(path, n_frames), str(path), detector, rgb_size)


def frames_face_crops(
    frames: np.ndarray,
    name: str,
    detector: str | FaceDetector = AUTO,
    rgb_size: int = RGB_SIZE,
    margin: float = CROP_MARGIN,
) -> dict[str, np.ndarray]:
    """Face crops of frames already in memory (``name`` is what an error calls the clip); see
    :func:`clip_face_crops`. Also ``last_resort`` (n,) bool: True where only the fallback detector's last-resort
    stage found the frame's face."""
    found, last_resort = find_faces_in_clip(frames, detector)
    boxes, detected = fill_missing_boxes(found, name)
    grey, rgb = crop_faces(frames, boxes, rgb_size, margin)
    return {"grey48": grey, "rgb": rgb, "boxes": boxes, "detected": detected, "last_resort": last_resort}


def extract_face_crops(
    tasks: Sequence[tuple[str, str]],
    out_dir: str | Path,
    n_frames: int = 22,
    detector: str = AUTO,
    rgb_size: int = RGB_SIZE,
    n_jobs: int | None = None,
    progress: bool = True,
) -> tuple[FeatureSet, FeatureSet, SkipLog]:
    """Face crops of every ``(clip_id, path)`` task, saved in ``out_dir`` as ``face_grey48.npz`` and ``face_rgb.npz``.

    Resumable (per-clip shards under ``out_dir``) and parallel; a clip that cannot be read or shows no
    face is logged in the returned :class:`SkipLog` with the reason, and the run goes on.
    """
    out_dir = Path(out_dir)
    detector = resolve_detector_name(detector)
    fn = functools.partial(clip_face_crops, n_frames=n_frames, detector=detector, rgb_size=rgb_size)
    cache = out_dir / "cache" / f"face-crops-{detector}-{n_frames}f-{rgb_size}px"
    done, skipped = run_per_clip(tasks, fn, cache, stage="face_crops", n_jobs=n_jobs, progress=progress)
    ids = [clip_id for clip_id, _ in tasks if clip_id in done]
    outputs = [done[clip_id] for clip_id in ids]

    def stack(key: str, shape: tuple[int, ...]) -> np.ndarray:
        return np.stack([out[key] for out in outputs]) if outputs else np.zeros((0, *shape), dtype=np.uint8)

    detected = stack("detected", (n_frames,))
    meta = {
        "detector": detector,
        "n_frames": n_frames,
        "margin": CROP_MARGIN,
        "n_skipped": len(skipped),
        "detected_fraction": float(detected.mean()) if detected.size else 0.0,
    }
    grey = FeatureSet(
        ids, stack("grey48", (n_frames, GREY_SIZE, GREY_SIZE)), {**meta, "crop": "grey", "size": GREY_SIZE}
    )
    rgb = FeatureSet(ids, stack("rgb", (n_frames, rgb_size, rgb_size, 3)), {**meta, "crop": "rgb", "size": rgb_size})
    save_features(out_dir / GREY_FILE, grey)
    save_features(out_dir / RGB_FILE, rgb)
    return grey, rgb, skipped


def draw_boxes(frames: np.ndarray, boxes: np.ndarray, detected: np.ndarray) -> np.ndarray:
    """Copies of ``frames`` with each face box drawn: green when detected, orange when borrowed."""
    out = np.ascontiguousarray(frames).copy()
    for frame, (x, y, w, h), hit in zip(out, boxes, detected):
        thickness = max(1, min(frame.shape[:2]) // 150)
        cv2.rectangle(
            frame,
            (int(x), int(y)),
            (int(x + w - 1), int(y + h - 1)),
            DETECTED_COLOUR if hit else BORROWED_COLOUR,
            thickness,
        )
    return out
