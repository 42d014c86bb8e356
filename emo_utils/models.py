"""The branch classifiers, all built by name so checkpoints can be rebuilt by the demo.

Sizes follow the reference design (../shared/reference/srihari-bhaskaran-2024-late-fusion.md) as
parameters; the defaults are scaled down so that 6-fold training runs on a 2-core CPU in minutes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from emo_utils.labels import EMOTIONS

N_CLASSES = len(EMOTIONS)  # default output size: the 8 RAVDESS emotions (a run passes its own label count)


class AudioCNN1D(nn.Module):
    """1-D CNN over frame features (B, T, F): conv blocks over time, then dense layers.

    Reference design: channels (512, 512, 256, 256, 128), dense 512. Default: a CPU-sized version.
    With ``stats_skip`` the head also sees each feature's mean and standard deviation over the clip's
    non-padded frames (utterance statistics, the classic speech-emotion features) beside the conv output.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        channels: Sequence[int] = (32, 32, 64, 64, 64),
        dense: int = 128,
        kernel_size: int = 5,
        dropout: float = 0.5,
        stats_skip: bool = True,
        n_classes: int = N_CLASSES,
    ) -> None:
        super().__init__()
        n_frames, n_features = input_shape
        layers: list[nn.Module] = []
        in_ch = n_features
        for i, out_ch in enumerate(channels):
            layers += [
                nn.Conv1d(in_ch, out_ch, kernel_size, padding=kernel_size // 2),
                nn.BatchNorm1d(out_ch),
                nn.ReLU(),
            ]
            if i < 3:
                layers.append(nn.MaxPool1d(2))
            in_ch = out_ch
        self.conv = nn.Sequential(*layers)
        self.stats_skip = stats_skip
        width = 2 * in_ch + (2 * n_features if stats_skip else 0)
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(width, dense), nn.ReLU(), nn.Dropout(dropout), nn.Linear(dense, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.transpose(1, 2))
        pooled = [h.mean(dim=2), h.amax(dim=2)]
        if self.stats_skip:
            mask = (x.abs().sum(dim=2, keepdim=True) > 0).float()
            count = mask.sum(dim=1).clamp(min=1.0)
            mean = (x * mask).sum(dim=1) / count
            std = (((x - mean[:, None]) ** 2 * mask).sum(dim=1) / count).sqrt()
            pooled += [mean, std]
        return self.head(torch.cat(pooled, dim=1))


class SequenceLSTM(nn.Module):
    """Bidirectional LSTM over an embedding sequence (B, T, H), mean+max pooled, then a linear head.

    ``time_pool`` averages that many consecutive frames first (wav2vec 2.0's 50 frames/s -> ~17 with 3):
    emotion changes slower than phones, and the LSTM, the slowest model here on a CPU, runs 3x faster.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        hidden: int = 64,
        layers: int = 1,
        dropout: float = 0.3,
        time_pool: int = 3,
        n_classes: int = N_CLASSES,
    ) -> None:
        super().__init__()
        _, n_features = input_shape
        self.pool = nn.AvgPool1d(time_pool, ceil_mode=True) if time_pool > 1 else nn.Identity()
        self.lstm = nn.LSTM(n_features, hidden, num_layers=layers, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * hidden, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(self.pool(x.transpose(1, 2)).transpose(1, 2))
        return self.head(torch.cat([h.mean(dim=1), h.amax(dim=1)], dim=1))


class FrameEmbeddingCNN2D(nn.Module):
    """Small 2-D CNN over the (frames x embedding) map of per-frame ViT embeddings (B, F, D).

    Reference design: conv 32 and 64 filters over the frames x 768 ViT embedding map, dense 128 -> 64 -> 8 (the
    constructor's defaults, without ``project``). ``project`` first maps each frame's embedding linearly to that
    many dimensions (one projection for all frames, learned with the rest): the convolutions then slide over a
    frames x ``project`` map, whose cost does not grow with the backbone's embedding size (the convolutions are
    most of this model's arithmetic).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        filters: Sequence[int] = (32, 64),
        dense: Sequence[int] = (128, 64),
        dropout: float = 0.3,
        project: int | None = None,
        n_classes: int = N_CLASSES,
    ) -> None:
        super().__init__()
        n_frames, dim = input_shape
        self.project = nn.Linear(dim, project) if project else nn.Identity()
        dim = project or dim
        layers: list[nn.Module] = []
        in_ch = 1
        for out_ch in filters:
            layers += [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU(), nn.MaxPool2d(2)]
            in_ch = out_ch
        self.conv = nn.Sequential(*layers)
        flat = in_ch * (n_frames // 2 ** len(filters)) * (dim // 2 ** len(filters))
        head: list[nn.Module] = [nn.Flatten()]
        for width in dense:
            head += [nn.Dropout(dropout), nn.Linear(flat, width), nn.ReLU()]
            flat = width
        head.append(nn.Linear(flat, n_classes))
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(self.project(x).unsqueeze(1)))


class MLP(nn.Module):
    """Dense network on a feature vector (B, F): facial AUs, early-fusion concatenations."""

    def __init__(
        self,
        input_shape: Sequence[int],
        hidden: Sequence[int] = (128, 64),
        dropout: float = 0.3,
        n_classes: int = N_CLASSES,
    ) -> None:
        super().__init__()
        (width,) = input_shape
        layers: list[nn.Module] = []
        for out in hidden:
            layers += [nn.Linear(width, out), nn.BatchNorm1d(out), nn.ReLU(), nn.Dropout(dropout)]
            width = out
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _slowfast(input_shape: Sequence[int], n_classes: int = N_CLASSES, **kwargs: object) -> nn.Module:
    from emo_utils.video.slowfast import build_slowfast

    return build_slowfast(num_classes=n_classes, **kwargs)


def _cross_attention(input_shape: Sequence[int], **kwargs: object) -> nn.Module:
    from emo_utils.attention_fusion import CrossModalAttention

    return CrossModalAttention(input_shape, **kwargs)  # type: ignore[arg-type]


MODEL_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "audio_cnn1d": AudioCNN1D,
    "sequence_lstm": SequenceLSTM,
    "frame_cnn2d": FrameEmbeddingCNN2D,
    "mlp": MLP,
    "slowfast": _slowfast,
    "cross_attention": _cross_attention,
}


def build_model(name: str, input_shape: Sequence[int], **kwargs: object) -> nn.Module:
    """Build the registered model ``name`` for inputs of ``input_shape`` (one sample, no batch axis)."""
    if name not in MODEL_BUILDERS:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(MODEL_BUILDERS)}")
    return MODEL_BUILDERS[name](tuple(input_shape), **kwargs)
