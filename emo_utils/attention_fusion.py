"""Intermediate fusion with cross-modal attention: one model that reads the voice as a sequence of frames and the
face as tokens, each attending to the other, before one classifier decides.

The two inputs travel packed in one array (so the model trains through :func:`emo_utils.train.cross_validate`
with actors held out, like any branch): :func:`pack_modalities` puts, per clip, the audio frames (T, Fa) side by
side with the face tokens (T, Fv): per-frame face features where there are any, else the clip's face vector (e.g.
the facial-AU means) repeated on every audio frame. Padding frames (all-zero audio) stay all-zero, so the
standardiser leaves them out and the model masks them.

:class:`CrossModalAttention` projects both to ``d_model``, lets the audio frames attend to the face tokens and the
face tokens to the audio frames (multi-head attention with a residual connection and layer norm), averages each
over its real frames and classifies the two summaries side by side with a small two-layer head.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from emo_utils.feature_store import FeatureSet
from emo_utils.labels import EMOTIONS


class CrossModalAttention(nn.Module):
    """Audio frames and face tokens packed as (B, T, n_audio + Fv), each attending to the other."""

    def __init__(
        self,
        input_shape: Sequence[int],
        n_audio: int,
        d_model: int = 64,
        heads: int = 4,
        dropout: float = 0.3,
        n_classes: int = len(EMOTIONS),
    ) -> None:
        super().__init__()
        _, n_features = input_shape
        if not 0 < n_audio < n_features:
            raise ValueError(f"n_audio must leave features for both modalities, got {n_audio} of {n_features}")
        self.n_audio, self.n_classes = n_audio, n_classes
        self.audio_in = nn.Sequential(nn.Linear(n_audio, d_model), nn.GELU())
        self.face_in = nn.Sequential(nn.Linear(n_features - n_audio, d_model), nn.GELU())
        self.audio_to_face = nn.MultiheadAttention(d_model, heads, dropout=dropout, batch_first=True)
        self.face_to_audio = nn.MultiheadAttention(d_model, heads, dropout=dropout, batch_first=True)
        self.audio_norm, self.face_norm = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.head = nn.Sequential(
            nn.Linear(2 * d_model, d_model), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_model, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padding = x.abs().sum(dim=2) == 0  # (B, T) True on padding frames
        padding[:, 0] &= ~padding.all(dim=1)  # a clip with no frame at all keeps one, to stay defined
        audio, face = self.audio_in(x[..., : self.n_audio]), self.face_in(x[..., self.n_audio :])
        heard, _ = self.audio_to_face(audio, face, face, key_padding_mask=padding)
        seen, _ = self.face_to_audio(face, audio, audio, key_padding_mask=padding)
        audio, face = self.audio_norm(audio + heard), self.face_norm(face + seen)
        keep = (~padding).unsqueeze(2).float()
        count = keep.sum(dim=1).clamp(min=1.0)
        return self.head(torch.cat([(audio * keep).sum(dim=1) / count, (face * keep).sum(dim=1) / count], dim=1))


def pack_modalities(audio: FeatureSet, face: FeatureSet) -> FeatureSet:
    """The clips having both, their audio frames (N, T, Fa) beside their face tokens: per-frame (N, T, Fv) as
    they are, or one vector per clip (N, Fv) repeated on every real audio frame (padding frames stay zero)."""
    common = sorted(set(audio.clip_ids) & set(face.clip_ids))
    if not common:
        raise ValueError("the audio and face features share no clip")
    A = audio.subset(common).X.astype(np.float32)
    V = face.subset(common).X.astype(np.float32)
    if A.ndim != 3:
        raise ValueError(f"audio features must be frames (N, T, F), got shape {A.shape}")
    if V.ndim == 2:
        V = np.repeat(V[:, None, :], A.shape[1], axis=1)
    if V.shape[:2] != A.shape[:2]:
        raise ValueError(f"face tokens {V.shape} do not line up with the audio frames {A.shape}")
    V = V * (np.abs(A).sum(axis=2, keepdims=True) > 0)
    return FeatureSet(
        np.array(common),
        np.concatenate([A, V], axis=2),
        {"kind": "cross_modal", "n_audio": A.shape[2], "audio": audio.meta, "face": face.meta},
    )
