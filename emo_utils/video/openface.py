"""Facial action units (AUs) and landmarks from OpenFace 2.1, as released with RAVDESS.

Two kinds of file:

- the per-clip table ``openface_au_means.csv`` (column ``clip_id``: the video's file name such as
  ``01-01-03-01-01-01-01``, loaded as ``file_name`` and indexed by the take id every table here uses; the mean
  over frames of 17 AU intensities ``AUxx_r`` (0-5) and of 18 AU presences ``AUxx_c`` (fraction of frames));
- per-frame CSVs (``01-01-03-01-01-01-01.csv.gz``, the official RAVDESS Facial Landmark Tracking files: frame,
  timestamp, confidence, gaze, head pose, 68 2-D and 3-D landmarks and the AUs, one row per frame at 30 fps).
  Raw OpenFace output writes ``", "`` between fields and adds ``face_id`` and ``success`` columns; the RAVDESS
  release has neither. Both layouts load.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from pandas.api.types import is_numeric_dtype

from emo_utils.data.naming import parse_ravdess
from emo_utils.errors import DataError, FilenameError, SkipLog
from emo_utils.feature_store import FeatureSet

STAGE_VERSION = 1  # bump when a change alters the action-unit features (emo_utils.stages)

INTENSITY_AUS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)
PRESENCE_AUS: tuple[int, ...] = tuple(sorted((*INTENSITY_AUS, 28)))  # OpenFace detects AU28 but gives no intensity
AU_INTENSITY: tuple[str, ...] = tuple(f"AU{n:02d}_r" for n in INTENSITY_AUS)
AU_PRESENCE: tuple[str, ...] = tuple(f"AU{n:02d}_c" for n in PRESENCE_AUS)
AU_COLUMNS: tuple[str, ...] = AU_INTENSITY + AU_PRESENCE
N_LANDMARKS = 68
LANDMARK_COLUMNS: tuple[str, ...] = tuple(f"{axis}_{i}" for axis in "xy" for i in range(N_LANDMARKS))
FRAME_COLUMNS: tuple[str, ...] = ("frame", "timestamp", "confidence")
AU_NAMES: dict[str, str] = {  # FACS names (Ekman & Friesen)
    "AU01": "inner brow raiser",
    "AU02": "outer brow raiser",
    "AU04": "brow lowerer",
    "AU05": "upper lid raiser",
    "AU06": "cheek raiser",
    "AU07": "lid tightener",
    "AU09": "nose wrinkler",
    "AU10": "upper lip raiser",
    "AU12": "lip corner puller",
    "AU14": "dimpler",
    "AU15": "lip corner depressor",
    "AU17": "chin raiser",
    "AU20": "lip stretcher",
    "AU23": "lip tightener",
    "AU25": "lips part",
    "AU26": "jaw drop",
    "AU28": "lip suck",
    "AU45": "blink",
}
AU_TABLE_HINT = (
    "expected OpenFace 2.1 per-clip AU means with a clip_id column, 17 AUxx_r and 18 AUxx_c "
    "columns, like facial-au/openface_au_means.csv (see data/README.md)"
)
FRAMES_HINT = (
    "expected a per-frame CSV written by OpenFace 2.x FeatureExtraction, like the RAVDESS Facial "
    "Landmark Tracking files (see data/README.md)"
)


def _read_csv(path: Path, what: str, hint: str, required: Sequence[str]) -> pd.DataFrame:
    """Read a CSV (plain or gzipped), strip spaces from its column names and check the numeric ``required``."""
    if not path.is_file():
        raise DataError(path, f"{what} not found", hint)
    try:
        table = pd.read_csv(path, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise DataError(path, f"is not a readable CSV ({exc.__class__.__name__}: {exc})", hint) from exc
    table.columns = table.columns.str.strip()
    missing = [c for c in required if c not in table.columns]
    if missing:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        raise DataError(path, f"is not an {what}: missing column(s) {shown}", hint)
    text = [c for c in required if not is_numeric_dtype(table[c])]
    if text:
        raise DataError(path, f"column(s) {', '.join(text[:6])} hold non-numeric values", hint)
    if table.empty:
        raise DataError(path, f"{what} has no rows", hint)
    return table


def load_au_means(path: str | Path) -> pd.DataFrame:
    """The per-clip AU table indexed by ``take_id`` (the manifest's clip id), with the source video's
    ``file_name`` and the 35 AU columns."""
    path = Path(path)
    table = _read_csv(path, "OpenFace AU table", AU_TABLE_HINT, AU_COLUMNS)
    if "clip_id" not in table.columns:
        raise DataError(path, "is not an OpenFace AU table: no clip_id column", AU_TABLE_HINT)
    table["clip_id"] = table["clip_id"].astype(str).str.strip()
    duplicated = table.loc[table["clip_id"].duplicated(), "clip_id"].tolist()
    if duplicated:
        raise DataError(path, f"clip_id(s) {', '.join(duplicated[:5])} appear more than once", AU_TABLE_HINT)
    take_ids = []
    for clip_id in table["clip_id"]:
        try:
            take_ids.append(parse_ravdess(clip_id).take_id)
        except FilenameError as exc:
            raise DataError(path, f"row {clip_id!r}: {exc.problem}", AU_TABLE_HINT) from None
    table.insert(0, "take_id", take_ids)
    same_take = table.loc[table["take_id"].duplicated(keep=False), "clip_id"].tolist()
    if same_take:
        raise DataError(
            path,
            f"clips {', '.join(same_take[:4])} are the same take (only the modality differs)",
            "keep one row per take, e.g. only the audio-video 01- clips",
        )
    table = table.rename(columns={"clip_id": "file_name"}).set_index("take_id")[["file_name", *AU_COLUMNS]]
    table.attrs["path"] = str(path)
    return table


def au_feature_matrix(
    table: pd.DataFrame, take_ids: Sequence[str], columns: Sequence[str] = AU_COLUMNS
) -> tuple[FeatureSet, SkipLog]:
    """AU ``columns`` of ``table`` (from :func:`load_au_means`) for ``take_ids``, in that order.

    Takes without a row (or with missing values) are left out and listed in the returned :class:`SkipLog`.
    """
    source = table.attrs.get("path", "AU table")
    by_take = table[list(columns)]
    skipped = SkipLog("openface-au")
    kept = []
    for take_id in take_ids:
        if take_id not in by_take.index:
            skipped.add(take_id, source, "no row for this take in the OpenFace AU table")
        elif by_take.loc[take_id].isna().any():
            skipped.add(take_id, source, "missing AU values (OpenFace found no face)")
        else:
            kept.append(take_id)
    X = by_take.loc[kept].to_numpy(dtype=np.float32).reshape(len(kept), len(columns))
    meta = {"stage": "openface-au", "source": source, "columns": list(columns), "random_weights": False}
    return FeatureSet(kept, X, meta), skipped


def _clip_stem(path: Path) -> str:
    name = path.name
    for suffix in (".csv.gz", ".csv"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def load_openface_frames(path: str | Path) -> pd.DataFrame:
    """One per-frame OpenFace CSV (``.csv`` or ``.csv.gz``): one row per frame, column names without spaces.

    ``attrs["clip_id"]`` holds the file name without its suffix.
    """
    path = Path(path)
    frames = _read_csv(path, "OpenFace per-frame CSV", FRAMES_HINT, (*FRAME_COLUMNS, *AU_COLUMNS, *LANDMARK_COLUMNS))
    frames.attrs.update(clip_id=_clip_stem(path), path=str(path))
    return frames


def au_time_series(frames: pd.DataFrame, kind: str = "r") -> pd.DataFrame:
    """AU intensities (``kind="r"``) or presences (``"c"``) over time: index ``time_s``, one column per AU."""
    if kind not in ("r", "c"):
        raise ValueError(f"kind must be 'r' (intensity) or 'c' (presence), got {kind!r}")
    series = frames.set_index("timestamp")[list(AU_INTENSITY if kind == "r" else AU_PRESENCE)]
    series.index.name = "time_s"
    return series


def landmarks_2d(frames: pd.DataFrame) -> np.ndarray:
    """The 68 2-D facial landmarks per frame, in pixels: ``(T, 68, 2)`` float32 (x, y)."""
    xs = frames[list(LANDMARK_COLUMNS[:N_LANDMARKS])].to_numpy(dtype=np.float32)
    ys = frames[list(LANDMARK_COLUMNS[N_LANDMARKS:])].to_numpy(dtype=np.float32)
    return np.stack([xs, ys], axis=-1)


def plot_au_time_series(
    happy_frames: pd.DataFrame,
    sad_frames: pd.DataFrame,
    aus: Sequence[str] = ("AU06_r", "AU12_r", "AU01_r", "AU04_r", "AU15_r"),
) -> Figure:
    """AU intensity over time for a happy and a sad clip (from :func:`load_openface_frames`), side by side."""
    unknown = [au for au in aus if au not in AU_INTENSITY]
    if unknown:
        raise ValueError(f"unknown AU intensity column(s) {unknown}; choose from {', '.join(AU_INTENSITY)}")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True, constrained_layout=True)
    ids = []
    for ax, frames, emotion in zip(axes, (happy_frames, sad_frames), ("happy", "sad")):
        clip_id = frames.attrs.get("clip_id", f"{emotion} clip")
        ids.append(clip_id)
        series = au_time_series(frames, "r")
        for au in aus:
            ax.plot(series.index, series[au], label=f"{au[:4]} {AU_NAMES[au[:4]]}")
        ax.set_title(f"{emotion}: {clip_id}")
        ax.set_xlabel("time (s)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("AU intensity (0-5)")
    axes[1].legend(loc="upper right", fontsize="small")
    fig.suptitle(f"Facial action units over time, {ids[0]} vs {ids[1]} (real RAVDESS, OpenFace 2.1)")
    return fig
