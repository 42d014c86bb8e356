"""Pretrained backbones (wav2vec 2.0, ViT) loaded through ``from_pretrained``, with tiny random stand-ins.

Users with a network pass a hub name (``facebook/wav2vec2-base``) or a local folder; speech models load
through ``AutoModel``, so HuBERT and WavLM checkpoints work wherever wav2vec 2.0 does. Machines without
hub access (this project's CI) save a tiny randomly initialised model to a folder and load it through
the very same ``from_pretrained`` path. A stand-in folder carries a marker file; every load of it
prints a loud warning, and every result computed from it is flagged ``random_weights``.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from emo_utils.devices import resolve_device
from emo_utils.errors import MissingWeightsError

log = logging.getLogger(__name__)

BackboneKind = Literal["wav2vec2", "vit"]
STAND_IN_MARKER = "EMO_STAND_IN_RANDOM_WEIGHTS.txt"
DEFAULT_MODELS: dict[str, str] = {
    "wav2vec2": "facebook/wav2vec2-base",
    "vit": "google/vit-base-patch16-224-in21k",
}


class RandomWeightsWarning(UserWarning):
    """Results computed from randomly initialised stand-in weights mean nothing."""


@dataclass
class Backbone:
    """A loaded backbone, its pre-processor, and whether its weights are random stand-ins."""

    kind: BackboneKind
    name: str
    model: torch.nn.Module
    processor: Any
    random_weights: bool

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def device(self) -> torch.device:
        """Where the model's weights are (:func:`load_backbone`'s ``device``)."""
        return next(self.model.parameters()).device


def _classes(kind: BackboneKind) -> tuple[type, type, type]:
    from transformers import AutoFeatureExtractor, AutoImageProcessor, AutoModel, ViTConfig, ViTModel, Wav2Vec2Config

    if kind == "wav2vec2":  # any wav2vec 2.0-style speech encoder: wav2vec 2.0, HuBERT, WavLM
        return Wav2Vec2Config, AutoModel, AutoFeatureExtractor
    if kind == "vit":
        return ViTConfig, ViTModel, AutoImageProcessor
    raise ValueError(f"unknown backbone kind {kind!r}; expected 'wav2vec2' or 'vit'")


# The size of the tiny random stand-ins (tests build variants of them from the same numbers).
TINY_TRANSFORMER: dict[str, Any] = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}
TINY_WAV2VEC: dict[str, Any] = {
    **TINY_TRANSFORMER,
    "conv_dim": (32,) * 7,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
}


def create_stand_in(kind: BackboneKind, directory: str | Path, seed: int = 0, size: str = "tiny") -> Path:
    """Save a randomly initialised ``kind`` model (and its pre-processor) to ``directory``: ``size="tiny"``
    (2 layers of 32 dimensions, for tests and offline runs) or ``"base"`` (the architecture of the default
    pretrained model, for speed measurements)."""
    from transformers import AutoModel, ViTImageProcessor

    directory = Path(directory)
    if (directory / STAND_IN_MARKER).exists():
        return directory
    if size not in ("tiny", "base"):
        raise ValueError(f"stand-in size must be 'tiny' or 'base', got {size!r}")
    config_cls, _, _ = _classes(kind)
    torch.manual_seed(seed)
    tiny = dict(TINY_WAV2VEC if kind == "wav2vec2" else TINY_TRANSFORMER)
    if kind == "wav2vec2":
        from transformers import Wav2Vec2FeatureExtractor

        processor = Wav2Vec2FeatureExtractor(
            feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=False
        )
    else:
        tiny.update(image_size=224, patch_size=32)
        processor = ViTImageProcessor(size={"height": 224, "width": 224})
    config = config_cls(**tiny) if size == "tiny" else config_cls()
    model = AutoModel.from_config(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    (directory / STAND_IN_MARKER).write_text(
        f"Randomly initialised {size} {kind} stand-in (seed {seed}). Its embeddings carry no learned knowledge:\n"
        "any accuracy computed from them is NOT a result.\n"
    )
    return directory


def is_stand_in(name_or_path: str | Path) -> bool:
    """True when ``name_or_path`` is a folder holding a random stand-in."""
    return (Path(name_or_path) / STAND_IN_MARKER).exists()


def warn_random_weights(what: str) -> None:
    """Print a banner and raise a :class:`RandomWeightsWarning` for results from random weights."""
    banner = (
        f"\n{'!' * 78}\n!! RANDOM STAND-IN WEIGHTS: {what}\n"
        "!! Its embeddings are random projections; accuracy computed from them is NOT a result.\n"
        "!! Get the real weights on a machine with a network (see README, 'Pretrained weights').\n"
        f"{'!' * 78}\n"
    )
    log.warning(banner)
    warnings.warn(f"random stand-in weights: {what}", RandomWeightsWarning, stacklevel=2)


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Quick check that the model hub answers, so an offline machine fails in seconds, not after retries."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    from urllib.parse import urlparse

    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or ""
    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def _from_pretrained(cls: type, name: str) -> Any:
    """``cls.from_pretrained(name)``: local folders and the local cache first, the hub only if it answers."""
    if Path(name).is_dir():
        return cls.from_pretrained(name)
    try:
        return cls.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError):
        if not hub_reachable():
            raise OSError(f"{name!r} is not in the local cache and the model hub cannot be reached") from None
        return cls.from_pretrained(name)


@functools.lru_cache(maxsize=4)
def cached_backbone(kind: BackboneKind, name_or_path: str, device: str = "cpu") -> Backbone:
    """:func:`load_backbone` once per process and device (the demo and the robustness curve call it per clip)."""
    return load_backbone(kind, name_or_path, device=device)


def load_backbone(
    kind: BackboneKind,
    name_or_path: str | Path | None = None,
    stand_in_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> Backbone:
    """Load ``kind`` from a hub name or local folder through ``from_pretrained``, in eval mode on ``device``
    (``"cpu"``, ``"cuda"``, ``"auto"``: see :func:`emo_utils.devices.resolve_device`).

    When the weights cannot be had and ``stand_in_dir`` is given, a tiny random stand-in is created
    there and loaded instead (with a loud warning); without ``stand_in_dir`` a
    :class:`MissingWeightsError` says how to get the weights.
    """
    device = resolve_device(device)
    name = str(name_or_path or DEFAULT_MODELS[kind])
    _, model_cls, processor_cls = _classes(kind)
    try:
        model = _from_pretrained(model_cls, name)
        processor = _from_pretrained(processor_cls, name)
    except (OSError, ValueError) as exc:
        if stand_in_dir is None:
            raise MissingWeightsError(
                f"{kind} weights {name!r} are not on this machine and could not be downloaded "
                f"({exc.__class__.__name__}). "
                f'On a machine with a network run: python -c "from transformers import AutoModel; '
                f"AutoModel.from_pretrained('{name}')\" (it caches to ~/.cache/huggingface), or pass a local "
                "folder with the weights; or accept a random stand-in (the workflow uses one unless --no-stand-ins "
                "is given; the scripts take --allow-stand-in)."
            ) from exc
        name = str(create_stand_in(kind, stand_in_dir))
        model = model_cls.from_pretrained(name)
        processor = processor_cls.from_pretrained(name)
    model.to(device).eval()
    random_weights = is_stand_in(name)
    if random_weights:
        warn_random_weights(f"{kind} loaded from {name}")
    return Backbone(kind=kind, name=name, model=model, processor=processor, random_weights=random_weights)
