"""Intermediate fusion with cross-modal attention: one model that reads the voice as a sequence of frames and the
face as tokens, each attending to the other, before one classifier decides.

The two inputs travel packed in one array (so the model trains through :func:`emo_utils.train.cross_validate`
with actors held out, like any branch): :func:`pack_modalities` puts, per clip, the audio frames (T, Fa) side by
side with the face tokens (T, Fv): per-frame face features spread over the real audio frames where there are any,
else the clip's face vector (e.g. the facial-AU means) repeated on every real audio frame. Padding frames
(all-zero audio) stay all-zero, so the standardiser leaves them out and the model masks them.

:class:`CrossModalAttention` reads the audio frames with two 1-D convolutions (the second one strided, so that
attention runs on fewer, wider frames), projects the face tokens to the same width, lets the audio frames attend
to the face tokens and the face tokens to the audio frames (multi-head attention with a residual connection and
layer norm), averages each over its real frames and classifies the two summaries side by side with a small head.
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
        stride: int = 3,
        n_classes: int = len(EMOTIONS),
    ) -> None:
        super().__init__()
        _, n_features = input_shape
        if not 0 < n_audio < n_features:
            raise ValueError(f"n_audio must leave features for both modalities, got {n_audio} of {n_features}")
        self.n_audio, self.stride, self.n_classes = n_audio, stride, n_classes
        self.audio_conv = nn.Conv1d(n_audio, d_model, 5, padding=2)
        self.audio_down = nn.Conv1d(d_model, d_model, 5, stride=stride, padding=2)
        self.face_in = nn.Sequential(nn.Linear(n_features - n_audio, d_model), nn.GELU())
        self.audio_to_face = nn.MultiheadAttention(d_model, heads, dropout=dropout, batch_first=True)
        self.face_to_audio = nn.MultiheadAttention(d_model, heads, dropout=dropout, batch_first=True)
        self.audio_norm, self.face_norm = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.head = nn.Sequential(
            nn.Linear(2 * d_model, d_model), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_model, n_classes)
        )

    def _audio(self, audio: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """(B, T, Fa) frames -> (B, ceil(T / stride), d_model); padding frames read as the convolutions' own zero
        padding, so appending padding changes no real frame."""
        hidden = nn.functional.gelu(self.audio_conv(audio.transpose(1, 2))) * real.unsqueeze(1)
        return nn.functional.gelu(self.audio_down(hidden)).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        real = x.abs().sum(dim=2) > 0  # (B, T) False on padding frames
        audio = self._audio(x[..., : self.n_audio], real.float())
        real = real[:, :: self.stride].clone()  # each strided frame is real when its centre frame is
        real[:, 0] |= ~real.any(dim=1)  # a clip with no frame at all keeps one, to stay defined
        face = self.face_in(x[:, :: self.stride, self.n_audio :])
        padding = ~real
        heard, _ = self.audio_to_face(audio, face, face, key_padding_mask=padding)
        seen, _ = self.face_to_audio(face, audio, audio, key_padding_mask=padding)
        audio, face = self.audio_norm(audio + heard), self.face_norm(face + seen)
        keep = real.unsqueeze(2).float()
        count = keep.sum(dim=1)
        return self.head(torch.cat([(audio * keep).sum(dim=1) / count, (face * keep).sum(dim=1) / count], dim=1))


def face_tokens(face: np.ndarray, real: np.ndarray) -> np.ndarray:
    """Face tokens (N, T, Fv) on the audio frames: a per-clip vector (N, Fv) on every real frame, per-frame
    features (N, Tv, Fv) spread evenly over the real frames (real: (N, T) True on real audio frames); padding
    frames get zeros."""
    n, t = real.shape
    if face.ndim == 2:
        return face[:, None, :] * real[:, :, None]
    length = np.maximum(real.sum(axis=1), 1)[:, None]
    index = np.minimum(np.arange(t)[None, :] * face.shape[1] // length, face.shape[1] - 1)  # (N, T)
    return face[np.arange(n)[:, None], index] * real[:, :, None]


def pack_modalities(audio: FeatureSet, face: FeatureSet) -> FeatureSet:
    """The clips having both, their audio frames (N, T, Fa) beside their face tokens (:func:`face_tokens`);
    the audio's augmented copies, when it has them, beside the same face tokens (training only)."""
    common = sorted(set(audio.clip_ids) & set(face.clip_ids))
    if not common:
        raise ValueError("the audio and face features share no clip")
    audio = audio.subset(common)
    A = audio.X.astype(np.float32)
    V = face.subset(common).X.astype(np.float32)
    if A.ndim != 3:
        raise ValueError(f"audio features must be frames (N, T, F), got shape {A.shape}")
    if V.ndim not in (2, 3):
        raise ValueError(f"face features must be one vector (N, F) or frames (N, T, F) per clip, got {V.shape}")

    def packed(frames: np.ndarray) -> np.ndarray:
        return np.concatenate([frames, face_tokens(V, np.abs(frames).sum(axis=2) > 0)], axis=2)

    augmented = None
    if audio.X_aug is not None:
        augmented = np.stack([packed(audio.X_aug[:, k].astype(np.float32)) for k in range(audio.X_aug.shape[1])], 1)
    return FeatureSet(
        np.array(common),
        packed(A),
        {"kind": "cross_modal", "n_audio": A.shape[2], "audio": audio.meta, "face": face.meta},
        augmented,
    )
