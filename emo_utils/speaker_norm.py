"""Speaker normalisation as an explicit, named choice of the evaluation protocol.

- ``none`` (the default): no statistic of any test speaker is used. Features are standardised with
  statistics of the training actors only, exactly as the demo prepares one clip of a stranger.
- ``enrol:K``: every actor is z-scored with its own statistics; a test actor has only K of its clips
  for that (drawn at random, seeded, without labels: what a user gives with ``emo demo --enroll``), and
  only its other clips are scored. With few clips the spread is shrunk towards the training actors'
  typical within-speaker spread.
- ``all``: every actor, test actors included, is z-scored over all its clips. TRANSDUCTIVE: on RAVDESS
  each actor acts the same emotion mix, so an actor's mean is a near-neutral baseline no user has for a
  new speaker. Shown as a lesson, never as the headline.

Features are (N, F) vectors or (N, T, F) sequences; all-zero frames (sequence padding) are left out of the
statistics and stay zero.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

PRIOR_CLIPS = 2.0  # weight, in clips, of the training actors' within-speaker spread in an enrolled spread


@dataclass(frozen=True)
class SpeakerNorm:
    """A speaker-normalisation protocol: ``none``, ``enrol`` with ``k`` clips, or ``all``."""

    mode: str = "none"
    k: int = 0

    def __post_init__(self) -> None:
        if self.mode not in ("none", "enrol", "all"):
            raise ValueError(f"speaker normalisation must be none, enrol:K or all, got {self.mode!r}")
        if self.mode == "enrol" and self.k < 1:
            raise ValueError("enrol:K needs K >= 1 clips (K = 0 is the protocol 'none')")

    @classmethod
    def parse(cls, text: str | SpeakerNorm) -> SpeakerNorm:
        """``"none"``, ``"all"`` or ``"enrol:K"`` (also ``"enroll:K"``)."""
        if isinstance(text, SpeakerNorm):
            return text
        mode, _, k = str(text).strip().lower().partition(":")
        mode = "enrol" if mode == "enroll" else mode
        if mode == "enrol":
            if not k.isdigit():
                raise ValueError(f"expected enrol:K with a whole number K, got {text!r}")
            return cls("enrol", int(k))
        if k:
            raise ValueError(f"{mode} takes no ':K', got {text!r}")
        return cls(mode)

    def __str__(self) -> str:
        return f"enrol:{self.k}" if self.mode == "enrol" else self.mode

    @property
    def per_actor(self) -> bool:
        """True when actors are z-scored with their own statistics (training actors included)."""
        return self.mode != "none"

    @property
    def description(self) -> str:
        """The protocol text every printed number carries."""
        if self.mode == "none":
            return "speaker norm none: no test-speaker statistics"
        if self.mode == "enrol":
            return (
                f"speaker norm enrol:{self.k}: each test speaker normalised with {self.k} unlabelled clips "
                "of its own, scored on its other clips"
            )
        return "speaker norm all: TRANSDUCTIVE, each test speaker z-scored over all its clips (a lesson, not a result)"


def _valid(X: np.ndarray) -> np.ndarray:
    """True for real rows/frames, False for all-zero padding frames."""
    return np.abs(X).sum(axis=-1) > 0 if X.ndim >= 3 else np.ones(len(X), dtype=bool)


def _moments(block: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean, variance and count of the valid frames of ``block`` (rows of one actor)."""
    frames = block[_valid(block)].reshape(-1, block.shape[-1]).astype(np.float64)
    if len(frames) == 0:
        return np.zeros(block.shape[-1]), np.ones(block.shape[-1]), 0
    return frames.mean(0), frames.var(0), len(frames)


def _apply(block: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    out = (block.astype(np.float64) - mean) / (std + 1e-6)
    return np.where(_valid(block)[..., None], out, 0.0).astype(np.float32)


def enrolment_order(clip_ids: np.ndarray, actors: np.ndarray, seed: int = 0) -> np.ndarray:
    """Each clip's rank in its actor's seeded random draw (0 = drawn first): enrol:K uses ranks < K.

    The draw depends on the seed and the clip ids only, so enrol:1 clips are among enrol:2's, and so on.
    """
    rank = np.zeros(len(actors), dtype=int)
    for actor in np.unique(actors):
        rows = np.flatnonzero(actors == actor)
        rng = np.random.default_rng([seed, zlib.crc32(str(actor).encode())])
        order = rows[np.argsort(clip_ids[rows], kind="stable")]
        rank[rng.permutation(order)] = np.arange(len(order))
    return rank


def within_actor_variance(X: np.ndarray, actors: np.ndarray) -> np.ndarray:
    """The typical within-speaker variance per feature: the mean over actors of each actor's variance."""
    return np.mean([_moments(X[actors == a])[1] for a in np.unique(actors)], axis=0)


def normalise_actor(block: np.ndarray, reference: np.ndarray, prior_variance: np.ndarray | None = None) -> np.ndarray:
    """Z-score ``block`` (one speaker's clips) with the statistics of ``reference`` (clips of the same speaker).

    With ``prior_variance`` the spread is shrunk towards it by :data:`PRIOR_CLIPS` clips' weight, so one or
    two enrolment clips give a usable scale.
    """
    mean, var, _ = _moments(reference)
    if prior_variance is not None:
        n = len(reference)
        var = (n * var + PRIOR_CLIPS * prior_variance) / (n + PRIOR_CLIPS)
    return _apply(block, mean, np.sqrt(var))


def normalise_per_actor(X: np.ndarray, actors: np.ndarray) -> np.ndarray:
    """Every actor z-scored over all its own clips (unsupervised; no labels used)."""
    out = np.zeros(X.shape, dtype=np.float32)
    for actor in np.unique(actors):
        rows = actors == actor
        out[rows] = normalise_actor(X[rows], X[rows])
    return out


def normalise_enrolled(
    X: np.ndarray, actors: np.ndarray, enrol_rank: np.ndarray, k: int, prior_variance: np.ndarray
) -> np.ndarray:
    """Every actor z-scored with the statistics of its ``k`` enrolment clips (``enrol_rank < k``)."""
    out = np.zeros(X.shape, dtype=np.float32)
    for actor in np.unique(actors):
        rows = actors == actor
        reference = X[rows & (enrol_rank < k)]
        out[rows] = normalise_actor(X[rows], reference, prior_variance)
    return out


def training_inputs(X: np.ndarray, actors: np.ndarray, norm: SpeakerNorm) -> np.ndarray:
    """What training actors look like to a model: as they are (``none``) or z-scored over their own clips."""
    return normalise_per_actor(X, actors) if norm.per_actor else X


def test_inputs(
    X: np.ndarray,
    actors: np.ndarray,
    enrol_rank: np.ndarray,
    test_rows: np.ndarray,
    train_rows: np.ndarray,
    norm: SpeakerNorm,
    train_side: np.ndarray,
) -> np.ndarray:
    """What the test actors (``test_rows``) look like to a model trained on ``train_rows``.

    ``none``: as they are. ``all``: z-scored over all their clips (``train_side``). ``enrol:K``: z-scored with
    their K enrolment clips, the spread shrunk towards that of the training actors of this very model, so not
    even the prior comes from another test speaker.
    """
    if norm.mode == "none":
        return X[test_rows]
    if norm.mode == "all":
        return train_side[test_rows]
    prior = within_actor_variance(X[train_rows], actors[train_rows])
    return normalise_enrolled(X[test_rows], actors[test_rows], enrol_rank[test_rows], norm.k, prior)
