#!/usr/bin/env python
"""CPU time of training an MLP branch's fold plans one at a time against side by side (a measurement, not a test).

    .venv/bin/python benchmarks/train_speed.py --data-root ../shared/data/ravdess --out RUN --features-dir FEATURES \\
        --branch face_au --candidate small --plans 12

Both ways train the same plans (the first ``--plans`` of the nested cross-validation) in this process on one torch
thread, one after the other, and report wall and CPU time: on a shared machine the CPU time is what the work
costs, the wall time mostly how long it waited for a core. Writes ``benchmarks/train_speed_<branch>.md``.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from emo_utils.branches import BRANCHES
from emo_utils.train import _fold_data, plan_folds, train_fold, train_stacked
from emo_utils.workflow import WorkflowSettings, _labels, branch_config, feature_context, prepare_run

ROOT = Path(__file__).resolve().parents[1]


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--features-dir", type=Path)
    parser.add_argument("--branch", default="face_au")
    parser.add_argument("--candidate", default="small")
    parser.add_argument("--plans", type=int, default=12)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    settings = WorkflowSettings(
        data_root=args.data_root, out=args.out, features_dir=args.features_dir, folds=6, progress=False
    )
    run = prepare_run(settings)
    spec = BRANCHES[args.branch]
    features, _ = spec.build_features(feature_context(run))
    config = replace(branch_config(spec, settings), **spec.candidates.get(args.candidate, {}))
    rows = run.rows(features.clip_ids)
    y = _labels(run, features.clip_ids)
    actors, genders = rows["actor"].to_numpy(), rows["gender"].to_numpy()
    data = _fold_data(features, y, actors, config, None, run.labels)
    plans = plan_folds(rows["fold"].to_numpy(), actors, genders, config, nested=True)[: args.plans]
    load = os.getloadavg()[0]
    timings = {}
    probas = {}
    for name, train in (
        ("one at a time", lambda: [train_fold(data, p) for p in plans]),
        ("side by side", lambda: train_stacked(data, plans)),
    ):
        wall, cpu = time.perf_counter(), cpu_seconds()
        results = train()
        timings[name] = (time.perf_counter() - wall, cpu_seconds() - cpu)
        probas[name] = np.concatenate([r.proba.argmax(1) == y[r.plan.test_rows] for r in results]).mean()
    lines = [
        f"# Training speed: {args.branch} [{args.candidate}], {len(plans)} fold plans of the nested cross-validation",
        "",
        f"Data: {run.dataset} ({'synthetic' if run.synthetic else 'real'}), {len(features)} clips, "
        f"{features.X.shape[1]} features; one process, one torch thread; load average {load:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after, {os.cpu_count()} cores. Measured {time.strftime('%Y-%m-%d %H:%M UTC')}.",
        "",
        "| training | wall s | CPU s | accuracy of the plans' test rows |",
        "|---|---|---|---|",
        *[f"| {n} | {w:.1f} | {c:.1f} | {probas[n]:.3f} |" for n, (w, c) in timings.items()],
        "",
    ]
    text = "\n".join(lines)
    (ROOT / "benchmarks" / f"train_speed_{args.branch}.md").write_text(text)
    print(text, flush=True)


if __name__ == "__main__":
    main()
