"""The leakage lesson: a random clip split scores higher than actors held out when actors are idiosyncratic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib import pyplot as plt

from emo_utils.analysis.leakage import compare_protocols, plot_protocol_comparison
from emo_utils.data.folds import LEAKY_PROTOCOL, assign_actor_folds
from emo_utils.feature_store import FeatureSet
from emo_utils.labels import EMOTIONS, emotion_index
from emo_utils.train import TrainConfig, cross_validate

pytestmark = pytest.mark.slow  # trains both protocols (seconds): left out of the fast loop


def _idiosyncratic_actors(
    n_actors: int = 6, per_class: int = 4, dim: int = 16, seed: int = 0
) -> tuple[FeatureSet, pd.DataFrame]:
    """Each actor has a strong offset and their own way of expressing each emotion; the shared cue is weak."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(scale=0.3, size=(len(EMOTIONS), dim))
    records, X = [], []
    for a in range(1, n_actors + 1):
        offset = rng.normal(scale=4.0, size=dim)
        own = rng.normal(scale=2.0, size=(len(EMOTIONS), dim))
        for c, emotion in enumerate(EMOTIONS):
            for k in range(per_class):
                X.append(offset + own[c] + shared[c] + rng.normal(scale=0.5, size=dim))
                records.append(
                    {
                        "take_id": f"t{a:02d}-{c}-{k}",
                        "actor": f"a{a:02d}",
                        "gender": "male" if a % 2 else "female",
                        "emotion": emotion,
                    }
                )
    rows = pd.DataFrame(records)
    rows["fold"] = assign_actor_folds(rows["actor"], rows["gender"], 3)
    return FeatureSet(rows["take_id"], np.array(X, dtype=np.float32), {"kind": "toy"}), rows


@pytest.fixture(scope="module")
def comparison() -> pd.DataFrame:
    features, rows = _idiosyncratic_actors()
    config = TrainConfig("mlp", {"hidden": (64,)}, epochs=40, patience=40, batch_size=32, lr=1e-2)
    return compare_protocols(features, rows, config, n_folds=3, progress=False)


def test_leaky_split_scores_clearly_higher_than_actors_held_out(comparison: pd.DataFrame) -> None:
    held_out = comparison.set_index("leaky").loc[False]
    leaky = comparison.set_index("leaky").loc[True]
    assert leaky["accuracy"] > held_out["accuracy"] + 0.3
    assert leaky["accuracy"] > 0.7 and held_out["accuracy"] < 0.5
    assert (comparison["n_clips"] == 6 * 8 * 4).all()


def test_every_row_names_its_protocol_and_the_leaky_one_says_so(comparison: pd.DataFrame) -> None:
    assert list(comparison["leaky"]) == [False, True]
    held_out, leaky = comparison["protocol"]
    assert LEAKY_PROTOCOL in leaky and "LEAKY" in comparison["split"].iloc[1]
    assert "LEAKY" not in held_out and held_out.startswith("3-fold actor-independent")


def test_plot_labels_the_leaky_bars(comparison: pd.DataFrame) -> None:
    fig = plot_protocol_comparison(comparison)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == list(comparison["split"]) and "LEAKY" in labels[1]
    assert any(LEAKY_PROTOCOL in t.get_text() for t in fig.texts)  # full protocol text under the bars
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert heights == sorted(round(v, 6) for v in comparison[["accuracy", "macro_f1", "uar"]].to_numpy().ravel())
    plt.close(fig)


def test_rows_must_be_aligned_with_the_features() -> None:
    features, rows = _idiosyncratic_actors(n_actors=3, per_class=1)
    config = TrainConfig("mlp", epochs=1)
    with pytest.raises(ValueError, match="not aligned"):
        compare_protocols(features, rows.iloc[::-1], config, progress=False)
    with pytest.raises(ValueError, match="fold"):
        compare_protocols(features, rows.drop(columns="fold"), config, progress=False)


def test_an_existing_held_out_table_replaces_training_that_protocol_again(comparison: pd.DataFrame) -> None:
    features, rows = _idiosyncratic_actors()
    config = TrainConfig("mlp", {"hidden": (64,)}, epochs=40, patience=40, batch_size=32, lr=1e-2)
    held_out = cross_validate(
        features,
        rows["emotion"].map(emotion_index).to_numpy(),
        rows["actor"].to_numpy(),
        rows["gender"].to_numpy(),
        rows["fold"].to_numpy(),
        config,
        progress=False,
    ).oof
    reused = compare_protocols(features, rows, config, n_folds=3, progress=False, held_out=held_out)
    pd.testing.assert_frame_equal(reused, comparison)
    with pytest.raises(ValueError, match="clip_id"):
        compare_protocols(features, rows, config, n_folds=3, progress=False, held_out=held_out.iloc[::-1])
