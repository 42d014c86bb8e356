"""eGeMAPS parameters per emotion relative to each speaker's neutral speech (notebook 03)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

from emo_utils.analysis.voice_cues import EGEMAPS_PARAMETERS, LITERATURE_CUES, plot_voice_cues, relative_to_neutral
from emo_utils.feature_store import FeatureSet

matplotlib.use("Agg")


def _features() -> tuple[FeatureSet, pd.DataFrame]:
    """Two speakers a semitone apart in pitch; angry takes 5 st above each speaker's neutral, sad 2 st below;
    an extra column that is not a parameter; a third speaker without neutral takes."""
    names = ["something_else", *EGEMAPS_PARAMETERS.values()]
    rows, X = [], []
    for actor, base in (("a1", 30.0), ("a2", 31.0), ("a3", 50.0)):
        for emotion, shift in (("neutral", 0.0), ("angry", 5.0), ("sad", -2.0)):
            if actor == "a3" and emotion == "neutral":
                continue
            for repeat in range(2):
                values = np.full(len(names), 1.0)
                values[1] = base + shift + 0.1 * repeat  # pitch (st)
                rows.append({"actor": actor, "emotion": emotion})
                X.append(values)
    return FeatureSet(np.arange(len(X)).astype(str), np.array(X), {"feature_names": names}), pd.DataFrame(rows)


def test_differences_are_taken_from_each_speakers_own_neutral() -> None:
    features, rows = _features()
    by_emotion, neutral = relative_to_neutral(features, rows)
    assert list(by_emotion.index) == ["neutral", "sad", "angry"]  # the canonical emotion order
    assert list(by_emotion.columns) == list(EGEMAPS_PARAMETERS)
    pitch = by_emotion["pitch (st)"]
    assert pitch.to_dict() == pytest.approx({"neutral": 0.0, "sad": -2.0, "angry": 5.0})  # a3 (no neutral) left out
    assert neutral["pitch (st)"] == pytest.approx(30.55)
    assert (by_emotion["loudness"] == 0).all()
    fig = plot_voice_cues(by_emotion, "test")
    assert len(fig.axes) == 2 and "neutral" not in [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert set(LITERATURE_CUES) <= set(EGEMAPS_PARAMETERS)


def test_features_that_are_not_egemaps_or_data_without_neutral_are_refused() -> None:
    features, rows = _features()
    mfcc = FeatureSet(features.clip_ids, features.X[:, :3], {"feature_names": ["a", "b", "c"]})
    with pytest.raises(ValueError, match="not eGeMAPS"):
        relative_to_neutral(mfcc, rows)
    keep = (rows["emotion"] != "neutral").to_numpy()
    without = FeatureSet(features.clip_ids[keep], features.X[keep], features.meta)
    with pytest.raises(ValueError, match="no neutral"):
        relative_to_neutral(without, rows[keep].reset_index(drop=True))
