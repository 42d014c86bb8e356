"""Speaker-independent folds: each actor in exactly one fold, gender-balanced, and leaks caught."""

from __future__ import annotations

import numpy as np
import pytest

from emo_utils.data.folds import (
    assign_actor_folds,
    check_no_actor_leak,
    describe_protocol,
    iter_folds,
    pick_validation_actors,
    random_clip_folds,
)
from emo_utils.errors import ActorLeakError

ACTORS = np.repeat([f"ravdess_{i:02d}" for i in range(1, 25)], 60)
GENDERS = np.array(["male" if int(a[-2:]) % 2 else "female" for a in ACTORS])


def test_ravdess_six_folds_of_four_actors_two_per_gender() -> None:
    folds = assign_actor_folds(ACTORS, GENDERS, 6)
    for fold in range(6):
        actors = set(ACTORS[folds == fold])
        assert len(actors) == 4
        assert sorted(GENDERS[np.isin(ACTORS, list(actors))][::60].tolist()) == ["female", "female", "male", "male"]
    assert set(ACTORS[folds == 0]) == {"ravdess_01", "ravdess_02", "ravdess_03", "ravdess_04"}
    for actor in set(ACTORS):
        assert len(set(folds[ACTORS == actor])) == 1


def test_seeded_folds_stay_actor_disjoint_for_crema_d_sized_data() -> None:
    actors = np.repeat([f"cremad_{1001 + i}" for i in range(91)], 3)
    genders = np.where(np.arange(len(actors)) // 3 < 48, "male", "female")
    folds = assign_actor_folds(actors, genders, 5, seed=3)
    sizes = [len(set(actors[folds == f])) for f in range(5)]
    assert sum(sizes) == 91 and max(sizes) - min(sizes) <= 2
    for _, train, test in iter_folds(folds, actors):
        assert not set(actors[train]) & set(actors[test])


def test_leak_check_catches_a_planted_leak() -> None:
    folds = assign_actor_folds(ACTORS, GENDERS, 6).copy()
    folds[np.flatnonzero(ACTORS == "ravdess_05")[0]] = 0  # one clip of actor 5 moved to actor 1-4's fold
    with pytest.raises(ActorLeakError, match="ravdess_05"):
        list(iter_folds(folds, ACTORS))
    with pytest.raises(ActorLeakError, match="ravdess_07"):
        check_no_actor_leak(["ravdess_01", "ravdess_07"], ["ravdess_07"])
    check_no_actor_leak(["ravdess_01"], ["ravdess_02"])


def test_random_clip_split_leaks_and_says_so() -> None:
    folds = random_clip_folds(len(ACTORS), 6)
    with pytest.raises(ActorLeakError):
        list(iter_folds(folds, ACTORS))
    assert len(list(iter_folds(folds, ACTORS, leaky_ok=True))) == 6
    assert "LEAKY" in describe_protocol(folds, ACTORS, "RAVDESS", leaky=True)
    assert describe_protocol(assign_actor_folds(ACTORS, GENDERS), ACTORS, "RAVDESS").startswith(
        "6-fold actor-independent (RAVDESS, 24 actors, 4 held out per fold; speaker norm none"
    )


def test_validation_actors_one_per_gender() -> None:
    chosen = pick_validation_actors(ACTORS, GENDERS, per_gender=1, seed=0)
    assert len(chosen) == 2 and {int(a[-2:]) % 2 for a in chosen} == {0, 1}
