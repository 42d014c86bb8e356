"""The voice model for strangers (emo_utils.voice_model) before and after, on real data: RAVDESS actors held out
and RAVDESS -> EmoDB (first 2 s) over the six emotions both label.

    .venv/bin/python benchmarks/voice_strangers.py --cache /work/cache/voice --seeds 0 --cross-seeds 0 1 2

Phases (each resumes from what ``--cache`` holds): ``extract`` (the functionals of every RAVDESS clip, and of
its reverb+noise and speed+pitch copies for the augmented variant, and of every EmoDB clip, per variant; ComParE
as recorded of every EmoDB clip for BEFORE), ``cv`` (every variant of ``VARIANTS`` cross-validated with nested
actor folds, per seed), ``cross`` (every variant fitted on all 24 RAVDESS actors, per seed, tested on EmoDB; the
shipped model applied to EmoDB), ``report`` (benchmarks/voice_strangers.md and .json), ``ship`` (the voice branch
folder in the shipped-models layout, from the first seed's cross-validation, under ``CACHE/shipped_voice``).

BEFORE is the shipped voice model (emo_utils/shipped_models/branches/audio_compare: ComParE as recorded, no
augmentation, small MLP; read, never written). AFTER is the recipe chosen on RAVDESS only: per test fold on its
inner folds (held-out number), and for the model fitted on every actor on the 6-fold out-of-fold accuracy
(cross-corpus number). EmoDB chooses nothing: every variant's EmoDB score is printed for the record, after the
choice. Measurement, not a test: nothing here is asserted.
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
from emo_utils.labels import EMOTIONS
from emo_utils.voice_model import (
    VARIANTS,
    Corpora,
    choose_final,
    choose_on_inner_folds,
    corpus_features,
    cross_corpus_table,
    cross_validate_variant,
    load_corpora,
    predict_corpus,
    recipe_text,
    ship,
    training_features,
)

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "shipped audio_compare"
SHIPPED_VOICE = ROOT / "emo_utils" / "shipped_models" / "branches" / "audio_compare"  # BEFORE: read, never written
PHASES = ("extract", "cv", "cross", "report", "ship")
log = logging.getLogger("voice_strangers")


def features(corpora: Corpora, cache: Path, n_jobs: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each variant's RAVDESS training features and EmoDB test features, and the shipped model's EmoDB features
    (``BEFORE``), all cached."""
    from emo_utils.audio.opensmile_features import SmileParams
    from emo_utils.checkpoints import load_checkpoint

    by_cost = dict(sorted(VARIANTS.items(), key=lambda item: not item[1].augment))  # the long extraction first
    train = training_features(corpora.train, by_cost, cache / "features", n_jobs, progress=False)
    test = {
        name: corpus_features(corpora.test, recipe.params, cache / "features", (), n_jobs, progress=False)
        for name, recipe in by_cost.items()
    }
    shipped = SmileParams(**load_checkpoint(SHIPPED_VOICE / "final.pt").feature_meta["params"])
    test[BEFORE] = corpus_features(corpora.test, shipped, cache / "features", (), n_jobs, progress=False)
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
    from emo_utils.cross_corpus import shared_emotions

    before = cache / "cross" / "before.csv"
    if not before.is_file():
        before.parent.mkdir(parents=True, exist_ok=True)
        emotions = shared_emotions(corpora.train, corpora.test)
        predict_corpus(SHIPPED_VOICE / "final.pt", test[BEFORE], corpora.test, emotions).to_csv(before, index=False)
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


def scores(table: pd.DataFrame) -> dict[str, Any]:
    """Accuracy and UAR of one prediction table, the spread of accuracy over its folds (held-out tables) and the
    binomial standard error of its accuracy."""
    m = metrics_from_table(table)
    per_fold = [metrics_from_table(rows)["accuracy"] for _, rows in table.groupby("fold")]
    return {
        "accuracy": round(m["accuracy"], 4),
        "uar": round(m["uar"], 4),
        "fold_sd": round(float(np.std(per_fold, ddof=1)), 4) if len(per_fold) > 1 else None,
        "binomial_se": round(float(np.sqrt(m["accuracy"] * (1 - m["accuracy"]) / m["n_clips"])), 4),
        "n_clips": m["n_clips"],
    }


def over_seeds(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"accuracy": mean_sd([r["accuracy"] for r in runs]), "uar": mean_sd([r["uar"] for r in runs]), "runs": runs}


def report(
    corpora: Corpora, cache: Path, seeds: list[int], cross_seeds: list[int], extract_s: float | None
) -> dict[str, Any]:
    held: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    after_held, choices, finals = [], {}, {}
    for seed in seeds:
        oofs, inner = load_cv(cache, seed)
        for name in VARIANTS:
            held[name].append(scores(oofs[name]))
        nested = choose_on_inner_folds(oofs, inner)
        after_held.append(scores(nested.oof))
        choices[str(seed)] = {str(k): v for k, v in nested.choice.items()}
        finals[str(seed)] = choose_final(oofs)
    cross = {
        name: [scores(read_oof(cache / "cross" / f"seed{s}" / f"{name.replace(' ', '_')}.csv")) for s in cross_seeds]
        for name in VARIANTS
    }
    final = finals[str(seeds[0])]
    after_cross = cross[final]
    before_cross = read_oof(cache / "cross" / "before.csv")
    emotions = [e for e in EMOTIONS if e in set(before_cross["emotion"])]
    shipped = json.loads((SHIPPED_VOICE / "provenance.json").read_text())
    result = {
        "data": "real RAVDESS speech (1440 clips, 24 actors, 16 kHz) for training and the held-out protocol; real "
        "EmoDB (535 clips of 10 speakers, FIRST 2 S of each utterance, ../shared/data/emodb) as cross-corpus test",
        "weights": "no pretrained or stand-in weights: openSMILE functionals into an MLP trained on RAVDESS",
        "protocol_held_out": "RAVDESS, 6 consecutive actor folds (2 male + 2 female each), speaker norm none, 8 "
        "emotions; within each training set one male and one female actor held out for early stopping; AFTER: "
        "variant chosen per test fold on the nested (inner-fold) predictions of its training actors",
        "protocol_cross": "trained on all 24 RAVDESS actors (8 emotions; one male and one female held out for early "
        f"stopping), tested on every EmoDB speaker over the {len(emotions)} shared emotions ({', '.join(emotions)}; "
        "probabilities of the others zeroed and renormalised); AFTER: the variant with the best RAVDESS 6-fold "
        f"out-of-fold accuracy (cross-validation seed {seeds[0]}), its final model trained with each seed of "
        f"{cross_seeds}",
        "before": f"{BEFORE}: the model in emo_utils/shipped_models/branches/audio_compare (ComParE 2016 as "
        "recorded, no augmentation, MLP 64 units, seed 0), its oof.csv (same held-out protocol, not nested: its "
        "head was fixed a priori) and its final.pt applied to EmoDB",
        "before_provenance": {k: shipped.get(k) for k in ("description", "protocol", "dataset")},
        "seeds": seeds,
        "cross_seeds": cross_seeds,
        "variants": {name: recipe_text(recipe) for name, recipe in VARIANTS.items()},
        "held_out": {
            "before": scores(read_oof(SHIPPED_VOICE / "oof.csv")),
            "after": over_seeds(after_held),
            "per_variant": {name: over_seeds(runs) for name, runs in held.items()},
            "choice_per_fold": choices,
        },
        "cross_corpus": {
            "chance_uniform": round(1 / len(emotions), 4),
            "before": scores(before_cross),
            "after": over_seeds(after_cross),
            "final_variant": final,
            "final_variant_per_cv_seed": finals,
            "per_variant_not_used_to_choose": {name: over_seeds(runs) for name, runs in cross.items()},
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


def single(s: dict[str, Any], spread: str) -> str:
    return f"{s['accuracy']:.3f} (+- {s[spread]:.3f} {'over folds' if spread == 'fold_sd' else 'binomial SE'})"


def markdown(r: dict[str, Any]) -> str:
    h, c = r["held_out"], r["cross_corpus"]
    reached = {
        "cross": c["after"]["accuracy"]["mean"] >= r["goals"]["cross_corpus_six_classes"],
        "held": h["after"]["accuracy"]["mean"] >= r["goals"]["held_out_at_least"],
    }
    rows = [
        f"| {name} | {r['variants'][name]} | {fmt(h['per_variant'][name]['accuracy'])} | "
        f"{fmt(c['per_variant_not_used_to_choose'][name]['accuracy'])} |"
        for name in r["variants"]
    ]
    finals = ", ".join(f"cross-validation seed {s}: `{v}`" for s, v in c["final_variant_per_cv_seed"].items())
    choices = "; ".join(
        f"seed {s}: " + ", ".join(f"fold {k} `{v}`" for k, v in folds.items())
        for s, folds in h["choice_per_fold"].items()
    )
    first_fold_sd = h["after"]["runs"][0]["fold_sd"]
    seconds = r["extract_wall_s"]
    extraction = (
        f"{seconds} s with 2 processes" if seconds is not None else "not timed in this run (read from the cache)"
    )
    return f"""# A voice model for strangers: before and after

Written by `benchmarks/voice_strangers.py` ({r["measured"]}, commit {r["commit"]}). Data: {r["data"]}.
Weights: {r["weights"]}. AFTER: mean +- sd over training seeds {r["seeds"]} (held out: nested cross-validation)
and {r["cross_seeds"]} (cross-corpus: the final model); one seed gives no sd.

- **Actors held out**: {r["protocol_held_out"]}.
- **RAVDESS -> EmoDB**: {r["protocol_cross"]}. Chance (uniform): {c["chance_uniform"]:.3f}.
- **BEFORE**: {r["before"]}.

| | RAVDESS actors held out (8 classes) | RAVDESS -> EmoDB, first 2 s (6 classes) |
|---|---|---|
| BEFORE: shipped ComParE model | {single(h["before"], "fold_sd")}, UAR {h["before"]["uar"]:.3f} | \
{single(c["before"], "binomial_se")}, UAR {c["before"]["uar"]:.3f} |
| AFTER: variant chosen on RAVDESS inner folds | {fmt(h["after"]["accuracy"])} \
(seed 0: +- {first_fold_sd:.3f} over folds), UAR {fmt(h["after"]["uar"])} | \
{fmt(c["after"]["accuracy"])}, UAR {fmt(c["after"]["uar"])} |
| goal | >= {r["goals"]["held_out_at_least"]:.2f}: {"reached" if reached["held"] else "NOT reached"} | \
>= {r["goals"]["cross_corpus_six_classes"]:.2f}: {"reached" if reached["cross"] else "NOT reached"} |

Variant of the model fitted on every actor (best RAVDESS out-of-fold accuracy): {finals}; the cross-corpus
AFTER uses `{c["final_variant"]}`.
Variant chosen per test fold on inner folds: {choices}.

Every variant of the a-priori set (accuracy, mean +- sd over seeds; the EmoDB column is printed for the record
and chose nothing):

| variant | recipe | RAVDESS actors held out | RAVDESS -> EmoDB |
|---|---|---|---|
{chr(10).join(rows)}

Feature extraction (RAVDESS clean, and 2 augmented copies per clip for loudness-normalised eGeMAPS; EmoDB clean,
per variant and for BEFORE): {extraction}.
Machine: {r["machine"]}.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-root", type=Path, default=ROOT.parent / "shared" / "data" / "ravdess")
    parser.add_argument("--test-root", type=Path, default=ROOT.parent / "shared" / "data" / "emodb")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "voice_strangers")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="nested cross-validation seeds")
    parser.add_argument("--cross-seeds", type=int, nargs="+", default=[0, 1, 2], help="final-model seeds")
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
        run_cross(corpora, train, test, args.cache, args.cross_seeds)
    if "report" in args.phases:
        report(corpora, args.cache, args.seeds, args.cross_seeds, extract_s)
    if "ship" in args.phases:
        oofs, inner = load_cv(args.cache, args.seeds[0])
        shipped = ship(args.cache / "shipped_voice", train, corpora.train, oofs, inner, seed=args.seeds[0])
        log.info("shipped voice branch: %s", shipped["folder"])


if __name__ == "__main__":
    main()
