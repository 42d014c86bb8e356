"""Speaker-independent folds: every actor's clips sit in exactly one test fold.

Every training path calls :func:`check_no_actor_leak`; a random clip split (actors on both sides) exists
only to demonstrate the leakage lesson and is labelled as such wherever its numbers are printed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from emo_utils.errors import ActorLeakError, SettingsError

LEAKY_PROTOCOL = "random clip split (LEAKY: the same actors in training and test; leakage lesson only)"

# The 6 RAVDESS test folds the EmoBox benchmark publishes (Ma et al., Interspeech 2024), by actor number, so
# that audio numbers here stand beside its table of frozen speech encoders.
EMOBOX_RAVDESS_FOLDS: tuple[tuple[int, ...], ...] = (
    (1, 11, 20, 21),
    (4, 10, 12, 14),
    (8, 9, 19, 23),
    (3, 5, 7, 24),
    (2, 15, 16, 18),
    (6, 13, 17, 22),
)
FOLD_SCHEMES = ("consecutive", "emobox")


def _ravdess_number(actor: str) -> int | None:
    """12 for RAVDESS actor ``ravdess_12`` (or ``12``); None for any other actor name."""
    prefix, _, number = str(actor).rpartition("_")
    return int(number) if number.isdigit() and prefix in ("", "ravdess") else None


def emobox_folds(actors: Sequence[str]) -> np.ndarray:
    """Fold number per row from EmoBox's published RAVDESS folds (actors ``ravdess_01`` .. ``ravdess_24``)."""
    fold_of = {actor: fold for fold, members in enumerate(EMOBOX_RAVDESS_FOLDS) for actor in members}
    unknown = sorted({a for a in actors if _ravdess_number(a) not in fold_of})
    if unknown:
        raise SettingsError(
            f"EmoBox folds are defined for RAVDESS actors 1-24; these actors are not: "
            f"{', '.join(map(str, unknown[:6]))}"
        )
    return np.array([fold_of[_ravdess_number(a)] for a in actors], dtype=int)


def make_folds(
    actors: Sequence[str], genders: Sequence[str], folds: int | str = 6, seed: int | None = None
) -> np.ndarray:
    """Actor folds by scheme: a number (gender-balanced folds, consecutive unless ``seed`` redraws them) or
    ``"emobox"`` (RAVDESS only). Raises ``ValueError`` for a number of folds the actors cannot fill."""
    if isinstance(folds, str) and not folds.isdigit():
        if folds != "emobox":
            raise SettingsError(f"--folds takes a number or 'emobox', got {folds!r}")
        if seed is not None:
            raise SettingsError("the EmoBox folds are fixed: --fold-seed does not apply to them")
        return emobox_folds(actors)
    return assign_actor_folds(actors, genders, int(folds), seed)


def assign_actor_folds(
    actors: Sequence[str], genders: Sequence[str], n_folds: int = 6, seed: int | None = None
) -> np.ndarray:
    """Fold number per row, gender-balanced, with each actor in exactly one fold.

    With ``seed=None`` actors are dealt in sorted order, so RAVDESS 6-fold gives the usual consecutive
    folds of 4 actors (2 male, 2 female): 1-4, 5-8, ... . A seed shuffles actors within each gender.
    """
    table = pd.DataFrame({"actor": list(actors), "gender": list(genders)})
    per_actor = table.drop_duplicates("actor").set_index("actor")["gender"]
    if per_actor.index.size < n_folds:
        raise SettingsError(f"{per_actor.index.size} actors cannot fill {n_folds} actor folds; lower n_folds")
    rng = np.random.default_rng(seed)
    if n_folds == per_actor.index.size:  # leave one actor out
        order = sorted(per_actor.index) if seed is None else list(rng.permutation(sorted(per_actor.index)))
        return table["actor"].map({actor: fold for fold, actor in enumerate(order)}).to_numpy(dtype=int).copy()
    fold_of: dict[str, int] = {}
    offset = 0
    for gender in sorted(per_actor.unique()):
        group = sorted(per_actor.index[per_actor == gender])
        if seed is not None:
            group = list(rng.permutation(group))
        for position, actor in enumerate(group):
            # contiguous blocks per gender, continuing where the previous gender left off
            fold_of[actor] = (offset + position * n_folds // len(group)) % n_folds
        offset += len(group) % n_folds
    filled = len(set(fold_of.values()))
    if filled != n_folds:
        counts = ", ".join(f"{n} {gender}" for gender, n in per_actor.value_counts().items())
        raise SettingsError(
            f"{per_actor.index.size} actors ({counts}) give {filled} gender-balanced folds, not "
            f"{n_folds}; choose a number of folds that divides each gender's actors evenly, or one "
            "fold per actor"
        )
    return table["actor"].map(fold_of).to_numpy(dtype=int).copy()


def random_clip_folds(n_clips: int, n_folds: int = 6, seed: int = 0) -> np.ndarray:
    """Folds by clip, ignoring actors: the LEAKY split, for the leakage lesson only."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(n_clips) % n_folds)


def check_no_actor_leak(train_actors: Sequence[str], test_actors: Sequence[str], what: str = "test") -> None:
    """Raise :class:`ActorLeakError` if any actor appears on both sides."""
    shared = sorted(set(train_actors) & set(test_actors))
    if shared:
        raise ActorLeakError(
            f"actor(s) {', '.join(shared)} appear in both training and {what} data; "
            "speaker-independent evaluation needs disjoint actors (use assign_actor_folds)"
        )


def pick_validation_actors(
    actors: Sequence[str], genders: Sequence[str], per_gender: int = 1, seed: int = 0
) -> set[str]:
    """Choose ``per_gender`` training actors of each gender to hold out for early stopping."""
    table = pd.DataFrame({"actor": list(actors), "gender": list(genders)}).drop_duplicates("actor")
    rng = np.random.default_rng(seed)
    chosen: set[str] = set()
    for _, group in table.groupby("gender"):
        names = sorted(group["actor"])
        if len(names) > per_gender:
            chosen.update(rng.choice(names, size=per_gender, replace=False).tolist())
    return chosen


def iter_folds(
    folds: np.ndarray, actors: Sequence[str], leaky_ok: bool = False
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(fold, train_rows, test_rows)``, checking that no actor crosses (unless ``leaky_ok``)."""
    actors = np.asarray(actors)
    for fold in np.unique(folds):
        test = np.flatnonzero(folds == fold)
        train = np.flatnonzero(folds != fold)
        if not leaky_ok:
            check_no_actor_leak(actors[train], actors[test])
        yield int(fold), train, test


def describe_protocol(
    folds: np.ndarray,
    actors: Sequence[str],
    dataset: str,
    leaky: bool = False,
    speaker_norm: str = "speaker norm none: no test-speaker statistics",
    scheme: str = "",
) -> str:
    """One line naming the evaluation protocol, printed with every number."""
    if leaky:
        return f"{LEAKY_PROTOCOL}, {len(np.unique(folds))} folds, {dataset}; {speaker_norm}"
    actors = np.asarray(actors)
    n_actors = len(np.unique(actors))
    per_fold = sorted({len(np.unique(actors[folds == f])) for f in np.unique(folds)})
    held = "/".join(str(n) for n in per_fold)
    scheme = f" {scheme}" if scheme else ""
    return (
        f"{len(np.unique(folds))}-fold actor-independent{scheme} ({dataset}, {n_actors} actors, {held} held "
        f"out per fold; {speaker_norm})"
    )
