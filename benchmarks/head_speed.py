#!/usr/bin/env python
"""Where one fit of each non-MLP head spends its time, and what the branches cost in a workflow run (a measurement,
not a test).

    # one fit per head on cached features (fold 0's outer plan, one torch thread, as a workflow worker trains)
    .venv/bin/python benchmarks/head_speed.py profile --label before --features /work/cache/lead/demo/features \\
        --manifest /work/cache/lead/demo/manifest.csv
    # branch wall times and out-of-fold accuracies of a finished workflow run (its log and metrics.json)
    .venv/bin/python benchmarks/head_speed.py workflow --label demo_after --run OUT --log OUT.log
    # benchmarks/head_speed.md from every benchmarks/head_speed_*.json
    .venv/bin/python benchmarks/head_speed.py report

``profile`` runs :func:`emo_utils.train.fit_model` under cProfile (CPU time) and splits its CPU time into the
training forward pass, the backward pass, the optimiser step, the validation pass (early stopping) and copying the
best weights.
The heads train with their branch's default :class:`~emo_utils.train.TrainConfig` (``--config`` chooses the
defaults of a label's JSON instead, to time the old settings on the new code).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import re
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from emo_utils.branches import BRANCHES
from emo_utils.feature_store import load_features
from emo_utils.labels import EMOTIONS
from emo_utils.train import Standardizer, TrainConfig, fit_model, plan_folds

ROOT = Path(__file__).resolve().parents[1]
HEADS = {  # branch -> its feature file under the features folder
    "video_fer": "fer-*/fer_embeddings.npz",
    "video_vit_cnn": "vit-*/vit.npz",
    "video_slowfast": "slowfast-*/clips.npz",
    "audio_mfcc_cnn": "audio_mfcc-*/features.npz",
    "audio_wav2vec_lstm": "wav2vec-*/wav2vec.npz",
}
PHASES = {  # phase -> the (file suffix, function name) of the profiled functions whose cumulative time it is
    "backward": [("torch/_tensor.py", "backward")],
    "optimiser step": [("torch/optim/adamw.py", "step"), ("torch/optim/adam.py", "step")],
    "best-weights copy": [("/copy.py", "deepcopy"), ("emo_utils/fitting.py", "<dictcomp>")],
    "validation pass": [("emo_utils/train.py", "_validation_score"), ("emo_utils/fitting.py", "validation_score")],
}
FORWARD = ("torch/nn/modules/module.py", "_wrapped_call_impl")
TRAINING_CALLERS = ("fit_model", "train_epochs")  # the functions that run the training step's forward pass


def _cumtime(stats: pstats.Stats, suffix: str, name: str) -> float:
    return sum(v[3] for (file, _, func), v in stats.stats.items() if file.endswith(suffix) and func == name)  # type: ignore[attr-defined]


def _split_forward(stats: pstats.Stats) -> float:
    """Forward time of the whole model called from the training step (cProfile's caller edges), not from the
    validation pass and not counting the sub-modules twice."""
    train = 0.0
    for (file, _, func), value in stats.stats.items():  # type: ignore[attr-defined]
        if file.endswith(FORWARD[0]) and func == FORWARD[1]:
            for (_, _, caller), edge in value[4].items():
                if caller in TRAINING_CALLERS:
                    train += edge[3]
    return train


def profile_head(branch: str, features_dir: Path, manifest: pd.DataFrame, config: TrainConfig) -> dict[str, Any]:
    """One fit of ``branch``'s head on fold 0's outer plan, timed by phase."""
    (path,) = sorted(features_dir.glob(HEADS[branch]))
    features = load_features(path)
    rows = manifest.set_index("take_id").loc[list(features.clip_ids)]
    y = rows["emotion"].map({e: i for i, e in enumerate(EMOTIONS)}).to_numpy()
    plan = plan_folds(rows["fold"].to_numpy(), rows["actor"].to_numpy(), rows["gender"].to_numpy(), config)[0]
    X = np.asarray(features.X)
    X_aug = np.asarray(features.X_aug[plan.fit_rows]) if features.X_aug is not None else None
    scaler = Standardizer.fit(X[plan.fit_rows], config.standardize)
    profiler = cProfile.Profile(time.process_time)  # CPU seconds: on a loaded machine, wall time is mostly waiting
    start, cpu = time.perf_counter(), time.process_time()
    profiler.enable()
    model, curve = fit_model(
        X[plan.fit_rows], y[plan.fit_rows], X[plan.val_rows], y[plan.val_rows], config, scaler, X_train_aug=X_aug
    )
    profiler.disable()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    stats = pstats.Stats(profiler)
    forward_train = _split_forward(stats)
    phases = {"forward (training)": forward_train}
    phases.update({phase: sum(_cumtime(stats, *where) for where in wheres) for phase, wheres in PHASES.items()})
    phases["other (batching, scaling, Python)"] = max(0.0, cpu - sum(phases.values()))
    epochs = len(curve)
    return {
        "branch": branch,
        "input": list(X.shape[1:]),
        "fit_rows": len(plan.fit_rows),
        "val_rows": len(plan.val_rows),
        "config": asdict(config),
        "parameters": sum(p.numel() for p in model.parameters()),
        "epochs": epochs,
        "wall_s": wall,
        "cpu_s": cpu,
        "s_per_epoch": wall / max(1, epochs),
        "phases_s": phases,
        "best_val_accuracy": max(c["val_accuracy"] for c in curve),
    }


def _machine() -> dict[str, Any]:
    return {
        "machine": platform.node(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "load_average": os.getloadavg()[0],
        "measured": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def run_profile(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(1)  # as each workflow worker process trains
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])  # torch's one-off lazy imports, outside the profiles
    manifest = pd.read_csv(args.manifest, dtype={"take_id": str}, keep_default_na=False)
    configs = {}
    if args.config:
        configs = {h["branch"]: TrainConfig(**h["config"]) for h in json.loads(args.config.read_text())["heads"]}
    load_before = os.getloadavg()[0]
    heads = [
        profile_head(branch, args.features, manifest, configs.get(branch, BRANCHES[branch].train))
        for branch in args.branches
    ]
    return {"kind": "profile", "label": args.label, "load_before": load_before, **_machine(), "heads": heads}


def run_workflow_record(args: argparse.Namespace) -> dict[str, Any]:
    """Branch wall times (the workflow log's ``[branch] done in N s``) and accuracies (``metrics.json``)."""
    metrics = json.loads((args.run / "metrics.json").read_text())["branches"]
    walls = dict(re.findall(r"\[(\w+)\] done in (\d+) s", args.log.read_text()))
    loads = re.findall(r"load average:? ([\d.]+)", args.log.read_text())  # uptime lines around the run
    branches = {
        name: {"wall_s": int(walls[name]), "accuracy": metrics[name]["accuracy"], "macro_f1": metrics[name]["macro_f1"]}
        for name in args.branches
        if name in walls and name in metrics
    }
    return {
        "kind": "workflow",
        "label": args.label,
        "run": str(args.run),
        "log": str(args.log),
        "note": args.note,
        **_machine(),
        "load_average": float(loads[-1]) if loads else args.load,
        "branches": branches,
    }


def _profile_table(record: dict[str, Any]) -> list[str]:
    phases = list(record["heads"][0]["phases_s"])
    lines = [
        f"### Profile `{record['label']}` ({record['measured']}, load average {record['load_before']:.1f} before, "
        f"{record['load_average']:.1f} after; torch {record['torch']}, one thread)",
        "",
        "| head (branch) | input | parameters | epochs | s/epoch | fit wall s | CPU s | "
        + " | ".join(phases)
        + " | best val acc |",
        "|---" * (8 + len(phases)) + "|",
    ]
    for h in record["heads"]:
        c = h["config"]
        cells = [
            f"{c['model']} {c['model_kwargs'] or ''} batch {c['batch_size']} ({h['branch']})",
            "x".join(map(str, h["input"])),
            f"{h['parameters']:,}",
            str(h["epochs"]),
            f"{h['s_per_epoch']:.3f}",
            f"{h['wall_s']:.1f}",
            f"{h['cpu_s']:.1f}",
            *(f"{h['phases_s'][p]:.2f}" for p in phases),
            f"{h['best_val_accuracy']:.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _workflow_table(records: list[dict[str, Any]]) -> list[str]:
    names = sorted({b for r in records for b in r["branches"]})
    header = " | ".join(f"{r['label']}: wall s / accuracy" for r in records)
    lines = ["| branch | " + header + " |", "|---" * (1 + len(records)) + "|"]
    for name in names:
        cells = []
        for r in records:
            b = r["branches"].get(name)
            cells.append(f"{b['wall_s']} / {b['accuracy']:.3f}" if b else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    for r in records:
        lines.append(f"- `{r['label']}`: {r['note']} (run `{r['run']}`, load average {r['load_average']:.1f})")
    return lines


def write_report(bench: Path) -> Path:
    records = [json.loads(p.read_text()) for p in bench.glob("head_speed_*.json")]
    records.sort(key=lambda r: ("after" in r["label"], r["measured"]))  # before, then after
    profiles = [r for r in records if r["kind"] == "profile"]
    workflows = [r for r in records if r["kind"] == "workflow"]
    lines = [
        "# Speed of the non-MLP heads",
        "",
        "Written by `benchmarks/head_speed.py report` from `benchmarks/head_speed_*.json`; the machine is a shared "
        "2-core VM (no GPU), so wall times depend on the load average given with each.",
        "",
        "## One fit per head",
        "",
        "Fold 0's outer plan of the synthetic demo corpus (192 clips, 12 actors; fit on 8 actors, early stopping on "
        "2 validation actors), cached features, one torch thread (as each workflow worker trains). Phases from "
        "cProfile: the training forward pass, `backward`, the AdamW step, copying the best weights, the validation "
        "pass, and the rest (batching, standardising, Python); CPU seconds (cProfile on the process CPU clock; its "
        "overhead included), since wall time on a loaded machine is mostly waiting for a core.",
        "",
    ]
    for record in profiles:
        lines += _profile_table(record) + [""]
    if workflows:
        lines += [
            "## Branches in a workflow run",
            "",
            "`emo workflow` on the synthetic demo corpus (6 actor folds, speaker norm none; nested: 6 outer + 30 inner "
            "fits per branch whose predictions fusion reads), 2 worker processes, features reused from the cache. "
            "Wall time from the run's log (`[branch] done in N s`), accuracy out of fold from its `metrics.json`.",
            "",
            *_workflow_table(workflows),
            "",
        ]
    out = bench / "head_speed.md"
    out.write_text("\n".join(lines))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    prof = sub.add_parser("profile")
    prof.add_argument("--label", required=True)
    prof.add_argument("--features", type=Path, required=True)
    prof.add_argument("--manifest", type=Path, required=True)
    prof.add_argument("--branches", nargs="+", default=list(HEADS))
    prof.add_argument("--config", type=Path, help="a profile JSON whose heads' configs to train with")
    flow = sub.add_parser("workflow")
    flow.add_argument("--label", required=True)
    flow.add_argument("--run", type=Path, required=True)
    flow.add_argument("--log", type=Path, required=True)
    flow.add_argument("--note", default="")
    flow.add_argument("--load", type=float, default=float("nan"), help="load average during the run")
    flow.add_argument("--branches", nargs="+", default=[b for b in HEADS if b != "audio_wav2vec_lstm"])
    sub.add_parser("report")
    args = parser.parse_args()
    bench = ROOT / "benchmarks"
    if args.command != "report":
        record = run_profile(args) if args.command == "profile" else run_workflow_record(args)
        (bench / f"head_speed_{args.label}.json").write_text(json.dumps(record, indent=1))
    print(write_report(bench))


if __name__ == "__main__":
    main()
