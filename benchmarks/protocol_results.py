"""The README's headline results, with their spread: the real-data workflow over training seeds x fold assignments.

    .venv/bin/python benchmarks/protocol_results.py    # none: 3 seeds x 2 fold assignments, and the enrolment curve
    .venv/bin/python benchmarks/protocol_results.py --seeds 0 --lesson-norms enrol:8 all

Each (speaker norm, folds, seed) is one cold `emo workflow` on ../shared/data/ravdess (features are shared between
runs: their stages do not depend on the seed of training). Writes every run's numbers to
benchmarks/results_runs.csv, the mean and standard deviation per protocol to benchmarks/latest_results.md, the
enrolment curve (seed 0, consecutive folds) to benchmarks/latest_enrolment.md, and quotes both in the README.
Measurement, not a test: nothing here is asserted.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pandas as pd
import torch

from emo_utils.analysis.enrolment import enrolment_curve
from emo_utils.workflow import WorkflowSettings, prepare_run, run_workflow

ROOT = Path(__file__).resolve().parents[1]
# The MLP branches (MFCC CNN left out: its 36 nested fits per run made 3 x 2 runs too long for a 2-core machine).
BRANCHES = ("audio_compare", "audio_egemaps", "face_au")
FOLDS = {"consecutive": 6, "emobox": "emobox"}


def one_run(
    data_root: Path, out: Path, features: Path, norm: str, folds: str, seed: int, branches: tuple[str, ...]
) -> list[dict]:
    """One cold workflow run; one row per model (branch, baseline, fusion) with its accuracy and macro-F1."""
    settings = WorkflowSettings(
        data_root=data_root,
        out=out,
        branches=branches,
        folds=FOLDS[folds],
        seed=seed,
        speaker_norm=norm,
        progress=False,
        features_dir=features,
    )
    started = time.perf_counter()
    metrics = run_workflow(settings)
    common = {"speaker_norm": norm, "folds": folds, "seed": seed, "run_s": round(time.perf_counter() - started)}
    rows = [
        {**common, "model": name, "kind": kind, "accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}
        for kind, group in (
            ("branch", metrics["branches"]),
            ("baseline", metrics["baselines"]),
            ("fusion", {f"fusion {s}": m for s, m in metrics["fusion"].items()}),
        )
        for name, m in group.items()
    ]
    return rows


def summarise(runs: pd.DataFrame) -> str:
    """Markdown: per protocol, each model's mean +- standard deviation over the runs."""
    lines = []
    for norm, table in runs.groupby("speaker_norm", sort=False):
        n = table.groupby(["folds", "seed"]).ngroups
        grouped = table.groupby(["kind", "model"], sort=False)
        summary = grouped[["accuracy", "macro_f1"]].agg(["mean", "std"])
        runs = (
            f"mean +- sd over {n} runs: seeds {sorted(int(s) for s in table['seed'].unique())} x folds "
            f"{sorted(table['folds'].unique())}"
            if n > 1
            else f"one run: seed {table['seed'].iloc[0]}, {table['folds'].iloc[0]} folds, so no spread"
        )
        lines += [
            f"**Speaker normalisation `{norm}`** (real RAVDESS, 1440 clips, 6 actor folds; {runs}; "
            "real OpenFace AUs and real speech, no stand-in weights)",
            "",
            "| model | accuracy | macro-F1 |",
            "|---|---|---|",
        ]
        for (kind, model), row in summary.iterrows():
            label = f"  baseline: {model}" if kind == "baseline" else model
            cells = [
                f"{row[(metric, 'mean')]:.2f}" + (f" +- {row[(metric, 'std')]:.2f}" if n > 1 else "")
                for metric in ("accuracy", "macro_f1")
            ]
            lines.append(f"| {label} | {' | '.join(cells)} |")
        lines.append("")
    return "\n".join(lines)


def markdown(table: pd.DataFrame) -> str:
    """A numeric table as Markdown, two decimals."""
    head = "| model | " + " | ".join(map(str, table.columns)) + " |"
    rule = "|---" * (len(table.columns) + 1) + "|"
    body = [f"| {name} | " + " | ".join(f"{v:.2f}" for v in row) + " |" for name, row in table.iterrows()]
    return "\n".join([head, rule, *body])


def quote(marker: str, text: str) -> None:
    from run_benchmarks import quote_in_readme

    quote_in_readme(ROOT / "README.md", marker, text)


def write_enrolment_curve(data_root: Path, run: Path, features: Path, seed: int, branches: tuple[str, ...]) -> None:
    """The enrolment curve of a finished ``none`` run (its branches and features are reused)."""
    started = time.perf_counter()
    settings = WorkflowSettings(
        data_root=data_root, out=run, branches=branches, seed=seed, progress=False, features_dir=features
    )
    curve = enrolment_curve(prepare_run(settings), list(branches))
    table = curve.pivot(index="model", columns="clips", values="accuracy")[list(dict.fromkeys(curve["clips"]))]
    text = (
        "Accuracy against K unlabelled clips of each test speaker used to normalise it (real RAVDESS, "
        f"consecutive 6 actor folds, seed {seed}; scored on the {int(curve['n_clips'].max())} clips "
        "outside every enrolment draw; K = 0 is the run's branch, its MLP size chosen per fold, the other points "
        "use the middle size):\n\n"
        + markdown(table)
        + f"\n\nMeasured {time.strftime('%Y-%m-%d')} by benchmarks/protocol_results.py "
        f"({time.perf_counter() - started:.0f} s).\n"
    )
    (ROOT / "benchmarks" / "latest_enrolment.md").write_text(text)
    quote("enrolment", text)
    print(text, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data" / "ravdess")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "protocol_results")
    parser.add_argument("--norms", nargs="+", default=["none"], help="run at every seed and fold assignment")
    parser.add_argument(
        "--lesson-norms",
        nargs="*",
        default=[],
        help="also run these once (first seed, first fold assignment); the enrolment curve already gives "
        "every branch under enrol:K and all",
    )
    parser.add_argument("--folds", nargs="+", default=list(FOLDS), choices=list(FOLDS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--branches", nargs="+", default=list(BRANCHES))
    parser.add_argument("--no-curve", action="store_true", help="skip the enrolment curve")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    started = time.perf_counter()
    rows = []
    # seeds outermost, so that an interrupted benchmark leaves runs balanced over the fold assignments
    plan = [(norm, folds, seed) for norm in args.norms for seed in args.seeds for folds in args.folds]
    plan += [(norm, args.folds[0], args.seeds[0]) for norm in args.lesson_norms]
    for norm, folds, seed in plan:
        out = args.out / f"{norm.replace(':', '')}-{folds}-seed{seed}"
        rows += one_run(args.data_root, out, args.out / "features", norm, folds, seed, tuple(args.branches))
        pd.DataFrame(rows).to_csv(ROOT / "benchmarks" / "results_runs.csv", index=False)  # kept if a run fails
        print(f"{norm} {folds} seed {seed}: done ({time.perf_counter() - started:.0f} s so far)", flush=True)
        if not args.no_curve and (norm, folds) == ("none", "consecutive") and seed == args.seeds[0]:
            write_enrolment_curve(args.data_root, out, args.out / "features", seed, tuple(args.branches))
    runs = pd.DataFrame(rows)
    text = (
        summarise(runs) + f"\nMeasured {time.strftime('%Y-%m-%d')} by benchmarks/protocol_results.py "
        f"({time.perf_counter() - started:.0f} s; per-run table in benchmarks/results_runs.csv).\n"
    )
    (ROOT / "benchmarks" / "latest_results.md").write_text(text)
    quote("results", text)
    print(text)


if __name__ == "__main__":
    main()
