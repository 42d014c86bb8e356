"""wav2vec 2.0 embeddings of speech clips: frame-level sequences and mean-pooled vectors.

Two files are written per extraction, both :class:`FeatureSet`\\ s with the same rows:

- ``out_npz``: ``X`` (N, max_frames, H) float16, each clip's hidden states (50 frames/s) centre-cropped
  or zero-padded to ``max_frames``, for sequence models (LSTM, attention pooling);
- :func:`pooled_path` ``(out_npz)`` (``*_pooled.npz``): ``X`` (N, H) float32, the mean over *all* frames of
  the clip, taken before the crop, so long clips are not truncated and padding never dilutes it.

Clips are batched by length (sorted within each cached shard) and zero-padded, at most ``batch_size`` clips
and ``max_batch_seconds`` of padded audio per forward pass (which bounds the memory a batch takes on a GPU);
models whose feature extractor asks for an attention mask (``return_attention_mask``, e.g.
wav2vec2-large-lv60) also get one, the others (wav2vec2-base, trained without one) do not, as the
transformers documentation prescribes. The model runs on ``device`` (CPU by default; on CUDA in bf16/fp16
mixed precision, see :mod:`emo_utils.devices`). ``torch`` threads are left to the caller.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from emo_utils.audio.features import fix_frames, trim_silence
from emo_utils.audio.io import load_audio
from emo_utils.backbones import DEFAULT_MODELS, Backbone, load_backbone
from emo_utils.devices import inference_precision, precision_name
from emo_utils.errors import DataError, SkipLog
from emo_utils.extraction import ShardCache, safe_call
from emo_utils.feature_store import FeatureSet, save_features, saved_features

STAGE_VERSION = 1  # bump when a change alters the wav2vec 2.0 embeddings (emo_utils.stages)

STAGE = "wav2vec2"
MIN_DURATION_S = 0.1  # the model's CNN needs 25 ms for one frame; shorter clips would pool to NaN


def pooled_path(out_npz: str | Path) -> Path:
    """Where :func:`extract_wav2vec` writes the mean-pooled vectors that go with ``out_npz``."""
    out_npz = Path(out_npz)
    return out_npz.with_name(f"{out_npz.stem}_pooled.npz")


def check_layer(backbone: Backbone, layer: int) -> None:
    """Raise unless ``layer`` indexes ``hidden_states`` (0: CNN features projected, -1: last layer)."""
    n_states = int(backbone.model.config.num_hidden_layers) + 1
    if not -n_states <= layer < n_states:
        raise ValueError(
            f"layer {layer} does not exist: {backbone.name} has {n_states} hidden states "
            f"(0 = before the transformer, {n_states - 1} or -1 = last layer)"
        )


def model_inputs(processor: Any, waveforms: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Zero-padded, per-clip normalised input values and, when the model was trained with one, the attention mask.

    The mask is always built for the normalisation, so each clip is normalised over its own samples, not its
    padding; it is passed on only to models whose extractor asks for it (``return_attention_mask``).
    """
    inputs = processor(
        list(waveforms),
        sampling_rate=processor.sampling_rate,
        padding=True,
        return_attention_mask=True,
        return_tensors="pt",
    )
    return inputs["input_values"], inputs["attention_mask"] if processor.return_attention_mask else None


def frame_lengths(model: torch.nn.Module, sample_lengths: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Number of encoder frames (50 per second) of clips of ``sample_lengths`` samples."""
    return model._get_feat_extract_output_lengths(torch.as_tensor(sample_lengths)).long()


def length_batches(lengths: Sequence[int], batch_size: int, max_samples: int | None = None) -> list[list[int]]:
    """Consecutive groups of positions, each at most ``batch_size`` long and, once zero-padded to its longest
    clip, at most ``max_samples`` samples (a single longer clip still forms a batch of its own)."""
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for position, length in enumerate(lengths):
        padded = max(longest, int(length)) * (len(current) + 1)
        if current and (len(current) == batch_size or (max_samples is not None and padded > max_samples)):
            batches.append(current)
            current, longest = [], 0
        current.append(position)
        longest = max(longest, int(length))
    if current:
        batches.append(current)
    return batches


def embed_batch(
    backbone: Backbone, waveforms: Sequence[np.ndarray], layer: int = -1, mixed_precision: bool = True
) -> list[np.ndarray]:
    """Hidden states (n_frames_i, H) float32 of ``layer`` for each mono waveform, in one padded forward pass.

    Runs where the backbone's weights are (:func:`~emo_utils.backbones.load_backbone`'s ``device``); on CUDA
    with ``mixed_precision`` under bf16/fp16 autocast.
    """
    check_layer(backbone, layer)
    device = backbone.device
    input_values, mask = model_inputs(backbone.processor, waveforms)
    with inference_precision(device, mixed_precision):
        output = backbone.model(
            input_values.to(device),
            attention_mask=None if mask is None else mask.to(device),
            output_hidden_states=layer != -1,
        )
    hidden = output.last_hidden_state if layer == -1 else output.hidden_states[layer]
    lengths = frame_lengths(backbone.model, [len(w) for w in waveforms])
    return [states[:n].float().cpu().numpy() for states, n in zip(hidden, lengths.tolist())]


def load_clip(path: str | Path, sample_rate: int, top_db: float | None = 30.0) -> np.ndarray:
    """A clip as the model hears it: mono at ``sample_rate``, edge silence trimmed (``top_db``; None keeps it
    whole); raises :class:`DataError` naming the file when under :data:`MIN_DURATION_S` of sound is left."""
    y = load_audio(path, sample_rate, MIN_DURATION_S)
    if top_db is not None:
        y = trim_silence(y, top_db)
    if len(y) < MIN_DURATION_S * sample_rate:
        raise DataError(
            path,
            f"less than {MIN_DURATION_S} s of sound once edge silence is trimmed",
            "check the clip; or pass top_db=None to keep it whole",
        )
    return y


def extract_wav2vec(
    tasks: Sequence[tuple[str, str | Path]],
    out_npz: str | Path,
    model_name: str | Path = DEFAULT_MODELS["wav2vec2"],
    stand_in_dir: str | Path | None = None,
    layer: int = -1,
    batch_size: int = 8,
    max_frames: int = 150,
    progress: bool = True,
    top_db: float | None = 30.0,
    shard_size: int = 64,
    device: str | torch.device = "cpu",
    mixed_precision: bool = True,
    max_batch_seconds: float = 160.0,
) -> tuple[FeatureSet, SkipLog]:
    """wav2vec 2.0 embeddings of every ``(clip_id, path)`` task (see the module docstring for the two files).

    ``model_name`` is a hub name or a local folder; without its weights a random stand-in is created in
    ``stand_in_dir`` (flagged ``meta["random_weights"]``), and without ``stand_in_dir`` a
    :class:`MissingWeightsError` says how to get them. Clips are trimmed of edge silence (``top_db``,
    ``None`` keeps them whole). Every ``shard_size`` clips are cached beside ``out_npz``, so a rerun
    computes nothing and an interrupted run resumes; unreadable clips are skipped and listed in the
    returned :class:`SkipLog`. ``device`` is ``"cpu"`` (default), ``"cuda"`` or ``"auto"``; on CUDA the model
    runs in bf16/fp16 autocast unless ``mixed_precision=False`` (``meta["precision"]`` records which).
    """
    backbone = load_backbone("wav2vec2", model_name, stand_in_dir, device=device)
    check_layer(backbone, layer)
    sample_rate = int(backbone.processor.sampling_rate)
    config = backbone.model.config
    meta = {
        "kind": "wav2vec2_frames",
        "model": backbone.name,
        "random_weights": backbone.random_weights,
        "layer": layer,
        "hidden_size": backbone.hidden_size,
        "max_frames": max_frames,
        "top_db": top_db,
        "sample_rate": sample_rate,
        "frame_rate_hz": sample_rate / int(np.prod(config.conv_stride)),
        "precision": precision_name(backbone.device, mixed_precision),
    }
    clip_ids = [clip_id for clip_id, _ in tasks]
    out_npz = Path(out_npz)
    saved = saved_features(out_npz, meta, clip_ids) if pooled_path(out_npz).exists() else None
    if saved is not None:
        return saved, SkipLog(STAGE)

    key = hashlib.sha1(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:12]
    cache = ShardCache(out_npz.with_name(f"{out_npz.stem}_cache") / f"{STAGE}-{key}")
    done = cache.load()
    todo = [(clip_id, str(path)) for clip_id, path in tasks if clip_id not in done]
    skipped = SkipLog(STAGE)
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc=STAGE, unit="clip", disable=not progress)

    load = functools.partial(load_clip, sample_rate=sample_rate, top_db=top_db)

    for start in range(0, len(todo), shard_size):
        waveforms: dict[str, np.ndarray] = {}
        for clip_id, path, y, error in (safe_call(load, c, p) for c, p in todo[start : start + shard_size]):
            if y is None:
                skipped.add(clip_id, path, error or "unknown error")
                bar.update(1)
            else:
                waveforms[clip_id] = y
        by_length = sorted(waveforms, key=lambda c: len(waveforms[c]))
        results: dict[str, dict[str, np.ndarray]] = {}
        max_samples = int(max_batch_seconds * sample_rate)
        for positions in length_batches([len(waveforms[c]) for c in by_length], batch_size, max_samples):
            batch = [by_length[i] for i in positions]
            embedded = embed_batch(backbone, [waveforms[c] for c in batch], layer, mixed_precision)
            for clip_id, states in zip(batch, embedded):
                results[clip_id] = {
                    "sequence": fix_frames(states, max_frames).astype(np.float16),
                    "pooled": states.mean(axis=0),
                }
            bar.update(len(batch))
        if results:
            cache.save(results)
            done.update(results)
    bar.close()

    kept = [clip_id for clip_id in clip_ids if clip_id in done]
    if not kept:
        raise DataError(out_npz, f"none of the {len(tasks)} clips could be read", skipped.report())
    pooled_meta = {**meta, "kind": "wav2vec2_pooled", "pooling": "mean over all frames, before crop/pad"}
    save_features(pooled_path(out_npz), FeatureSet(kept, np.stack([done[c]["pooled"] for c in kept]), pooled_meta))
    sequences = FeatureSet(kept, np.stack([done[c]["sequence"] for c in kept]), meta)
    save_features(out_npz, sequences)
    return sequences, skipped
