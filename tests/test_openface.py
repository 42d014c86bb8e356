"""OpenFace loaders on the real RAVDESS AU table and per-frame landmark files, and on malformed files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib import pyplot as plt

from emo_utils.data.naming import parse_ravdess
from emo_utils.errors import DataError
from emo_utils.video.openface import (
    AU_COLUMNS,
    AU_INTENSITY,
    AU_PRESENCE,
    au_feature_matrix,
    au_time_series,
    landmarks_2d,
    load_au_means,
    load_openface_frames,
    plot_au_time_series,
)


@pytest.fixture(scope="module")
def au_table(shared_ravdess: Path) -> pd.DataFrame:
    return load_au_means(shared_ravdess / "facial-au" / "openface_au_means.csv")


@pytest.fixture(scope="module")
def happy_sad_frames(shared_ravdess: Path) -> dict[str, pd.DataFrame]:
    files = sorted((shared_ravdess / "facial-landmarks-happy-sad").glob("*.csv.gz"))
    return {frames.attrs["clip_id"]: frames for frames in map(load_openface_frames, files)}


@pytest.mark.shared_data
def test_au_table_loads_all_clips_with_take_ids(au_table: pd.DataFrame, shared_ravdess: Path) -> None:
    assert len(AU_INTENSITY) == 17 and len(AU_PRESENCE) == 18
    assert au_table.shape == (1440, 36) and list(au_table.columns[1:]) == list(AU_COLUMNS)
    assert au_table.index[0] == "01-01-01-01-01-01" and au_table["file_name"].iloc[0] == "01-01-01-01-01-01-01"
    assert au_table.index.is_unique and au_table.index.name == "take_id"
    audio_takes = {parse_ravdess(p).take_id for p in (shared_ravdess / "speech-16k").glob("Actor_*/03-01-*.flac")}
    assert set(au_table.index) == audio_takes
    assert au_table[list(AU_INTENSITY)].to_numpy().max() <= 5.0
    assert au_table[list(AU_PRESENCE)].to_numpy().max() <= 1.0


@pytest.mark.shared_data
def test_au_feature_matrix_aligns_to_take_ids_and_reports_missing(au_table: pd.DataFrame) -> None:
    wanted = ["01-03-02-01-02-24", "02-03-02-01-02-24", "01-01-01-01-01-01"]  # the middle one is a song take
    features, skipped = au_feature_matrix(au_table, wanted)
    assert list(features.clip_ids) == ["01-03-02-01-02-24", "01-01-01-01-01-01"]
    assert features.X.shape == (2, 35) and features.X.dtype == np.float32
    row = au_table.loc["01-03-02-01-02-24", list(AU_COLUMNS)].to_numpy(dtype=np.float32)
    np.testing.assert_array_equal(features.X[0], row)
    assert features.meta["columns"] == list(AU_COLUMNS) and not features.random_weights
    assert skipped.to_frame()["clip"].tolist() == ["02-03-02-01-02-24"]


@pytest.mark.shared_data
@pytest.mark.slow  # seconds: left out of the fast loop
def test_happy_clips_pull_the_lip_corners_more_than_sad_ones(happy_sad_frames: dict[str, pd.DataFrame]) -> None:
    assert len(happy_sad_frames) == 192
    smile = {clip_id: frames["AU12_r"].mean() for clip_id, frames in happy_sad_frames.items()}
    happy = {c[9:]: v for c, v in smile.items() if c.startswith("01-01-03-")}
    sad = {c[9:]: v for c, v in smile.items() if c.startswith("01-01-04-")}
    assert len(happy) == len(sad) == 96 and happy.keys() == sad.keys()
    # Measured: mean AU12_r 2.13 (happy) vs 0.28 (sad); every one of the 96 matched takes smiles more when happy.
    assert np.mean(list(happy.values())) > np.mean(list(sad.values())) + 1.0
    assert all(happy[k] > sad[k] for k in happy)


@pytest.mark.shared_data
@pytest.mark.slow  # the OpenFace frame files take seconds to read: left out of the fast loop
def test_frame_files_agree_with_the_per_clip_table(
    happy_sad_frames: dict[str, pd.DataFrame], au_table: pd.DataFrame
) -> None:
    ids = list(happy_sad_frames)
    frame_means = np.stack([happy_sad_frames[c][list(AU_COLUMNS)].mean().to_numpy() for c in ids])
    table = au_table.set_index("file_name").loc[ids, list(AU_COLUMNS)].to_numpy()
    # Same release, summarised separately: measured max difference 0.115, correlation 0.99998.
    assert np.abs(frame_means - table).max() < 0.15
    assert np.corrcoef(frame_means.ravel(), table.ravel())[0, 1] > 0.999


@pytest.mark.shared_data
@pytest.mark.slow  # the OpenFace frame files take seconds to read: left out of the fast loop
def test_frames_time_series_and_landmarks(happy_sad_frames: dict[str, pd.DataFrame]) -> None:
    frames = happy_sad_frames["01-01-03-01-01-01-01"]
    assert frames.shape[1] == 712 and frames.attrs["clip_id"] == "01-01-03-01-01-01-01"
    series = au_time_series(frames)
    assert list(series.columns) == list(AU_INTENSITY) and series.index.name == "time_s"
    assert len(series) == len(frames) and series.index[1] == pytest.approx(1 / 30, abs=0.001)
    assert list(au_time_series(frames, "c").columns) == list(AU_PRESENCE)
    points = landmarks_2d(frames)
    assert points.shape == (len(frames), 68, 2) and points.dtype == np.float32
    assert points[0, 0].tolist() == pytest.approx([frames["x_0"].iloc[0], frames["y_0"].iloc[0]])
    assert 0 < points[..., 0].min() and points[..., 0].max() < 1280  # pixels of a 1280x720 frame
    with pytest.raises(ValueError, match="kind"):
        au_time_series(frames, "x")


@pytest.mark.shared_data
@pytest.mark.slow  # the OpenFace frame files take seconds to read: left out of the fast loop
def test_plot_puts_happy_and_sad_side_by_side(happy_sad_frames: dict[str, pd.DataFrame]) -> None:
    fig = plot_au_time_series(happy_sad_frames["01-01-03-01-01-01-01"], happy_sad_frames["01-01-04-01-01-01-01"])
    try:
        assert len(fig.axes) == 2
        assert "01-01-03-01-01-01-01" in fig.axes[0].get_title()
        assert "01-01-04-01-01-01-01" in fig.axes[1].get_title()
        assert "real RAVDESS, OpenFace 2.1" in fig.get_suptitle()
        assert [line.get_label()[:4] for line in fig.axes[0].lines] == ["AU06", "AU12", "AU01", "AU04", "AU15"]
        assert fig.axes[0].get_xlabel() == "time (s)" and "intensity" in fig.axes[0].get_ylabel()
    finally:
        plt.close(fig)


@pytest.mark.shared_data
@pytest.mark.slow  # the OpenFace frame files take seconds to read: left out of the fast loop
def test_raw_openface_layout_with_spaces_loads(happy_sad_frames: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    frames = happy_sad_frames["01-01-03-01-01-01-01"].head(3)
    raw = frames.assign(face_id=0, success=1)
    path = tmp_path / "clip.csv"
    path.write_text(raw.to_csv(index=False).replace(",", ", "))
    loaded = load_openface_frames(path)
    assert "success" in loaded.columns and loaded.attrs["clip_id"] == "clip"
    np.testing.assert_allclose(landmarks_2d(loaded), landmarks_2d(frames))


@pytest.mark.parametrize(
    "content",
    [
        "clip_id,AU01_r,AU02_r\n01-01-01-01-01-01-01,0.1,0.2\n",  # not the AU columns
        "",  # empty file
    ],
)
def test_malformed_au_table_raises_data_error_naming_the_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "not_aus.csv"
    path.write_text(content)
    with pytest.raises(DataError, match="not_aus.csv"):
        load_au_means(path)


def test_bad_clip_id_in_au_table_raises_data_error(tmp_path: Path) -> None:
    path = tmp_path / "aus.csv"
    values = ",".join(["0.5"] * len(AU_COLUMNS))
    path.write_text(f"clip_id,{','.join(AU_COLUMNS)}\n01-01-09-01-01-01-01,{values}\n")
    with pytest.raises(DataError, match="emotion"):
        load_au_means(path)


def test_malformed_frames_file_raises_data_error(tmp_path: Path) -> None:
    truncated = tmp_path / "01-01-03-01-01-01-01.csv.gz"
    with gzip.open(truncated, "wt") as handle:
        handle.write("frame,timestamp,confidence\n1,0.0,0.98\n")
    with pytest.raises(DataError, match="missing column"):
        load_openface_frames(truncated)
    not_gzip = tmp_path / "broken.csv.gz"
    not_gzip.write_bytes(b"this is not gzip")
    with pytest.raises(DataError, match="broken.csv.gz"):
        load_openface_frames(not_gzip)
    with pytest.raises(DataError, match="not found"):
        load_openface_frames(tmp_path / "absent.csv.gz")
