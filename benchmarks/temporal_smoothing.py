"""Temporal smoothing of the timeline, measured on chained takes of held-out actors (real RAVDESS speech).

    .venv/bin/python benchmarks/temporal_smoothing.py --cache /work/cache/smooth --jobs 2

Protocol (fixed before any number was seen):

- Data: the 1440 real RAVDESS speech clips (16 kHz), 24 actors in the workflow's 6 consecutive folds of 4 actors.
- Chained takes: per actor, its 60 takes shuffled (seeded by the actor's number) and played end to end in 6
  chains of 10 takes (about 35 s each), as recorded (each take keeps its own leading and trailing pauses).
- Windows as ``emo demo --timeline`` makes them: 2 s every 0.5 s (``window_spans``); a silent window has no
  prediction (the timeline's rule). Audio only: RAVDESS ships no videos here.
- Voice model: per clip or window, ``--features mfcc`` (default: mean and spread of the ZCR, RMS and MFCC frames,
  cheap) or ``compare`` (ComParE 2016 functionals, about 0.1 s per window) into the untuned L2 logistic
  regression of :mod:`emo_utils.baselines` (C = 0.1, scaling fitted on the training actors), fitted per test
  fold on the whole clips of the OTHER folds' actors, then applied to each window of the held-out actors'
  chains. No statistic of a test actor is used.
- Truth: the label of the take holding the window's centre. Score: per-window accuracy over the windows that
  have a prediction (the same windows before and after smoothing), and label switches per chain.
- Smoothing parameters (:mod:`emo_utils.smoothing`): (a) fixed a priori (EMA time constant 1 s; sticky Viterbi
  expected stretch 4 s); (b) chosen per test fold on the training actors only: each other fold j is predicted by
  a model fitted without fold j and without the test fold, and the grid value with the best window accuracy over
  those inner predictions is used for the test fold. Never chosen on the actors scored.

Writes benchmarks/temporal_smoothing.json and .md. Measurement, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd

from emo_utils.audio.features import frame_features, trim_silence
from emo_utils.audio.io import SILENCE_RMS, load_audio
from emo_utils.audio.opensmile_features import SmileParams, waveform_smile_features
from emo_utils.baselines import BASELINES
from emo_utils.data.folds import make_folds
from emo_utils.data.manifest import index_dataset
from emo_utils.errors import DataError
from emo_utils.labels import EMOTIONS
from emo_utils.smoothing import (
    EMA_TIME_CONSTANT_S,
    EXPECTED_STRETCH_S,
    count_switches,
    labels_of_takes,
    smooth_labels,
)
from emo_utils.timeline import DEFAULT_HOP_S, DEFAULT_WINDOW_S, MIN_WINDOW_AUDIO_S, SAMPLE_RATE, window_spans

ROOT = Path(__file__).resolve().parents[1]
TAKES_PER_CHAIN = 10
GRIDS = {"ema": [0.25, 0.5, 1.0, 2.0, 4.0], "viterbi": [1.0, 2.0, 4.0, 8.0, 16.0]}  # seconds
A_PRIORI = {"ema": EMA_TIME_CONSTANT_S, "viterbi": EXPECTED_STRETCH_S}


def pooled_mfcc(y: np.ndarray) -> np.ndarray:
    """Mean and spread of the ZCR, RMS and MFCC frames of the quiet-edge-trimmed waveform (84 values)."""
    frames = frame_features(trim_silence(y))
    return np.concatenate([frames.mean(axis=0), frames.std(axis=0)])


def compare_functionals(y: np.ndarray) -> np.ndarray:
    """ComParE 2016 functionals (6373 values), as the ``audio_compare`` branch computes them."""
    return waveform_smile_features(y, SmileParams("compare"))


FEATURES = {"mfcc": pooled_mfcc, "compare": compare_functionals}
FEATURE_WORDS = {
    "mfcc": "the mean and spread of ZCR, RMS and 40 MFCC frames (84 values, framed as the audio_mfcc_cnn branch does)",
    "compare": "ComParE 2016 functionals (openSMILE, 6373 values, as the audio_compare branch computes them)",
}


def clip_features(path: str, kind: str) -> np.ndarray:
    return FEATURES[kind](load_audio(path, SAMPLE_RATE))


def window_features(waveform: np.ndarray, spans: list[tuple[float, float]], kind: str) -> np.ndarray:
    """Features per window; NaN where the timeline would have no voice (silent, too short, no values)."""
    rows: list[np.ndarray | None] = []
    for start, end in spans:
        segment = waveform[round(start * SAMPLE_RATE) : round(end * SAMPLE_RATE)]
        rms = float(np.sqrt(np.mean(np.square(segment, dtype=np.float64)))) if len(segment) else 0.0
        row = None
        if len(segment) >= MIN_WINDOW_AUDIO_S * SAMPLE_RATE and rms >= SILENCE_RMS:
            try:
                row = FEATURES[kind](segment)
            except DataError:
                row = None
        rows.append(row if row is not None and np.isfinite(row).all() else None)
    width = next(len(r) for r in rows if r is not None)
    return np.stack([np.full(width, np.nan) if r is None else r for r in rows]).astype(np.float32)


def chains_of(manifest: pd.DataFrame, per_actor: int) -> list[dict]:
    """Per actor, its takes shuffled (seeded by the actor's number) in chains of TAKES_PER_CHAIN; the first
    ``per_actor`` chains of each actor."""
    chains = []
    for actor, rows in manifest.groupby("actor"):
        order = np.random.default_rng(int(actor[-2:])).permutation(len(rows))
        takes = rows.iloc[order]
        for c in range(0, min(len(takes), per_actor * TAKES_PER_CHAIN), TAKES_PER_CHAIN):
            part = takes.iloc[c : c + TAKES_PER_CHAIN]
            chains.append(
                {
                    "name": f"{actor}_{c // TAKES_PER_CHAIN}",
                    "actor": actor,
                    "paths": part["audio_path"].tolist(),
                    "labels": [EMOTIONS.index(e) for e in part["emotion"]],
                }
            )
    return chains


def chain_windows(chain: dict, cache: Path, kind: str) -> Path:
    """The chain's windows, their ``kind`` features and the takes' ends, cached in ``cache``."""
    path = cache / f"chains_{kind}" / f"{chain['name']}.npz"
    if path.is_file():
        return path
    waveforms = [load_audio(p, SAMPLE_RATE) for p in chain["paths"]]
    ends = np.cumsum([len(w) for w in waveforms]) / SAMPLE_RATE
    waveform = np.concatenate(waveforms)
    spans = window_spans(len(waveform) / SAMPLE_RATE, DEFAULT_WINDOW_S, DEFAULT_HOP_S)
    X = window_features(waveform, spans, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, X=X, spans=np.array(spans), take_ends=ends, take_labels=np.array(chain["labels"]))
    return path


def extract(manifest: pd.DataFrame, chains: list[dict], cache: Path, kind: str, jobs: int) -> tuple[np.ndarray, dict]:
    """Features of every whole clip (training) and of every chain's windows (cached in ``cache``)."""
    clips_path = cache / f"clips_{kind}.npz"
    with Pool(jobs) as pool:
        if clips_path.is_file():
            clips = np.load(clips_path)["X"]
        else:
            clips = np.stack(pool.starmap(clip_features, [(p, kind) for p in manifest["audio_path"]], chunksize=8))
            cache.mkdir(parents=True, exist_ok=True)
            np.savez(clips_path, X=clips)
        paths = pool.starmap(chain_windows, [(c, cache, kind) for c in chains], chunksize=1)
    windows = {c["name"]: dict(np.load(p)) for c, p in zip(chains, paths)}
    return clips, windows


def fit_predict(
    clips: np.ndarray, y: np.ndarray, train: np.ndarray, windows: list[dict], test: np.ndarray | None = None
) -> tuple[list[np.ndarray], float]:
    """The logistic baseline fitted on the clips ``train``, applied to every window of ``windows``; and its
    accuracy on the whole clips ``test`` (NaN without)."""
    model = BASELINES["LR"].model(y[train])
    model.fit(clips[train], y[train])
    clip_accuracy = float(model.score(clips[test], y[test])) if test is not None else np.nan
    out = []
    for w in windows:
        P = np.full((len(w["X"]), len(EMOTIONS)), np.nan)
        ok = ~np.isnan(w["X"]).any(axis=1)
        if ok.any():
            P[np.ix_(ok, model.classes_)] = model.predict_proba(w["X"][ok])
        out.append(P)
    return out, clip_accuracy


def inside_one_take(w: dict) -> np.ndarray:
    """Which windows lie wholly inside one take (the others hold the end of one take and the start of the next)."""
    starts = np.concatenate([[0.0], w["take_ends"][:-1]])
    return np.array([((starts <= a + 1e-6) & (b <= w["take_ends"] + 1e-6)).any() for a, b in w["spans"]])


def score(P: np.ndarray, w: dict, method: str, parameter: float | None) -> tuple[int, int, int]:
    """(right windows, scored windows, switches) of one chain smoothed with ``method``."""
    kwargs = {}
    if method == "ema":
        kwargs["time_constant_s"] = parameter
    elif method == "viterbi":
        kwargs["expected_stretch_s"] = parameter
    labels = smooth_labels(P, method, DEFAULT_HOP_S, **kwargs)
    truth = labels_of_takes([tuple(s) for s in w["spans"]], w["take_ends"], w["take_labels"])
    scored = ~np.isnan(P).any(axis=1)
    return int((labels[scored] == truth[scored]).sum()), int(scored.sum()), count_switches(labels)


def accuracy(probas: list[np.ndarray], windows: list[dict], method: str, parameter: float | None) -> float:
    results = np.array([score(P, w, method, parameter) for P, w in zip(probas, windows)])
    return float(results[:, 0].sum() / results[:, 1].sum())


def _gains(rows: list[dict], reference: list[dict]) -> np.ndarray:
    """Per fold, the accuracy of ``rows`` minus that of ``reference`` (the same windows)."""
    return np.array([r["accuracy"] - b["accuracy"] for r, b in zip(rows, reference)])


def evaluate(manifest: pd.DataFrame, clips: np.ndarray, chains: list[dict], windows: dict, inner: bool) -> dict:
    """Per test fold: the chains' windows predicted, smoothed by each variant, scored; ``inner``: also the variants
    whose parameter is chosen on the training actors' inner predictions (5 more model fits per fold)."""
    y = np.array([EMOTIONS.index(e) for e in manifest["emotion"]])
    fold_of_actor = dict(zip(manifest["actor"], manifest["fold"]))
    folds = manifest["fold"].to_numpy()
    chain_fold = np.array([fold_of_actor[c["actor"]] for c in chains])
    per_fold: dict[str, list[dict]] = {}
    chosen: dict[str, dict[int, float]] = {m: {} for m in GRIDS}
    true_switches = 0
    diagnostics: list[dict] = []
    for k in sorted(set(folds)):
        test_chains = [windows[c["name"]] for c, f in zip(chains, chain_fold) if f == k]
        probas, clip_accuracy = fit_predict(clips, y, folds != k, test_chains, folds == k)
        inside = [inside_one_take(w) for w in test_chains]
        diagnostics.append(
            {
                "fold": int(k),
                "whole_clip_accuracy": clip_accuracy,
                "accuracy_windows_inside_one_take": accuracy(
                    [np.where(m[:, None], P, np.nan) for P, m in zip(probas, inside)], test_chains, "none", None
                ),
                "windows_inside_one_take": int(sum(m.sum() for m in inside)),
            }
        )
        settings = {"none": ("none", None)}
        settings.update({f"{m} a priori": (m, A_PRIORI[m]) for m in GRIDS})
        if inner:
            inner_predictions = []
            for j in sorted(set(folds) - {k}):
                inner_chains = [windows[c["name"]] for c, f in zip(chains, chain_fold) if f == j]
                train = (folds != k) & (folds != j)
                inner_predictions.append((fit_predict(clips, y, train, inner_chains)[0], inner_chains))
            for method, grid in GRIDS.items():
                scores = [np.mean([accuracy(P, W, method, v) for P, W in inner_predictions]) for v in grid]
                chosen[method][int(k)] = grid[int(np.argmax(scores))]
                settings[f"{method} chosen on training actors"] = (method, chosen[method][int(k)])
        for variant, (method, parameter) in settings.items():
            results = np.array([score(P, w, method, parameter) for P, w in zip(probas, test_chains)])
            per_fold.setdefault(variant, []).append(
                {
                    "fold": int(k),
                    "accuracy": float(results[:, 0].sum() / results[:, 1].sum()),
                    "windows": int(results[:, 1].sum()),
                    "switches_per_chain": float(results[:, 2].mean()),
                }
            )
        for w in test_chains:
            truth = labels_of_takes([tuple(s) for s in w["spans"]], w["take_ends"], w["take_labels"])
            true_switches += count_switches(truth)
    summary = {
        v: {
            "accuracy_mean": float(np.mean([r["accuracy"] for r in rows])),
            "accuracy_sd": float(np.std([r["accuracy"] for r in rows], ddof=1)),
            "switches_per_chain": float(np.mean([r["switches_per_chain"] for r in rows])),
            "gain_points_mean": float(100 * np.mean(gains := _gains(rows, per_fold["none"]))),
            "gain_points_sd": float(100 * np.std(gains, ddof=1)),
            "per_fold": rows,
        }
        for v, rows in per_fold.items()
    }
    n_windows = sum(len(w["X"]) for w in windows.values())
    unpredicted = sum(int(np.isnan(w["X"]).any(axis=1).sum()) for w in windows.values())
    return {
        "variants": summary,
        "chosen_per_fold": chosen,
        "a_priori": A_PRIORI,
        "grids_s": GRIDS,
        "true_switches_per_chain": true_switches / len(chains),
        "without_smoothing": {
            "whole_clip_accuracy_mean": float(np.mean([d["whole_clip_accuracy"] for d in diagnostics])),
            "accuracy_windows_inside_one_take_mean": float(
                np.mean([d["accuracy_windows_inside_one_take"] for d in diagnostics])
            ),
            "windows_inside_one_take": sum(d["windows_inside_one_take"] for d in diagnostics),
            "per_fold": diagnostics,
        },
        "n_chains": len(chains),
        "n_windows": n_windows,
        "windows_without_prediction": unpredicted,
    }


def markdown(result: dict) -> str:
    lines = [
        "# Temporal smoothing of the timeline on chained takes of held-out actors",
        "",
        f"Data: real RAVDESS speech (16 kHz), {result['n_chains']} chains of {TAKES_PER_CHAIN} takes of one actor "
        f"played end to end, {result['n_windows']} windows of {DEFAULT_WINDOW_S:g} s every {DEFAULT_HOP_S:g} s "
        f"({result['windows_without_prediction']} silent, not scored). Audio only (no RAVDESS videos here).",
        "Protocol: 6 consecutive folds of 4 actors; each fold's chains are predicted from "
        f"{FEATURE_WORDS[result['features']]} by the untuned L2 logistic regression (C = 0.1) fitted on whole clips "
        "of the other folds' actors; no test-speaker statistics; smoothing parameters fixed a priori or chosen on "
        "the training actors' inner predictions. "
        "Truth: the take holding the window's centre. Weights: real (trained here), no random stand-ins.",
        f"Run: {result['date']}, {result['wall_time_s']:.0f} s (load average {result['load_average']}), "
        "`benchmarks/temporal_smoothing.py`.",
        "",
        "| smoothing | window accuracy (mean +- sd over 6 folds) | change vs none, points (paired, mean +- sd) "
        "| label switches per chain |",
        "|---|---|---|---|",
    ]
    for variant, m in result["variants"].items():
        lines.append(
            f"| {variant} | {m['accuracy_mean']:.3f} +- {m['accuracy_sd']:.3f} "
            f"| {m['gain_points_mean']:+.1f} +- {m['gain_points_sd']:.1f} | {m['switches_per_chain']:.1f} |"
        )
    lines += [
        f"| (truth: take changes) | | | {result['true_switches_per_chain']:.1f} |",
        "",
        "Parameters: a priori EMA time constant "
        f"{result['a_priori']['ema']:g} s, Viterbi expected stretch {result['a_priori']['viterbi']:g} s.",
        (
            "Chosen on training actors per test fold (grid "
            + ", ".join(f"{m}: {g}" for m, g in result["grids_s"].items())
            + "): "
            + "; ".join(f"{m}: {list(c.values())}" for m, c in result["chosen_per_fold"].items())
            + "."
        )
        if any(result["chosen_per_fold"].values())
        else "No variant chosen on training actors in this run (`--no-inner`).",
        "",
        "EMA is causal (usable live); Viterbi decodes the whole timeline (offline).",
        "",
        "Without smoothing, for scale: the same models score {:.3f} on the held-out actors' whole clips, and {:.3f} on "
        "the {} windows that lie wholly inside one take (mean over folds); the other windows hold the end of one take "
        "and the start of the next (their truth: the take holding the centre).".format(
            result["without_smoothing"]["whole_clip_accuracy_mean"],
            result["without_smoothing"]["accuracy_windows_inside_one_take_mean"],
            result["without_smoothing"]["windows_inside_one_take"],
        ),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data" / "ravdess")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "temporal_smoothing")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--features", choices=list(FEATURES), default="mfcc", help="the voice model's input")
    parser.add_argument(
        "--no-inner", dest="inner", action="store_false", help="skip the variants chosen on training actors"
    )
    parser.add_argument("--chains-per-actor", type=int, default=6, help="chains of 10 takes per actor (6: every take)")
    parser.add_argument("--out", type=Path, help="results path without suffix (default benchmarks/temporal_smoothing)")
    args = parser.parse_args()
    out = args.out or ROOT / "benchmarks" / (
        "temporal_smoothing" + ("" if args.features == "mfcc" else f"_{args.features}")
    )
    started = time.perf_counter()
    manifest, _ = index_dataset(args.data_root)
    manifest = manifest[manifest["vocal_channel"] == "speech"].reset_index(drop=True)
    manifest["fold"] = make_folds(manifest["actor"], manifest["gender"], 6)
    chains = chains_of(manifest, args.chains_per_actor)
    clips, windows = extract(manifest, chains, args.cache, args.features, args.jobs)
    result = evaluate(manifest, clips, chains, windows, args.inner)
    result["features"] = args.features
    result["wall_time_s"] = time.perf_counter() - started
    result["load_average"] = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    result["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
