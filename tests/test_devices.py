"""Device choice (CPU by default, CUDA when asked or available) and memory-bounded extraction batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from emo_utils.audio.wav2vec import extract_wav2vec, length_batches
from emo_utils.backbones import create_stand_in, load_backbone
from emo_utils.devices import DeviceError, inference_precision, precision_name, resolve_device

pytestmark = pytest.mark.filterwarnings("ignore::emo_utils.backbones.RandomWeightsWarning")


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_auto_is_the_cpu_without_a_gpu_and_cuda_is_a_clear_error(no_gpu: None) -> None:
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(DeviceError, match="sees no CUDA GPU.*--device cpu"):
        resolve_device("cuda")
    with pytest.raises(DeviceError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
    with pytest.raises(DeviceError, match="not supported"):
        resolve_device("meta")


def test_cpu_inference_stays_float32_without_autocast() -> None:
    cpu = torch.device("cpu")
    assert precision_name(cpu) == "float32"
    layer = torch.nn.Linear(4, 2)
    with inference_precision(cpu):
        out = layer(torch.ones(1, 4))
        assert torch.is_inference_mode_enabled() and not torch.is_autocast_enabled("cpu")
    assert out.dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_inference_runs_in_mixed_precision() -> None:
    cuda = resolve_device("cuda")
    assert precision_name(cuda) in ("bfloat16", "float16") and precision_name(cuda, mixed_precision=False) == "float32"
    with inference_precision(cuda):
        out = torch.nn.Linear(4, 2).to(cuda)(torch.ones(1, 4, device=cuda))
    assert out.dtype in (torch.bfloat16, torch.float16)


def test_length_batches_bound_clip_count_and_padded_samples() -> None:
    lengths = [10, 10, 20, 30, 30, 100]
    assert length_batches(lengths, batch_size=4) == [[0, 1, 2, 3], [4, 5]]
    assert length_batches(lengths, batch_size=4, max_samples=60) == [[0, 1, 2], [3, 4], [5]]
    for batch in length_batches(lengths, batch_size=8, max_samples=60):
        assert len(batch) == 1 or max(lengths[i] for i in batch) * len(batch) <= 60
    assert length_batches([], batch_size=4) == []


def test_extraction_takes_a_device(tmp_path: Path, no_gpu: None) -> None:
    import soundfile as sf

    stand_in = create_stand_in("wav2vec2", tmp_path / "w2v")
    assert load_backbone("wav2vec2", stand_in, device="auto").device == torch.device("cpu")
    rng = np.random.default_rng(0)
    tasks = []
    for i, seconds in enumerate([0.5, 1.0, 1.5]):
        sf.write(tmp_path / f"c{i}.wav", (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32), 16000)
        tasks.append((f"c{i}", str(tmp_path / f"c{i}.wav")))
    bounded, _ = extract_wav2vec(
        tasks, tmp_path / "a.npz", stand_in, progress=False, device="cpu", max_batch_seconds=1.0, top_db=None
    )
    whole, _ = extract_wav2vec(tasks, tmp_path / "b.npz", stand_in, progress=False, top_db=None)
    assert bounded.meta["precision"] == whole.meta["precision"] == "float32"
    assert bounded.X.shape == whole.X.shape == (3, 150, 32)
    np.testing.assert_allclose(bounded.X[2].astype(np.float32), whole.X[2].astype(np.float32), atol=1e-2)
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        extract_wav2vec(tasks, tmp_path / "c.npz", stand_in, progress=False, device="cuda")


def _separable(n_per_class: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.tile(np.arange(8), n_per_class)
    X = rng.normal(size=(len(y), 10)).astype(np.float32)
    X[np.arange(len(y)), y] += 4.0
    actors = np.repeat([f"{i:02d}" for i in range(1, 9)], len(y) // 8)
    genders = np.where(actors.astype(int) % 2 == 1, "male", "female")
    return X, y, actors, genders


def test_training_takes_a_device_and_returns_a_cpu_model() -> None:
    from emo_utils.train import Standardizer, TrainConfig, fit_model, predict_proba

    X, y, _, _ = _separable()
    config = TrainConfig("mlp", {"hidden": (16,)}, epochs=5)
    scaler = Standardizer.fit(X)
    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    for device in devices:
        model, curve = fit_model(X, y, X, y, config, scaler, device=device)
        assert next(model.parameters()).device == torch.device("cpu") and len(curve) == 5
        assert predict_proba(model, X, scaler).shape == (len(y), 8)


def test_workflow_and_demo_refuse_cuda_without_a_gpu(no_gpu: None, tmp_path: Path, capsys) -> None:
    from emo_utils.cli import main

    assert main(["workflow", "--out", str(tmp_path / "run"), "--device", "cuda", "--quiet"]) == 2
    assert "sees no CUDA GPU" in capsys.readouterr().err
    video = tmp_path / "missing.mp4"
    video.write_bytes(b"")
    assert main(["demo", "--video", str(video), "--device", "cuda"]) == 2
    assert "sees no CUDA GPU" in capsys.readouterr().err
