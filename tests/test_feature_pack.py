"""The feature pack: built by the project's own feature code, saved and loaded unchanged, and shipped complete."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emo_utils.audio.features import clip_features
from emo_utils.audio.opensmile_features import clip_smile_features
from emo_utils.errors import DataError
from emo_utils.feature_pack import (
    PACK_DIR,
    build_corpus_pack,
    load_corpus_pack,
    load_feature_pack,
    save_corpus_pack,
)
from emo_utils.labels import EMOTIONS
from emo_utils.video.openface import AU_COLUMNS


@pytest.fixture(scope="module")
def small_ravdess(tmp_path_factory: pytest.TempPathFactory, shared_ravdess: Path) -> Path:
    """Two real takes of each of four actors (two male, two female) and the real AU table, linked into a folder."""
    root = tmp_path_factory.mktemp("small_ravdess")
    for actor in (1, 2, 3, 4):
        (root / f"Actor_{actor:02d}").mkdir()
        for source in sorted((shared_ravdess / "speech-16k" / f"Actor_{actor:02d}").glob("03-01-0[35]-01-01-01-*"))[:2]:
            (root / f"Actor_{actor:02d}" / source.name).symlink_to(source.resolve())
    (root / "facial-au").mkdir()
    au_table = shared_ravdess / "facial-au" / "openface_au_means.csv"
    (root / "facial-au" / au_table.name).symlink_to(au_table.resolve())
    return root


def test_pack_holds_what_the_project_code_computes(small_ravdess: Path, tmp_path: Path) -> None:
    pack = build_corpus_pack(small_ravdess, tmp_path / "cache", n_jobs=1, progress=False)
    assert pack.name == "ravdess" and len(pack.rows) == 8 and set(pack.features) == {"egemaps", "mfcc_stats", "au"}
    assert pack.rows["actor"].nunique() == 4 and set(pack.rows["emotion"]) == {"happy", "angry"}
    first = pack.rows.iloc[0]
    audio = next(small_ravdess.glob(f"Actor_*/03-{first['take_id']}.flac"))
    np.testing.assert_allclose(pack.features["egemaps"].X[0], clip_smile_features(audio)["X"], rtol=1e-5)
    frames = clip_features(audio)["X"]
    np.testing.assert_allclose(
        pack.features["mfcc_stats"].X[0], np.concatenate([frames.mean(0), frames.std(0)]), rtol=1e-4, atol=1e-5
    )
    au_row = pd.read_csv(small_ravdess / "facial-au" / "openface_au_means.csv").set_index("clip_id")
    np.testing.assert_allclose(pack.features["au"].X[0], au_row.loc[f"01-{first['take_id']}", list(AU_COLUMNS)])
    loaded = load_corpus_pack(save_corpus_pack(pack, tmp_path / "ravdess.npz"))
    pd.testing.assert_frame_equal(
        loaded.rows[pack.rows.columns], pack.rows.astype(loaded.rows[pack.rows.columns].dtypes)
    )
    for kind, features in pack.features.items():
        np.testing.assert_array_equal(loaded.features[kind].X, features.X)
        assert loaded.feature_names(kind) == pack.feature_names(kind)
    assert "CC BY-NC-SA 4.0" in loaded.meta["licence"]


def test_shipped_pack_is_complete() -> None:
    ravdess, emodb = load_feature_pack("ravdess"), load_feature_pack("emodb")
    assert len(ravdess.rows) == 1440 and ravdess.rows["actor"].nunique() == 24
    assert (ravdess.rows.groupby("actor").size() == 60).all() and set(ravdess.rows["emotion"]) == set(EMOTIONS)
    folds = ravdess.rows.drop_duplicates("actor").groupby("fold")["gender"].value_counts().unstack()
    assert len(folds) == 6 and (folds == 2).all().all(), "6 folds of 2 male + 2 female actors"
    assert {k: f.X.shape[1] for k, f in ravdess.features.items()} == {"egemaps": 88, "mfcc_stats": 84, "au": 35}
    assert len(emodb.rows) == 535 and emodb.rows["actor"].nunique() == 10 and "au" not in emodb.features
    for pack in (ravdess, emodb):
        assert all(np.isfinite(f.X).all() for f in pack.features.values())
    assert "CC0" in emodb.meta["licence"] and "CC BY-NC-SA 4.0" in ravdess.meta["licence"]


def test_missing_pack_names_the_rebuild_command(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="build-feature-pack"):
        load_feature_pack("ravdess", tmp_path)
    with pytest.raises(ValueError, match="ravdess, emodb"):
        load_feature_pack("crema_d", PACK_DIR)
