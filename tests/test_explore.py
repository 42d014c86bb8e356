"""Exploration helpers of notebooks 01-04: tables, durations, spectrograms, feature curves, projections, grids."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402

from emo_utils.analysis import explore  # noqa: E402
from emo_utils.audio.io import load_audio  # noqa: E402
from emo_utils.data.folds import assign_actor_folds  # noqa: E402
from emo_utils.errors import DataError  # noqa: E402
from emo_utils.labels import EMOTIONS  # noqa: E402
from emo_utils.media import write_video  # noqa: E402
from emo_utils.video.openface import AU_INTENSITY  # noqa: E402

SR = 16000


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _manifest(n_actors: int = 6, emotions: tuple[str, ...] = EMOTIONS, takes: int = 2) -> pd.DataFrame:
    rows = [
        {
            "take_id": f"{a:02d}-{e}-{t}",
            "actor": f"ravdess_{a:02d}",
            "gender": "male" if a % 2 else "female",
            "emotion": e,
            "video_path": "",
        }
        for a in range(1, n_actors + 1)
        for e in emotions
        for t in range(takes)
    ]
    manifest = pd.DataFrame(rows)
    manifest["fold"] = assign_actor_folds(manifest["actor"], manifest["gender"], min(3, n_actors))
    return manifest


def test_actor_and_fold_tables_count_actors_genders_and_takes():
    manifest = _manifest()
    actors = explore.actor_table(manifest)
    assert list(actors.index) == [f"ravdess_{a:02d}" for a in range(1, 7)]
    assert (actors["takes"] == 16).all() and actors.loc["ravdess_01", "gender"] == "male"
    folds = explore.fold_table(manifest)
    assert list(folds.index) == [0, 1, 2]
    assert (folds["male"] == 1).all() and (folds["female"] == 1).all() and folds["takes"].sum() == len(manifest)
    listed = [a for cell in folds["test actors"] for a in cell.split(", ")]
    assert sorted(listed) == sorted(actors.index)  # every actor in exactly one fold


def test_class_balance_plots_emotions_in_label_order_and_every_actor():
    manifest = _manifest(emotions=("sad", "neutral", "angry"))
    fig = explore.plot_class_balance(manifest)
    ax_emotion, ax_actor = fig.axes
    assert [t.get_text() for t in ax_emotion.get_xticklabels()] == ["neutral", "sad", "angry"]
    assert sum(p.get_height() for p in ax_emotion.patches) == len(manifest)
    assert len(ax_actor.patches) == 6 and {p.get_height() for p in ax_actor.patches} == {6}


def test_clip_durations_reads_headers_and_logs_unreadable_files(tmp_path: Path):
    sf.write(tmp_path / "half.wav", np.zeros(SR // 2, dtype=np.float32), SR)
    sf.write(tmp_path / "one.flac", np.zeros(SR, dtype=np.float32), SR)
    video = write_video(tmp_path / "clip.mp4", np.zeros((15, 32, 32, 3), dtype=np.uint8), fps=15)
    (tmp_path / "broken.wav").write_bytes(b"not a wav file at all" * 10)
    tasks = [("a", tmp_path / "half.wav"), ("b", tmp_path / "one.flac"), ("c", video), ("d", tmp_path / "broken.wav")]
    durations, skipped = explore.clip_durations(tasks)
    assert list(durations.index) == ["a", "b", "c"]
    assert durations["a"] == pytest.approx(0.5) and durations["b"] == pytest.approx(1.0)
    assert durations["c"] == pytest.approx(1.0, abs=0.1)
    assert len(skipped) == 1 and "broken.wav" in skipped.rows[0]["reason"]


def test_plot_durations_histogram_and_boxes_per_emotion():
    durations = pd.Series([1.0, 2.0, 2.0, 3.0, 4.0, 5.0], index=list("abcdef"))
    fig = explore.plot_durations(durations)
    assert len(fig.axes) == 1 and sum(p.get_height() for p in fig.axes[0].patches) == 6
    assert "median 2.50 s" in fig.axes[0].get_legend().get_texts()[0].get_text()
    emotions = pd.Series(["sad", "happy", "sad", "happy", "sad", "happy"], index=list("abcdef"))
    fig = explore.plot_durations(durations, emotions)
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["happy", "sad"]


def test_log_mel_spectrogram_frames_and_peak_band_of_a_tone():
    t = np.arange(SR) / SR
    spec = explore.log_mel_spectrogram(0.5 * np.sin(2 * np.pi * 1000 * t), SR)
    assert spec.shape == (64, 1 + SR // 320) and spec.max() == pytest.approx(0.0)
    centres = np.linspace(0, 2595 * np.log10(1 + 8000 / 700), 66)[1:-1]  # mel centre of each band
    peak_hz = 700 * (10 ** (centres[spec.mean(axis=1).argmax()] / 2595) - 1)
    assert 900 < peak_hz < 1100


def test_waveform_and_spectrogram_figures():
    y = np.random.default_rng(0).normal(0, 0.1, SR).astype(np.float32)
    fig = explore.plot_waveform_spectrogram(y, SR, "clip")
    ax_wave, ax_spec, colorbar = fig.axes
    assert len(ax_wave.lines[0].get_xdata()) == SR and ax_wave.get_title() == "waveform clip"
    assert ax_spec.images[0].get_array().shape == (64, 51) and colorbar.get_ylabel() == "dB"
    fig = explore.plot_spectrograms({"original": y, "noise": y + 0.1}, SR)
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == ["original", "noise"]


def _frames(lengths: list[int], values: list[float], T: int = 6) -> np.ndarray:
    """Clips of (T, 3) features: zcr = rms = value on the first ``length`` frames, zero padding after."""
    X = np.zeros((len(lengths), T, 3), dtype=np.float32)
    for i, (n, v) in enumerate(zip(lengths, values)):
        X[i, :n] = v
    return X


def test_mean_curves_and_features_ignore_padding():
    X = _frames([2, 4, 3], [1.0, 3.0, 5.0])
    labels = ["sad", "sad", "happy"]
    assert explore.valid_frames(X).sum(axis=1).tolist() == [2, 4, 3]
    curves = explore.mean_curves(X, labels, feature=0)
    assert list(curves.columns) == ["happy", "sad"]  # label order
    np.testing.assert_allclose(curves["sad"].to_numpy(), [2.0, 2.0, 3.0, 3.0, np.nan, np.nan])
    np.testing.assert_allclose(curves["happy"].to_numpy()[:4], [5.0, 5.0, 5.0, np.nan])
    means = explore.mean_features(X, labels, ["zcr", "rms", "mfcc_0"])
    assert means.loc["sad", "zcr"] == pytest.approx((2 * 1 + 4 * 3) / 6) and means.loc["happy", "rms"] == 5.0


def test_feature_figures_show_one_curve_or_row_per_emotion():
    rng = np.random.default_rng(0)
    names = ["zcr", "rms"] + [f"mfcc_{i}" for i in range(6)]
    X = rng.normal(size=(8, 20, len(names))).astype(np.float32)
    X[:, 15:] = 0  # padding
    emotions = ["angry", "calm"] * 4
    fig = explore.plot_feature_curves(X, emotions, names, frame_rate_hz=50)
    ax_zcr, ax_rms, ax_heat = fig.axes[:3]
    assert [line.get_label() for line in ax_zcr.lines] == ["calm", "angry"]
    assert len(ax_rms.lines[0].get_xdata()) == 20
    assert [t.get_text() for t in ax_heat.get_yticklabels()] == ["calm", "angry"]
    assert [t.get_text() for t in ax_heat.get_xticklabels()] == ["1", "2", "3", "4", "5"]
    fig = explore.plot_clip_features({"angry": X[0], "calm": X[1]}, names, frame_rate_hz=50)
    curve_axes = [ax for ax in fig.axes if ax.get_ylabel() in ("angry", "calm")]
    assert len(curve_axes) == 2 and len(curve_axes[0].lines[0].get_xdata()) == 15  # padding left out
    rms_axes = [ax for ax in fig.axes if ax not in curve_axes and not ax.images]
    assert len(rms_axes) == 2 and rms_axes[0].get_ylim() == rms_axes[1].get_ylim()  # rows share scales
    assert sum(1 for ax in fig.axes if ax.images) == 2


def test_projections_keep_separated_clusters_apart():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (15, 10)), rng.normal(8, 1, (15, 10))])
    for method in ("pca", "tsne"):
        points = explore.project_2d(X, method)
        assert points.shape == (30, 2)
        a, b = points[:15].mean(axis=0), points[15:].mean(axis=0)
        spread = max(points[:15].std(axis=0).max(), points[15:].std(axis=0).max())
        assert np.linalg.norm(a - b) > 3 * spread
    with pytest.raises(ValueError, match="unknown projection"):
        explore.project_2d(X, "umap")


def test_neighbour_agreement_finds_speaker_clusters_not_emotion_ones():
    rng = np.random.default_rng(0)
    actors = np.repeat([f"a{i}" for i in range(4)], 8)
    emotions = np.tile(["happy", "sad"], 16)
    X = rng.normal(0, 0.1, (32, 5)) + 5 * np.eye(5)[np.repeat(np.arange(4), 8)]
    table = explore.neighbour_agreement(X, {"emotion": emotions, "actor": actors})
    assert table.loc["actor", "agreement"] == 1.0
    assert table.loc["actor", "chance"] == pytest.approx(4 * 8 * 7 / (32 * 31))
    assert table.loc["emotion", "chance"] == pytest.approx(2 * 16 * 15 / (32 * 31))
    assert table.loc["actor", "ratio"] > 3 * table.loc["emotion", "ratio"]


def test_plot_projection_one_panel_per_colouring_labels_in_order():
    points = np.random.default_rng(0).normal(size=(12, 2))
    emotions = ["surprised", "neutral", "happy"] * 4
    actors = [f"ravdess_{i % 4:02d}" for i in range(12)]
    fig = explore.plot_projection(points, {"emotion": emotions, "actor": actors})
    ax_emotion, ax_actor = fig.axes
    assert [t.get_text() for t in ax_emotion.get_legend().get_texts()] == ["neutral", "happy", "surprised"]
    assert len(ax_actor.collections) == 4 and sum(len(c.get_offsets()) for c in ax_actor.collections) == 12


def test_image_grid_shows_grey_and_rgb_images_with_titles():
    grey = np.random.default_rng(0).integers(0, 255, (5, 48, 48), dtype=np.uint8)
    fig = explore.plot_image_grid(grey, titles=[f"f{i}" for i in range(5)], ncols=3)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 6 and len(shown) == 5 and shown[4].get_title() == "f4"
    assert shown[0].images[0].get_cmap().name == "gray"
    rgb = np.zeros((2, 20, 20, 3), dtype=np.uint8)
    fig = explore.plot_image_grid(rgb)
    assert fig.axes[0].images[0].get_array().shape == (20, 20, 3)


def test_example_face_frame_prefers_a_video_then_actor_faces(tmp_path: Path, shared_ravdess: Path):
    manifest = _manifest(n_actors=2, emotions=("happy",), takes=1)
    assert explore.example_face_frame(manifest, None) is None
    image, source = explore.example_face_frame(manifest, shared_ravdess)
    assert image.shape == (224, 398, 3) and source.startswith("Actor_01.png")
    frames = np.full((10, 32, 48, 3), 200, dtype=np.uint8)
    manifest.loc[1, "video_path"] = str(write_video(tmp_path / "v.mp4", frames, fps=10))
    image, source = explore.example_face_frame(manifest, shared_ravdess)
    assert image.shape == (32, 48, 3) and "v.mp4" in source and abs(int(image.mean()) - 200) < 10


def test_check_clips_reports_ok_or_the_clear_error(tmp_path: Path):
    sf.write(tmp_path / "good.wav", 0.1 * np.sin(np.arange(SR) / 5).astype(np.float32), SR)
    (tmp_path / "empty.wav").write_bytes(b"")
    table = explore.check_clips({"good": tmp_path / "good.wav", "empty": tmp_path / "empty.wav"}, {"audio": load_audio})
    assert table.loc["good", "audio"] == "ok"
    assert table.loc["empty", "audio"].startswith("DataError: ") and "empty.wav" in table.loc["empty", "audio"]
    assert "0 bytes" in table.loc["empty", "audio"]


def test_au_means_by_emotion_joins_the_manifest_takes():
    manifest = _manifest(n_actors=2, emotions=("happy", "neutral"), takes=1)
    au = pd.DataFrame({"take_id": manifest["take_id"], **{c: 0.0 for c in AU_INTENSITY}})
    au.loc[manifest["emotion"].eq("happy").to_numpy(), "AU12_r"] = 3.0
    extra = pd.DataFrame({"take_id": ["other"], **{c: 5.0 for c in AU_INTENSITY}})  # not in the manifest
    means = explore.au_means_by_emotion(pd.concat([au, extra]), manifest)
    assert list(means.index) == ["neutral", "happy"] and list(means.columns) == list(AU_INTENSITY)
    assert means.loc["happy", "AU12_r"] == 3.0 and means.loc["neutral"].max() == 0.0
    fig = explore.plot_au_heatmap(means)
    assert "AU12 lip corner puller" in [t.get_text() for t in fig.axes[0].get_xticklabels()]
    with pytest.raises(DataError, match="no row for any take"):
        explore.au_means_by_emotion(extra, manifest)


def test_load_crema_d_names_parses_all_clips(shared_crema_d_meta: Path):
    clips, demographics, skipped = explore.load_crema_d_names(shared_crema_d_meta)
    assert len(clips) == 7442 and len(skipped) == 0 and len(demographics) == 91
    assert set(clips["emotion"]) == {"neutral", "happy", "sad", "angry", "fearful", "disgust"}
    assert clips["actor"].nunique() == 91 and set(clips["gender"]) == {"male", "female"}
    fig = explore.plot_crema_d_overview(clips, demographics)
    assert len(fig.axes) == 3 and sum(p.get_height() for p in fig.axes[1].patches) == 91


def test_load_crema_d_names_logs_bad_names_and_needs_both_files(tmp_path: Path):
    with pytest.raises(DataError, match="SentenceFilenames.csv"):
        explore.load_crema_d_names(tmp_path)
    pd.DataFrame({"Stimulus_Number": [1, 2], "Filename": ["1001_IEO_NEU_XX", "1001_IEO_XXX_XX"]}).to_csv(
        tmp_path / "SentenceFilenames.csv", index=False
    )
    pd.DataFrame({"ActorID": [1001], "Age": [51], "Sex": ["Male"], "Race": ["x"], "Ethnicity": ["y"]}).to_csv(
        tmp_path / "VideoDemographics.csv", index=False
    )
    clips, _, skipped = explore.load_crema_d_names(tmp_path)
    assert clips["take_id"].tolist() == ["1001_IEO_NEU_XX"] and clips["gender"].tolist() == ["male"]
    assert len(skipped) == 1 and "emotion" in skipped.rows[0]["reason"]
