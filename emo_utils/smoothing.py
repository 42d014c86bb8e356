"""Temporal fusion of a timeline's windows: per-window class probabilities in, smoothed labels out (pure numpy).

The input is what :mod:`emo_utils.timeline` produces, one row per window: ``P`` of shape (T, K), windows every
``hop_s`` seconds, a row of NaN where a window has no prediction. Two smoothers:

- ``ema``: an exponential moving average of the probabilities, **causal** (each window sees only the windows
  before it, so it also serves a live camera). Its time constant ``EMA_TIME_CONSTANT_S`` (1 s) is fixed a priori:
  two hops of the default timeline, short beside an emotional statement (a RAVDESS statement lasts about 2 s),
  so a change of emotion shows within about a second. ``alpha = 1 - exp(-hop_s / tau)``.
- ``viterbi``: the most likely label path of a *sticky* hidden Markov model whose hidden state is the emotion:
  each window's probabilities are its emission scores, and the emotion stays from one window to the next with
  probability ``stay`` (else moves to any other emotion alike). **Offline**: it needs the whole timeline. ``stay``
  follows from the expected length of a stretch of one emotion, ``EXPECTED_STRETCH_S`` (4 s, two statements),
  fixed a priori: a geometric stay of mean ``stretch / hop`` windows, ``stay = 1 - hop_s / stretch``.

Windows without a prediction carry no evidence: the average keeps its state across them and the decoder reads
them as uniform; their smoothed label is -1 (nothing was observed there).
"""

from __future__ import annotations

import numpy as np

SMOOTHERS = ("none", "ema", "viterbi")
EMA_TIME_CONSTANT_S = 1.0
EXPECTED_STRETCH_S = 4.0
NO_LABEL = -1
_EPS = 1e-9


def _check(P: np.ndarray) -> np.ndarray:
    P = np.asarray(P, dtype=float)
    if P.ndim != 2 or P.shape[1] < 2:
        raise ValueError(f"expected probabilities of shape (windows, classes >= 2), got {P.shape}")
    return P


def ema_alpha(hop_s: float, time_constant_s: float = EMA_TIME_CONSTANT_S) -> float:
    """The weight of the newest window in an average with time constant ``time_constant_s`` at one window per
    ``hop_s`` seconds."""
    if hop_s <= 0 or time_constant_s <= 0:
        raise ValueError(f"hop and time constant must be positive, got {hop_s} s and {time_constant_s} s")
    return float(1 - np.exp(-hop_s / time_constant_s))


def stay_probability(hop_s: float, expected_stretch_s: float = EXPECTED_STRETCH_S) -> float:
    """The sticky decoder's probability of keeping the emotion from one window to the next, for stretches of one
    emotion lasting ``expected_stretch_s`` on average (longer than a hop)."""
    if hop_s <= 0 or expected_stretch_s <= hop_s:
        raise ValueError(f"the expected stretch must be longer than a hop, got {expected_stretch_s} s and {hop_s} s")
    return float(1 - hop_s / expected_stretch_s)


def exponential_moving_average(P: np.ndarray, alpha: float) -> np.ndarray:
    """Causal average ``s_t = alpha * p_t + (1 - alpha) * s_(t-1)``, starting at the first window with a
    prediction; rows without one stay NaN and leave the state as it was."""
    P = _check(P)
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    out = np.full_like(P, np.nan)
    state = None
    for t, row in enumerate(P):
        if np.isnan(row).any():
            continue
        state = row.copy() if state is None else alpha * row + (1 - alpha) * state
        out[t] = state
    return out


def sticky_viterbi(P: np.ndarray, stay: float) -> np.ndarray:
    """The most likely label per window under a sticky Markov chain (``stay`` on the diagonal, the rest spread
    evenly) with each window's probabilities as emission scores; rows without a prediction are uniform."""
    P = _check(P)
    if not 0 <= stay < 1:
        raise ValueError(f"stay must be in [0, 1), got {stay}")
    T, K = P.shape
    emission = np.log(np.where(np.isnan(P).any(axis=1, keepdims=True), 1.0 / K, P) + _EPS)
    transition = np.full((K, K), np.log((1 - stay) / (K - 1) + _EPS))
    np.fill_diagonal(transition, np.log(stay + _EPS))
    score = emission[0].copy()
    back = np.zeros((T, K), dtype=int)
    for t in range(1, T):
        candidates = score[:, None] + transition  # previous state (rows) -> next state (columns)
        back[t] = candidates.argmax(axis=0)
        score = candidates.max(axis=0) + emission[t]
    path = np.empty(T, dtype=int)
    path[-1] = int(score.argmax())
    for t in range(T - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def top_labels(P: np.ndarray) -> np.ndarray:
    """Each row's most probable class, ``NO_LABEL`` where the row has no prediction."""
    P = _check(P)
    missing = np.isnan(P).any(axis=1)
    return np.where(missing, NO_LABEL, np.nan_to_num(P).argmax(axis=1))


def smooth_labels(
    P: np.ndarray,
    method: str,
    hop_s: float,
    time_constant_s: float = EMA_TIME_CONSTANT_S,
    expected_stretch_s: float = EXPECTED_STRETCH_S,
) -> np.ndarray:
    """The label per window after smoothing with ``method`` (one of :data:`SMOOTHERS`), ``NO_LABEL`` where the
    window had no prediction."""
    P = _check(P)
    if method == "none":
        return top_labels(P)
    if method == "ema":
        return top_labels(exponential_moving_average(P, ema_alpha(hop_s, time_constant_s)))
    if method == "viterbi":
        path = sticky_viterbi(P, stay_probability(hop_s, expected_stretch_s))
        return np.where(np.isnan(P).any(axis=1), NO_LABEL, path)
    raise ValueError(f"unknown smoothing {method!r}; expected one of {', '.join(SMOOTHERS)}")


def count_switches(labels: np.ndarray) -> int:
    """How often the label changes between consecutive labelled windows (windows without one are skipped)."""
    labels = np.asarray(labels)
    kept = labels[labels != NO_LABEL]
    return int((kept[1:] != kept[:-1]).sum())


def labels_of_takes(spans: list[tuple[float, float]], take_ends_s: np.ndarray, take_labels: np.ndarray) -> np.ndarray:
    """The label of the take each window lies in (the take holding the window's centre), for takes played end to
    end that finish at ``take_ends_s`` (seconds, increasing)."""
    centres = np.array([(start + end) / 2 for start, end in spans])
    index = np.searchsorted(np.asarray(take_ends_s), centres, side="right")
    return np.asarray(take_labels)[np.minimum(index, len(take_labels) - 1)]
