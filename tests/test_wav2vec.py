"""wav2vec 2.0 embeddings through the same from_pretrained path as real weights, on tiny random stand-ins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from emo_utils.audio import wav2vec
from emo_utils.audio.wav2vec import embed_batch, extract_wav2vec, pooled_path
from emo_utils.backbones import TINY_WAV2VEC, RandomWeightsWarning, create_stand_in, load_backbone
from emo_utils.errors import MissingWeightsError
from emo_utils.feature_store import load_features

SR = 16000
pytestmark = pytest.mark.filterwarnings("ignore::emo_utils.backbones.RandomWeightsWarning")


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_stand_in("wav2vec2", tmp_path_factory.mktemp("w2v") / "stand_in")


def sweep(seconds: float, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    y = np.sin(2 * np.pi * (150 + 100 * rng.random()) * t * (1 + 0.3 * t)) + 0.05 * rng.standard_normal(len(t))
    return (0.2 * y).astype(np.float32)


def write_clips(folder: Path, seconds: list[float]) -> list[tuple[str, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    tasks = []
    for i, duration in enumerate(seconds):
        path = folder / f"clip{i}.flac"
        sf.write(path, sweep(duration, i), SR)
        tasks.append((f"c{i}", str(path)))
    return tasks


def test_extract_shapes_pooling_skips_and_flags(stand_in: Path, tmp_path: Path) -> None:
    tasks = write_clips(tmp_path / "clips", [1.0, 4.0, 0.5, 2.0])  # 4 s > max_frames: centre-cropped
    tasks.insert(2, ("gone", str(tmp_path / "clips" / "gone.wav")))
    click = np.full(SR // 2, 1e-3, np.float32)
    click[: SR // 50] = 0.5  # 20 ms of sound, then 40 dB below it: trimmed to under 0.1 s
    sf.write(tmp_path / "clips" / "click.wav", click, SR)
    tasks.append(("click", str(tmp_path / "clips" / "click.wav")))
    out = tmp_path / "w2v.npz"
    with pytest.warns(RandomWeightsWarning):
        sequences, skipped = extract_wav2vec(tasks, out, str(stand_in), batch_size=3, progress=False)
    assert list(sequences.clip_ids) == ["c0", "c1", "c2", "c3"]
    assert sequences.X.shape == (4, 150, 32) and sequences.X.dtype == np.float16
    assert sequences.random_weights and sequences.meta["layer"] == -1 and sequences.meta["frame_rate_hz"] == 50.0
    reasons = dict(zip(skipped.to_frame()["clip"], skipped.to_frame()["reason"]))
    assert set(reasons) == {"gone", "click"}
    assert "gone.wav: file not found" in reasons["gone"] and "click.wav: less than 0.1 s of sound" in reasons["click"]
    valid = (np.abs(sequences.X.astype(np.float32)).sum(axis=2) > 0).sum(axis=1)
    assert valid[1] == 150 and 45 <= valid[0] <= 50 and 20 <= valid[2] <= 25  # 50 frames/s, trimmed by a frame
    pooled = load_features(pooled_path(out))
    assert list(pooled.clip_ids) == list(sequences.clip_ids) and pooled.X.shape == (4, 32)
    assert pooled.random_weights and np.isfinite(pooled.X).all()
    short = sequences.X[0, : valid[0]].astype(np.float32).mean(axis=0)
    np.testing.assert_allclose(pooled.X[0], short, atol=2e-3)  # mean over the real frames only
    assert not np.allclose(pooled.X[1], sequences.X[1].astype(np.float32).mean(axis=0), atol=1e-3)  # uncropped


def test_rerun_and_interrupted_run_compute_only_whats_missing(
    stand_in: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = write_clips(tmp_path / "clips", [0.6, 0.8, 1.0, 1.2, 1.4])
    out = tmp_path / "w2v.npz"
    embedded: list[int] = []
    real_embed = wav2vec.embed_batch

    def interrupted(backbone, waveforms, layer=-1, mixed_precision=True):  # noqa: ANN001, ANN202 - test double
        if embedded:
            raise KeyboardInterrupt
        embedded.append(len(waveforms))
        return real_embed(backbone, waveforms, layer, mixed_precision)

    monkeypatch.setattr(wav2vec, "embed_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        extract_wav2vec(tasks, out, str(stand_in), batch_size=2, shard_size=2, progress=False)
    assert embedded == [2] and not out.exists()

    def counting(backbone, waveforms, layer=-1, mixed_precision=True):  # noqa: ANN001, ANN202 - test double
        embedded.append(len(waveforms))
        return real_embed(backbone, waveforms, layer, mixed_precision)

    monkeypatch.setattr(wav2vec, "embed_batch", counting)
    embedded.clear()
    first, _ = extract_wav2vec(tasks, out, str(stand_in), batch_size=2, shard_size=2, progress=False)
    assert sum(embedded) == 3 and len(first) == 5  # the first shard (2 clips) was kept
    embedded.clear()
    again, _ = extract_wav2vec(tasks, out, str(stand_in), batch_size=2, shard_size=2, progress=False)
    out.unlink()
    resumed, _ = extract_wav2vec(tasks, out, str(stand_in), batch_size=2, shard_size=2, progress=False)
    assert embedded == [] and out.exists()
    np.testing.assert_array_equal(again.X, first.X)
    np.testing.assert_array_equal(resumed.X, first.X)
    other_layer, _ = extract_wav2vec(tasks, out, str(stand_in), layer=0, batch_size=2, progress=False)
    assert sum(embedded) == 5 and other_layer.meta["layer"] == 0  # other settings: computed afresh
    assert not np.allclose(other_layer.X.astype(np.float32), first.X.astype(np.float32))


def test_layers(stand_in: Path) -> None:
    backbone = load_backbone("wav2vec2", stand_in)
    y = sweep(1.0, 0)
    (last,) = embed_batch(backbone, [y])
    assert last.shape == (49, 32) and last.dtype == np.float32
    np.testing.assert_allclose(embed_batch(backbone, [y], layer=2)[0], last, atol=1e-5)  # 2 layers: -1 == 2
    assert not np.allclose(embed_batch(backbone, [y], layer=0)[0], last)
    with pytest.raises(ValueError, match="has 3 hidden states"):
        embed_batch(backbone, [y], layer=3)


def test_batches_match_single_clips_when_the_model_takes_a_mask(tmp_path: Path) -> None:
    """A layer-norm model whose extractor asks for an attention mask gets one: padding changes nothing."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(0)
    config = Wav2Vec2Config(
        **TINY_WAV2VEC,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
    )
    Wav2Vec2Model(config).save_pretrained(tmp_path / "masked")
    Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(tmp_path / "masked")
    backbone = load_backbone("wav2vec2", tmp_path / "masked")
    short, long = sweep(0.7, 1), sweep(1.5, 2)
    batched = embed_batch(backbone, [short, long])
    assert [len(b) for b in batched] == [34, 74]
    np.testing.assert_allclose(batched[0], embed_batch(backbone, [short])[0], atol=1e-4)
    np.testing.assert_allclose(batched[1], embed_batch(backbone, [long])[0], atol=1e-4)


def test_missing_weights_fail_fast_with_how_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tasks = write_clips(tmp_path / "clips", [0.5])
    with pytest.raises(MissingWeightsError, match="from_pretrained") as err:
        extract_wav2vec(tasks, tmp_path / "w2v.npz", "emo-fusion-tests/no-such-wav2vec2", progress=False)
    assert "no-such-wav2vec2" in str(err.value) and "unless --no-stand-ins" in str(err.value)
    assert not (tmp_path / "w2v.npz").exists()


@pytest.mark.shared_data
def test_real_clips(shared_ravdess: Path, stand_in: Path, tmp_path: Path) -> None:
    paths = sorted((shared_ravdess / "speech-16k" / "Actor_03").glob("*.flac"))[::10][:6]
    sequences, skipped = extract_wav2vec(
        [(p.stem, str(p)) for p in paths], tmp_path / "w2v.npz", str(stand_in), progress=False
    )
    assert len(skipped) == 0 and sequences.X.shape == (6, 150, 32)
    assert np.isfinite(sequences.X.astype(np.float32)).all()
    valid = (np.abs(sequences.X.astype(np.float32)).sum(axis=2) > 0).sum(axis=1)
    assert valid.min() > 50  # over a second of trimmed speech per clip
    assert np.isfinite(load_features(pooled_path(tmp_path / "w2v.npz")).X).all()


@pytest.mark.parametrize("family", ["hubert", "wavlm"])
def test_other_wav2vec_family_models_load_through_automodel(family: str, tmp_path: Path) -> None:
    from transformers import AutoConfig, AutoModel, Wav2Vec2FeatureExtractor

    config = AutoConfig.for_model(
        family,
        **TINY_WAV2VEC,
    )
    AutoModel.from_config(config).save_pretrained(tmp_path / family)
    Wav2Vec2FeatureExtractor().save_pretrained(tmp_path / family)
    backbone = load_backbone("wav2vec2", tmp_path / family)
    assert backbone.model.config.model_type == family and not backbone.random_weights
    assert embed_batch(backbone, [sweep(1.0, 0)])[0].shape == (49, 32)
