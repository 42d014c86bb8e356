#!/usr/bin/env python
"""How long each notebook reads and runs (a benchmark, not a test): the words of its Markdown (all Markdown cells,
and those before its first code cell), and, with ``--run``, its execution time with papermill, one notebook at a
time in course order, the way ``emo course`` runs them (``emo_utils.course.run_notebook``). Writes
``benchmarks/notebook_times.json`` and ``benchmarks/notebook_times.md`` (``docs/workshop.md`` quotes them).

    .venv/bin/python benchmarks/notebook_times.py                        # word counts only
    .venv/bin/python benchmarks/notebook_times.py --run demo --scratch /tmp/nb_demo
    .venv/bin/python benchmarks/notebook_times.py --run defaults --scratch /tmp/nb_defaults
    .venv/bin/python benchmarks/notebook_times.py --run real --notebooks 04 06 07 --scratch /tmp/nb_real

``demo`` runs on the synthetic demo corpus with the workshop's settings (``emo_utils.workshop.WORKSHOP_PARAMETERS``,
the settings ``emo course --workshop`` and ``tests/test_notebooks.py`` use); ``defaults`` on the same corpus with
every parameter the notebook's own default (what ``emo course`` runs without options); ``real`` passes
``data_root=../shared/data/ravdess`` as ``emo course --data-root`` does, every other parameter the notebook's own
default. All notebooks of one run share one fresh output folder (``SCRATCH/run``), so each one starts from what
the notebooks before it cached, as in a course run: a time is "in course order from an empty folder". Earlier
results of other notebooks and modes are kept in the JSON file; a rerun replaces the entries it measures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import nbformat

from emo_utils.course import default_notebooks, run_notebook
from emo_utils.workshop import WORKSHOP_PARAMETERS, WORKSHOP_TRACKS

ROOT = Path(__file__).resolve().parents[1]
OUT_JSON = ROOT / "benchmarks" / "notebook_times.json"
OUT_MD = ROOT / "benchmarks" / "notebook_times.md"
REAL_RAVDESS = ROOT.parent / "shared" / "data" / "ravdess"
# A word: a run of characters between white space holding at least one letter or digit (Markdown and HTML
# punctuation alone, such as "|", "---" or "-->", is not a word; HTML comments such as quote markers are dropped).
_WORD = re.compile(r"\S*[^\W_]\S*")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
MODES = ("demo", "defaults", "real")


def markdown_words(text: str) -> int:
    """The number of words a reader reads in a Markdown text (HTML comments left out)."""
    return len(_WORD.findall(_COMMENT.sub(" ", text)))


def word_counts(path: Path) -> dict[str, int]:
    """Words of all Markdown cells, and of the Markdown cells before the first code cell."""
    nb = nbformat.read(path, as_version=4)
    total = before = 0
    seen_code = False
    for cell in nb.cells:
        seen_code = seen_code or cell.cell_type == "code"
        if cell.cell_type == "markdown":
            words = markdown_words(cell.source)
            total += words
            before += 0 if seen_code else words
    return {"markdown_words": total, "words_before_first_code": before}


def parameters_for(mode: str, run_dir: Path) -> dict[str, Any]:
    """The parameters every notebook gets in ``mode`` (each takes those its parameters cell declares)."""
    if mode == "demo":
        return {"out_dir": str(run_dir), **WORKSHOP_PARAMETERS}
    if mode == "defaults":
        return {"out_dir": str(run_dir)}
    if not REAL_RAVDESS.is_dir():
        raise SystemExit(f"real data not found at {REAL_RAVDESS}: run with --run demo, or put RAVDESS there")
    return {"out_dir": str(run_dir), "data_root": str(REAL_RAVDESS)}


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "notebooks", "emo_utils"], cwd=ROOT, capture_output=True)
    return out.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")


def load_results() -> dict[str, Any]:
    """The results so far; ``runs`` holds every run of each mode whose times are still shown (oldest first)."""
    return json.loads(OUT_JSON.read_text()) if OUT_JSON.is_file() else {"notebooks": {}, "runs": {}}


def keep_shown_runs(results: dict[str, Any]) -> None:
    """Drop the run records of each mode whose every notebook time was replaced by a later run."""
    for mode, runs in results["runs"].items():
        shown = {entry[mode]["date"] for entry in results["notebooks"].values() if entry.get(mode, {}).get("date")}
        results["runs"][mode] = [run for run in runs if run["date"] in shown]


def save(results: dict[str, Any]) -> None:
    OUT_JSON.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    OUT_MD.write_text(markdown(results))


def _time_cell(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "not measured"
    if entry["ok"]:
        return f"{entry['seconds']:.0f} s"
    return f"FAILED after {entry['seconds']:.0f} s"


def markdown(results: dict[str, Any]) -> str:
    """The results as a page: how each run was made, then one row per notebook, then each failure's error."""
    lines = [
        "# Notebook word counts and run times",
        "",
        "Written by `benchmarks/notebook_times.py`. Words: white-space separated tokens holding a letter or digit, in "
        'the Markdown cells (quote markers left out); "before code": in the Markdown cells above the first code '
        "cell. Times: seconds of papermill execution per notebook (kernel start included, HTML rendering not), "
        "one notebook at a time in course order, all notebooks of a run sharing one output folder that was empty "
        "at the start (each notebook reuses what the ones before it cached, as in `emo course`).",
        "",
    ]
    for mode in MODES:
        runs = results["runs"].get(mode, [])
        for run in runs:
            notebooks = sorted(results["notebooks"].items())
            shown = [name[:2] for name, entry in notebooks if entry.get(mode, {}).get("date") == run["date"]]
            continued = f", continuing {run['continued_from']}" if run.get("continued_from") else ""
            lines.append(
                f"- **{mode}** ({run['data']}{continued}): {' '.join(shown)}, measured {run['date']}, "
                f"commit {run['commit']}, {run['machine']}; load average {run['load_before']:.1f} before, "
                f"{run['load_after']:.1f} after (1-minute; the machine is shared, so times are slower than on an idle "
                "one)."
            )
        if not runs:
            lines.append(f"- **{mode}**: not measured.")
    lines += [
        "",
        "| notebook | markdown words | words before code | demo run | defaults run | real run |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in sorted(results["notebooks"].items()):
        times = " | ".join(_time_cell(entry.get(mode)) for mode in MODES)
        lines.append(f"| {name} | {entry['markdown_words']} | {entry['words_before_first_code']} | {times} |")
    lines += ["", *mode_totals(results), "", *track_totals(results)]
    failures = [(n, m, e[m]["error"]) for n, e in sorted(results["notebooks"].items()) for m in MODES if e.get(m)]
    failures = [f for f in failures if f[2]]
    if failures:
        lines += ["", "Failures:", ""] + [f"- {n} ({m}): `{error}`" for n, m, error in failures]
    return "\n".join(lines) + "\n"


def mode_totals(results: dict[str, Any]) -> list[str]:
    """A table of each mode's summed run time over the notebooks it measured (a course run's execution time when
    one run measured them all)."""
    lines = ["| mode | notebooks | runs | summed |", "|---|---|---|---|"]
    for mode in MODES:
        entries = {name[:2]: e[mode] for name, e in sorted(results["notebooks"].items()) if e.get(mode)}
        if entries:
            runs = len({e["date"] for e in entries.values()})
            total = sum(e["seconds"] for e in entries.values())
            lines.append(f"| {mode} | {' '.join(entries)} | {runs} | {total:.0f} s |")
    return lines


def track_totals(results: dict[str, Any]) -> list[str]:
    """A table of each workshop track's summed demo run time (``emo_utils.workshop.WORKSHOP_TRACKS``)."""
    lines = [
        "Workshop tracks (`emo course --workshop`): the sum of their notebooks' demo run times above, each measured "
        "in course order after every notebook before it (a track run alone skips notebooks, so a later notebook "
        "may have more to compute itself).",
        "",
        "| track | notebooks | demo run, summed |",
        "|---|---|---|",
    ]
    for minutes, track in WORKSHOP_TRACKS.items():
        entries = [results["notebooks"].get(p.stem, {}).get("demo") for p in track.notebooks()]
        measured = all(e is not None and e["ok"] for e in entries)
        total = f"{sum(e['seconds'] for e in entries):.0f} s" if measured else "not measured"
        lines.append(f"| {minutes}-minute track | {' '.join(track.numbers)} | {total} |")
    return lines


def selected(numbers: list[str] | None) -> list[Path]:
    notebooks = default_notebooks()
    if not numbers:
        return notebooks
    chosen = [p for p in notebooks if any(p.name.startswith(n) for n in numbers)]
    missing = [n for n in numbers if not any(p.name.startswith(n) for p in notebooks)]
    if missing:
        raise SystemExit(f"no notebook numbered {', '.join(missing)} in {notebooks[0].parent}")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", choices=MODES, help="also execute the notebooks on this data, one at a time")
    parser.add_argument("--notebooks", nargs="+", metavar="NN", help="only these numbers (default: all, in order)")
    parser.add_argument("--scratch", type=Path, help="an empty folder for the run (required with --run)")
    parser.add_argument(
        "--continue-from",
        type=Path,
        metavar="SCRATCH",
        help="start from a copy of an earlier run's output folder (SCRATCH/run), as if its notebooks had just run",
    )
    args = parser.parse_args()
    results = load_results()
    notebooks = selected(args.notebooks)
    for path in default_notebooks():
        results["notebooks"].setdefault(path.stem, {}).update(word_counts(path))
    save(results)
    if not args.run:
        print(OUT_MD.read_text())
        return
    if args.scratch is None or (args.scratch.exists() and any(args.scratch.iterdir())):
        raise SystemExit("--run needs --scratch pointing at a new or empty folder (the run starts with nothing cached)")
    continued_from = ""
    if args.continue_from:
        earlier = results["runs"].get(args.run, [])
        made = [r for r in earlier if r.get("scratch") == str(args.continue_from.resolve())]
        if not made:
            raise SystemExit(f"--continue-from {args.continue_from}: no {args.run} run was recorded with that scratch")
        shutil.copytree(args.continue_from / "run", args.scratch / "run")
        continued_from = f"the output folder of the {made[-1]['date']} run"
    parameters = parameters_for(args.run, args.scratch.resolve() / "run")
    described = {k: v for k, v in parameters.items() if k != "out_dir"}
    run = {
        "data": f"real RAVDESS, {described}" if args.run == "real" else f"synthetic demo corpus, {described}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit(),
        "machine": machine(),
        "load_before": os.getloadavg()[0],
        "load_after": os.getloadavg()[0],
        "notebooks": [p.stem for p in notebooks],
        "scratch": str(args.scratch.resolve()),
        "continued_from": continued_from,
    }
    results["runs"].setdefault(args.run, []).append(run)
    for path in notebooks:
        result = run_notebook(path, args.scratch.resolve(), parameters)
        results["notebooks"][path.stem][args.run] = {
            "seconds": round(result.seconds, 1),
            "ok": result.ok,
            "error": result.error,
            "load": round(os.getloadavg()[0], 2),
            "date": run["date"],
        }
        run["load_after"] = os.getloadavg()[0]
        keep_shown_runs(results)
        save(results)  # after every notebook: a run stopped early keeps what it measured
        print(f"{path.stem}: {_time_cell(results['notebooks'][path.stem][args.run])} {result.error}", flush=True)
    print(OUT_MD.read_text())


if __name__ == "__main__":
    main()
