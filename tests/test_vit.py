"""ViT face embeddings with a tiny random stand-in: shapes, CLS pooling, caching and resuming."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from emo_utils.backbones import RandomWeightsWarning, create_stand_in, load_backbone
from emo_utils.feature_store import FeatureSet, load_features
from emo_utils.video import vit
from emo_utils.video.vit import embed_faces, extract_vit_embeddings

pytestmark = pytest.mark.filterwarnings("ignore::emo_utils.backbones.RandomWeightsWarning")


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(create_stand_in("vit", tmp_path_factory.mktemp("vit-stand-in")))


def _crops(n_clips: int, n_frames: int = 3, size: int = 24, seed: int = 0) -> FeatureSet:
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, (n_clips, n_frames, size, size, 3), dtype=np.uint8)
    return FeatureSet([f"clip{i:02d}" for i in range(n_clips)], X, {"stage": "faces"})


def test_embed_faces_returns_the_cls_token_whatever_the_batch_size(stand_in: str) -> None:
    backbone = load_backbone("vit", stand_in)
    crops = _crops(1, n_frames=5).X[0]
    emb = embed_faces(backbone, crops, batch_size=2)
    assert emb.shape == (5, backbone.hidden_size) and emb.dtype == np.float32
    np.testing.assert_allclose(emb, embed_faces(backbone, crops, batch_size=32), atol=1e-5)
    pixels = backbone.processor(images=list(crops[:1]), return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        cls = backbone.model(pixel_values=pixels).last_hidden_state[0, 0].numpy()
    np.testing.assert_allclose(emb[0], cls, atol=1e-5)
    assert not np.allclose(emb[0], emb[1])  # different faces, different embeddings
    with pytest.raises(ValueError, match="uint8"):
        embed_faces(backbone, crops.astype(np.float32))


def test_extract_writes_flagged_features_and_reuses_the_file(
    stand_in: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crops = _crops(5)
    out = tmp_path / "vit.npz"
    with pytest.warns(RandomWeightsWarning):
        features = extract_vit_embeddings(crops, out, model_name=stand_in, clips_per_shard=2, progress=False)
    assert features.X.shape == (5, 3, 32) and features.X.dtype == np.float16
    assert features.random_weights and features.meta["requested_model"] == stand_in
    assert features.meta["pooling"] == "cls" and features.meta["crops"] == {"stage": "faces"}
    assert features.meta["precision"] == "float32"  # CPU by default: no mixed precision
    assert list(features.clip_ids) == list(crops.clip_ids)
    assert not (tmp_path / "vit.parts").exists()  # shards are removed once the file is complete
    on_disk = load_features(out)
    np.testing.assert_array_equal(on_disk.X, features.X)

    def no_model(*_: object, **__: object) -> None:
        raise AssertionError("the cached file should have been loaded")

    monkeypatch.setattr(vit, "load_backbone", no_model)
    with pytest.warns(RandomWeightsWarning, match="delete it"):
        again = extract_vit_embeddings(crops, out, model_name=stand_in, progress=False)
    np.testing.assert_array_equal(again.X, features.X)


def test_an_interrupted_extraction_resumes(stand_in: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    crops = _crops(6)
    reference = extract_vit_embeddings(
        crops, tmp_path / "reference.npz", model_name=stand_in, clips_per_shard=2, progress=False
    )
    real_embed = vit.embed_faces
    embedded: list[int] = []
    budget = {"chunks": 2}

    def embed_until_interrupted(backbone, flat, batch_size, mixed_precision=True):  # noqa: ANN001, ANN202
        if len(embedded) == budget["chunks"]:
            raise KeyboardInterrupt
        embedded.append(len(flat))
        return real_embed(backbone, flat, batch_size, mixed_precision)

    monkeypatch.setattr(vit, "embed_faces", embed_until_interrupted)
    out = tmp_path / "vit.npz"
    with pytest.raises(KeyboardInterrupt):
        extract_vit_embeddings(crops, out, model_name=stand_in, clips_per_shard=2, progress=False)
    assert not out.exists() and embedded == [6, 6]  # two chunks of 2 clips x 3 frames were saved as shards
    embedded.clear()
    budget["chunks"] = 99
    resumed = extract_vit_embeddings(crops, out, model_name=stand_in, clips_per_shard=2, progress=False)
    assert embedded == [6]  # only the last chunk was computed
    np.testing.assert_array_equal(resumed.X, reference.X)


def test_extract_rejects_crops_that_are_not_clip_frame_images(stand_in: str, tmp_path: Path) -> None:
    flat = FeatureSet(["a", "b"], np.zeros((2, 24, 24, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\(N, F, h, w, 3\)"):
        extract_vit_embeddings(flat, tmp_path / "vit.npz", model_name=stand_in, progress=False)
