"""SlowFast (pytorchvideo) for 8-emotion video classification: a small random model that trains on CPU,
or the Kinetics-400 ``slowfast_r50`` for users who can download it.

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
import json
import sys
import warnings
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
from torch import nn

from emo_utils.backbones import hub_reachable
from emo_utils.errors import MissingWeightsError, SkipLog
from emo_utils.extraction import run_per_clip
from emo_utils.feature_store import FeatureSet, load_features, save_features
from emo_utils.labels import EMOTIONS

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


def clip_tensor(frames: np.ndarray, size: int = 64, mean: tuple[float, float, float] = KINETICS_MEAN,
                std: tuple[float, float, float] = KINETICS_STD) -> torch.Tensor:
    """``(T, H, W, 3)`` uint8 RGB frames -> ``(3, T, size, size)`` float32 clip for SlowFast.

    Scales the short side to ``size``, centre-crops a square and normalises with (Kinetics) ``mean``/``std``,
    all with pytorchvideo's own transforms.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected (T, H, W, 3) uint8 RGB frames, got {frames.shape} {frames.dtype}")
    clip = torch.from_numpy(frames).permute(3, 0, 1, 2).float() / 255.0
    clip = video_transforms.short_side_scale(clip, size)
    clip = video_transforms.uniform_crop(clip, size, spatial_idx=1)
    mean_t = torch.tensor(mean, dtype=clip.dtype).view(3, 1, 1, 1)
    std_t = torch.tensor(std, dtype=clip.dtype).view(3, 1, 1, 1)
    return (clip - mean_t) / std_t


class SlowFastClassifier(nn.Module):
    """A pytorchvideo SlowFast network taking one ``(B, 3, T, H, W)`` clip tensor (``T`` a multiple of alpha).

    ``weights`` says where the weights came from ("random-init" or the pretrained checkpoint).
    """

    def __init__(self, net: nn.Module, alpha: int = SLOWFAST_ALPHA, weights: str = "random-init") -> None:
        super().__init__()
        self.net = net
        self.alpha = alpha
        self.weights = weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(f"expected a (B, 3, T, H, W) clip tensor, got shape {tuple(x.shape)}")
        if x.shape[2] < self.alpha or x.shape[2] % self.alpha:
            raise ValueError(f"T={x.shape[2]} frames: SlowFast needs a multiple of alpha={self.alpha}")
        return self.net(pack_pathways(x, self.alpha))


def _small_slowfast(num_classes: int, dropout_rate: float) -> nn.Module:
    """A ResNet-18-depth SlowFast with 1/4 of R50's channels, 3x3 stem kernels (for 64x64 clips, half the
    time of 7x7) and global pooling (any T, H, W): about 0.7 M parameters."""
    return create_slowfast(model_depth=18, model_num_class=num_classes, dropout_rate=dropout_rate,
                           stem_dim_outs=(16, 2), stem_conv_kernel_sizes=((1, 3, 3), (3, 3, 3)),
                           slowfast_fusion_conv_stride=(SLOWFAST_ALPHA, 1, 1),
                           head_pool=nn.AdaptiveAvgPool3d, head_output_size=(1, 1, 1))


def _kinetics_slowfast_r50(num_classes: int) -> nn.Module:
    """Kinetics-400 ``slowfast_r50`` with a new ``num_classes`` projection and global pooling."""
    from pytorchvideo.models.hub.slowfast import checkpoint_paths, slowfast_r50
    url = checkpoint_paths["slowfast_r50"]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name
    how = (f"on a machine with a network run: python -c \"import torch; torch.hub.load_state_dict_from_url("
           f"'{url}')\" (it caches to {cached.parent}), copy the file there on this machine, or train the small "
           "random SlowFast instead (build_slowfast(pretrained=False))")
    if not cached.exists() and not hub_reachable():
        raise MissingWeightsError(f"Kinetics-400 SlowFast weights are not in {cached.parent} and no network "
                                  f"answers; {how}")
    try:
        net = slowfast_r50(pretrained=True)
    except OSError as exc:  # urllib's URLError is an OSError
        raise MissingWeightsError(f"could not download the Kinetics-400 SlowFast weights ({exc}); {how}") from exc
    pool_block, head = net.blocks[-2], net.blocks[-1]
    pool_block.pool = nn.ModuleList([nn.AdaptiveAvgPool3d(1) for _ in pool_block.pool])
    head.proj = nn.Linear(head.proj.in_features, num_classes)
    return net


def build_slowfast(pretrained: bool = False, num_classes: int = len(EMOTIONS), small: bool = True,
                   dropout_rate: float = 0.5) -> SlowFastClassifier:
    """A SlowFast emotion classifier.

    ``pretrained=True`` loads Kinetics-400 ``slowfast_r50`` (downloaded once to the torch hub cache) with a
    new ``num_classes`` head, and raises :class:`MissingWeightsError` in seconds when it cannot be had;
    ``small`` does not apply then. ``pretrained=False`` builds a randomly initialised network: the small one
    (``small=True``, trains on CPU with 64x64 clips) or the full R50 architecture.
    Both use global average pooling before the head, so any clip size with ``T`` a multiple of 4 works.
    """
    if pretrained:
        return SlowFastClassifier(_kinetics_slowfast_r50(num_classes), weights="kinetics400-slowfast_r50")
    if small:
        return SlowFastClassifier(_small_slowfast(num_classes, dropout_rate))
    return SlowFastClassifier(create_slowfast(model_num_class=num_classes, dropout_rate=dropout_rate,
                                              head_pool=nn.AdaptiveAvgPool3d, head_output_size=(1, 1, 1)))


def video_clip_tensor(path: str, n_frames: int = 16, size: int = 64) -> np.ndarray:
    """``n_frames`` frames sampled evenly from a video, as a normalised (3, T, size, size) float16 array."""
    from emo_utils.video.frames import sample_frames
    return clip_tensor(sample_frames(path, n_frames), size).numpy().astype(np.float16)


def extract_clip_tensors(tasks: list[tuple[str, str]], out_npz: str | Path, cache_dir: str | Path,
                         n_frames: int = 16, size: int = 64, n_jobs: int | None = None,
                         progress: bool = True) -> tuple[FeatureSet, SkipLog]:
    """SlowFast input clips for every ``(clip_id, path)`` task, cached in ``out_npz`` (resumable, parallel)."""
    out_npz = Path(out_npz)
    meta = {"n_frames": n_frames, "size": size, "mean": KINETICS_MEAN, "std": KINETICS_STD, "frames": "full frame"}
    wanted = [clip_id for clip_id, _ in tasks]
    if out_npz.is_file():
        cached = load_features(out_npz)
        if cached.meta == json.loads(json.dumps(meta)) and cached.clip_ids.tolist() == wanted:
            return cached, SkipLog("slowfast_clips")
    fn = functools.partial(video_clip_tensor, n_frames=n_frames, size=size)
    done, skipped = run_per_clip(tasks, fn, Path(cache_dir) / f"{n_frames}f-{size}px", "slowfast_clips",
                                 n_jobs=n_jobs, progress=progress)
    ids = [clip_id for clip_id in wanted if clip_id in done]
    X = np.stack([done[c] for c in ids]) if ids else np.zeros((0, 3, n_frames, size, size), np.float16)
    features = FeatureSet(ids, X, meta)
    save_features(out_npz, features)
    return features, skipped
