"""What the eGeMAPS parameters say per emotion, beside the vocal cues of the literature (notebook 03).

The reference is each speaker's own neutral speech, as in the vocal-cue literature ("relative to neutral speech
of the same speaker"): a description of the data for reading, never a classifier input.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from emo_utils.feature_store import FeatureSet
from emo_utils.labels import EMOTIONS
from emo_utils.plotting import use_style, wrap_title

# Readable name -> eGeMAPS v02 functional (openSMILE's column name).
EGEMAPS_PARAMETERS: dict[str, str] = {
    "pitch (st)": "F0semitoneFrom27.5Hz_sma3nz_amean",
    "pitch range (st)": "F0semitoneFrom27.5Hz_sma3nz_pctlrange0-2",
    "jitter": "jitterLocal_sma3nz_amean",
    "shimmer (dB)": "shimmerLocaldB_sma3nz_amean",
    "loudness": "loudness_sma3_amean",
    "HNR (dB)": "HNRdBACF_sma3nz_amean",
    "alpha ratio (dB)": "alphaRatioV_sma3nz_amean",
    "F1 (Hz)": "F1frequency_sma3nz_amean",
    "voiced segments/s": "VoicedSegmentsPerSec",
}

# Direction relative to neutral in ../shared/reference/emotion-cues.md (Juslin & Laukka 2003; Banse & Scherer
# 1996): +1 higher, -1 lower; an emotion left out is "medium" or "variable" there.
LITERATURE_CUES: dict[str, dict[str, int]] = {
    "pitch (st)": {"calm": -1, "happy": 1, "sad": -1, "angry": 1, "fearful": 1, "disgust": -1, "surprised": 1},
    "pitch range (st)": {"calm": -1, "happy": 1, "sad": -1, "angry": 1, "surprised": 1},
    "loudness": {"calm": -1, "happy": 1, "sad": -1, "angry": 1, "surprised": 1},
    "alpha ratio (dB)": {"calm": -1, "happy": 1, "sad": -1, "angry": 1, "disgust": -1},
    "voiced segments/s": {"calm": -1, "happy": 1, "sad": -1, "angry": 1, "fearful": 1, "disgust": -1},
}


def relative_to_neutral(features: FeatureSet, rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Median of each parameter per emotion, as a difference from each speaker's median neutral take.

    ``features``: eGeMAPS functionals (``meta["feature_names"]``); ``rows``: their manifest rows (``actor``,
    ``emotion``), in the same order. Returns (emotions x parameters, the typical neutral value of each).
    Speakers without a neutral take are left out.
    """
    names = list(features.meta["feature_names"])
    missing = [column for column in EGEMAPS_PARAMETERS.values() if column not in names]
    if missing:
        raise ValueError(f"not eGeMAPS functionals: {', '.join(missing)} missing")
    table = pd.DataFrame(features.X, columns=names)[list(EGEMAPS_PARAMETERS.values())]
    table.columns = list(EGEMAPS_PARAMETERS)
    actor, emotion = rows["actor"].to_numpy(), rows["emotion"].to_numpy()
    neutral = table[emotion == "neutral"].groupby(actor[emotion == "neutral"]).median()
    if neutral.empty:
        raise ValueError("no neutral takes: the reference of every difference is the speaker's neutral speech")
    keep = pd.Series(actor).isin(neutral.index).to_numpy()
    relative = table[keep] - neutral.loc[actor[keep]].to_numpy()
    by_emotion = relative.groupby(emotion[keep]).median()
    order = [e for e in EMOTIONS if e in by_emotion.index] + [e for e in by_emotion.index if e not in EMOTIONS]
    return by_emotion.reindex(order), neutral.median()


def plot_voice_cues(by_emotion: pd.DataFrame, title: str) -> Figure:
    """Left: each parameter's median difference from neutral per emotion (colour scaled per parameter, the
    value written); right: the direction the literature gives (:data:`LITERATURE_CUES`)."""
    use_style()
    shown = by_emotion.drop(index="neutral", errors="ignore")
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), gridspec_kw={"width_ratios": [2.5, 1]})
    sns.heatmap(
        (shown / shown.abs().max()).T,
        cmap="RdBu_r",
        center=0,
        vmin=-1,
        vmax=1,
        annot=shown.T.map(lambda v: f"{v:+.2g}"),
        fmt="",
        annot_kws={"fontsize": 7},
        cbar=False,
        ax=axes[0],
    )
    axes[0].set_title(wrap_title(f"eGeMAPS: median difference from the speaker's neutral | {title}"))
    expected = pd.DataFrame(LITERATURE_CUES).reindex(shown.index).T
    sns.heatmap(expected, cmap="RdBu_r", center=0, vmin=-1.5, vmax=1.5, annot=True, cbar=False, ax=axes[1])
    axes[1].set_title("direction in the literature\n(emotion-cues.md; blank: medium or variable)")
    for ax in axes:
        ax.set_xlabel("")
    fig.tight_layout()
    return fig
