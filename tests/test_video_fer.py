"""The video_fer branch: face crops -> per-frame embeddings of the pretrained FER2013 model (cached), the
zero-shot clip probabilities, and the demo's one-clip input computed exactly as the dataset features."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from emo_utils.branches import BRANCHES, FeatureContext, fer_stage
from emo_utils.clip_media import ClipMedia
from emo_utils.evaluate import metrics_from_table
from emo_utils.feature_store import FeatureSet, load_features
from emo_utils.labels import EMOTIONS, PROBA_COLUMNS
from emo_utils.media import write_video
from emo_utils.video import expression
from emo_utils.video.expression import (
    EMBEDDINGS_FILE,
    PROBA_FILE,
    extract_expression_features,
    load_expression_model,
    to_emotions,
    top_guesses,
    zero_shot_probabilities,
    zero_shot_table,
)
from emo_utils.video.faces import extract_face_crops

pytestmark = pytest.mark.usefixtures("fer_weights")


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory: pytest.TempPathFactory, shared_ravdess: Path) -> Path:
    """8 frames of a real actor face, slightly shifted frame to frame."""
    image = cv2.cvtColor(cv2.imread(str(shared_ravdess / "actor-faces" / "Actor_02.png")), cv2.COLOR_BGR2RGB)
    image = image[:, : image.shape[1] // 2 * 2]
    frames = np.stack([np.roll(image, 2 * i, axis=1) for i in range(8)])
    return write_video(tmp_path_factory.mktemp("fer") / "01-01-03-01-01-01-02.mp4", frames, fps=8)


def _crops(n_clips: int = 3, n_frames: int = 4) -> FeatureSet:
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(n_clips, n_frames, 112, 112, 3), dtype=np.uint8)
    return FeatureSet([f"clip{i}" for i in range(n_clips)], X, {"detector": "haar", "n_frames": n_frames, "size": 112})


def test_features_are_per_frame_embeddings_and_probabilities_cached_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    crops = _crops()
    embeddings, proba = extract_expression_features(crops, tmp_path, clips_per_batch=2, progress=False)
    assert embeddings.X.shape == (3, 4, 128) and proba.X.shape == (3, 4, 7)
    assert embeddings.clip_ids.tolist() == proba.clip_ids.tolist() == ["clip0", "clip1", "clip2"]
    direct = load_expression_model().predict(crops.X[1])
    np.testing.assert_allclose(embeddings.X[1], direct.embedding, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(proba.X[1], direct.proba, rtol=1e-4, atol=1e-6)
    assert embeddings.meta["random_weights"] is False and embeddings.meta["crops"]["detector"] == "haar"
    np.testing.assert_array_equal(load_features(tmp_path / EMBEDDINGS_FILE).X, embeddings.X)
    np.testing.assert_array_equal(load_features(tmp_path / PROBA_FILE).X, proba.X)
    monkeypatch.setattr(expression, "load_expression_model", lambda *a: pytest.fail("recomputed, cache ignored"))
    again, _ = extract_expression_features(crops, tmp_path, progress=False)
    np.testing.assert_array_equal(again.X, embeddings.X)
    other = FeatureSet(["clip0", "clip9"], crops.X[:2], crops.meta)
    with pytest.raises(pytest.fail.Exception, match="recomputed"):  # a clip the cached file lacks
        extract_expression_features(other, tmp_path, progress=False)


def test_zero_shot_probabilities_average_the_mapped_frames():
    rng = np.random.default_rng(3)
    fer = FeatureSet(["a", "b"], rng.dirichlet(np.ones(7), size=(2, 5)).astype(np.float32), {"stage": "fer"})
    zero_shot = zero_shot_probabilities(fer)
    assert zero_shot.X.shape == (2, len(EMOTIONS)) and zero_shot.clip_ids.tolist() == ["a", "b"]
    np.testing.assert_allclose(zero_shot.X.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(zero_shot.X[1], to_emotions(fer.X[1]).mean(axis=0), rtol=1e-6)
    assert zero_shot.meta["labels"] == list(EMOTIONS) and zero_shot.meta["calm_weight"] == 1.0


def test_zero_shot_table_reads_like_an_out_of_fold_table():
    fer = np.zeros((3, 2, 7), np.float32)
    fer[:, :, 3] = 0.9  # every frame of every clip: happy
    fer[:, :, 6] = 0.1
    fer[2, :, 3], fer[2, :, 6] = 0.1, 0.9  # clip c: neutral
    manifest = pd.DataFrame(
        {"take_id": ["c", "a", "b", "x"], "actor": [2, 1, 1, 3], "emotion": ["calm", "happy", "sad", "angry"]}
    )
    table = zero_shot_table(FeatureSet(["a", "b", "c"], fer, {"stage": "fer"}), manifest)
    assert table.columns.tolist() == ["clip_id", "actor", "emotion", *PROBA_COLUMNS]
    assert table["clip_id"].tolist() == ["a", "b", "c"] and table["actor"].tolist() == ["1", "1", "2"]
    assert table["emotion"].tolist() == ["happy", "sad", "calm"]
    metrics = metrics_from_table(table)
    assert metrics["n_clips"] == 3 and metrics["accuracy"] == pytest.approx(1 / 3)  # calm is never predicted
    with pytest.raises(ValueError, match="not in the manifest"):
        zero_shot_table(FeatureSet(["a", "z"], fer[:2], {}), manifest)


def test_top_guesses_in_words():
    proba = np.array([[0.1, 0.0, 0.0, 0.7, 0.0, 0.0, 0.2], [0.0, 0.0, 0.5, 0.0, 0.0, 0.5, 0.0]])
    assert top_guesses(proba) == ["happy 0.70, neutral 0.20", "fear 0.50, surprise 0.50"]
    assert top_guesses(proba, k=1) == ["happy 0.70", "fear 0.50"]
    with pytest.raises(ValueError, match="probabilities"):
        top_guesses(proba[:, :6])


@pytest.mark.shared_data
def test_fer_stage_gives_the_branch_features_and_the_frame_probabilities(face_clip: Path, tmp_path: Path):
    manifest = pd.DataFrame({"take_id": ["take"], "video_path": [str(face_clip)]})
    ctx = FeatureContext(manifest, tmp_path, "wav2vec", "vit", allow_stand_ins=True, n_jobs=1, progress=False)
    embeddings, proba, skipped = fer_stage(ctx)
    assert len(skipped) == 0 and proba.X.shape == (1, 22, 7) and proba.clip_ids.tolist() == ["take"]
    features, _ = BRANCHES["video_fer"].build_features(ctx)  # the branch reads the same (cached) stage
    np.testing.assert_array_equal(features.X, embeddings.X)
    crops = extract_face_crops([("take", str(face_clip))], tmp_path / "crops", n_jobs=1, progress=False)[1]
    np.testing.assert_allclose(proba.X[0], load_expression_model().predict(crops.X[0]).proba, rtol=1e-4, atol=1e-6)


@pytest.mark.shared_data
def test_branch_features_and_the_demos_clip_input_agree(face_clip: Path, tmp_path: Path):
    spec = BRANCHES["video_fer"]
    assert spec.modality == "video" and spec.train.model == "frame_cnn2d"
    tasks = [("take", str(face_clip))]
    _, rgb, skipped = extract_face_crops(tasks, tmp_path, n_frames=6, detector="haar", n_jobs=1, progress=False)
    assert len(skipped) == 0
    features, proba = extract_expression_features(rgb, tmp_path, progress=False)
    one_clip = spec.clip_input(ClipMedia(video=str(face_clip)), features.meta)
    assert one_clip.shape == (6, 128)
    np.testing.assert_allclose(one_clip, features.X[0], rtol=1e-4, atol=1e-5)
    assert spec.pooled(features.X).shape == (1, 128)
    assert zero_shot_probabilities(proba).X.shape == (1, 8)
