"""The robustness curve: accuracy of each audio branch, and of the fused result, as noise drowns the voice.

White Gaussian noise is added to each clip's waveform at falling signal-to-noise ratios (seeded per
clip and level, the same for every branch); the noisy waveform goes, in memory, through each branch's own
per-clip input function, so every audio branch sees exactly the same sound.
Each clip is predicted by the one fold model that never saw its actor (the checkpoint whose
``test_actors`` hold it out), never by the fold ensemble, which would include models trained on that
actor. The fused result is late fusion with the run's config weights, the non-audio branches keeping
their out-of-fold probabilities (only the sound is degraded).

A branch trained with per-speaker normalisation (``--speaker-norm enrol:K`` or ``all``) sees each clip
normalised with the training population's statistics here (as the demo does without enrolment clips): its
clean point can then differ from its out-of-fold accuracy. Under the default ``none`` the two agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from emo_utils.artifacts import MISSING_RUN_HINT, load_branches
from emo_utils.audio.augment import add_noise
from emo_utils.audio.features import clip_rng
from emo_utils.audio.io import load_audio
from emo_utils.branches import BRANCHES
from emo_utils.clip_media import ClipMedia
from emo_utils.data.manifest import load_manifest
from emo_utils.errors import DataError, EmoError, SkipLog
from emo_utils.evaluate import metrics_from_table
from emo_utils.fusion import load_fusion_config, weighted_average
from emo_utils.inference import BranchPredictor
from emo_utils.labels import labels_of, proba_columns
from emo_utils.plotting import plot_accuracy_curves

DEFAULT_SNR_LEVELS: tuple[float | None, ...] = (None, 30.0, 20.0, 10.0, 5.0, 0.0)  # None: the clean clip
SAMPLE_RATE = 16000
FUSED = "fused"
WITHOUT_AUDIO = "fused without audio"  # the non-audio branches alone: the line noisy audio must stay above


def snr_label(snr_db: float | None) -> str:
    """``"clean"`` or e.g. ``"10 dB"``."""
    return "clean" if snr_db is None else f"{snr_db:g} dB"


def noisy_waveform(y: np.ndarray, snr_db: float | None, clip_id: str, seed: int = 0) -> np.ndarray:
    """``y`` with white noise at ``snr_db`` (``None``: unchanged), seeded by (seed, clip, level)."""
    if snr_db is None:
        return y
    return add_noise(y, snr_db, clip_rng(seed, clip_id, snr_label(snr_db)))


@dataclass
class RobustnessResult:
    """``predictions``: one row per (clip, SNR level, model) with probabilities; ``curve``: the scores."""

    predictions: pd.DataFrame
    curve: pd.DataFrame
    skipped: SkipLog
    fusion_weights: dict[str, float]


def balanced_clips(rows: pd.DataFrame, n: int | None) -> pd.DataFrame:
    """At most ``n`` rows, round-robin over actors and over emotions, even when ``n`` < actors x emotions.

    The j-th pick goes to actor ``j mod A`` and emotion ``j mod E`` (shifted by one after every
    ``lcm(A, E)`` picks, so all actor-emotion pairs come up before any repeats).
    """
    if n is None or n >= len(rows):
        return rows
    actors = sorted(rows["actor"].unique())
    emotions = sorted(rows["emotion"].unique())
    n_actors, n_emotions = len(actors), len(emotions)
    block = int(np.lcm(n_actors, n_emotions))
    slot = {(j % n_actors, (j % n_emotions + j // block) % n_emotions): j for j in range(n_actors * n_emotions)}
    actor_index = rows["actor"].map({a: i for i, a in enumerate(actors)})
    order = rows.assign(
        _repeat=rows.groupby(["actor", "emotion"]).cumcount(),
        _slot=[slot[(a, emotions.index(e))] for a, e in zip(actor_index, rows["emotion"])],
    )
    return (
        order.sort_values(["_repeat", "_slot"])
        .head(n)
        .drop(columns=["_repeat", "_slot"])
        .sort_values(["actor", "take_id"])
    )


def _audio_source(row: pd.Series) -> str:
    return row["audio_path"] or row["video_path"]


def _fuse_level(
    level: pd.DataFrame, tables: dict[str, pd.DataFrame], weights: dict[str, float], model: str
) -> pd.DataFrame:
    """Late fusion of one SNR level's audio predictions with the other branches' out-of-fold probabilities."""
    audio = {m: rows.set_index("clip_id") for m, rows in level.groupby("model")}
    clips = level.drop_duplicates("clip_id").set_index("clip_id")
    columns = proba_columns(labels_of(level))
    P = np.stack(
        [
            (audio[b] if b in audio else tables[b].set_index("clip_id"))
            .reindex(clips.index)[columns]
            .to_numpy(dtype=float)
            for b in weights
        ]
    )
    fused = pd.DataFrame(weighted_average(P, np.array(list(weights.values()))), columns=columns, index=clips.index)
    return clips[["actor", "emotion", "snr"]].join(fused).reset_index().assign(model=model)


def _scores(predictions: pd.DataFrame, random_weights: dict[str, bool]) -> pd.DataFrame:
    rows = []
    for (snr, model), table in predictions.groupby(["snr", "model"], sort=False):
        metrics = metrics_from_table(table)
        rows.append(
            {
                "snr": snr,
                "model": model,
                "accuracy": metrics["accuracy"],
                "macro_f1": metrics["macro_f1"],
                "n_clips": metrics["n_clips"],
                "random_weights": random_weights.get(model, False),
            }
        )
    return pd.DataFrame(rows)


def robustness_curve(
    run_dir: str | Path,
    snr_levels: Sequence[float | None] = DEFAULT_SNR_LEVELS,
    max_clips: int | None = None,
    include_random: bool = False,
    seed: int = 0,
    progress: bool = True,
) -> RobustnessResult:
    """Accuracy of every trained audio branch (and of the fused result) at each SNR level.

    Audio branches built on random stand-in weights are left out unless ``include_random`` or the fusion
    config fuses them (as they are left out of fusion by default: their curve would measure nothing).

    ``max_clips`` keeps at most that many clips, balanced over actors and emotions. A clip whose audio
    cannot be read, or that a branch cannot process, is listed in ``skipped`` (never dropped silently).
    Without a fusion config (``out/fusion/fusion_config.json``) only the audio branches are scored; with
    one, also the fused result and, as a reference, the config's non-audio branches fused alone.
    """
    run = Path(run_dir)
    manifest = load_manifest(run / "manifest.csv")
    artifacts = load_branches(run)
    tables = {name: a.oof for name, a in artifacts.items()}
    config_path = run / "fusion" / "fusion_config.json"
    weights: dict[str, float] = {}
    if config_path.is_file():
        config = load_fusion_config(config_path)
        weights = {b: w for b, w in zip(config.branches, config.weights) if b in tables and w > 0}
    audio = [
        name
        for name in tables
        if artifacts[name].provenance.get("modality") == "audio"
        and name in BRANCHES
        and (include_random or name in weights or not artifacts[name].random_weights)
    ]
    if not audio:
        raise DataError(
            run / "branches",
            "no trained audio branch (without random stand-in weights)",
            MISSING_RUN_HINT + "; include_random=True also scores stand-in branches",
        )
    predicted = set.intersection(*(set(tables[name]["clip_id"]) for name in audio))
    rows = manifest[
        manifest["take_id"].isin(predicted) & ((manifest["audio_path"] != "") | (manifest["video_path"] != ""))
    ]
    rows = balanced_clips(rows, max_clips)
    predictors = {name: BranchPredictor(artifacts[name]) for name in audio}
    columns = proba_columns(labels_of(tables[audio[0]]))
    skipped = SkipLog("robustness")
    records = []
    for _, row in tqdm(rows.iterrows(), total=len(rows), desc="robustness", unit="clip", disable=not progress):
        try:
            clean = load_audio(_audio_source(row), SAMPLE_RATE)
        except EmoError as exc:
            skipped.add(row["take_id"], _audio_source(row), str(exc))
            continue
        for snr in snr_levels:
            media = ClipMedia(waveform=noisy_waveform(clean, snr, row["take_id"], seed), sample_rate=SAMPLE_RATE)
            for name, predictor in predictors.items():
                try:
                    proba = predictor.predict_inputs(predictor.clip_input(media), row["actor"])[0]
                except EmoError as exc:
                    skipped.add(row["take_id"], _audio_source(row), f"{name} at {snr_label(snr)}: {exc}")
                    continue
                records.append(
                    {
                        "clip_id": row["take_id"],
                        "actor": row["actor"],
                        "emotion": row["emotion"],
                        "snr": snr_label(snr),
                        "model": name,
                        **dict(zip(columns, proba)),
                    }
                )
    if not records:
        raise DataError(run, "no clip could be scored for the robustness curve", skipped.report())
    predictions = pd.DataFrame(records)
    fusions = {FUSED: weights} if weights else {}
    without_audio = {b: w for b, w in weights.items() if artifacts[b].provenance.get("modality") != "audio"}
    if without_audio:
        fusions[WITHOUT_AUDIO] = without_audio
    predictions = pd.concat(
        [
            predictions,
            *(
                _fuse_level(level, tables, w, model)
                for model, w in fusions.items()
                for _, level in predictions.groupby("snr", sort=False)
            ),
        ],
        ignore_index=True,
    )
    flags = {name: artifacts[name].random_weights for name in audio}
    return RobustnessResult(predictions, _scores(predictions, flags), skipped, weights)


def plot_robustness(curve: pd.DataFrame, title: str) -> plt.Figure:
    """Accuracy against SNR (clean on the left, loudest noise on the right), one line per model."""

    def line_style(model: str, rows: pd.DataFrame) -> dict[str, Any]:
        random = bool(rows["random_weights"].any())
        return {
            "label": model + (" (RANDOM stand-in weights: not a result)" if random else ""),
            "linewidth": 2.6 if model == FUSED else 1.4,
            "linestyle": "-." if model == WITHOUT_AUDIO else "--" if random else "-",
        }

    fig, _ = plot_accuracy_curves(curve, "snr", "signal-to-noise ratio of the audio", title, line_style, "upper right")
    return fig
