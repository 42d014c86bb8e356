"""SlowFast: the torchvision alias, fresh pathway lists per call, the small model, offline pretrained loading."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from emo_utils.errors import MissingWeightsError
from emo_utils.video import slowfast
from emo_utils.video.slowfast import SlowFastClassifier, build_slowfast, clip_tensor, pack_pathways


def _clips(batch: int = 2, frames: int = 8, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, frames, size, size, generator=torch.Generator().manual_seed(seed))


def test_functional_tensor_alias_lets_pytorchvideo_transforms_import() -> None:
    import torchvision.transforms._functional_tensor as renamed

    import pytorchvideo.transforms  # noqa: F401 - fails without the alias on torchvision >= 0.17
    slowfast.alias_torchvision_functional_tensor()  # idempotent
    assert sys.modules["torchvision.transforms.functional_tensor"] is renamed


def test_pack_pathways_subsamples_slow_by_alpha() -> None:
    clip = torch.arange(16, dtype=torch.float32).view(1, 1, 16, 1, 1).expand(2, 3, 16, 4, 4)
    slow, fast = pack_pathways(clip, alpha=4)
    assert fast is clip
    assert slow.shape == (2, 3, 4, 4, 4)
    assert slow[0, 0, :, 0, 0].tolist() == [0.0, 5.0, 10.0, 15.0]  # uniform over the clip, first and last kept


def test_clip_tensor_resizes_crops_and_normalises() -> None:
    frames = np.full((8, 90, 120, 3), 255, dtype=np.uint8)
    frames[:, :, :, 1] = 0
    clip = clip_tensor(frames, size=32)
    assert clip.shape == (3, 8, 32, 32) and clip.dtype == torch.float32
    assert torch.allclose(clip[0], torch.tensor((1.0 - 0.45) / 0.225))
    assert torch.allclose(clip[1], torch.tensor(-0.45 / 0.225))
    with pytest.raises(ValueError, match="uint8"):
        clip_tensor(frames.astype(np.float32))


def test_raw_net_mutates_its_list_but_classifier_builds_a_fresh_one() -> None:
    torch.manual_seed(0)
    model = build_slowfast().eval()
    x = _clips()
    pathways = pack_pathways(x)
    with torch.no_grad():
        model.net(pathways)
    assert pathways[1] is not x  # the pytorchvideo net replaced the frames inside the list it was given
    with torch.no_grad():
        first, second = model(x), model(x)
    assert first.shape == second.shape == (2, 8)
    assert torch.equal(first, second)


def test_small_model_shape_and_bad_frame_count() -> None:
    model = build_slowfast(num_classes=5)
    assert isinstance(model, SlowFastClassifier) and model.weights == "random-init"
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    assert model(_clips(batch=3, frames=16, size=64)).shape == (3, 5)
    with pytest.raises(ValueError, match="multiple of alpha"):
        model(_clips(frames=6))


def test_a_few_optimisation_steps_reduce_the_loss() -> None:
    torch.manual_seed(0)
    model = build_slowfast(dropout_rate=0.0)
    x, y = _clips(batch=4), torch.tensor([0, 3, 4, 7])
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(6):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_pretrained_offline_raises_missing_weights_without_trying_to_download(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import pytorchvideo.models.hub.slowfast as hub

    def download(**_: object) -> None:
        raise AssertionError("must not try to download when the network is known to be unreachable")

    monkeypatch.setattr(slowfast, "hub_reachable", lambda: False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # no cached checkpoint
    monkeypatch.setattr(hub, "slowfast_r50", download)
    with pytest.raises(MissingWeightsError, match="SLOWFAST_8x8_R50.pyth"):
        build_slowfast(pretrained=True)


def test_pretrained_path_gets_an_emotion_head(monkeypatch: pytest.MonkeyPatch) -> None:
    import pytorchvideo.models.hub.slowfast as hub

    real_builder = hub.slowfast_r50
    monkeypatch.setattr(slowfast, "hub_reachable", lambda: True)
    monkeypatch.setattr(hub, "slowfast_r50", lambda pretrained: real_builder(pretrained=False))  # same architecture
    model = build_slowfast(pretrained=True).eval()
    assert model.weights == "kinetics400-slowfast_r50"
    assert model.net.blocks[-1].proj.out_features == 8
    with torch.no_grad():
        assert model(_clips(batch=1, frames=8, size=64)).shape == (1, 8)
