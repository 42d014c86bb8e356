"""``emo faces-eval``: the pretrained face-expression model scored on a folder of labelled faces (crops taken as
they are, other images searched for a face), with bad images logged by name and bad folders refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_ROOT

from emo_utils.cli import main
from emo_utils.errors import DataError
from emo_utils.labels import EMOTIONS
from emo_utils.video.expression import load_expression_model, to_emotions
from emo_utils.video.face_eval import evaluate_face_folder, example_faces, list_labelled_images, looks_like_a_crop

pytestmark = pytest.mark.usefixtures("fer_weights")

FER_SAMPLE = SHARED_ROOT / "data" / "fer2013-sample"


@pytest.fixture
def face_folder(tmp_path: Path, shared_ravdess: Path) -> Path:
    """FER class names (happy, surprise) and a RAVDESS name (fearful) holding 4 real FER crops each; neutral
    holds one real actor frame (not a crop: detected), a blank wall (no face) and a file that is no image."""
    if not FER_SAMPLE.is_dir():
        pytest.skip(f"FER2013 sample not found at {FER_SAMPLE}")
    root = tmp_path / "faces"
    for source, target in (("happy", "happy"), ("surprise", "surprise"), ("fear", "fearful")):
        (root / target).mkdir(parents=True)
        for path in sorted((FER_SAMPLE / source).glob("*.jpg"))[:4]:
            shutil.copy(path, root / target / path.name)
    neutral = root / "neutral"
    neutral.mkdir()
    shutil.copy(shared_ravdess / "actor-faces" / "Actor_01.png", neutral / "actor01.png")
    cv2.imwrite(str(neutral / "wall.png"), np.full((240, 320, 3), 230, np.uint8))
    (neutral / "broken.jpg").write_text("not an image")
    return root


def test_crop_heuristic():
    assert looks_like_a_crop(np.zeros((48, 48), np.uint8))
    assert looks_like_a_crop(np.zeros((120, 112, 3), np.uint8))
    assert not looks_like_a_crop(np.zeros((224, 398, 3), np.uint8))  # a video frame
    assert not looks_like_a_crop(np.zeros((256, 256, 3), np.uint8))  # too large to be sure: detect


@pytest.mark.shared_data
def test_faces_eval_scores_crops_detects_frames_and_logs_bad_images(
    face_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "out"
    assert main(["faces-eval", str(face_folder), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "wall.png" in printed and "broken.jpg" in printed
    table = pd.read_csv(out / "predictions.csv")
    metrics = json.loads((out / "metrics.json").read_text())
    assert (out / "confusion.png").stat().st_size > 0
    assert len(table) == metrics["n_clips"] == 13 and metrics["n_images"] == 15 and metrics["n_skipped"] == 2
    assert set(table["emotion"]) == {"happy", "surprised", "fearful", "neutral"}
    assert table.loc[table["detected"], "path"].tolist() == [str(face_folder / "neutral" / "actor01.png")]
    skipped = pd.read_csv(out / "skipped.csv").set_index("clip")
    assert "no face found" in skipped.loc["wall.png", "reason"]
    assert "cannot be read as an image" in skipped.loc["broken.jpg", "reason"]
    assert str(face_folder / "neutral" / "broken.jpg") in skipped.loc["broken.jpg", "reason"]
    assert metrics["accuracy"] == pytest.approx((table["predicted"] == table["emotion"]).mean())
    assert set(metrics["per_class_recall"]) == {"happy", "surprised", "fearful", "neutral"}
    happy = table[table["emotion"] == "happy"]
    crops = np.stack([cv2.imread(p, cv2.IMREAD_GRAYSCALE) for p in happy["path"]])
    expected = to_emotions(load_expression_model().predict(crops).proba)
    np.testing.assert_allclose(happy[[f"p_{e}" for e in EMOTIONS]].to_numpy(), expected, atol=1e-5)


@pytest.mark.shared_data
def test_example_faces_takes_the_first_usable_images_of_each_class(face_folder: Path):
    faces, emotions = example_faces(face_folder, per_class=2)
    # neutral: the actor frame (a face detected, cropped, shrunk to 64), then a wall and a broken file passed over
    assert emotions == ["fearful", "fearful", "happy", "happy", "neutral", "surprised", "surprised"]
    assert faces.shape == (7, 64, 64) and faces.dtype == np.uint8
    first_happy = sorted((face_folder / "happy").glob("*.jpg"))[:2]
    originals = np.stack([cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in first_happy])
    model = load_expression_model()
    np.testing.assert_allclose(model.predict(faces[2:4]).proba, model.predict(originals).proba, atol=1e-5)


def test_empty_folder_and_unknown_class_name_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (tmp_path / "happy").mkdir()
    assert main(["faces-eval", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert f"{tmp_path}: holds no class sub-folder with images" in capsys.readouterr().err
    (tmp_path / "joyful").mkdir()
    with pytest.raises(DataError, match="unknown class folder 'joyful'") as err:
        list_labelled_images(tmp_path)
    assert str(tmp_path / "joyful") in str(err.value)
    with pytest.raises(DataError, match="is not a folder"):
        list_labelled_images(tmp_path / "missing")


def test_a_folder_of_unreadable_images_names_each_file(tmp_path: Path):
    (tmp_path / "sad").mkdir()
    (tmp_path / "sad" / "empty.png").write_bytes(b"")
    with pytest.raises(DataError, match="none of its 1 images gave a face") as err:
        evaluate_face_folder(tmp_path)
    assert str(tmp_path / "sad" / "empty.png") in str(err.value)
