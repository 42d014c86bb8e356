"""The voice model for strangers (emo_utils.voice_model) before and after, on real data: RAVDESS actors held out
and RAVDESS -> EmoDB (first 2 s) over the six emotions both label.

    .venv/bin/python benchmarks/voice_strangers.py --cache /work/cache/voice --seeds 0 1 2

Phases (each resumes from what ``--cache`` holds): ``extract`` (openSMILE functionals of every RAVDESS clip and
its reverb+noise and speed+pitch copies, and of every EmoDB clip, for each way of preparing a clip), ``cv``
(every variant of ``VARIANTS`` cross-validated with nested actor folds, per seed), ``cross`` (every variant
fitted on all 24 RAVDESS actors, per seed, and tested on EmoDB), ``report`` (benchmarks/voice_strangers.md and
.json). BEFORE is the shipped recipe (ComParE as recorded, no augmentation, small MLP). AFTER is the recipe
chosen on RAVDESS only: per test fold on its inner folds (held-out number), and for the model fitted on every
actor on the 6-fold out-of-fold accuracy (cross-corpus number). EmoDB chooses nothing: every variant's EmoDB
score is printed for the record, after the choice. Measurement, not a test: nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emo_utils.artifacts import read_oof
from emo_utils.evaluate import metrics_from_table
from emo_utils.voice_model import (
    BEFORE,
    VARIANTS,
    Corpora,
    choose_final,
    choose_on_inner_folds,
    corpus_features,
    cross_corpus_table,
    cross_validate_variant,
    load_corpora,
    recipe_text,
    training_features,
)

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("extract", "cv", "cross", "report")
log = logging.getLogger("voice_strangers")


def features(corpora: Corpora, cache: Path, n_jobs: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each variant's RAVDESS training features and EmoDB test features (cached)."""
    by_cost = dict(sorted(VARIANTS.items(), key=lambda item: (item[1].feature_set == "compare", not item[1].augment)))
    train = training_features(corpora.train, by_cost, cache / "features", n_jobs, progress=False)
    test = {
        name: corpus_features(corpora.test, recipe.params, cache / "features", (), n_jobs, progress=False)
        for name, recipe in by_cost.items()
    }
    return train, test


def run_cv(corpora: Corpora, train: dict[str, Any], cache: Path, seeds: list[int], n_jobs: int) -> None:
    for seed in seeds:
        for name, recipe in VARIANTS.items():
            folder = cache / "cv" / f"seed{seed}" / name.replace(" ", "_")
            if (folder / "inner_oof.csv").is_file():
                continue
            started = time.perf_counter()
            result = cross_validate_variant(train[name], corpora.train, recipe, seed, n_jobs)
            folder.mkdir(parents=True, exist_ok=True)
            result.oof.to_csv(folder / "oof.csv", index=False)
            result.inner_oof.to_csv(folder / "inner_oof.csv", index=False)
            (folder / "wall_s.txt").write_text(f"{time.perf_counter() - started:.1f}\n")
            log.info("cv %s seed %d: %.1f s", name, seed, time.perf_counter() - started)


def load_cv(cache: Path, seed: int) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    folder = cache / "cv" / f"seed{seed}"
    oofs = {name: read_oof(folder / name.replace(" ", "_") / "oof.csv") for name in VARIANTS}
    inner = {name: read_oof(folder / name.replace(" ", "_") / "inner_oof.csv") for name in VARIANTS}
    return oofs, inner


def run_cross(corpora: Corpora, train: dict[str, Any], test: dict[str, Any], cache: Path, seeds: list[int]) -> None:
    for seed in seeds:
        for name, recipe in VARIANTS.items():
            path = cache / "cross" / f"seed{seed}" / f"{name.replace(' ', '_')}.csv"
            if path.is_file():
                continue
            started = time.perf_counter()
            table = cross_corpus_table(train[name], test[name], corpora, recipe, seed)
            path.parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(path, index=False)
            log.info("cross %s seed %d: %.1f s", name, seed, time.perf_counter() - started)


def mean_sd(values: list[float]) -> dict[str, Any]:
    return {
        "mean": round(float(np.mean(values)), 4),
        "sd": round(float(np.std(values, ddof=1)), 4) if len(values) > 1 else None,
        "runs": [round(v, 4) for v in values],
    }


def fmt(stat: dict[str, Any]) -> str:
    return f"{stat['mean']:.3f}" + (f" +- {stat['sd']:.3f}" if stat["sd"] is not None else "")


def report(corpora: Corpora, cache: Path, seeds: list[int], extract_s: float | None) -> dict[str, Any]:
    held_out: dict[str, list[float]] = {name: [] for name in VARIANTS}
    held_uar: dict[str, list[float]] = {name: [] for name in VARIANTS}
    after_held, after_uar, choices, finals = [], [], {}, {}
    for seed in seeds:
        oofs, inner = load_cv(cache, seed)
        for name, oof in oofs.items():
            m = metrics_from_table(oof)
            held_out[name].append(m["accuracy"])
            held_uar[name].append(m["uar"])
        nested = choose_on_inner_folds(oofs, inner)
        m = metrics_from_table(nested.oof)
        after_held.append(m["accuracy"])
        after_uar.append(m["uar"])
        choices[seed] = nested.choice
        finals[seed] = choose_final(oofs)
    cross: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    for seed in seeds:
        for name in VARIANTS:
            table = read_oof(cache / "cross" / f"seed{seed}" / f"{name.replace(' ', '_')}.csv")
            cross[name].append(metrics_from_table(table))
    after_cross = [cross[finals[s]][k] for k, s in enumerate(seeds)]
    emotions = sorted(set(read_oof(cache / "cross" / f"seed{seeds[0]}" / f"{BEFORE}.csv")["emotion"]))
    result = {
        "data": "real RAVDESS speech (1440 clips, 24 actors, 16 kHz) for training and the held-out protocol; real "
        "EmoDB (535 clips of 10 speakers, FIRST 2 S of each utterance, ../shared/data/emodb) as cross-corpus test",
        "weights": "no pretrained or stand-in weights: openSMILE functionals into an MLP trained here",
        "protocol_held_out": "RAVDESS, 6 consecutive actor folds (2 male + 2 female each), speaker norm none, 8 "
        "emotions; within each training set one male and one female actor held out for early stopping; AFTER: "
        "variant chosen per test fold on the nested (inner-fold) predictions of its training actors",
        "protocol_cross": f"trained on all 24 RAVDESS actors (8 emotions; one male and one female held out for early "
        f"stopping), tested on every EmoDB speaker over the {len(emotions)} shared emotions ({', '.join(emotions)}; "
        "probabilities of the others zeroed and renormalised); AFTER: the variant with the best RAVDESS 6-fold "
        "out-of-fold accuracy of the same seed",
        "seeds": seeds,
        "variants": {name: recipe_text(recipe) for name, recipe in VARIANTS.items()},
        "before": BEFORE,
        "held_out": {
            "before": {"accuracy": mean_sd(held_out[BEFORE]), "uar": mean_sd(held_uar[BEFORE])},
            "after": {"accuracy": mean_sd(after_held), "uar": mean_sd(after_uar)},
            "per_variant": {name: mean_sd(v) for name, v in held_out.items()},
            "choice_per_fold": {str(s): {str(k): v for k, v in c.items()} for s, c in choices.items()},
        },
        "cross_corpus": {
            "chance_uniform": round(1 / len(emotions), 4),
            "before": {
                "accuracy": mean_sd([m["accuracy"] for m in cross[BEFORE]]),
                "uar": mean_sd([m["uar"] for m in cross[BEFORE]]),
            },
            "after": {
                "accuracy": mean_sd([m["accuracy"] for m in after_cross]),
                "uar": mean_sd([m["uar"] for m in after_cross]),
            },
            "final_variant_per_seed": {str(s): v for s, v in finals.items()},
            "per_variant_not_used_to_choose": {
                name: {"accuracy": mean_sd([m["accuracy"] for m in ms]), "uar": mean_sd([m["uar"] for m in ms])}
                for name, ms in cross.items()
            },
        },
        "goals": {"cross_corpus_six_classes": 0.45, "held_out_at_least": 0.60},
        "extract_wall_s": extract_s,
        "machine": f"2-core machine shared with other jobs, load average {os.getloadavg()[0]:.1f} at the report",
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "measured": time.strftime("%Y-%m-%d"),
    }
    (ROOT / "benchmarks" / "voice_strangers.json").write_text(json.dumps(result, indent=2) + "\n")
    (ROOT / "benchmarks" / "voice_strangers.md").write_text(markdown(result))
    return result


def markdown(r: dict[str, Any]) -> str:
    h, c = r["held_out"], r["cross_corpus"]
    n = len(r["seeds"])
    reached = {
        "cross": c["after"]["accuracy"]["mean"] >= r["goals"]["cross_corpus_six_classes"],
        "held": h["after"]["accuracy"]["mean"] >= r["goals"]["held_out_at_least"],
    }
    rows = [
        f"| {name} | {r['variants'][name]} | {fmt(h['per_variant'][name])} | "
        f"{fmt(c['per_variant_not_used_to_choose'][name]['accuracy'])} |"
        for name in r["variants"]
    ]
    finals = ", ".join(f"seed {s}: {v}" for s, v in c["final_variant_per_seed"].items())
    choices = "; ".join(
        f"seed {s}: " + ", ".join(f"fold {k} {v}" for k, v in folds.items())
        for s, folds in h["choice_per_fold"].items()
    )
    return f"""# A voice model for strangers: before and after

Written by `benchmarks/voice_strangers.py` ({r["measured"]}, commit {r["commit"]}). Data: {r["data"]}.
Weights: {r["weights"]}. Mean +- sd over {n} training seeds ({", ".join(map(str, r["seeds"]))}).

- **Actors held out**: {r["protocol_held_out"]}.
- **RAVDESS -> EmoDB**: {r["protocol_cross"]}. Chance (uniform): {c["chance_uniform"]:.3f}.

| | RAVDESS actors held out (8 classes) | RAVDESS -> EmoDB (6 classes) |
|---|---|---|
| BEFORE: `{r["before"]}` (the shipped recipe) | {fmt(h["before"]["accuracy"])} (UAR {fmt(h["before"]["uar"])}) | \
{fmt(c["before"]["accuracy"])} (UAR {fmt(c["before"]["uar"])}) |
| AFTER: chosen on RAVDESS inner folds | {fmt(h["after"]["accuracy"])} (UAR {fmt(h["after"]["uar"])}) | \
{fmt(c["after"]["accuracy"])} (UAR {fmt(c["after"]["uar"])}) |
| goal | >= {r["goals"]["held_out_at_least"]:.2f}: {"reached" if reached["held"] else "NOT reached"} | \
>= {r["goals"]["cross_corpus_six_classes"]:.2f}: {"reached" if reached["cross"] else "NOT reached"} |

Variant of the model fitted on every actor (best RAVDESS out-of-fold accuracy): {finals}.
Variant chosen per test fold on inner folds: {choices}.

Every variant of the a-priori set (accuracy; the EmoDB column is printed for the record and chose nothing):

| variant | recipe | RAVDESS actors held out | RAVDESS -> EmoDB |
|---|---|---|---|
{chr(10).join(rows)}

Feature extraction (RAVDESS clean, and 2 augmented copies per clip for loudness-normalised eGeMAPS; EmoDB
clean):
{r["extract_wall_s"] if r["extract_wall_s"] is not None else "cached from an earlier run"} s with 2 processes.
Machine: {r["machine"]}.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-root", type=Path, default=ROOT.parent / "shared" / "data" / "ravdess")
    parser.add_argument("--test-root", type=Path, default=ROOT.parent / "shared" / "data" / "emodb")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "voice_strangers")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import torch

    torch.set_num_threads(1)
    corpora = load_corpora(args.train_root, args.test_root)
    started = time.perf_counter()
    train, test = features(corpora, args.cache, args.jobs)
    extract_s = round(time.perf_counter() - started, 1) if "extract" in args.phases else None
    log.info("features ready in %.1f s", time.perf_counter() - started)
    if "cv" in args.phases:
        run_cv(corpora, train, args.cache, args.seeds, args.jobs)
    if "cross" in args.phases:
        run_cross(corpora, train, test, args.cache, args.seeds)
    if "report" in args.phases:
        report(corpora, args.cache, args.seeds, extract_s)


if __name__ == "__main__":
    main()
