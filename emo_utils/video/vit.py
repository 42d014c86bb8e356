"""ViT embeddings of face crops (default ``google/vit-base-patch16-224-in21k``, as in Srihari & Bhaskaran 2024).

Each crop is resized to 224x224 and normalised by the backbone's own image processor; its embedding is the
CLS token of the last hidden state (after ViT's final layer norm), the vector ViT's classification head
reads. Offline, :func:`~emo_utils.backbones.load_backbone` can substitute a tiny random stand-in; the
features are then flagged ``random_weights`` and mean nothing. The model runs on ``device`` (CPU by default;
on CUDA in bf16/fp16 mixed precision, see :mod:`emo_utils.devices`), ``batch_size`` crops per forward pass.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from emo_utils.backbones import DEFAULT_MODELS, Backbone, load_backbone, warn_random_weights
from emo_utils.devices import inference_precision, precision_name
from emo_utils.extraction import ShardCache
from emo_utils.feature_store import FeatureSet, save_features, saved_features

STAGE_VERSION = 1  # bump when a change alters the ViT embeddings (emo_utils.stages)

POOLING = "cls"


def embed_faces(
    backbone: Backbone, crops: np.ndarray, batch_size: int = 32, mixed_precision: bool = True
) -> np.ndarray:
    """``(n, h, w, 3)`` uint8 RGB face crops -> ``(n, hidden)`` float32 CLS embeddings.

    Runs where the backbone's weights are (:func:`~emo_utils.backbones.load_backbone`'s ``device``); on CUDA
    with ``mixed_precision`` under bf16/fp16 autocast.
    """
    crops = np.asarray(crops)
    if crops.ndim != 4 or crops.shape[-1] != 3 or crops.dtype != np.uint8:
        raise ValueError(f"expected (n, h, w, 3) uint8 RGB crops, got {crops.shape} {crops.dtype}")
    device = backbone.device
    out = np.empty((len(crops), backbone.hidden_size), dtype=np.float32)
    for start in range(0, len(crops), batch_size):
        batch = list(crops[start : start + batch_size])
        inputs = backbone.processor(images=batch, return_tensors="pt", input_data_format="channels_last")
        with inference_precision(device, mixed_precision):
            hidden = backbone.model(pixel_values=inputs["pixel_values"].to(device)).last_hidden_state
        out[start : start + len(batch)] = hidden[:, 0].float().cpu().numpy()
    return out


def _shard_dir(out_npz: Path, backbone_name: str) -> Path:
    """Partial results of one backbone (a stand-in and the real model never share shards)."""
    return out_npz.parent / f"{out_npz.stem}.parts" / re.sub(r"[^\w.-]+", "_", backbone_name)


def extract_vit_embeddings(
    crops: FeatureSet,
    out_npz: str | Path,
    model_name: str = DEFAULT_MODELS["vit"],
    stand_in_dir: str | Path | None = None,
    batch_size: int = 32,
    progress: bool = True,
    clips_per_shard: int = 16,
    dtype: type = np.float16,
    device: str | torch.device = "cpu",
    mixed_precision: bool = True,
) -> FeatureSet:
    """Embed every crop of ``crops`` (X: ``(N, F, h, w, 3)`` uint8 RGB) into ``out_npz`` (X: ``(N, F, hidden)``).

    A file already at ``out_npz`` for the same ``model_name`` and clips is loaded instead of recomputed.
    Otherwise clips are embedded ``clips_per_shard`` at a time and each chunk is saved as it finishes, so an
    interrupted run resumes where it stopped. ``meta`` records the requested and loaded model, the pooling,
    ``random_weights`` and the ``precision`` (float32 on ``device="cpu"``, the default; bf16/fp16 autocast
    on ``"cuda"`` unless ``mixed_precision=False``; ``"auto"`` picks CUDA when there is one).
    """
    out_npz = Path(out_npz)
    if not len(crops) or crops.X.ndim != 5 or crops.X.shape[-1] != 3 or crops.X.dtype != np.uint8:
        raise ValueError(
            f"expected crops X of shape (N, F, h, w, 3) uint8 with N > 0, got {crops.X.shape} {crops.X.dtype}"
        )
    cached = saved_features(out_npz, {"requested_model": str(model_name), "crops": crops.meta}, crops.clip_ids)
    if cached is not None:
        if cached.random_weights:
            warn_random_weights(f"ViT embeddings cached in {out_npz} (delete it to recompute with real weights)")
        return cached
    backbone = load_backbone("vit", model_name, stand_in_dir, device=device)
    parts = _shard_dir(out_npz, backbone.name)
    cache = ShardCache(parts)
    done = cache.load()
    todo = [i for i, clip_id in enumerate(crops.clip_ids) if clip_id not in done]
    n_frames = crops.X.shape[1]
    bar = tqdm(total=len(crops), initial=len(crops) - len(todo), desc="vit", unit="clip", disable=not progress)
    for start in range(0, len(todo), clips_per_shard):
        rows = todo[start : start + clips_per_shard]
        flat = crops.X[rows].reshape(len(rows) * n_frames, *crops.X.shape[2:])
        emb = embed_faces(backbone, flat, batch_size, mixed_precision).reshape(len(rows), n_frames, -1).astype(dtype)
        chunk = {crops.clip_ids[i]: emb[k] for k, i in enumerate(rows)}
        cache.save(chunk)
        done.update(chunk)
        bar.update(len(rows))
    bar.close()
    meta = {
        "stage": "vit",
        "requested_model": model_name,
        "model": backbone.name,
        "pooling": POOLING,
        "hidden_size": backbone.hidden_size,
        "random_weights": backbone.random_weights,
        "precision": precision_name(backbone.device, mixed_precision),
        "crops": crops.meta,
    }
    features = FeatureSet(crops.clip_ids, np.stack([done[c] for c in crops.clip_ids]), meta)
    save_features(out_npz, features)
    shutil.rmtree(parts.parent)
    return features
