"""The robustness curve on a tiny trained run: seeded noise, held-out fold models, fusion, skipped clips."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from emo_utils.analysis.robustness import balanced_clips, noisy_waveform, plot_robustness, robustness_curve
from emo_utils.artifacts import load_branch
from emo_utils.branches import BRANCHES
from emo_utils.clip_media import ClipMedia
from emo_utils.errors import DataError
from emo_utils.evaluate import metrics_from_table
from emo_utils.fusion import FusionConfig, load_fusion_config, save_fusion_config, weighted_average
from emo_utils.inference import BranchPredictor
from emo_utils.labels import PROBA_COLUMNS
from emo_utils.train import predict_proba

pytestmark = pytest.mark.slow

matplotlib.use("Agg")

BRANCH_NAMES = ("audio_mfcc_cnn", "face_au")


@pytest.fixture(scope="module")
def robustness_run(tiny_run: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared tiny run's audio MFCC and face AU branches, with a fusion config that weights both (the
    config the workflow learns from so tiny a run may zero a branch)."""
    run = tmp_path_factory.mktemp("robustness") / "run"
    shutil.copytree(
        tiny_run[0],
        run,
        ignore=shutil.ignore_patterns(
            "features", "demo_data", *(name for name in BRANCHES if name not in BRANCH_NAMES)
        ),
    )
    save_fusion_config(FusionConfig(list(BRANCH_NAMES), [0.6, 0.4]), run / "fusion" / "fusion_config.json")
    return run


def test_noisy_waveform_is_seeded_per_clip_and_level_at_the_exact_snr() -> None:
    y = (0.3 * np.sin(np.linspace(0, 400, 16000))).astype(np.float32)
    noisy = noisy_waveform(y, 10.0, "clip_a")
    np.testing.assert_array_equal(noisy, noisy_waveform(y, 10.0, "clip_a"))
    assert not np.allclose(noisy, noisy_waveform(y, 10.0, "clip_b"))
    snr = 10 * np.log10(np.mean(y.astype(np.float64) ** 2) / np.mean((noisy - y).astype(np.float64) ** 2))
    assert snr == pytest.approx(10.0, abs=0.01)
    assert noisy_waveform(y, None, "clip_a") is y


def test_balanced_clips_spread_over_actors_and_emotions(robustness_run: Path) -> None:
    manifest = pd.read_csv(robustness_run / "manifest.csv", dtype=str, keep_default_na=False)
    chosen = balanced_clips(manifest, 12)
    assert chosen["actor"].value_counts().tolist() == [2] * 6
    assert sorted(chosen["emotion"].value_counts().tolist()) == [1, 1, 1, 1, 2, 2, 2, 2]
    assert len(balanced_clips(manifest, 48).drop_duplicates(["actor", "emotion"])) == 48
    assert balanced_clips(manifest, None) is manifest


def test_each_clip_is_scored_by_the_fold_model_that_held_its_actor_out(robustness_run: Path) -> None:
    result = robustness_curve(robustness_run, snr_levels=(None, 0.0), max_clips=12, progress=False)
    curve = result.curve.set_index(["snr", "model"])
    models = ["audio_mfcc_cnn", "fused", "fused without audio"]
    assert sorted(curve.index) == [(snr, m) for snr in ("0 dB", "clean") for m in models]
    assert (curve["n_clips"] == 12).all() and curve["accuracy"].between(0, 1).all()
    assert not curve["random_weights"].any() and len(result.skipped) == 0
    audio = result.predictions[result.predictions["model"] == "audio_mfcc_cnn"]
    clean = audio[audio["snr"] == "clean"]
    assert clean["actor"].value_counts().tolist() == [2] * 6  # balanced over actors

    manifest = pd.read_csv(robustness_run / "manifest.csv", dtype=str, keep_default_na=False).set_index("take_id")
    predictor = BranchPredictor(load_branch(robustness_run, "audio_mfcc_cnn"))
    for _, row in clean.head(4).iterrows():
        model = predictor.held_out_model(row["actor"])
        assert row["actor"] in model.test_actors
        x = predictor.clip_input(ClipMedia(audio=manifest.loc[row["clip_id"], "audio_path"]))
        expected = predict_proba(model.model, x, model.scaler)[0]
        np.testing.assert_allclose(row[list(PROBA_COLUMNS)].to_numpy(float), expected, atol=1e-5)
        assert not np.allclose(expected, predictor.predict_inputs(x)[0], atol=1e-5)  # not the fold ensemble
    noisy = audio[audio["snr"] == "0 dB"]
    assert not np.allclose(clean[list(PROBA_COLUMNS)].to_numpy(float), noisy[list(PROBA_COLUMNS)].to_numpy(float))
    with pytest.raises(DataError, match="held out actor nobody"):
        predictor.held_out_model("nobody")


def test_fused_curve_is_late_fusion_of_noisy_audio_with_the_unchanged_face_probabilities(robustness_run: Path) -> None:
    result = robustness_curve(robustness_run, snr_levels=(None, 5.0), max_clips=8, progress=False)
    config = load_fusion_config(robustness_run / "fusion" / "fusion_config.json")
    assert (
        result.fusion_weights == {"audio_mfcc_cnn": 0.6, "face_au": 0.4} == dict(zip(config.branches, config.weights))
    )
    face = load_branch(robustness_run, "face_au").oof.set_index("clip_id")
    for _snr, level in result.predictions.groupby("snr"):
        audio = level[level["model"] == "audio_mfcc_cnn"].set_index("clip_id")
        fused = level[level["model"] == "fused"].set_index("clip_id").loc[audio.index]
        P = np.stack(
            [audio[list(PROBA_COLUMNS)].to_numpy(float), face.loc[audio.index, list(PROBA_COLUMNS)].to_numpy(float)]
        )
        expected = weighted_average(P, np.array([config.weight_of("audio_mfcc_cnn"), config.weight_of("face_au")]))
        np.testing.assert_allclose(fused[list(PROBA_COLUMNS)].to_numpy(float), expected, atol=1e-9)
    reference = result.curve[result.curve["model"] == "fused without audio"]
    face_only = metrics_from_table(face.loc[audio.index].reset_index())["accuracy"]
    assert reference["accuracy"].tolist() == [face_only, face_only]  # the face alone, unaffected by noise
    fig = plot_robustness(result.curve, "test")
    assert len(fig.axes[0].lines) == 4  # three models + chance
    plt.close(fig)


def test_an_unreadable_clip_is_skipped_and_reported_not_fatal(robustness_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(robustness_run, run, ignore=shutil.ignore_patterns("features"))
    manifest = pd.read_csv(run / "manifest.csv", dtype=str, keep_default_na=False)
    broken = tmp_path / "03-01-01-01-01-01-01.wav"
    broken.write_bytes(b"RIFF\x00\x10\x00\x00WAVEjunk")
    manifest.loc[0, "audio_path"] = str(broken)
    manifest.to_csv(run / "manifest.csv", index=False)
    result = robustness_curve(run, snr_levels=(None,), progress=False)
    assert len(result.skipped) == 1 and result.skipped.rows[0]["clip"] == manifest.loc[0, "take_id"]
    assert str(broken) in result.skipped.rows[0]["reason"]
    assert set(result.curve["n_clips"]) == {len(manifest) - 1}


def test_a_run_without_audio_branch_is_refused_with_a_hint(robustness_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(robustness_run, run, ignore=shutil.ignore_patterns("features", "audio_mfcc_cnn"))
    with pytest.raises(DataError, match="no trained audio branch"):
        robustness_curve(run, progress=False)
