"""The field's standard acoustic parameter sets, computed with openSMILE (the ``opensmile`` package ships
the SMILE library and its configs; nothing is downloaded).

- eGeMAPS v02 (Eyben et al. 2016): 88 functionals per utterance of 25 low-level descriptors chosen for
  their link to voice production and emotion: pitch (F0 in semitones), jitter, shimmer, loudness, HNR,
  spectral slope, alpha ratio, Hammarberg index, formants F1-F3 and their bandwidths, MFCC 1-4, and the
  rate and length of voiced and unvoiced segments.
- ComParE 2016 (Schuller et al. 2016): 6373 brute-force functionals of 65 descriptors.

``level="functionals"`` gives one vector per clip (for an MLP); ``level="lld"`` gives the low-level
descriptors per 10 ms frame, centre-cropped or zero-padded to ``max_frames`` (for a sequence model).
The waveform is read with :func:`emo_utils.audio.io.load_audio` (any rate, channels or container) and its
quiet edges are trimmed as for the MFCC branch, so leading and trailing silence does not count as pauses.
With ``loudness_dbfs`` set, the trimmed waveform is then scaled to that RMS level (per-utterance loudness
normalisation: the recording's gain no longer shows in the features; the voice model for strangers,
:mod:`emo_utils.voice_model`, uses it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache, partial
from pathlib import Path

import numpy as np
import opensmile

from emo_utils.audio.features import fix_frames, trim_silence
from emo_utils.audio.io import load_audio
from emo_utils.errors import DataError, SkipLog
from emo_utils.extraction import extract_feature_set
from emo_utils.feature_store import FeatureSet

STAGE_VERSION = 1  # bump when a change alters the openSMILE features (emo_utils.stages)

STAGE = "opensmile"
FEATURE_SETS = {"egemaps": opensmile.FeatureSet.eGeMAPSv02, "compare": opensmile.FeatureSet.ComParE_2016}
LEVELS = {"functionals": opensmile.FeatureLevel.Functionals, "lld": opensmile.FeatureLevel.LowLevelDescriptors}
LLD_FRAME_RATE_HZ = 100.0  # both configs compute descriptors every 10 ms


@dataclass(frozen=True)
class SmileParams:
    """Which openSMILE parameter set, at which level, and how the clip is prepared."""

    feature_set: str = "egemaps"  # "egemaps" (88 functionals, 25 descriptors) or "compare" (6373, 65)
    level: str = "functionals"  # "functionals" (one vector per clip) or "lld" (descriptors per 10 ms frame)
    sample_rate: int = 16000
    top_db: float | None = 30.0  # trim edges quieter than the loudest frame by this much (None: keep all)
    max_frames: int = 300  # "lld" only: 3 s of 10 ms frames kept per clip
    loudness_dbfs: float | None = None  # RMS level (dB re full scale) the trimmed clip is scaled to; None: as is

    def __post_init__(self) -> None:
        if self.feature_set not in FEATURE_SETS:
            raise ValueError(f"feature_set must be one of {', '.join(FEATURE_SETS)}, got {self.feature_set!r}")
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {self.level!r}")


@lru_cache(maxsize=4)
def smile(feature_set: str, level: str) -> opensmile.Smile:
    """The openSMILE extractor for a parameter set and level, built once per process."""
    return opensmile.Smile(feature_set=FEATURE_SETS[feature_set], feature_level=LEVELS[level])


def feature_names(params: SmileParams = SmileParams()) -> list[str]:
    """Names of the columns the extractor gives (e.g. ``F0semitoneFrom27.5Hz_sma3nz_amean``)."""
    return list(smile(params.feature_set, params.level).feature_names)


def signal_features(y: np.ndarray, params: SmileParams = SmileParams()) -> np.ndarray:
    """openSMILE features of a mono waveform at ``params.sample_rate``: (F,) functionals or (T, F) descriptors."""
    table = smile(params.feature_set, params.level).process_signal(y, params.sample_rate)
    X = table.to_numpy(dtype=np.float32)
    return X[0] if params.level == "functionals" else fix_frames(X, params.max_frames)


def normalise_loudness(y: np.ndarray, dbfs: float) -> np.ndarray:
    """``y`` scaled so that its RMS level is ``dbfs`` dB re full scale (silence is returned unchanged)."""
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if len(y) else 0.0
    return y if rms <= 0.0 else (y * (10.0 ** (dbfs / 20.0) / rms)).astype(np.float32)


def waveform_smile_features(y: np.ndarray, params: SmileParams = SmileParams(), name: str = "waveform") -> np.ndarray:
    """Features of a waveform at ``params.sample_rate``, quiet edges trimmed and the level normalised as
    ``params`` say (``name``: what errors call it)."""
    if params.top_db is not None:
        y = trim_silence(y, params.top_db)
    if params.loudness_dbfs is not None:
        y = normalise_loudness(y, params.loudness_dbfs)
    X = signal_features(y, params)
    if not np.isfinite(X).all():
        raise DataError(
            name,
            f"openSMILE {params.feature_set} gave non-finite values ({len(y) / params.sample_rate:.2f}"
            " s of sound after trimming)",
            "check that the clip holds speech; leave it out otherwise",
        )
    return X


def clip_smile_features(path: str | Path, params: SmileParams = SmileParams()) -> dict[str, np.ndarray]:
    """``{"X": features}`` of one audio file (or a video's audio track). Module-level, hence picklable."""
    return {"X": waveform_smile_features(load_audio(path, params.sample_rate), params, str(path))}


def extract_smile_features(
    tasks: Sequence[tuple[str, str | Path]],
    out_npz: str | Path,
    cache_dir: str | Path,
    params: SmileParams = SmileParams(),
    n_jobs: int | None = None,
    progress: bool = True,
) -> tuple[FeatureSet, SkipLog]:
    """openSMILE features of every ``(clip_id, path)`` task, saved to ``out_npz`` as a :class:`FeatureSet`.

    ``X`` is (N, F) functionals or (N, max_frames, F) descriptors; the meta holds the feature names. Clips
    run in parallel and are cached in shards under ``cache_dir`` (a rerun or an interrupted run only
    computes what is missing); unreadable clips are left out and listed in the returned :class:`SkipLog`.
    """
    settings = {"params": asdict(params), "opensmile_version": opensmile.__version__}
    meta = {
        "kind": f"opensmile_{params.level}",
        "feature_set": FEATURE_SETS[params.feature_set].name,
        "feature_names": feature_names(params),
        "sample_rate": params.sample_rate,
    }
    if params.level == "lld":
        meta["frame_rate_hz"] = LLD_FRAME_RATE_HZ
    fn = partial(clip_smile_features, params=params)
    return extract_feature_set(
        tasks,
        fn,
        out_npz,
        cache_dir,
        f"{STAGE}_{params.feature_set}_{params.level}",
        settings,
        meta,
        n_jobs=n_jobs,
        progress=progress,
    )
