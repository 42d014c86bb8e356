"""The face path keeps what the FER model can see: a real FER2013 face placed into frames at several scales is found,
cropped as FER2013 frames its faces, and read as its own crop is; a face the detector's stricter tiers miss is found
by its last resort and marked; readings are pooled with their confidence and read with their mirror image."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SHARED_ROOT

from emo_utils.clip_media import ClipMedia
from emo_utils.inference import ZeroShotFacePredictor
from emo_utils.pretrained import FACE_SETTINGS
from emo_utils.video.assemble import landscape, place_face
from emo_utils.video.expression import LAST_RESORT_WEIGHT, load_expression_model, pool_frames
from emo_utils.video.face_eval import list_labelled_images, split_labelled_images
from emo_utils.video.faces import (
    HAAR_CONFIRM,
    Box,
    FallbackFaceDetector,
    fer_margin,
    find_faces_in_clip,
    frames_face_crops,
    shared_detector,
    square_crop_box,
)

FER_SAMPLE = SHARED_ROOT / "data" / "fer2013-sample"
SIDES = (60, 90, 162, 252, 340)
CENTRES = ((0.3, 0.4), (0.6, 0.5), (0.5, 0.6), (0.7, 0.45), (0.5, 0.5))
# A face of the sample's DEVELOPMENT half (a sad face, tilted and half hidden by a hand) that MTCNN, Haar and both
# with lower bars all miss when placed as below: the case the last-resort stage was added for.
MISSED_BY_THE_TIERS = ("sad/PrivateTest_12304340.jpg", 252, (0.592, 0.63))


@pytest.fixture(scope="module")
def known_face(fer_weights: None) -> np.ndarray:
    """The first happy face of the sample (by file name) that the model reads as happy, with confidence, as a crop."""
    if not FER_SAMPLE.is_dir():
        pytest.skip(f"FER2013 sample not found at {FER_SAMPLE}")
    pytest.importorskip("facenet_pytorch")
    model = load_expression_model()
    for path in sorted((FER_SAMPLE / "happy").glob("*.jpg")):
        face = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        proba = model.predict(face[None], flip=True).proba[0]
        if proba.argmax() == 3 and proba.max() > 0.7:  # FER class 3 is happy
            return face
    pytest.fail("no happy face of the sample reads as happy")


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_a_known_face_at_several_scales_gets_the_same_reading(known_face: np.ndarray):
    model = load_expression_model()
    own = model.predict(known_face[None], flip=True).proba[0]
    for side, centre in zip(SIDES, CENTRES):
        frame, placed = place_face(known_face, side, centre)
        crops = frames_face_crops(frame[None], f"{side} px", "mtcnn+haar", margin=fer_margin("mtcnn+haar"))
        assert crops["detected"].all() and not crops["last_resort"].any(), f"{side} px: found only by the last resort"
        assert shared_detector("mtcnn+haar").confirm.face_probability(frame, [placed])[0] >= HAAR_CONFIRM
        box = square_crop_box(crops["boxes"][0], frame.shape, fer_margin("mtcnn+haar"))
        assert _iou(box, placed) > 0.75, f"{side} px: the crop {box} is not framed as the face {placed}"
        assert crops["grey48"].shape[1:] == known_face.shape  # read at FER2013's own 48 px, as the demo reads it
        proba = model.predict(crops["grey48"], flip=True).proba[0]
        assert proba.argmax() == own.argmax(), f"{side} px: read {proba.round(2)}, the crop itself {own.round(2)}"
        demo = ZeroShotFacePredictor("face", FACE_SETTINGS).predict(ClipMedia(frames=frame[None], label=f"{side} px"))
        assert ZeroShotFacePredictor("face", FACE_SETTINGS).labels[int(demo.argmax())] == "happy"


def test_the_fallback_detector_sees_no_face_in_a_landscape():
    pytest.importorskip("facenet_pytorch")
    assert FallbackFaceDetector().find(landscape(360, 640)) == ([], False)


def test_a_haar_box_counts_only_when_mtcnn_confirms_it():
    pytest.importorskip("facenet_pytorch")
    detector = FallbackFaceDetector()
    scene = landscape(240, 320)
    sun = (215, 2, 87, 87)  # the sun of the landscape, where Haar once saw a face in the demo's faceless clip
    assert detector.confirm.face_probability(scene, [sun])[0] < 0.05
    detector.tiers = [(_Finds([sun]), True)]
    assert detector.find(scene) == ([], False)


def test_the_last_resort_finds_a_face_the_other_tiers_miss_and_marks_it():
    pytest.importorskip("facenet_pytorch")
    name, side, centre = MISSED_BY_THE_TIERS
    if not (FER_SAMPLE / name).is_file():
        pytest.skip(f"FER2013 sample face {name} not found under {FER_SAMPLE}")
    frame, placed = place_face(cv2.imread(str(FER_SAMPLE / name), cv2.IMREAD_GRAYSCALE), side, centre)
    detector = FallbackFaceDetector()
    assert all(tier.detect(frame) == [] for tier, _ in detector.tiers)
    (box,), marked = find_faces_in_clip([frame], detector)
    assert marked.tolist() == [True]
    assert _iou(box, placed) > 0.4, f"the last resort's box {box} is not on the face {placed}"


class _Finds:
    """A stand-in detector that finds ``boxes`` in every frame."""

    def __init__(self, boxes: list[Box]) -> None:
        self.boxes = boxes

    def detect(self, frame_rgb: np.ndarray) -> list[Box]:
        return self.boxes


def test_only_a_face_the_last_resort_found_is_marked_and_it_counts_less():
    pytest.importorskip("facenet_pytorch")
    detector = FallbackFaceDetector()
    frames = np.zeros((2, 120, 160, 3), np.uint8)
    detector.tiers, detector.last_resort = [(_Finds([]), False)], _Finds([(10, 10, 50, 50)])
    crops = frames_face_crops(frames, "clip", detector, margin=0.0)
    assert crops["detected"].tolist() == [True, True] and crops["last_resort"].tolist() == [True, True]
    detector.tiers = [(_Finds([(20, 20, 60, 60)]), False)]
    assert find_faces_in_clip(frames, detector)[1].tolist() == [False, False]
    proba = np.array([[0.8, 0.2], [0.3, 0.7]])
    weights = np.array([0.8, 0.7 * LAST_RESORT_WEIGHT])
    np.testing.assert_allclose(
        pool_frames(proba, np.ones(2, bool), np.array([False, True])), weights @ proba / weights.sum()
    )


def test_place_face_keeps_the_face_inside_the_frame():
    face = np.arange(48 * 48, dtype=np.uint8).reshape(48, 48)
    frame, (x, y, side, _) = place_face(face, 100, (0.99, 0.01), frame_size=(200, 300))
    assert frame.shape == (200, 300, 3) and (x, y, side) == (200, 0, 100)
    assert (frame[:, :200] == 128).all()
    with pytest.raises(ValueError, match="does not fit"):
        place_face(face, 250, (0.5, 0.5), frame_size=(200, 300))


def test_frames_are_pooled_by_confidence_and_borrowed_boxes_do_not_count():
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.0, 1.0]])
    pooled = pool_frames(proba)
    weights = np.array([0.9, 0.6, 1.0])
    np.testing.assert_allclose(pooled, (weights[:, None] * proba).sum(0) / weights.sum())
    np.testing.assert_allclose(
        pool_frames(proba, np.array([True, True, False])),
        [0.9 * 0.9 + 0.6 * 0.4, 0.9 * 0.1 + 0.6 * 0.6] / np.float64(1.5),
    )
    np.testing.assert_allclose(pool_frames(proba, np.zeros(3, bool)), pooled)  # nothing detected: every frame counts


def test_flip_reads_the_face_and_its_mirror(fer_weights: None):
    model = load_expression_model()
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 255, size=(3, 48, 48), dtype=np.uint8)
    both = model.predict(faces, flip=True).proba
    mirrored = model.predict(faces[:, :, ::-1].copy()).proba
    np.testing.assert_allclose(both, (model.predict(faces).proba + mirrored) / 2, atol=1e-5)


def test_the_fer_sample_is_halved_per_class_with_a_fixed_seed(tmp_path: Path):
    for emotion in ("happy", "sad"):
        (tmp_path / emotion).mkdir()
        for i in range(5):
            cv2.imwrite(str(tmp_path / emotion / f"{i}.png"), np.zeros((48, 48), np.uint8))
    images = list_labelled_images(tmp_path)
    development, test = split_labelled_images(images)
    assert split_labelled_images(images) == (development, test)
    assert sorted(development + test) == sorted(images) and not set(development) & set(test)
    assert [sum(e == emotion for _, e in development) for emotion in ("happy", "sad")] == [2, 2]


@pytest.mark.shared_data
def test_mtcnn_loads_without_torchvision_and_finds_what_it_finds_with_it(shared_ravdess: Path):
    """The demo's cold start skips torchvision (and torch._dynamo behind it); the boxes must not change."""
    pytest.importorskip("facenet_pytorch")
    image = str(shared_ravdess / "actor-faces" / "Actor_01.png")
    detect = (
        "import cv2; from emo_utils.video.faces import MtcnnFaceDetector; "
        f"print(MtcnnFaceDetector().detect(cv2.cvtColor(cv2.imread({image!r}), cv2.COLOR_BGR2RGB))); "
        "print('torchvision' in sys.modules)"
    )
    runs = [
        subprocess.run([sys.executable, "-c", first + detect], capture_output=True, text=True, check=True)
        for first in ("import sys; ", "import sys, torchvision; ")
    ]
    (without, loaded), (with_it, _) = (run.stdout.strip().splitlines() for run in runs)
    assert loaded == "False" and without == with_it and without.startswith("[(")
