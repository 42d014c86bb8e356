"""SlowFast: face-crop clips (track, crop, normalisation, extraction, the demo's per-clip input), the
torchvision alias, fresh pathway lists per call, the small model, augmentation, a tiny run that learns,
offline pretrained loading."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from emo_utils.branches import BRANCHES
from emo_utils.clip_media import ClipMedia
from emo_utils.errors import MissingModalityError, MissingWeightsError
from emo_utils.media import write_video
from emo_utils.synthetic.face import expression_track, face_identity, render_clip
from emo_utils.train import Standardizer, TrainConfig, fit_model, predict_proba
from emo_utils.video import slowfast
from emo_utils.video.assemble import make_bad_clips
from emo_utils.video.frames import sample_frames
from emo_utils.video.slowfast import (
    ClipSettings,
    SlowFastClassifier,
    augment_clips,
    build_slowfast,
    clip_crops,
    extract_clip_tensors,
    normalise_clip,
    pack_pathways,
    slowfast_clip,
    smooth_face_track,
)

SMALL = ClipSettings(n_frames=8, size=32)


def _clips(batch: int = 2, frames: int = 8, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, frames, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def face_videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two 1-second synthetic talking-face clips (drawn faces, 128 x 128, 15 fps)."""
    folder = tmp_path_factory.mktemp("slowfast_faces")
    paths = []
    for actor, emotion in ((1, "happy"), (2, "surprised")):
        rng = np.random.default_rng(actor)
        frames = render_clip(expression_track(emotion, 15, rng), face_identity(actor), 128, rng)
        paths.append(write_video(folder / f"01-01-0{actor}-01-01-01-0{actor}.mp4", frames, fps=15))
    return paths


def test_functional_tensor_alias_lets_pytorchvideo_transforms_import() -> None:
    import pytorchvideo.transforms  # noqa: F401 - fails without the alias on torchvision >= 0.17
    import torchvision.transforms._functional_tensor as renamed

    slowfast.alias_torchvision_functional_tensor()  # idempotent
    assert sys.modules["torchvision.transforms.functional_tensor"] is renamed


def test_pack_pathways_subsamples_slow_by_alpha() -> None:
    clip = torch.arange(16, dtype=torch.float32).view(1, 1, 16, 1, 1).expand(2, 3, 16, 4, 4)
    slow, fast = pack_pathways(clip, alpha=4)
    assert fast is clip
    assert slow.shape == (2, 3, 4, 4, 4)
    assert slow[0, 0, :, 0, 0].tolist() == [0.0, 5.0, 10.0, 15.0]  # uniform over the clip, first and last kept


def test_clip_settings_reject_bad_values() -> None:
    with pytest.raises(ValueError, match="multiple of alpha"):
        ClipSettings(n_frames=6)
    with pytest.raises(ValueError, match="crop"):
        ClipSettings(crop="mouth")
    with pytest.raises(ValueError, match="normalisation"):
        ClipSettings(normalisation="imagenet")


def test_face_track_has_one_size_and_smooth_interpolated_centres() -> None:
    rng = np.random.default_rng(0)
    times = np.arange(0, 16, 2)  # boxes found in every other frame
    sides = rng.integers(78, 90, len(times) + 1)[:-1]  # 8 sides: the median is between two
    centres = np.column_stack([np.linspace(60, 74, len(times)), np.full(len(times), 64.0)]) + rng.normal(0, 3, (8, 2))
    boxes = np.column_stack([centres - sides[:, None] / 2, sides, sides]).round().astype(int)
    track = smooth_face_track(boxes, times, 16, sigma=1.5)
    assert track.shape == (16, 4) and track.dtype == np.int32
    assert (track[:, 2] == round(np.median(sides))).all() and (track[:, 3] == track[:, 2]).all()
    track_centres = track[:, :2] + track[:, 2:] / 2
    raw_centres = boxes[:, :2] + boxes[:, 2:] / 2
    assert np.abs(np.diff(track_centres[times], axis=0)).mean() < np.abs(np.diff(raw_centres, axis=0)).mean()
    raw = smooth_face_track(boxes, times, 16, sigma=0)
    assert np.abs((raw[times, :2] + raw[times, 2:] / 2) - raw_centres).max() <= 1  # unsmoothed at the detections
    assert np.allclose(raw[1, :2] + raw[1, 2:] / 2, (raw_centres[0] + raw_centres[1]) / 2, atol=1)  # interpolated


def test_normalise_clip_per_clip_and_kinetics() -> None:
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
    crops[..., 0] //= 4  # a dark red channel: per-clip z-scoring removes the colour cast
    clip = normalise_clip(crops)
    assert clip.shape == (3, 8, 16, 16) and clip.dtype == np.float32
    assert np.allclose(clip.mean(axis=(1, 2, 3)), 0, atol=1e-4)
    assert np.allclose(clip.std(axis=(1, 2, 3)), 1, atol=2e-2)
    kinetics = normalise_clip(np.full((4, 8, 8, 3), 255, np.uint8), "kinetics")
    assert np.allclose(kinetics, (1.0 - 0.45) / 0.225)
    with pytest.raises(ValueError, match="uint8"):
        normalise_clip(crops.astype(np.float32))


def test_slowfast_clip_crops_the_face(face_videos: list[Path]) -> None:
    clip = slowfast_clip(face_videos[0], SMALL)
    assert clip.shape == (3, 8, 32, 32) and clip.dtype == np.float16
    assert np.isfinite(clip.astype(np.float32)).all()
    frame = slowfast_clip(face_videos[0], ClipSettings(n_frames=8, size=32, crop="frame"))
    assert frame.shape == clip.shape and not np.array_equal(frame, clip)


def test_clip_crops_are_the_pictures_the_clip_is_normalised_from(face_videos: list[Path]) -> None:
    frames = sample_frames(face_videos[0], SMALL.n_frames)
    crops = clip_crops(frames, "clip", SMALL)
    assert crops.shape == (8, 32, 32, 3) and crops.dtype == np.uint8
    np.testing.assert_array_equal(normalise_clip(crops).astype(np.float16), slowfast_clip(face_videos[0], SMALL))
    whole = clip_crops(frames, "clip", ClipSettings(n_frames=8, size=32, crop="frame"))
    assert whole.shape == crops.shape and not np.array_equal(whole, crops)


def test_bad_clips_raise_errors_that_name_the_file(tmp_path: Path) -> None:
    bad = make_bad_clips(tmp_path)
    with pytest.raises(MissingModalityError, match="no face found") as caught:
        slowfast_clip(bad["no_face"], SMALL)
    assert str(bad["no_face"]) in str(caught.value)
    with pytest.raises(Exception, match="unreadable.mp4"):
        slowfast_clip(bad["unreadable"], SMALL)


def test_extraction_logs_bad_clips_caches_and_matches_the_demo_input(face_videos: list[Path], tmp_path: Path) -> None:
    bad = make_bad_clips(tmp_path / "bad")
    tasks = [("a", str(face_videos[0])), ("nf", str(bad["no_face"])), ("b", str(face_videos[1]))]
    features, skipped = extract_clip_tensors(
        tasks, tmp_path / "clips.npz", tmp_path / "cache", SMALL, n_jobs=1, progress=False
    )
    assert features.clip_ids.tolist() == ["a", "b"]
    assert features.X.shape == (2, 3, 8, 32, 32) and features.meta["clip"]["crop"] == "face"
    assert skipped.to_frame()["path"].tolist() == [str(bad["no_face"])]
    demo = BRANCHES["video_slowfast"].clip_input(ClipMedia(video=str(face_videos[1])), features.meta)
    assert np.array_equal(demo, features.X[1])  # the demo computes exactly the dataset features
    good = tasks[:1] + tasks[2:]
    again, none_skipped = extract_clip_tensors(
        good, tmp_path / "good.npz", tmp_path / "cache", SMALL, n_jobs=1, progress=False
    )
    assert np.array_equal(again.X, features.X) and len(none_skipped) == 0  # from the per-clip cache


def test_augment_clips_mirrors_and_shifts_whole_clips() -> None:
    torch.manual_seed(0)
    x = _clips(batch=16)
    mirrored = augment_clips(x, max_shift=0)
    same = [torch.equal(m, c) for m, c in zip(mirrored, x)]
    flipped = [torch.equal(m, c.flip(-1)) for m, c in zip(mirrored, x)]
    assert all(s or f for s, f in zip(same, flipped)) and any(same) and any(flipped)
    shifted = augment_clips(x, max_shift=2)
    assert shifted.shape == x.shape and not torch.equal(shifted, x)


def test_raw_net_mutates_its_list_but_classifier_builds_a_fresh_one() -> None:
    torch.manual_seed(0)
    model = build_slowfast(augment_shift=2).eval()
    x = _clips()
    pathways = pack_pathways(x)
    with torch.no_grad():
        model.net(pathways)
    assert pathways[1] is not x  # the pytorchvideo net replaced the frames inside the list it was given
    with torch.no_grad():
        first, second = model(x), model(x)  # evaluation: no augmentation
    assert first.shape == second.shape == (2, 8)
    assert torch.equal(first, second)


def test_small_model_shape_width_and_bad_frame_count() -> None:
    model = build_slowfast(num_classes=5)
    assert isinstance(model, SlowFastClassifier) and model.weights == "random-init"
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    assert model(_clips(batch=3, frames=16, size=64)).shape == (3, 5)
    wide = build_slowfast(width=16, fast_ratio=8)
    assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in wide.parameters()) / 2
    with pytest.raises(ValueError, match="multiple of alpha"):
        model(_clips(frames=6))


def _moving_dot_clips(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Easy clips (3, 8, 16, 16): a bright square that moves right, moves left or stays, on noise."""
    y = np.arange(n) % 3
    X = rng.normal(0, 0.3, (n, 3, 8, 16, 16)).astype(np.float32)
    for i, label in enumerate(y):
        row = rng.integers(2, 11)
        for t in range(8):
            col = 4 + (t if label == 0 else -t if label == 1 else 0) + (0 if label == 2 else 4 * (label == 1))
            X[i, :, t, row : row + 4, col : col + 4] += 2.0
    return X, y


@pytest.mark.slow  # seconds: left out of the fast loop
def test_a_tiny_training_run_learns_an_easy_motion_task() -> None:
    rng = np.random.default_rng(0)
    X_train, y_train = _moving_dot_clips(96, rng)
    X_test, y_test = _moving_dot_clips(30, rng)
    config = TrainConfig(
        "slowfast",
        {"width": 8, "fast_ratio": 4, "dropout_rate": 0.0},
        epochs=12,
        lr=3e-3,
        batch_size=8,
        patience=12,
        standardize=False,
    )
    scaler = Standardizer.fit(X_train, enabled=False)
    model, curve = fit_model(X_train, y_train, X_test[:6], y_test[:6], config, scaler)
    assert curve[-1]["train_loss"] < curve[0]["train_loss"]
    accuracy = (predict_proba(model, X_test, scaler).argmax(1) == y_test).mean()
    assert accuracy > 2 / 3  # chance is 1/3


def test_pretrained_offline_raises_missing_weights_without_trying_to_download(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
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
