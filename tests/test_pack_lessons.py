"""The lessons that need real data run on the shipped feature pack: the leakage gap with its spread, the
enrolment curve and cross-corpus evaluation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from emo_utils.analysis.enrolment import pack_enrolment_curve
from emo_utils.analysis.leakage import leakage_gap, leakage_spread, plot_leakage_spread
from emo_utils.branches import BRANCHES
from emo_utils.cross_corpus import PACK_SPECS, pack_cross_corpus, summary_frame
from emo_utils.feature_pack import load_feature_pack

pytestmark = pytest.mark.slow  # trains small models on the pack (tens of seconds)


@pytest.fixture(scope="module")
def ravdess():
    return load_feature_pack("ravdess")


def test_leakage_spread_holds_actors_out_and_shows_the_gap(ravdess) -> None:
    spread = leakage_spread(ravdess.features["mfcc_stats"], ravdess.rows, seeds=(0, 1))
    assert len(spread) == 2 * 2 * 6 and set(spread.groupby(["seed", "leaky"])["n_clips"].sum()) == {1440}
    gap = leakage_gap(spread)
    assert list(gap.index) == [0, 1] and (gap["gap (points)"] > 0).all(), "real voices: the leaky split scores higher"
    assert plot_leakage_spread(spread, "t").axes[0].get_xticklabels()[1].get_text().endswith("(LEAKY)")


def test_enrolment_curve_on_the_pack_has_every_point_and_the_fusion(ravdess) -> None:
    config = replace(BRANCHES["audio_egemaps"].train, epochs=2)
    curve = pack_enrolment_curve(ravdess, ["egemaps", "au"], config, ks=(1, 4), progress=False)
    assert list(dict.fromkeys(curve["clips"])) == ["0 (none)", "1", "4", "all (transductive)"]
    assert set(curve["model"]) == {"egemaps", "au", "fused (late, equal weights)"}
    assert curve["n_clips"].nunique() == 1 and curve["n_clips"].iloc[0] == 1440 - 24 * 4, "the same clips every point"


def test_cross_corpus_on_the_pack_both_ways(ravdess, tmp_path: Path) -> None:
    results = pack_cross_corpus(ravdess, load_feature_pack("emodb"), tmp_path, clips_per_class=6, epochs=2)
    assert list(results) == ["ravdess_to_emodb", "emodb_to_ravdess"]
    summary = summary_frame(results)
    assert set(summary["model"].str.split(" ").str[0]) == set(PACK_SPECS)
    first = results["ravdess_to_emodb"]
    assert "first 2 s of each utterance" in first["protocol"] and first["labels"] == first["shared_emotions"]
    assert (tmp_path / "ravdess_to_emodb" / "metrics.json").is_file()
