"""The frame CNN's embedding projection: any embedding size in, the same convolution cost, old checkpoints intact."""

from __future__ import annotations

import torch

from emo_utils.models import build_model


def test_projection_makes_the_conv_map_independent_of_the_embedding_size() -> None:
    small = build_model("frame_cnn2d", (22, 128), n_classes=8, project=32, filters=(16, 32))
    large = build_model("frame_cnn2d", (22, 768), n_classes=8, project=32, filters=(16, 32))
    assert small(torch.randn(3, 22, 128)).shape == large(torch.randn(3, 22, 768)).shape == (3, 8)
    conv_a = {k: v.shape for k, v in small.state_dict().items() if not k.startswith("project")}
    conv_b = {k: v.shape for k, v in large.state_dict().items() if not k.startswith("project")}
    assert conv_a == conv_b  # only the projection grows with the embedding
    assert small.state_dict()["project.weight"].shape == (32, 128)


def test_without_projection_the_state_dict_is_the_reference_layout() -> None:
    """Checkpoints saved before the projection existed (model_kwargs without it) still load."""
    model = build_model("frame_cnn2d", (22, 32), n_classes=8)
    assert {k.split(".")[0] for k in model.state_dict()} == {"conv", "head"}
    assert model.state_dict()["conv.0.weight"].shape == (32, 1, 3, 3)  # the reference design's 32 and 64 filters
