"""Speech measurements (not a test): openSMILE extraction throughput, and every audio branch within RAVDESS
and within EmoDB with speakers held out and no test-speaker statistics.

    python benchmarks/speech_benchmarks.py --ravdess ../shared/data/ravdess --emodb ../shared/data/emodb \
        --out runs/speech_bench [--throughput-clips 120] [--skip-throughput] [--branches ...]

Accuracy protocols (the branches' training settings as registered in ``emo_utils.branches``, fixed a priori):
- RAVDESS: 6 gender-balanced folds of 4 actors, 8 classes, no per-actor normalisation (``emo workflow
  --no-actor-norm`` gives the same numbers for registered branches);
- EmoDB (first 2 s of each utterance): 5 folds of one male + one female speaker, 7 classes, and 6 classes
  with boredom dropped. Until the label space is generalised, the 7 EmoDB classes are trained as indices
  0-6 of the models' 8 outputs (the 8th is never a target and is ignored when predicting), and scored here
  with scikit-learn.
Writes ``OUT/speech_benchmarks_<parts>.md`` and ``.json`` (``<parts>``: the measurements not skipped).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from emo_utils.audio.opensmile_features import SmileParams, extract_smile_features
from emo_utils.branches import BRANCHES, FeatureContext
from emo_utils.data.folds import assign_actor_folds
from emo_utils.data.manifest import index_dataset
from emo_utils.extraction import start_worker_server
from emo_utils.feature_store import FeatureSet
from emo_utils.train import cross_validate

EMODB_LABELS = ("neutral", "happy", "sad", "angry", "fearful", "disgust", "bored")
RAVDESS_LABELS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")


def load_average() -> str:
    return "load average " + " / ".join(f"{x:.1f}" for x in os.getloadavg()) + " (1 / 5 / 15 min)"


def throughput(tasks: list[tuple[str, str]], out: Path, feature_set: str, n_jobs: int) -> dict[str, float | str]:
    """Clips per second of a cold extraction (fresh cache) of ``feature_set`` functionals in ``n_jobs`` processes.

    In one process the extraction runs here, so its CPU time is measured too: CPU seconds per clip do not
    depend on what else the machine runs, and ``1 / cpu_s_per_clip`` is the rate of one idle core.
    """
    folder = out / f"throughput-{feature_set}-{n_jobs}"
    shutil.rmtree(folder, ignore_errors=True)
    if n_jobs > 1:
        start_worker_server()
    started, cpu_started = time.perf_counter(), time.process_time()
    extract_smile_features(
        tasks, folder / "f.npz", folder / "cache", SmileParams(feature_set), n_jobs=n_jobs, progress=False
    )
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    shutil.rmtree(folder, ignore_errors=True)
    result: dict[str, float | str] = {
        "clips": len(tasks),
        "seconds": round(seconds, 1),
        "clips_per_s": round(len(tasks) / seconds, 2),
        "load": load_average(),
    }
    if n_jobs == 1:
        result["cpu_s_per_clip"] = round(cpu / len(tasks), 4)
    return result


def corpus(root: Path, n_folds: int) -> pd.DataFrame:
    manifest, _ = index_dataset(root)
    manifest = manifest[manifest["vocal_channel"] == "speech"].reset_index(drop=True)
    manifest["fold"] = assign_actor_folds(manifest["actor"], manifest["gender"], n_folds)
    return manifest


def features_of(name: str, manifest: pd.DataFrame, folder: Path) -> FeatureSet:
    ctx = FeatureContext(
        manifest, folder, "facebook/wav2vec2-base", "google/vit-base-patch16-224-in21k", True, None, False
    )
    features, skipped = BRANCHES[name].build_features(ctx)
    assert len(skipped) == 0, skipped.report()
    return features


def scores(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    pred = proba.argmax(axis=1)
    return {
        "accuracy": round(float(accuracy_score(y, pred)), 3),
        "uar": round(float(balanced_accuracy_score(y, pred)), 3),
        "macro_f1": round(float(f1_score(y, pred, average="macro")), 3),
        "n_clips": int(len(y)),
    }


def cv_accuracy(name: str, features: FeatureSet, manifest: pd.DataFrame, labels: tuple[str, ...]) -> dict:
    """Speaker-independent CV of branch ``name`` over ``labels`` (label i trained as output i)."""
    rows = manifest.set_index("take_id").loc[features.clip_ids]
    keep = rows["emotion"].isin(labels).to_numpy()
    subset, rows = features.subset(features.clip_ids[keep]), rows[keep]
    y = rows["emotion"].map({e: i for i, e in enumerate(labels)}).to_numpy()
    config = replace(BRANCHES[name].train, actor_norm=False)
    started = time.perf_counter()
    result = cross_validate(
        subset,
        y,
        rows["actor"].to_numpy(),
        rows["gender"].to_numpy(),
        rows["fold"].to_numpy(),
        config,
        progress=False,
        n_jobs=2,
    )
    proba = result.oof.iloc[:, 4 : 4 + len(labels)].to_numpy()  # the outputs of the labels trained; others ignored
    return {
        **scores(y, proba),
        "folds": int(rows["fold"].nunique()),
        "train_s": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ravdess", type=Path, required=True)
    parser.add_argument("--emodb", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("runs/speech_bench"))
    parser.add_argument("--branches", nargs="+", default=["audio_mfcc_cnn", "audio_egemaps", "audio_compare"])
    parser.add_argument("--throughput-clips", type=int, default=120)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-ravdess", action="store_true")
    parser.add_argument("--skip-emodb", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores usable, shared with other users",
        "started": time.strftime("%Y-%m-%d %H:%M"),
    }
    ravdess = corpus(args.ravdess, 6)
    emodb = corpus(args.emodb, 5)
    if not args.skip_throughput:
        tasks = list(zip(ravdess["take_id"], ravdess["audio_path"]))[:: max(1, len(ravdess) // args.throughput_clips)]
        tasks = tasks[: args.throughput_clips]
        results["throughput"] = {
            f"{fs} functionals, {n} process(es)": throughput(tasks, args.out, fs, n)
            for fs in ("egemaps", "compare")
            for n in (1, 2)
        }
    branches = [b for b in args.branches if b in BRANCHES]
    results["missing_branches"] = [b for b in args.branches if b not in BRANCHES]
    for name in branches:
        if not args.skip_ravdess:
            features = features_of(name, ravdess, args.out / "features" / "ravdess")
            results.setdefault("ravdess_8_classes", {})[name] = cv_accuracy(name, features, ravdess, RAVDESS_LABELS)
        if args.skip_emodb:
            continue
        features = features_of(name, emodb, args.out / "features" / "emodb")
        results.setdefault("emodb_7_classes", {})[name] = cv_accuracy(name, features, emodb, EMODB_LABELS)
        results.setdefault("emodb_6_classes_no_boredom", {})[name] = cv_accuracy(
            name, features, emodb, EMODB_LABELS[:6]
        )
        print(name, json.dumps({k: v.get(name) for k, v in results.items() if isinstance(v, dict)}), flush=True)
    results["finished"] = time.strftime("%Y-%m-%d %H:%M")
    stem = "speech_benchmarks" + "".join(
        f"_{k}" for k in ("throughput", "ravdess", "emodb") if not getattr(args, f"skip_{k}")
    )
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [f"Machine: {results['machine']}; {results['started']} -> {results['finished']}.", ""]
    for key, table in results.items():
        if isinstance(table, dict) and table and all(isinstance(v, dict) for v in table.values()):
            lines += [f"## {key}", "", pd.DataFrame(table).T.to_string(), ""]
    (args.out / f"{stem}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
