"""Frame sampling, face detection, nearest-frame fallback, face crops and their extraction over many clips."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from emo_utils.errors import DataError, MissingModalityError
from emo_utils.feature_store import load_features
from emo_utils.media import write_video
from emo_utils.video import faces
from emo_utils.video.assemble import make_bad_clips
from emo_utils.video.faces import (
    BORROWED_COLOUR,
    DETECTED_COLOUR,
    GREY_FILE,
    RGB_FILE,
    HaarFaceDetector,
    clip_face_crops,
    crop_faces,
    draw_boxes,
    extract_face_crops,
    fill_missing_boxes,
    make_detector,
    square_crop_box,
)
from emo_utils.video.frames import frame_indices, sample_frames

cv2.setNumThreads(1)
N_LEVEL_FRAMES = 40
BLANKED = (0, 1, 5, 6, 7, 11)  # frames of the face clip showing no face


def _level(index: int) -> int:
    return 20 + 5 * index


@pytest.fixture(scope="module")
def level_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 flat grey frames whose grey level encodes the frame index."""
    frames = np.stack([np.full((48, 64, 3), _level(i), dtype=np.uint8) for i in range(N_LEVEL_FRAMES)])
    return write_video(tmp_path_factory.mktemp("frames") / "levels.mp4", frames, fps=10)


@pytest.fixture(scope="module")
def face_image(shared_ravdess: Path) -> np.ndarray:
    """A real RAVDESS frame (actor 01), RGB."""
    return cv2.cvtColor(cv2.imread(str(shared_ravdess / "actor-faces" / "Actor_01.png")), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory: pytest.TempPathFactory, face_image: np.ndarray) -> Path:
    """12 frames of a real face, with the frames in BLANKED replaced by an empty white wall."""
    frames = np.repeat(face_image[None], 12, axis=0)
    frames[list(BLANKED)] = 255
    return write_video(tmp_path_factory.mktemp("faces") / "01-01-03-01-01-01-01.mp4", frames, fps=15)


@pytest.fixture(scope="module")
def bad_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_bad_clips(tmp_path_factory.mktemp("bad"))


def test_frame_indices_are_evenly_spaced_and_repeat_when_short():
    assert frame_indices(40, 4).tolist() == [5, 15, 25, 35]
    assert frame_indices(12, 12).tolist() == list(range(12))
    assert frame_indices(3, 6).tolist() == [0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError):
        frame_indices(0, 22)


def test_sample_frames_count_order_and_shape(level_clip: Path):
    frames = sample_frames(level_clip, n_frames=22)
    assert frames.shape == (22, 48, 64, 3) and frames.dtype == np.uint8
    expected = [_level(i) for i in frame_indices(N_LEVEL_FRAMES, 22)]
    np.testing.assert_allclose(frames.mean(axis=(1, 2, 3)), expected, atol=3)
    assert sample_frames(level_clip, n_frames=32).shape[0] == 32


@pytest.mark.parametrize("wrong_count", [lambda n: n + 15, lambda n: n - 15, lambda n: 0])
def test_sample_frames_survives_a_wrong_header_frame_count(
    level_clip: Path, monkeypatch: pytest.MonkeyPatch, wrong_count
):
    truth = sample_frames(level_clip, n_frames=22)

    real_capture = cv2.VideoCapture

    class LyingCapture:
        """cv2.VideoCapture with a wrong CAP_PROP_FRAME_COUNT (wraps it: subclassing it crashes at exit)."""

        def __init__(self, path: str) -> None:
            self.capture = real_capture(path)

        def get(self, prop: int) -> float:
            value = self.capture.get(prop)
            return float(wrong_count(value)) if prop == cv2.CAP_PROP_FRAME_COUNT else value

        def __getattr__(self, name: str):
            return getattr(self.capture, name)

    monkeypatch.setattr(cv2, "VideoCapture", LyingCapture)
    np.testing.assert_array_equal(sample_frames(level_clip, n_frames=22), truth)


def test_unreadable_empty_and_missing_files_raise_data_error_naming_the_file(
    bad_clips: dict[str, Path], tmp_path: Path
):
    for path, problem in [
        (bad_clips["unreadable"], "cannot be read"),
        (bad_clips["empty"], "empty"),
        (tmp_path / "nowhere.mp4", "not found"),
    ]:
        with pytest.raises(DataError, match=problem) as err:
            sample_frames(path)
        assert str(path) in str(err.value)


def test_audio_only_file_raises_data_error_no_video_stream(shared_ravdess: Path):
    flac = shared_ravdess / "speech-16k" / "Actor_01" / "03-01-01-01-01-01-01.flac"
    with pytest.raises(DataError, match="no video stream") as err:
        sample_frames(flac)
    assert str(flac) in str(err.value)


def test_haar_finds_the_face_on_every_real_actor_frame(shared_ravdess: Path):
    detector = HaarFaceDetector()
    pngs = sorted((shared_ravdess / "actor-faces").glob("Actor_*.png"))
    assert len(pngs) == 24
    found = {}
    for png in pngs:
        image = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB)
        boxes = detector.detect(image)
        if boxes:
            x, y, w, h = max(boxes, key=lambda b: b[2] * b[3])
            found[png.stem] = (x + w / 2) / image.shape[1], h / image.shape[0]
    assert len(found) == 24, f"missed: {sorted({p.stem for p in pngs} - set(found))}"  # measured: 24 of 24
    for name, (centre_x, height) in found.items():
        assert 0.3 < centre_x < 0.7 and 0.3 < height < 0.8, name


def test_fill_missing_boxes_borrows_from_the_nearest_frame_earlier_on_ties():
    a, b = (10, 10, 40, 40), (20, 12, 44, 44)
    boxes, detected = fill_missing_boxes([None, a, None, None, b, None], "clip.mp4")
    assert detected.tolist() == [False, True, False, False, True, False]
    assert [tuple(r) for r in boxes] == [a, a, a, b, b, b]
    boxes, _ = fill_missing_boxes([a, None, b], "clip.mp4")
    assert tuple(boxes[1]) == a
    with pytest.raises(MissingModalityError, match="no face found in any of the 3 sampled frames"):
        fill_missing_boxes([None, None, None], "clip.mp4")


def test_clip_borrows_boxes_for_frames_without_a_face(face_clip: Path):
    crops = clip_face_crops(face_clip, n_frames=12)
    detected, boxes = crops["detected"], crops["boxes"]
    assert np.flatnonzero(~detected).tolist() == list(BLANKED)
    for frame, source in {0: 2, 1: 2, 5: 4, 6: 4, 7: 8, 11: 10}.items():
        np.testing.assert_array_equal(boxes[frame], boxes[source])


def test_crop_shapes_dtypes_and_content(face_clip: Path):
    crops = clip_face_crops(face_clip, n_frames=6, rgb_size=64)
    assert crops["grey48"].shape == (6, 48, 48) and crops["grey48"].dtype == np.uint8
    assert crops["rgb"].shape == (6, 64, 64, 3) and crops["rgb"].dtype == np.uint8
    assert crops["boxes"].shape == (6, 4) and np.issubdtype(crops["boxes"].dtype, np.integer)
    assert crops["detected"].shape == (6,) and crops["detected"].dtype == bool
    face_rows = crops["detected"]
    assert crops["grey48"][face_rows].mean() < 200  # a face, not the white wall


def test_square_crop_box_adds_margin_and_stays_inside_the_image():
    assert square_crop_box((100, 50, 40, 50), (200, 300), margin=0.1) == (90, 45, 60, 60)
    assert square_crop_box((0, 0, 40, 40), (200, 300), margin=0.25) == (0, 0, 60, 60)
    assert square_crop_box((250, 150, 50, 50), (200, 300), margin=0.5) == (200, 100, 100, 100)
    assert square_crop_box((10, 10, 180, 180), (200, 300), margin=0.2) == (0, 0, 200, 200)


def test_crop_faces_resizes_the_boxed_region():
    frame = np.zeros((100, 100, 3), dtype=np.uint8)
    frame[20:80, 20:80] = (200, 100, 50)
    grey, rgb = crop_faces(frame[None], np.array([[25, 25, 50, 50]]), rgb_size=32)
    assert grey.shape == (1, 48, 48) and rgb.shape == (1, 32, 32, 3)
    assert tuple(rgb[0, 16, 16]) == (200, 100, 50)
    assert grey[0, 24, 24] == cv2.cvtColor(frame[50:51, 50:51], cv2.COLOR_RGB2GRAY)[0, 0]


def test_no_face_clip_raises_missing_modality_naming_the_file(bad_clips: dict[str, Path]):
    with pytest.raises(MissingModalityError, match="no face found in any of the 22 sampled frames") as err:
        clip_face_crops(bad_clips["no_face"])
    assert str(bad_clips["no_face"]) in str(err.value)


def test_draw_boxes_colours_detected_and_borrowed_boxes():
    frames = np.zeros((2, 60, 60, 3), dtype=np.uint8)
    drawn = draw_boxes(frames, np.array([[10, 10, 30, 30]] * 2), np.array([True, False]))
    assert tuple(drawn[0, 10, 20]) == DETECTED_COLOUR
    assert tuple(drawn[1, 10, 20]) == BORROWED_COLOUR
    assert not frames.any()  # the input is left untouched


def test_make_detector_names():
    assert isinstance(make_detector("haar"), HaarFaceDetector)
    with pytest.raises(ValueError, match="haar"):
        make_detector("dlib")


def test_auto_detector_is_mtcnn_where_installed_else_haar(monkeypatch: pytest.MonkeyPatch):
    installed = importlib.util.find_spec("facenet_pytorch") is not None
    assert faces.default_detector() == ("mtcnn" if installed else "haar")
    assert faces.resolve_detector_name("auto") == faces.default_detector()
    assert faces.resolve_detector_name("haar") == "haar"
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "facenet_pytorch" else real_find_spec(name, *a)
    )
    assert faces.default_detector() == "haar"
    assert isinstance(make_detector("auto"), HaarFaceDetector)


@pytest.mark.skipif(importlib.util.find_spec("facenet_pytorch") is None, reason="facenet-pytorch is not installed")
def test_mtcnn_is_the_default_and_finds_the_real_face(face_image: np.ndarray, face_clip: Path, tmp_path: Path):
    assert isinstance(make_detector(), faces.MtcnnFaceDetector)
    ((x, y, w, h),) = make_detector("mtcnn").detect(face_image)
    assert 0.3 < (x + w / 2) / face_image.shape[1] < 0.7 and 0.3 < h / face_image.shape[0] < 0.8
    big = cv2.resize(face_image, None, fx=4, fy=4)  # shrunk to 640 px for detection, box scaled back
    ((bx, by, bw, bh),) = make_detector("mtcnn").detect(big)
    np.testing.assert_allclose([bx, by, bw, bh], [4 * x, 4 * y, 4 * w, 4 * h], atol=0.1 * 4 * h)
    crops = clip_face_crops(face_clip, n_frames=12)  # the default detector, through the clip path
    assert np.flatnonzero(~crops["detected"]).tolist() == list(BLANKED)
    grey, _, _ = extract_face_crops([("a", str(face_clip))], tmp_path, n_frames=4, n_jobs=1, progress=False)
    assert grey.meta["detector"] == "mtcnn"  # "auto" is recorded as the detector it stands for
    assert (tmp_path / "cache" / f"face-crops-mtcnn-4f-{faces.RGB_SIZE}px").is_dir()


@pytest.mark.skipif(importlib.util.find_spec("facenet_pytorch") is not None, reason="facenet-pytorch is installed")
def test_mtcnn_without_facenet_pytorch_gives_the_install_hint():
    with pytest.raises(ImportError, match="pip install --no-deps facenet-pytorch"):
        make_detector("mtcnn")


def test_extract_face_crops_keeps_good_clips_and_logs_each_bad_one(
    face_clip: Path, bad_clips: dict[str, Path], tmp_path: Path
):
    bad = {
        "no_face": bad_clips["no_face"],
        "unreadable": bad_clips["unreadable"],
        "empty": bad_clips["empty"],
        "missing": tmp_path / "missing.mp4",
    }
    tasks = [("good_a", str(face_clip)), *[(k, str(p)) for k, p in bad.items()], ("good_b", str(face_clip))]
    grey, rgb, skipped = extract_face_crops(
        tasks, tmp_path / "out", n_frames=6, detector="haar", n_jobs=2, progress=False
    )
    assert grey.clip_ids.tolist() == rgb.clip_ids.tolist() == ["good_a", "good_b"]
    assert grey.X.shape == (2, 6, 48, 48) and rgb.X.shape == (2, 6, faces.RGB_SIZE, faces.RGB_SIZE, 3)
    assert grey.meta["detector"] == "haar" and grey.meta["n_frames"] == 6
    expected_fraction = clip_face_crops(face_clip, n_frames=6, detector="haar")["detected"].mean()
    assert grey.meta["detected_fraction"] == pytest.approx(expected_fraction)
    reasons = {row["clip"]: row["reason"] for row in skipped.rows}
    assert set(reasons) == set(bad)
    for clip, path in bad.items():
        assert str(path) in reasons[clip]
    assert "no face found" in reasons["no_face"]
    saved = load_features(tmp_path / "out" / GREY_FILE)
    np.testing.assert_array_equal(saved.X, grey.X)
    assert load_features(tmp_path / "out" / RGB_FILE).meta["size"] == faces.RGB_SIZE
