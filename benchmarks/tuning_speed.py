#!/usr/bin/env python
"""What the tuned MLP branches and the SVM baseline cost before and after training only what is read (issue 19):
a measurement, nothing is asserted.

    # the SVM baseline on real features, scikit-learn's CalibratedClassifierCV(SVC()) against CalibratedRBFSVC
    .venv/bin/python benchmarks/tuning_speed.py svm --features RUN/features/audio_compare-*/features.npz \\
        --manifest RUN/manifest.csv --json /tmp/svm.json
    # the report: branch times of a run before and of one after (cold, then warm), and whether the predictions
    # are the same bytes
    .venv/bin/python benchmarks/tuning_speed.py report --before RUN_BEFORE --after RUN_AFTER \\
        --after-cold-metrics RUN_AFTER/metrics_cold.json --svm /tmp/svm.json --load "..."

The branch times come from each run's ``metrics.json`` (``wall_time_s``); runs on a shared machine wait for a
core, so the load average is part of every number.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emo_utils.artifacts import INNER_OOF_FILE, OOF_FILE, read_oof
from emo_utils.evaluate import metrics_from_table


def compare_svm(features: Path, manifest: Path) -> dict[str, Any]:
    """Out-of-fold SVM baseline with scikit-learn's calibrated SVC and with :class:`CalibratedRBFSVC`: time,
    accuracy and how far their probabilities differ."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    from emo_utils import baselines
    from emo_utils.feature_store import load_features
    from emo_utils.labels import EMOTIONS

    def sklearn_svm(y_train: np.ndarray, seed: int) -> CalibratedClassifierCV:
        per_class = np.bincount(y_train)
        return CalibratedClassifierCV(
            SVC(random_state=seed), cv=min(5, int(per_class[per_class > 0].min())), ensemble=False
        )

    feature_set = load_features(features)
    rows = pd.read_csv(manifest, dtype=str).set_index("take_id").loc[feature_set.clip_ids]
    labels = tuple(e for e in EMOTIONS if e in set(rows["emotion"]))
    y = np.array([labels.index(e) for e in rows["emotion"]])
    actors, folds = rows["actor"].to_numpy(), rows["fold"].astype(int).to_numpy()
    result: dict[str, Any] = {"features": str(features), "shape": list(feature_set.X.shape)}
    proba = {}
    for name, classifier in (("before", sklearn_svm), ("after", baselines._svm)):
        baselines.BASELINES["SVM"] = baselines.Baseline("SVM", name, classifier)
        started = time.perf_counter()
        oof = baselines.baseline_cross_validate("SVM", feature_set, y, actors, folds, label_names=labels)
        result[f"{name}_s"] = round(time.perf_counter() - started, 1)
        result[f"{name}_accuracy"] = metrics_from_table(oof)["accuracy"]
        proba[name] = oof[[f"p_{e}" for e in labels]].to_numpy(float)
    result["max_abs_probability_difference"] = float(np.abs(proba["after"] - proba["before"]).max())
    result["predictions_differing"] = int((proba["after"].argmax(1) != proba["before"].argmax(1)).sum())
    return result


def compare_stacked(features: Path, manifest: Path, reference: Path, epochs: int) -> dict[str, Any]:
    """CPU seconds of one stacked group (the first of ``--jobs 2``: every test fold's plan and half the inner
    plans) of each tuning candidate of audio_compare, trained for ``epochs`` epochs by the ``reference``
    implementation of :mod:`emo_utils.stacked` (e.g. ``git show 04de816:emo_utils/stacked.py``) and by this one,
    alternately in one process (so both see the same load); and whether their models are the same bits."""
    import importlib.util
    from dataclasses import replace

    import torch

    from emo_utils import stacked
    from emo_utils.branches import BRANCHES
    from emo_utils.feature_store import load_features
    from emo_utils.labels import EMOTIONS
    from emo_utils.train import Standardizer, plan_folds

    torch.set_num_threads(1)  # as the workflow's training processes
    spec_ = importlib.util.spec_from_file_location("stacked_reference", reference)
    assert spec_ is not None and spec_.loader is not None
    old = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(old)
    feature_set = load_features(features)
    rows = pd.read_csv(manifest, dtype=str).set_index("take_id").loc[feature_set.clip_ids]
    labels = tuple(e for e in EMOTIONS if e in set(rows["emotion"]))
    y = np.array([labels.index(e) for e in rows["emotion"]])
    X = np.ascontiguousarray(feature_set.X, dtype=np.float32)
    spec = BRANCHES["audio_compare"]
    result: dict[str, Any] = {"epochs": epochs, "reference": str(reference)}
    for name, changes in spec.candidates.items():
        config = replace(spec.train, **changes, epochs=epochs)
        plans = plan_folds(
            rows["fold"].astype(int).to_numpy(),
            rows["actor"].to_numpy(),
            rows["gender"].to_numpy(),
            config,
            nested=True,
        )[0::2]
        scalers = [Standardizer.fit(X[p.fit_rows]) for p in plans]
        plan_rows = [stacked.PlanRows(p.fit_rows, p.val_rows, s.mean, s.std) for p, s in zip(plans, scalers)]
        fitted, seconds = {}, {}
        for label, module in (("before", old), ("after", stacked)):
            started = time.process_time()
            fitted[label] = module.fit_stacked(X, y, plan_rows, config, len(labels))
            seconds[label] = round(time.process_time() - started, 1)
        same = all(
            a[1] == b[1] and all(torch.equal(v, b[0].state_dict()[k]) for k, v in a[0].state_dict().items())
            for a, b in zip(fitted["before"], fitted["after"])
        )
        result[name] = {"plans": len(plans), "cpu_s_before": seconds["before"], "cpu_s_after": seconds["after"]}
        result[name]["identical"] = same
    return result


def phase_times(log: Path, branches: list[str]) -> dict[str, dict[str, float]]:
    """Per branch, seconds spent on its features (from the previous branch's end), on training its candidates
    (until the per-fold choice) and on its baselines (until its end), from the workflow log's timestamps."""
    stamps = []
    for line in log.read_text().splitlines():
        try:
            stamps.append((datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f"), line[24:]))
        except ValueError:
            continue
    phases: dict[str, dict[str, float]] = {}
    previous_end = stamps[0][0]
    for when, text in stamps:
        name = next((b for b in branches if f"[{b}]" in text or f"[{b} [" in text), None)
        if name is None:
            if "] done in" in text:
                previous_end = when
            continue
        times = phases.setdefault(name, {"start": previous_end.timestamp()})
        if "training:" in text or "cached results" in text:
            times.setdefault("trained_from", when.timestamp())
        if "setting chosen" in text:
            times["chosen"] = when.timestamp()
        if "] done in" in text:
            times["done"] = when.timestamp()
            previous_end = when
    return {
        name: {
            "features": round(t["trained_from"] - t["start"], 1),
            "candidates": round(t["chosen"] - t["trained_from"], 1),
            "baselines": round(t["done"] - t["chosen"], 1),
        }
        for name, t in phases.items()
        if {"trained_from", "chosen", "done"} <= set(t)
    }


def same_bytes(before: Path, after: Path) -> str:
    """``identical``, ``DIFFERENT``, ``missing`` or ``none in either`` for one file in two runs."""
    if not before.is_file() and not after.is_file():
        return "none in either"
    if not before.is_file() or not after.is_file():
        return "missing"
    return "identical" if before.read_bytes() == after.read_bytes() else "DIFFERENT"


def prediction_checks(before: Path, after: Path, branches: list[str]) -> list[str]:
    """Table rows: per branch (and tuning candidate), whether oof.csv and inner_oof.csv are the same bytes, and
    the SVM baseline's accuracy in both runs."""
    lines = ["| artifact | oof.csv | inner_oof.csv | accuracy before | accuracy after |", "|---|---|---|---|---|"]
    for branch in branches:
        folder = Path("branches") / branch
        candidates = sorted(p.name for p in (after / folder / "candidates").glob("*") if p.is_dir())
        baselines = [Path("baselines") / branch, Path("baselines") / "lr" / branch]
        for sub in [folder, *(folder / "candidates" / c for c in candidates), *baselines]:
            accuracy = [
                f"{metrics_from_table(read_oof(run / sub / OOF_FILE))['accuracy']:.4f}"
                if (run / sub / OOF_FILE).is_file()
                else "-"
                for run in (before, after)
            ]
            checks = [same_bytes(before / sub / name, after / sub / name) for name in (OOF_FILE, INNER_OOF_FILE)]
            lines.append(f"| `{sub}` | {checks[0]} | {checks[1]} | {accuracy[0]} | {accuracy[1]} |")
    return lines


def write_report(args: argparse.Namespace) -> None:
    before = json.loads((args.before / "metrics.json").read_text())
    cold = json.loads(args.after_cold_metrics.read_text())
    warm = json.loads((args.after / "metrics.json").read_text())
    branches = list(cold["branches"])
    lines = [
        "# Tuned branches and baselines: only the work that is read (issue 19)",
        "",
        f"Written by `benchmarks/tuning_speed.py report` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "Data: real RAVDESS speech (1440 clips, 24 actors), 6-fold actor-independent, speaker norm none, seed 0.",
        f"Before: `{args.before}` (main 04de816's code path, all five branches). After: `{args.after}`, "
        f"`--branches {' '.join(branches)} --jobs 2`, features copied from the before run (openSMILE not rerun).",
        f"Machine: 2 cores shared with other jobs; load average {args.load}.",
        "",
        "## Wall time per branch (s; from each run's metrics.json)",
        "",
        "| branch | before (cold) | after (cold) | after (warm) |",
        "|---|---|---|---|",
    ]
    for name in branches:
        times = [m["branches"].get(name, {}).get("wall_time_s", "-") for m in (before, cold, warm)]
        lines.append(f"| {name} | {times[0]} | {times[1]} | {times[2]} |")
    lines += [f"| whole run | {before['wall_time_s']} (5 branches) | {cold['wall_time_s']} | {warm['wall_time_s']} |"]
    phases = {run: phase_times(log, branches) for run, log in (("before", args.before_log), ("after", args.after_log))}
    lines += [
        "",
        "## Where a cold branch's time goes (s; from the log's timestamps)",
        "",
        "features: from the previous branch's end to the first training line; candidates: training the candidates "
        "until the per-fold choice; baselines: SVM and logistic regression.",
        "",
        "| branch | phase | before | after |",
        "|---|---|---|---|",
    ]
    for name in branches:
        for phase in ("features", "candidates", "baselines"):
            got = [phases[run].get(name, {}).get(phase, "-") for run in ("before", "after")]
            lines.append(f"| {name} | {phase} | {got[0]} | {got[1]} |")
    if args.svm is not None:
        svm = json.loads(args.svm.read_text())
        lines += [
            "",
            "## SVM baseline alone (same features, folds and seed)",
            "",
            f"Features `{svm['features']}` {svm['shape']}: scikit-learn's `CalibratedClassifierCV(SVC())` "
            f"{svm['before_s']} s, accuracy {svm['before_accuracy']:.4f}; `CalibratedRBFSVC` {svm['after_s']} s, "
            f"accuracy {svm['after_accuracy']:.4f}; largest probability difference "
            f"{svm['max_abs_probability_difference']:.1e}, {svm['predictions_differing']} predicted classes differ.",
        ]
    if args.stacked is not None:
        group = json.loads(args.stacked.read_text())
        lines += [
            "",
            f"## One stacked group of audio_compare, {group['epochs']} epochs, CPU seconds in one process",
            "",
            f"The first group of `--jobs 2` (every test fold's plan and half the inner plans); before: "
            f"`{group['reference']}`, after: this branch's `emo_utils/stacked.py`, run alternately.",
            "",
            "| candidate | plans | CPU s before | CPU s after | models the same bits |",
            "|---|---|---|---|---|",
        ]
        for name, g in group.items():
            if isinstance(g, dict):
                lines.append(f"| {name} | {g['plans']} | {g['cpu_s_before']} | {g['cpu_s_after']} | {g['identical']} |")
    lines += [
        "",
        "## Same predictions? (bytes of the before and after runs' files; same seed and folds)",
        "",
        *prediction_checks(args.before, args.after, branches),
        "",
    ]
    if args.notes is not None:
        lines += [args.notes.read_text().rstrip(), ""]
    args.out.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    svm = commands.add_parser("svm", help="time the SVM baseline before and after on real features")
    svm.add_argument("--features", type=Path, required=True)
    svm.add_argument("--manifest", type=Path, required=True)
    svm.add_argument("--json", type=Path, required=True)
    group = commands.add_parser("stacked", help="CPU time of one stacked group, a reference implementation vs this")
    group.add_argument("--features", type=Path, required=True)
    group.add_argument("--manifest", type=Path, required=True)
    group.add_argument("--reference", type=Path, required=True, help="an earlier emo_utils/stacked.py")
    group.add_argument("--epochs", type=int, default=3)
    group.add_argument("--json", type=Path, required=True)
    report = commands.add_parser("report", help="write the before/after table")
    report.add_argument("--before", type=Path, required=True, help="run folder made before the change")
    report.add_argument("--after", type=Path, required=True, help="run folder after the change, last run warm")
    report.add_argument("--after-cold-metrics", type=Path, required=True, help="metrics.json of its cold run")
    report.add_argument("--before-log", type=Path, required=True, help="the before run's log")
    report.add_argument("--after-log", type=Path, required=True, help="the after run's cold log")
    report.add_argument("--svm", type=Path, help="the svm command's JSON")
    report.add_argument("--stacked", type=Path, help="the stacked command's JSON")
    report.add_argument("--load", default="not recorded", help="load averages during the runs")
    report.add_argument("--notes", type=Path, help="a Markdown file appended as it is (what the numbers mean)")
    report.add_argument("--out", type=Path, default=Path(__file__).with_name("tuning_speed.md"))
    args = parser.parse_args()
    if args.command == "svm":
        args.json.write_text(json.dumps(compare_svm(args.features, args.manifest), indent=2) + "\n")
    elif args.command == "stacked":
        measured = compare_stacked(args.features, args.manifest, args.reference, args.epochs)
        args.json.write_text(json.dumps(measured, indent=2) + "\n")
    else:
        write_report(args)


if __name__ == "__main__":
    main()
