"""The real RAVDESS `none` table before and after the speed work of issue 19: same seeds and fold assignments.

    .venv/bin/python benchmarks/none_table_compare.py [--before benchmarks/history/2026-12-01_a623354_results_runs.csv]

Reads two per-run tables written by benchmarks/protocol_results.py (``results_runs.csv``: one row per run and
model) and writes ``benchmarks/none_table_compare.md``: per model present in both, mean +- sd over the runs of
each, the difference of the means and whether it lies within the larger of the two spreads. Measurement, not a test.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per model: mean and standard deviation of the accuracy over the ``none`` runs, and the number of runs."""
    table = runs[runs["speaker_norm"] == "none"]
    return table.groupby("model", sort=False)["accuracy"].agg(["mean", "std", "count"])


def compare(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """The models of both tables side by side, with the difference of means and the larger spread."""
    both = summary(before).add_suffix("_before").join(summary(after).add_suffix("_after"), how="inner")
    both["difference"] = both["mean_after"] - both["mean_before"]
    both["spread"] = both[["std_before", "std_after"]].max(axis=1)
    both["within"] = both["difference"].abs() <= both["spread"]
    return both


def markdown(both: pd.DataFrame, before: Path, after: Path) -> str:
    lines = [
        "# The real RAVDESS `none` table, before and after (issue 19)",
        "",
        f"Before: `{before.name}` (measured 2026-12-01, commit a623354). After: "
        f"`{after.name}` (this version's code path for these branches). Both: real RAVDESS speech and "
        "real OpenFace AUs (1440 takes), the three MLP branches, 6 actor folds, no test-speaker statistics, no "
        "stand-in weights; seeds [0, 1] x folds [consecutive, emobox]. Written by "
        "`benchmarks/none_table_compare.py`.",
        "",
        "| model | before (mean +- sd) | after (mean +- sd) | difference | within the spread |",
        "|---|---|---|---|---|",
    ]
    for model, row in both.iterrows():
        lines.append(
            f"| {model} | {row['mean_before']:.3f} +- {row['std_before']:.3f} | {row['mean_after']:.3f} +- "
            f"{row['std_after']:.3f} | {row['difference']:+.3f} | {'yes' if row['within'] else 'no'} |"
        )
    n_out = int((~both["within"]).sum())
    lines += ["", f"{len(both)} models in both tables; {n_out} moved by more than the larger of the two spreads.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--before", type=Path, default=ROOT / "benchmarks" / "history" / "2026-12-01_a623354_results_runs.csv"
    )
    parser.add_argument("--after", type=Path, default=ROOT / "benchmarks" / "results_runs.csv")
    args = parser.parse_args()
    both = compare(pd.read_csv(args.before), pd.read_csv(args.after))
    text = markdown(both, args.before, args.after)
    (ROOT / "benchmarks" / "none_table_compare.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
