"""SlowFast (pytorchvideo) for 8-emotion video classification on tracked face-crop clips: a small random
model that trains on CPU, or the Kinetics-400 ``slowfast_r50`` for users who can download it.

A clip becomes ``n_frames`` evenly spaced frames; the face detector of :mod:`emo_utils.video.faces` finds
the face in each, the box centres are smoothed over time (a face track: no frame-to-frame jitter for the
fast pathway to mistake for motion) with one box size per clip, and every frame is cropped to that box
and resized to ``size`` x ``size``. :func:`slowfast_clip` does this for one file and is what both the
dataset features (:func:`extract_clip_tensors`) and the demo call, with the :class:`ClipSettings` saved
in the feature meta. ``docs/slowfast.md`` explains why whole frames do not work and how the settings
were chosen.

Two pytorchvideo 0.1.5 quirks are handled here:

* ``pytorchvideo.transforms`` imports ``torchvision.transforms.functional_tensor``, which torchvision
  0.17+ renamed ``torchvision.transforms._functional_tensor``. :func:`alias_torchvision_functional_tensor`
  (run when this module is imported) registers the old name in ``sys.modules`` so that import works.
* The SlowFast network replaces the tensors inside the ``[slow, fast]`` list it is given. Reusing that
  list for a second call feeds it feature maps instead of frames, so :class:`SlowFastClassifier` builds a
  fresh list from the clip tensor on every call.
"""

from __future__ import annotations

import functools
import importlib
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

import cv2
import numpy as np
import torch
from torch import nn

from emo_utils.backbones import hub_reachable
from emo_utils.errors import MissingWeightsError, SkipLog
from emo_utils.extraction import run_per_clip
from emo_utils.feature_store import FeatureSet, save_features, saved_features
from emo_utils.labels import EMOTIONS
from emo_utils.video.faces import CROP_MARGIN, detect_faces_in_clip, fill_missing_boxes, square_crop_box
from emo_utils.video.frames import sample_frames

STAGE_VERSION = 1  # bump when a change alters the SlowFast input clips (emo_utils.stages)

KINETICS_MEAN: tuple[float, float, float] = (0.45, 0.45, 0.45)
KINETICS_STD: tuple[float, float, float] = (0.225, 0.225, 0.225)
SLOWFAST_ALPHA = 4  # fast/slow frame-rate ratio; equals the fast-to-slow fusion conv's temporal stride


def alias_torchvision_functional_tensor() -> None:
    """Make ``import torchvision.transforms.functional_tensor`` work on torchvision >= 0.17 (for pytorchvideo)."""
    name = "torchvision.transforms.functional_tensor"
    if name not in sys.modules:
        sys.modules[name] = importlib.import_module("torchvision.transforms._functional_tensor")


alias_torchvision_functional_tensor()

with warnings.catch_warnings():  # pytorchvideo 0.1.5 and fvcore script functions with the deprecated torch.jit
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script", category=FutureWarning)
    from pytorchvideo.models.slowfast import create_slowfast  # noqa: E402
    from pytorchvideo.transforms import functional as video_transforms  # noqa: E402 - needs the alias above


def pack_pathways(clip: torch.Tensor, alpha: int = SLOWFAST_ALPHA) -> list[torch.Tensor]:
    """``(B, 3, T, H, W)`` clip -> a new ``[slow, fast]`` list: fast is the clip, slow keeps ``T // alpha``
    uniformly spaced frames (pytorchvideo's ``PackPathway`` convention)."""
    slow = video_transforms.uniform_temporal_subsample(clip, clip.shape[2] // alpha, temporal_dim=2)
    return [slow, clip]


@dataclass(frozen=True)
class ClipSettings:
    """How a video becomes one SlowFast input clip (saved in the feature meta, so caches key on it).

    ``crop="face"`` follows the face: the detector searches ``detect_frames`` of the ``n_frames`` sampled
    frames (evenly spaced; detection costs more than everything else), the box centres are smoothed with a
    Gaussian of ``track_sigma`` sampled frames and interpolated in between, the box side is one per clip,
    and ``margin`` is added on each side. ``crop="frame"`` takes the centre square of the whole frame (the
    old input, kept for comparison). ``normalisation="clip"`` z-scores each colour channel over the clip's
    own pixels (removes lighting and skin tone; uses nothing but the clip); ``"kinetics"`` uses the
    Kinetics mean/std (for the pretrained R50).
    """

    n_frames: int = 8
    size: int = 64
    crop: str = "face"
    detector: str = "haar"
    detect_frames: int = 8
    margin: float = CROP_MARGIN
    track_sigma: float = 1.5
    normalisation: str = "clip"

    def __post_init__(self) -> None:
        if self.n_frames < SLOWFAST_ALPHA or self.n_frames % SLOWFAST_ALPHA:
            raise ValueError(f"n_frames={self.n_frames}: SlowFast needs a multiple of alpha={SLOWFAST_ALPHA}")
        if self.crop not in ("face", "frame"):
            raise ValueError(f"crop must be 'face' or 'frame', got {self.crop!r}")
        if self.normalisation not in ("clip", "kinetics"):
            raise ValueError(f"normalisation must be 'clip' or 'kinetics', got {self.normalisation!r}")
        if self.detect_frames < 1:
            raise ValueError(f"detect_frames must be at least 1, got {self.detect_frames}")


def smooth_face_track(boxes: np.ndarray, times: np.ndarray, n_frames: int, sigma: float) -> np.ndarray:
    """A face track over ``n_frames`` frames from ``(x, y, w, h)`` boxes (k, 4) found at frame ``times`` (k,).

    The side is one for the whole clip (the median of the boxes' longer sides); the centres are smoothed
    over time with a Gaussian of ``sigma`` frames (0: unsmoothed) and linearly interpolated between
    ``times`` (held constant before the first and after the last). Returns (n_frames, 4) int boxes.
    """
    boxes, times = np.asarray(boxes, dtype=np.float64), np.asarray(times, dtype=np.float64)
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    if sigma > 0:
        weights = np.exp(-0.5 * ((times[:, None] - times[None, :]) / sigma) ** 2)
        centres = weights @ centres / weights.sum(axis=1, keepdims=True)
    frames = np.arange(n_frames)
    centres = np.column_stack([np.interp(frames, times, centres[:, axis]) for axis in (0, 1)])
    side = float(np.median(boxes[:, 2:].max(axis=1)))
    track = np.column_stack([centres - side / 2, np.full((n_frames, 2), side)])
    return np.round(track).astype(np.int32)


def face_track(frames: np.ndarray, path: str | Path, detector: str, detect_frames: int, sigma: float) -> np.ndarray:
    """The smoothed face track of a clip's ``frames``, from detections in ``detect_frames`` evenly spaced
    ones (a frame where the detector finds no face borrows the nearest detection).

    Raises :class:`MissingModalityError` naming ``path`` when none of them shows a face.
    """
    times = np.unique(np.linspace(0, len(frames) - 1, min(detect_frames, len(frames))).round().astype(int))
    boxes, _ = fill_missing_boxes(detect_faces_in_clip(frames[times], detector), path)
    return smooth_face_track(boxes, times, len(frames), sigma)


def crop_clip(frames: np.ndarray, boxes: np.ndarray, size: int, margin: float) -> np.ndarray:
    """``(T, H, W, 3)`` frames cropped to one square box each (``margin`` added, kept inside the image)
    and resized to ``(T, size, size, 3)`` uint8."""
    crops = []
    for frame, box in zip(frames, boxes):
        x0, y0, side, _ = square_crop_box(box, frame.shape, margin)
        crops.append(cv2.resize(frame[y0 : y0 + side, x0 : x0 + side], (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(crops)


def normalise_clip(crops: np.ndarray, how: str = "clip") -> np.ndarray:
    """``(T, S, S, 3)`` uint8 crops -> ``(3, T, S, S)`` float32: each channel z-scored over the clip
    (``how="clip"``) or with the Kinetics mean/std (``how="kinetics"``)."""
    crops = np.asarray(crops)
    if crops.ndim != 4 or crops.shape[-1] != 3 or crops.dtype != np.uint8:
        raise ValueError(f"expected (T, H, W, 3) uint8 RGB frames, got {crops.shape} {crops.dtype}")
    clip = crops.transpose(3, 0, 1, 2).astype(np.float32) / 255.0
    if how == "kinetics":
        mean, std = np.array(KINETICS_MEAN), np.array(KINETICS_STD)
    else:
        mean, std = clip.mean(axis=(1, 2, 3)), clip.std(axis=(1, 2, 3)) + 1e-3
    return ((clip - mean.reshape(3, 1, 1, 1)) / std.reshape(3, 1, 1, 1)).astype(np.float32)


def slowfast_clip(path: str | Path, settings: ClipSettings = ClipSettings()) -> np.ndarray:
    """One video as a SlowFast input: ``(3, n_frames, size, size)`` float16 (see :class:`ClipSettings`).

    The dataset features and the demo both call this. Raises :class:`DataError` for an unreadable clip and
    :class:`MissingModalityError` (naming the file) when ``crop="face"`` and no sampled frame shows a face.
    """
    return frames_slowfast_clip(sample_frames(path, settings.n_frames), str(path), settings)


def frames_slowfast_clip(frames: np.ndarray, name: str, settings: ClipSettings = ClipSettings()) -> np.ndarray:
    """:func:`slowfast_clip` of ``settings.n_frames`` frames already in memory (``name``: what errors call it)."""
    return normalise_clip(clip_crops(frames, name, settings), settings.normalisation).astype(np.float16)


def clip_crops(frames: np.ndarray, name: str, settings: ClipSettings = ClipSettings()) -> np.ndarray:
    """The pictures a SlowFast clip is made of, before normalisation: ``(T, size, size, 3)`` uint8.

    ``crop="face"``: each frame cropped to the clip's smoothed face track (:func:`face_track`, plus the
    margin); ``crop="frame"``: the centre square of each whole frame. ``name`` is what errors call the clip.
    """
    if settings.crop == "face":
        boxes = face_track(frames, name, settings.detector, settings.detect_frames, settings.track_sigma)
        margin = settings.margin
    else:
        height, width = frames.shape[1:3]
        side = min(height, width)
        boxes, margin = np.tile([(width - side) // 2, (height - side) // 2, side, side], (len(frames), 1)), 0.0
    return crop_clip(frames, boxes, settings.size, margin)


def augment_clips(x: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Training-time augmentation of a ``(B, 3, T, H, W)`` batch: each clip mirrored left-right with
    probability 1/2 and moved by up to ``max_shift`` pixels in x and y (edges repeated), the same for all
    its frames. Draws from torch's global random generator (seeded by the training routine)."""
    flip = torch.rand(len(x)) < 0.5
    x = torch.where(flip[:, None, None, None, None], x.flip(-1), x)
    if max_shift <= 0:
        return x
    height, width = x.shape[-2:]
    padded = nn.functional.pad(x, (max_shift, max_shift, max_shift, max_shift, 0, 0), mode="replicate")
    offsets = torch.randint(0, 2 * max_shift + 1, (len(x), 2)).tolist()
    return torch.stack([clip[..., dy : dy + height, dx : dx + width] for clip, (dy, dx) in zip(padded, offsets)])


class SlowFastClassifier(nn.Module):
    """A pytorchvideo SlowFast network taking one ``(B, 3, T, H, W)`` clip tensor (``T`` a multiple of alpha).

    ``weights`` says where the weights came from ("random-init" or the pretrained checkpoint). With
    ``augment_shift`` >= 0, training batches are augmented (:func:`augment_clips`: mirror and a shift of up
    to that many pixels); evaluation never is.
    """

    def __init__(
        self,
        net: nn.Module,
        alpha: int = SLOWFAST_ALPHA,
        weights: str = "random-init",
        augment_shift: int | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.alpha = alpha
        self.weights = weights
        self.augment_shift = augment_shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(f"expected a (B, 3, T, H, W) clip tensor, got shape {tuple(x.shape)}")
        if x.shape[2] < self.alpha or x.shape[2] % self.alpha:
            raise ValueError(f"T={x.shape[2]} frames: SlowFast needs a multiple of alpha={self.alpha}")
        if self.training and self.augment_shift is not None:
            x = augment_clips(x, self.augment_shift)
        return self.net(pack_pathways(x, self.alpha))


def _small_slowfast(num_classes: int, dropout_rate: float, width: int, fast_ratio: int) -> nn.Module:
    """A ResNet-18-depth SlowFast whose slow stem has ``width`` channels (R50: 64) and whose fast pathway has
    1/``fast_ratio`` of the slow one's channels (R50: 1/8), with 3x3 stem kernels (for small clips, half the
    time of 7x7) and global pooling (any T, H, W). ``width=8, fast_ratio=4``: 0.2 M parameters."""
    return create_slowfast(
        model_depth=18,
        model_num_class=num_classes,
        dropout_rate=dropout_rate,
        stem_dim_outs=(width, max(1, width // fast_ratio)),
        slowfast_channel_reduction_ratio=(fast_ratio,),
        stem_conv_kernel_sizes=((1, 3, 3), (3, 3, 3)),
        slowfast_fusion_conv_stride=(SLOWFAST_ALPHA, 1, 1),
        head_pool=nn.AdaptiveAvgPool3d,
        head_output_size=(1, 1, 1),
    )


def _kinetics_slowfast_r50(num_classes: int) -> nn.Module:
    """Kinetics-400 ``slowfast_r50`` with a new ``num_classes`` projection and global pooling."""
    from pytorchvideo.models.hub.slowfast import checkpoint_paths, slowfast_r50

    url = checkpoint_paths["slowfast_r50"]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name
    how = (
        f'on a machine with a network run: python -c "import torch; torch.hub.load_state_dict_from_url('
        f"'{url}')\" (it caches to {cached.parent}), copy the file there on this machine, or train the small "
        "random SlowFast instead (build_slowfast(pretrained=False))"
    )
    if not cached.exists() and not hub_reachable():
        raise MissingWeightsError(
            f"Kinetics-400 SlowFast weights are not in {cached.parent} and no network answers; {how}"
        )
    try:
        net = slowfast_r50(pretrained=True)
    except OSError as exc:  # urllib's URLError is an OSError
        raise MissingWeightsError(f"could not download the Kinetics-400 SlowFast weights ({exc}); {how}") from exc
    pool_block, head = net.blocks[-2], net.blocks[-1]
    pool_block.pool = nn.ModuleList([nn.AdaptiveAvgPool3d(1) for _ in pool_block.pool])
    head.proj = nn.Linear(head.proj.in_features, num_classes)
    return net


def build_slowfast(
    pretrained: bool = False,
    num_classes: int = len(EMOTIONS),
    small: bool = True,
    dropout_rate: float = 0.5,
    width: int = 8,
    fast_ratio: int = 4,
    augment_shift: int | None = None,
) -> SlowFastClassifier:
    """A SlowFast emotion classifier.

    ``pretrained=True`` loads Kinetics-400 ``slowfast_r50`` (downloaded once to the torch hub cache) with a
    new ``num_classes`` head, and raises :class:`MissingWeightsError` in seconds when it cannot be had;
    ``small``, ``width`` and ``fast_ratio`` do not apply then. ``pretrained=False`` builds a randomly
    initialised network: the small one (``small=True``, trains on a CPU with 64x64 face clips; see
    :func:`_small_slowfast`) or the full R50 architecture. All use global average pooling before the head,
    so any clip size with ``T`` a multiple of 4 works. ``augment_shift``: see :class:`SlowFastClassifier`.
    """
    if pretrained:
        return SlowFastClassifier(
            _kinetics_slowfast_r50(num_classes), weights="kinetics400-slowfast_r50", augment_shift=augment_shift
        )
    if small:
        net = _small_slowfast(num_classes, dropout_rate, width, fast_ratio)
    else:
        net = create_slowfast(
            model_num_class=num_classes,
            dropout_rate=dropout_rate,
            head_pool=nn.AdaptiveAvgPool3d,
            head_output_size=(1, 1, 1),
        )
    return SlowFastClassifier(net, augment_shift=augment_shift)


def extract_clip_tensors(
    tasks: list[tuple[str, str]],
    out_npz: str | Path,
    cache_dir: str | Path,
    settings: ClipSettings = ClipSettings(),
    n_jobs: int | None = None,
    progress: bool = True,
) -> tuple[FeatureSet, SkipLog]:
    """SlowFast input clips (:func:`slowfast_clip`) for every ``(clip_id, path)`` task, cached in ``out_npz``
    (resumable, parallel). A clip that cannot be read or shows no face is logged in the returned
    :class:`SkipLog` with the file and the reason, and the run goes on."""
    out_npz = Path(out_npz)
    meta = {"clip": asdict(settings)}
    wanted = [clip_id for clip_id, _ in tasks]
    cached = saved_features(out_npz, meta, wanted)
    if cached is not None:
        return cached, SkipLog("slowfast_clips")
    key = "-".join(f"{value}" for value in asdict(settings).values())
    fn = functools.partial(slowfast_clip, settings=settings)
    done, skipped = run_per_clip(tasks, fn, Path(cache_dir) / key, "slowfast_clips", n_jobs=n_jobs, progress=progress)
    ids = [clip_id for clip_id in wanted if clip_id in done]
    shape = (3, settings.n_frames, settings.size, settings.size)
    X = np.stack([done[c] for c in ids]) if ids else np.zeros((0, *shape), np.float16)
    features = FeatureSet(ids, X, meta)
    save_features(out_npz, features)
    return features, skipped
