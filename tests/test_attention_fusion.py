"""Cross-modal attention fusion on synthetic data: it learns what only the two modalities together tell, with
actors held out, and padding frames change nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emo_utils.attention_fusion import CrossModalAttention, pack_modalities
from emo_utils.data.folds import assign_actor_folds
from emo_utils.evaluate import metrics_from_table
from emo_utils.feature_store import FeatureSet
from emo_utils.train import TrainConfig, cross_validate

N_AUDIO, N_FACE, T = 6, 4, 12


def _xor_corpus(n_actors: int = 12, per_actor: int = 24, seed: int = 0):
    """The label is a XOR b: ``a`` is a tone in the audio frames, ``b`` a shift of the face vector. Each modality
    alone says nothing about the label (chance is 1/2); only the two together do. Clips have 8-12 real frames."""
    rng = np.random.default_rng(seed)
    n = n_actors * per_actor
    a, b = rng.integers(0, 2, n), rng.integers(0, 2, n)
    audio = rng.normal(size=(n, T, N_AUDIO)).astype(np.float32)
    audio[:, :, 0] += 3.0 * a[:, None]
    lengths = rng.integers(8, T + 1, n)
    audio[np.arange(T)[None, :] >= lengths[:, None]] = 0.0
    face = rng.normal(size=(n, N_FACE)).astype(np.float32)
    face[:, 0] += 3.0 * b
    ids = [f"c{i:03d}" for i in range(n)]
    actors = np.repeat([f"{k:02d}" for k in range(n_actors)], per_actor)
    genders = np.where(np.repeat(np.arange(n_actors) % 2, per_actor) == 0, "male", "female")
    return FeatureSet(ids, audio), FeatureSet(ids, face), a ^ b, actors, genders


def test_packing_repeats_the_face_vector_on_real_frames_only() -> None:
    audio, face, *_ = _xor_corpus()
    packed = pack_modalities(audio, face.subset(face.clip_ids[::-1][:50]))  # another order, fewer clips
    assert len(packed) == 50 and packed.X.shape[1:] == (T, N_AUDIO + N_FACE) and packed.meta["n_audio"] == N_AUDIO
    row = packed.X[0]
    real = np.abs(row[:, :N_AUDIO]).sum(axis=1) > 0
    np.testing.assert_array_equal(row[real, N_AUDIO:], np.repeat(face.subset(packed.clip_ids[:1]).X, real.sum(), 0))
    assert (row[~real] == 0).all()
    with pytest.raises(ValueError, match="share no clip"):
        pack_modalities(audio, FeatureSet(["other"], np.ones((1, N_FACE))))


def test_padding_frames_do_not_change_the_prediction() -> None:
    torch.manual_seed(0)
    model = CrossModalAttention((T, N_AUDIO + N_FACE), N_AUDIO, d_model=16, heads=2, n_classes=2).eval()
    x = torch.randn(3, 8, N_AUDIO + N_FACE)
    padded = torch.cat([x, torch.zeros(3, 5, N_AUDIO + N_FACE)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(padded))


def test_attention_fusion_learns_what_only_both_modalities_tell_with_actors_held_out() -> None:
    audio, face, y, actors, genders = _xor_corpus()
    folds = assign_actor_folds(actors, genders, 3)
    config = TrainConfig(
        "cross_attention",
        {"n_audio": N_AUDIO, "d_model": 16, "heads": 2, "dropout": 0.1},
        epochs=60,
        patience=60,
        lr=3e-3,
    )
    result = cross_validate(
        pack_modalities(audio, face), y, actors, genders, folds, config, progress=False, label_names=("no", "yes")
    )
    assert metrics_from_table(result.oof)["accuracy"] > 0.8  # each modality alone is at chance (0.5)


def test_per_frame_face_features_spread_over_the_real_audio_frames_and_augmented_copies_travel() -> None:
    audio, _, *_ = _xor_corpus()
    audio.X_aug = np.stack([audio.X, 2 * audio.X], axis=1)
    frames = FeatureSet(audio.clip_ids, np.arange(len(audio) * 4 * 2, dtype=np.float32).reshape(len(audio), 4, 2) + 1)
    packed = pack_modalities(audio, frames)
    row, real = packed.X[0], np.abs(packed.X[0, :, :N_AUDIO]).sum(axis=1) > 0
    seen = row[real, N_AUDIO:]
    assert [tuple(v) for v in dict.fromkeys(map(tuple, seen))] == [tuple(v) for v in frames.X[0]]  # each, in order
    assert (row[~real] == 0).all()
    assert packed.X_aug.shape == (len(audio), 2, T, N_AUDIO + 2)
    np.testing.assert_array_equal(packed.X_aug[:, 1, :, :N_AUDIO], 2 * packed.X[:, :, :N_AUDIO])
    np.testing.assert_array_equal(packed.X_aug[:, 1, :, N_AUDIO:], packed.X[:, :, N_AUDIO:])


def test_the_stage_reads_an_audio_sequence_and_a_face_branch() -> None:
    from emo_utils.intermediate_fusion import attention_inputs

    assert attention_inputs({"audio_compare": 1, "audio_mfcc_cnn": 1, "face_au": 1, "video_fer": 1}) == (
        "audio_mfcc_cnn",
        "face_au",
    )
    assert attention_inputs({"audio_mfcc_cnn": 1, "video_fer": 1}) == ("audio_mfcc_cnn", "video_fer")
    assert attention_inputs({"audio_compare": 1, "face_au": 1}) is None  # functionals are not frames
