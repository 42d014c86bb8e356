"""The run report: figures (confusion matrices side by side, metric bars) and ``report.md``, from a run's
``metrics.json`` and its saved out-of-fold tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from emo_utils.artifacts import load_artifact, read_oof
from emo_utils.baselines import BASELINES
from emo_utils.fusion import STRATEGIES
from emo_utils.plotting import plot_confusions, plot_metric_bars, save_figure

SYNTHETIC_DATA = "SYNTHETIC demo corpus (not RAVDESS; numbers only show the pipeline works)"


def provenance_line(synthetic: bool, random_weights: bool) -> str:
    """Which data and which weights a number stands on, in words."""
    data = "SYNTHETIC demo data" if synthetic else "real data"
    weights = "RANDOM stand-in backbone weights (not a result)" if random_weights else "no random stand-ins"
    return f"{data}, {weights}"


def run_title(metrics: dict[str, Any]) -> str:
    """The title every figure of a run carries: protocol, data set, and SYNTHETIC where it applies."""
    return f"{metrics['protocol']} | {metrics['dataset']}" + (" | SYNTHETIC" if metrics["synthetic"] else "")


def _row(name: str, m: dict[str, Any], note: str) -> str:
    return f"| {name} | {m['accuracy']:.2f} | {m['macro_f1']:.2f} | {m['uar']:.2f} | {m['n_clips']} | {note} |"


def _kept(m: dict[str, Any]) -> str:
    """``; kept A + B in folds 0, 2; A in fold 1``: what a branch-choosing strategy kept per test fold."""
    folds_of: dict[str, list[str]] = {}
    for fold, kept in m.get("kept_per_fold", {}).items():
        folds_of.setdefault(" + ".join(kept), []).append(fold)
    parts = [f"{kept} in fold{'s' if len(f) > 1 else ''} {', '.join(f)}" for kept, f in folds_of.items()]
    return "; kept " + "; ".join(parts) if parts else ""


def _student_note(m: dict[str, Any]) -> str:
    """What a distillation student learnt from (emo_utils.distill)."""
    size = f"{m['size']} MLP on {m['student_of']} features"
    if not m.get("teacher"):
        return f"{size}, labels alone"
    chosen = ", ".join(f"{k}: {v}" for k, v in m.get("chosen_per_fold", {}).items())
    return f"{size}, soft targets of " + " + ".join(m["teacher"]) + f" (nested; T, w per fold on inner folds: {chosen})"


def results_table(metrics: dict[str, Any]) -> list[str]:
    """Markdown rows: each branch followed by its untuned baselines, then the fusion strategies (with the branches
    a choosing strategy kept per test fold), the distillation students and the baselines' fusions."""
    lines = ["| model | accuracy | macro-F1 | UAR | clips | note |", "|---|---|---|---|---|---|"]
    fused = {b for m in metrics["fusion"].values() for b in m["branches"]}
    baselines = metrics.get("baselines", {})
    for name, m in metrics["branches"].items():
        note = ""
        if m.get("random_weights"):
            note = "RANDOM stand-in weights: not a result" + ("" if name in fused else "; left out of fusion")
        lines.append(_row(name, m, note))
        for kind in BASELINES:
            if f"{kind} {name}" in baselines:
                lines.append(_row(f"  baseline: {kind} on {name} features", baselines[f"{kind} {name}"], "untuned"))
    for strategy, m in metrics["fusion"].items():
        spec = STRATEGIES.get(strategy)
        among = "chosen on inner folds among " if spec is not None and spec.chooses_branches else "fuses "
        note = among + " + ".join(m["branches"]) + _kept(m)
        if "best_late_same_inputs" in m:
            best = m["best_late_same_inputs"]
            note += f"; best late fusion of the same inputs: {best} {m['late_same_inputs'][best]:.2f}"
        lines.append(_row(f"fusion {strategy}", m, note))
    for name, m in metrics.get("distillation", {}).items():
        lines.append(_row(f"student {name}", m, _student_note(m)))
    for kind in BASELINES:
        for strategy in ("late_equal", "product"):
            if f"{kind} fusion {strategy}" in baselines:
                row = _row(f"  baseline: {kind} {strategy} fusion", baselines[f"{kind} fusion {strategy}"], "untuned")
                lines.append(row)
    return lines


def write_report(metrics: dict[str, Any], out: str | Path) -> None:
    """Figures and a Markdown summary of a finished run in ``out``."""
    out = Path(out)
    tables: dict[str, pd.DataFrame] = {n: load_artifact(out / "branches" / n).oof for n in metrics["branches"]}
    tables.update({f"fusion {s}": read_oof(out / "fusion" / s / "oof.csv") for s in metrics["fusion"]})
    title = run_title(metrics)
    save_figure(plot_confusions(tables, title), out / "figures" / "confusion_matrices.png")
    bars = {**metrics["branches"], **{f"fusion {s}": m for s, m in metrics["fusion"].items()}}
    save_figure(plot_metric_bars(bars, title), out / "figures" / "metrics.png")
    data = SYNTHETIC_DATA if metrics["synthetic"] else "real"
    lines = [
        f"# Results: {metrics['dataset']}",
        "",
        f"Protocol: {metrics['protocol']}.",
        f"Data: {data}.",
        "",
        *results_table(metrics),
    ]
    (out / "report.md").write_text("\n".join(lines) + "\n")
