"""The evaluation protocol: speaker normalisation, nested folds, fold schemes, baselines, the demo config,
and proof that no test actor's features enter any statistic under the default ``none``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedGroupKFold

from emo_utils.baselines import BASELINES, baseline_cross_validate
from emo_utils.data.folds import EMOBOX_RAVDESS_FOLDS, assign_actor_folds, make_folds
from emo_utils.errors import SettingsError
from emo_utils.evaluate import scored
from emo_utils.feature_store import FeatureSet
from emo_utils.fusion import deployment_config, fuse_cross_validated, inner_stacks, result_table, stack_branches
from emo_utils.labels import EMOTIONS, PROBA_COLUMNS
from emo_utils.run_setup import limit_takes
from emo_utils.speaker_norm import SpeakerNorm, enrolment_order, normalise_enrolled, normalise_per_actor
from emo_utils.train import TrainConfig, cross_validate
from emo_utils.tuning import choose_per_fold, combine, inner_scores

ACTORS = [f"ravdess_{i:02d}" for i in range(1, 25)]
GENDERS = ["male" if i % 2 else "female" for i in range(1, 25)]


def _toy(n_actors: int = 12, per_actor: int = 8, seed: int = 0):
    """Separable toy features with a per-actor offset (a speaker effect), 12 actors, 3 gender-balanced folds."""
    rng = np.random.default_rng(seed)
    actors = np.repeat([f"{a:02d}" for a in range(1, n_actors + 1)], per_actor)
    genders = np.where(np.repeat(np.arange(n_actors) % 2, per_actor) == 0, "male", "female")
    y = np.tile(np.arange(4), n_actors * per_actor // 4)
    X = rng.normal(size=(len(y), 10)).astype(np.float32) + np.repeat(rng.normal(0, 2, (n_actors, 10)), per_actor, 0)
    X[np.arange(len(y)), y] += 3.0
    features = FeatureSet([f"c{i:03d}" for i in range(len(y))], X.astype(np.float32), {"kind": "toy"})
    return features, y, actors, genders, assign_actor_folds(actors, genders, 3)


def test_speaker_norm_parses_the_three_protocols_and_refuses_others() -> None:
    assert str(SpeakerNorm.parse("none")) == "none" and not SpeakerNorm.parse("none").per_actor
    assert SpeakerNorm.parse("enrol:8") == SpeakerNorm("enrol", 8) == SpeakerNorm.parse("enroll:8")
    assert "TRANSDUCTIVE" in SpeakerNorm.parse("all").description
    for bad in ("enrol", "enrol:x", "enrol:0", "some", "all:3"):
        with pytest.raises(ValueError):
            SpeakerNorm.parse(bad)


def test_enrolment_draws_nest_and_are_seeded_per_actor() -> None:
    features, _, actors, _, _ = _toy()
    rank = enrolment_order(features.clip_ids, actors, seed=3)
    for actor in np.unique(actors):
        assert sorted(rank[actors == actor]) == list(range(8))
    np.testing.assert_array_equal(rank, enrolment_order(features.clip_ids, actors, seed=3))
    assert not np.array_equal(rank, enrolment_order(features.clip_ids, actors, seed=4))


def test_enrolled_normalisation_uses_only_the_enrolment_clips() -> None:
    features, _, actors, _, _ = _toy()
    rank = enrolment_order(features.clip_ids, actors)
    prior = np.ones(features.X.shape[1])
    before = normalise_enrolled(features.X, actors, rank, 4, prior)
    changed = features.X.copy()
    changed[(actors == "01") & (rank >= 4)] += 50.0  # the actor's other clips: not used for its statistics
    after = normalise_enrolled(changed, actors, rank, 4, prior)
    enrolled = (actors == "01") & (rank < 4)
    np.testing.assert_allclose(after[enrolled], before[enrolled])
    per_actor = normalise_per_actor(features.X, actors)
    assert abs(per_actor[actors == "02"].mean(0)).max() < 1e-5  # 'all': each actor centred on its own clips


@pytest.mark.parametrize("norm", ["none", "enrol:4", "all"])
def test_poisoning_a_test_actor_moves_no_other_test_actor(norm: str) -> None:
    """A test actor's features change; the other actors of its test fold keep their exact predictions
    (branch and nested fusion), so no statistic crossed from one test speaker to another."""
    features, y, actors, genders, folds = _toy()
    config = TrainConfig("mlp", {"hidden": (16,)}, epochs=4, patience=4, speaker_norm=norm)
    victim = actors[folds == 0][0]
    poisoned = FeatureSet(features.clip_ids, features.X.copy(), features.meta)
    poisoned.X[actors == victim] = np.random.default_rng(1).normal(20, 5, poisoned.X[actors == victim].shape)
    results = [
        cross_validate(f, y, actors, genders, folds, config, progress=False, nested=True) for f in (features, poisoned)
    ]
    others = (folds == 0) & (actors != victim)
    for result in results:
        assert result.inner_oof is not None
    np.testing.assert_array_equal(
        results[0].oof[others][list(PROBA_COLUMNS)].to_numpy(), results[1].oof[others][list(PROBA_COLUMNS)].to_numpy()
    )
    assert not np.allclose(
        results[0].oof[actors == victim][list(PROBA_COLUMNS)].to_numpy(),
        results[1].oof[actors == victim][list(PROBA_COLUMNS)].to_numpy(),
        equal_nan=True,
    )
    fused = []
    for result in results:
        tables = {"a": result.oof, "b": result.oof.assign(**{c: result.oof[c] ** 2 for c in PROBA_COLUMNS})}
        inner = {"a": result.inner_oof, "b": result.inner_oof}
        stack = stack_branches(tables)
        fused.append(
            {
                strategy: result_table(stack, fuse_cross_validated(stack, strategy, inner=inner_stacks(inner)))
                for strategy in ("stacking", "select_late", "select_product")
            }
        )
    for strategy, table in fused[0].items():
        np.testing.assert_array_equal(
            table[others][list(PROBA_COLUMNS)].to_numpy(), fused[1][strategy][others][list(PROBA_COLUMNS)].to_numpy()
        )


def test_enrol_leaves_the_enrolment_clips_unscored() -> None:
    features, y, actors, genders, folds = _toy()
    result = cross_validate(
        features,
        y,
        actors,
        genders,
        folds,
        TrainConfig("mlp", {"hidden": (16,)}, epochs=2, speaker_norm="enrol:4"),
        progress=False,
    )
    assert len(scored(result.oof)) == len(y) - 4 * 12
    rank = enrolment_order(features.clip_ids, actors)
    assert result.oof.loc[rank < 4, PROBA_COLUMNS[0]].isna().all()


def test_nested_inner_predictions_never_come_from_a_model_that_saw_the_outer_fold() -> None:
    features, y, actors, genders, folds = _toy()
    result = cross_validate(
        features, y, actors, genders, folds, TrainConfig("mlp", epochs=2), progress=False, nested=True
    )
    inner = result.inner_oof
    assert len(inner) == 2 * len(y)  # every clip, once for each of the two test folds it trains for
    for outer, rows in inner.groupby("outer_fold"):
        assert set(rows["fold"]) == set(range(3)) - {outer} and rows["clip_id"].is_unique


@pytest.mark.parametrize("baseline", list(BASELINES))
def test_baselines_score_every_clip_through_the_same_folds(baseline: str) -> None:
    features, y, actors, _, folds = _toy()
    oof = baseline_cross_validate(baseline, features, y, actors, folds, label_names=EMOTIONS[:4])
    assert list(oof.columns) == ["clip_id", "actor", "fold", "emotion", *[f"p_{e}" for e in EMOTIONS[:4]]]
    assert len(scored(oof)) == len(y) and (oof["fold"].to_numpy() == folds).all()
    assert (oof[[f"p_{e}" for e in EMOTIONS[:4]]].to_numpy().argmax(1) == y).mean() > 0.5


@pytest.mark.parametrize("baseline", list(BASELINES))
def test_baselines_scale_on_training_actors_only(baseline: str) -> None:
    """Poisoning a test actor's features moves no other prediction of its test fold: scaling and model see
    training actors only."""
    features, y, actors, _, folds = _toy()
    victim = actors[folds == 0][0]
    poisoned = FeatureSet(features.clip_ids, features.X.copy(), features.meta)
    poisoned.X[actors == victim] += 100.0
    before, after = (
        baseline_cross_validate(baseline, f, y, actors, folds, label_names=EMOTIONS[:4]) for f in (features, poisoned)
    )
    others, mine = (folds == 0) & (actors != victim), actors == victim
    columns = [f"p_{e}" for e in EMOTIONS[:4]]
    np.testing.assert_array_equal(before[others][columns].to_numpy(), after[others][columns].to_numpy())
    assert not np.allclose(before[mine][columns].to_numpy(), after[mine][columns].to_numpy())


def test_fold_schemes_emobox_seeded_and_impossible_counts() -> None:
    consecutive = make_folds(ACTORS, GENDERS, 6)
    assert [sorted(np.array(ACTORS)[consecutive == f]) for f in range(2)] == [ACTORS[0:4], ACTORS[4:8]]
    emobox = make_folds(ACTORS, GENDERS, "emobox")
    for fold, members in enumerate(EMOBOX_RAVDESS_FOLDS):
        assert sorted(int(a[-2:]) for a in np.array(ACTORS)[emobox == fold]) == sorted(members)
    redrawn = make_folds(ACTORS, GENDERS, 6, seed=1)
    assert not np.array_equal(redrawn, consecutive) and np.bincount(redrawn).tolist() == [4] * 6
    assert len(set(make_folds(ACTORS, GENDERS, 24))) == 24  # leave one actor out
    with pytest.raises(SettingsError, match="not 16"):
        make_folds(ACTORS, GENDERS, 16)
    with pytest.raises(SettingsError, match="RAVDESS"):
        make_folds(["emodb_03", "emodb_08"], ["male", "female"], "emobox")


def test_actor_folds_agree_with_scikit_learns_group_constraint() -> None:
    """Our folds satisfy what StratifiedGroupKFold guarantees: groups (actors) never straddle folds, and the
    folds have the same shape (4 actors each) as scikit-learn's."""
    folds = make_folds(ACTORS, GENDERS, 6)
    reference = np.zeros(len(ACTORS), dtype=int)
    for k, (_, test) in enumerate(StratifiedGroupKFold(6).split(np.zeros(24), GENDERS, groups=ACTORS)):
        reference[test] = k
    for scheme in (folds, reference):
        assert sorted(np.bincount(scheme).tolist()) == [4] * 6
    table = pd.DataFrame({"fold": folds, "gender": GENDERS})
    assert (table.groupby("fold")["gender"].value_counts() == 2).all()  # ours is also gender-balanced


def test_limit_takes_deals_round_robin_over_actors_and_emotions() -> None:
    rows = [
        {"actor": a, "emotion": e, "take_id": f"{a}-{e}-{r}"}
        for a in ("01", "02", "03")
        for e in ("happy", "sad", "angry", "neutral")
        for r in range(3)
    ]
    manifest = pd.DataFrame(rows)
    chosen = limit_takes(manifest, 12)
    assert chosen["actor"].value_counts().tolist() == [4, 4, 4]
    assert sorted(chosen.groupby("actor")["emotion"].nunique().tolist()) == [4, 4, 4]
    assert limit_takes(manifest, None) is manifest and len(limit_takes(manifest, 100)) == 36


def test_demo_config_gives_a_chance_level_branch_weight_zero_and_says_why() -> None:
    rng = np.random.default_rng(0)
    n, y = 400, np.arange(400) % 8
    good = np.full((n, 8), 0.02)
    good[np.arange(n), y] = 0.86
    noise = rng.dirichlet(np.ones(8), n)

    def table(P: np.ndarray) -> pd.DataFrame:
        frame = pd.DataFrame(P, columns=list(PROBA_COLUMNS))
        frame.insert(0, "clip_id", [f"c{i}" for i in range(n)])
        frame.insert(1, "actor", "01")
        frame.insert(2, "fold", np.arange(n) % 4)
        frame.insert(3, "emotion", [EMOTIONS[i] for i in y])
        return frame

    config = deployment_config({"face": table(good), "video_slowfast": table(noise)})
    assert config.weight_of("video_slowfast") == 0 and config.weight_of("face") == 1
    assert "not above chance" in config.reasons["video_slowfast"] and "used" in config.reasons["face"]
    # a strong branch whose input the demo cannot compute (precomputed AUs) gets weight 0 too, and says why
    tables = {"face_au": table(good), "face": table(good), "video_slowfast": table(noise)}
    config = deployment_config(tables, not_in_demo={"face_au": "precomputed"})
    assert config.weight_of("face_au") == 0 and config.weight_of("face") == 1
    assert config.reasons["face_au"].startswith("weight 0, not computable in the demo (precomputed)")


def test_settings_are_chosen_per_test_fold_on_inner_folds_only() -> None:
    features, y, actors, genders, folds = _toy()
    runs = {
        name: cross_validate(
            features,
            y,
            actors,
            genders,
            folds,
            TrainConfig("mlp", {"hidden": hidden}, epochs=epochs),
            progress=False,
            nested=True,
        )
        for name, hidden, epochs in (("tiny", (4,), 1), ("fit", (32,), 8))
    }
    inner = {name: r.inner_oof for name, r in runs.items()}
    choice = choose_per_fold(inner)
    scores = inner_scores(inner)
    assert sorted(choice) == [0, 1, 2]
    for fold, name in choice.items():
        assert scores.loc[fold, name] == scores.loc[fold].max()
    oof, chosen_inner = combine({n: r.oof for n, r in runs.items()}, inner, choice)
    for fold, name in choice.items():
        rows = (oof["fold"] == fold).to_numpy()
        pd.testing.assert_frame_equal(oof[rows], runs[name].oof[rows])
        assert (chosen_inner[chosen_inner["outer_fold"] == fold]["fold"] != fold).all()
    # the test fold's own predictions never influence its choice
    poisoned = {n: t.assign(p_neutral=np.where(t["fold"] == 0, 1.0, t["p_neutral"])) for n, t in inner.items()}
    assert choose_per_fold(poisoned)[0] == choice[0]
