"""A rendered course a teacher can publish: every notebook executed in order (papermill), each rendered to
HTML (nbconvert), and an ``index.html`` with the notebook map, each notebook's status and run time, the data
and protocol of the run and its results table.

The notebooks share one output folder (``OUT/run``) as a student's do: later notebooks read what earlier ones
wrote. A notebook that fails is shown as failed with its error and its partial HTML; the rest still run.
"""

from __future__ import annotations

import html
import json
import logging
import re
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import papermill as pm
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from papermill.exceptions import PapermillExecutionError

logger = logging.getLogger(__name__)

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
# Course options passed to every notebook whose parameters cell declares them.
COURSE_PARAMETERS = ("data_root", "out_dir", "clip_limit", "epochs", "n_actors")
# Notebook parameters that are also workflow settings (the run's summary trains nothing the notebooks did not).
_SETTING_OF_PARAMETER = {
    "data_root": "data_root",
    "clip_limit": "clip_limit",
    "epochs": "epochs",
    "n_actors": "demo_actors",
    "wav2vec_model": "wav2vec_model",
    "vit_model": "vit_model",
    "fuse_random_weights": "fuse_random_weights",
}


@dataclass
class NotebookResult:
    """One notebook of the course: what it teaches, and how its execution went."""

    source: Path
    title: str
    summary_html: str
    executed: Path
    html: Path | None
    ok: bool
    seconds: float
    error: str = ""


@dataclass
class CourseResult:
    """The rendered course: the index page, each notebook's result, and the run folder they shared."""

    index: Path
    notebooks: list[NotebookResult]
    run_dir: Path

    @property
    def failed(self) -> list[NotebookResult]:
        return [r for r in self.notebooks if not r.ok]


def default_notebooks() -> list[Path]:
    """The course's numbered notebooks, in order."""
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def notebook_outline(nb: nbformat.NotebookNode) -> tuple[str, str]:
    """The title (the first Markdown heading) and what the notebook teaches (the first paragraph after it, with
    the block it introduces when it ends with a colon, e.g. a list)."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        blocks = [b.strip() for b in re.split(r"\n\s*\n", cell.source) if b.strip()]
        for i, block in enumerate(blocks):
            if block.startswith("#"):
                title = block.splitlines()[0].lstrip("#").strip()
                rest = [b for b in blocks[i + 1 :] if not b.startswith("#")]
                summary = rest[:2] if rest and rest[0].endswith(":") else rest[:1]
                return title, "\n\n".join(summary)
    return "", ""


def declared_parameters(nb: nbformat.NotebookNode) -> set[str]:
    """The names assigned in the notebook's cell tagged ``parameters``."""
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            return set(re.findall(r"^([A-Za-z_]\w*)\s*=", cell.source, flags=re.MULTILINE))
    return set()


def _execute(source: Path, executed: Path, parameters: dict[str, Any], kernel_name: str) -> str:
    """Run one notebook with papermill; returns its error ("" when it ran through). The partial notebook is
    written either way (papermill saves what ran before the failing cell)."""
    try:
        pm.execute_notebook(
            str(source),
            str(executed),
            parameters=parameters,
            kernel_name=kernel_name,
            cwd=str(source.parent),
            progress_bar=False,
        )
    except PapermillExecutionError as exc:
        return f"{exc.ename}: {exc.evalue} (In [{exc.exec_count}])"
    except Exception as exc:  # a dead kernel or an unreadable notebook must not stop the other notebooks
        return f"{type(exc).__name__}: {exc}"
    return ""


def _render_html(executed: Path, target: Path) -> Path:
    body, _ = HTMLExporter(template_name="lab").from_filename(str(executed))
    target.write_text(body, encoding="utf-8")
    return target


def run_notebook(
    source: Path, out: Path, parameters: Mapping[str, Any], kernel_name: str = "python3"
) -> NotebookResult:
    """Execute one notebook into ``out/ipynb/`` and render it to ``out/NAME.html`` (also when it failed)."""
    nb = nbformat.read(source, as_version=4)
    title, summary = notebook_outline(nb)
    declared = declared_parameters(nb)
    given = {k: v for k, v in parameters.items() if k in declared}
    executed = out / "ipynb" / source.name
    executed.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    error = _execute(source, executed, given, kernel_name)
    seconds = time.perf_counter() - started
    page = None
    if executed.is_file():
        try:
            page = _render_html(executed, out / f"{source.stem}.html")
        except Exception as exc:  # keep the notebook's own error if there is one; otherwise report this one
            error = error or f"rendering to HTML failed: {type(exc).__name__}: {exc}"
    return NotebookResult(
        source,
        title or source.stem,
        markdown2html_mistune(summary),
        executed,
        page,
        ok=not error,
        seconds=seconds,
        error=error,
    )


def summarize_run(run_dir: Path, parameters: Mapping[str, Any]) -> None:
    """Write the run's ``metrics.json``, ``report.md`` and figures with the workflow, from the branches the
    notebooks trained (their cached results are reused; the fusion is recomputed in seconds)."""
    trained = sorted(p.parent.name for p in (run_dir / "branches").glob("*/oof.csv"))
    if not trained:
        logger.info("no trained branch in %s: the index has no results table", run_dir)
        return
    from emo_utils.workflow import WorkflowSettings, run_workflow  # torch: imported only when a run has branches

    settings = {_SETTING_OF_PARAMETER[k]: v for k, v in parameters.items() if k in _SETTING_OF_PARAMETER}
    data_root = settings.pop("data_root", None)
    logger.info("summarising the run (branches %s; cached stages are reused)", ", ".join(trained))
    run_workflow(
        WorkflowSettings(
            data_root=Path(data_root) if data_root else None,
            out=run_dir,
            branches=tuple(trained),
            progress=False,
            **settings,
        )
    )


def render_course(
    out: str | Path,
    notebooks: Sequence[str | Path] | None = None,
    data_root: str | Path | None = None,
    clip_limit: int | None = None,
    epochs: int | None = None,
    n_actors: int | None = None,
    extra: Mapping[str, Any] | None = None,
    kernel_name: str = "python3",
    summarize: bool = True,
) -> CourseResult:
    """Execute the notebooks in order into ``out`` (shared run folder ``out/run``), render each to HTML and
    write ``out/index.html``. Options left ``None`` keep each notebook's own default; ``extra`` parameters go
    to the notebooks that declare them. ``summarize``: write the run's metrics and report for the index."""
    out = Path(out).resolve()
    run_dir = out / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    sources = [Path(p).resolve() for p in notebooks] if notebooks else default_notebooks()
    parameters: dict[str, Any] = {"out_dir": str(run_dir)}
    if data_root is not None:
        parameters["data_root"] = str(Path(data_root).resolve())  # the notebooks run in their own folder
    parameters.update(
        {k: v for k, v in {"clip_limit": clip_limit, "epochs": epochs, "n_actors": n_actors}.items() if v is not None}
    )
    parameters.update(extra or {})
    declared = set().union(*(declared_parameters(nbformat.read(p, as_version=4)) for p in sources if p.is_file()))
    unknown = sorted(set(extra or {}) - declared)
    if unknown:
        logger.warning("no notebook declares the parameter(s) %s: they are ignored", ", ".join(unknown))
    results = []
    for i, source in enumerate(sources, 1):
        logger.info("[%d/%d] %s ...", i, len(sources), source.name)
        result = run_notebook(source, out, parameters, kernel_name)
        status = "ok" if result.ok else f"FAILED: {result.error}"
        logger.info("[%d/%d] %s: %s (%.1f s)", i, len(sources), source.name, status, result.seconds)
        results.append(result)
    if summarize:
        try:
            summarize_run(run_dir, parameters)
        except Exception as exc:  # the index still lists the notebooks
            logger.error("summarising the run failed: %s: %s", type(exc).__name__, exc)
    index = write_index(out, results, run_dir)
    logger.info("course written to %s (%d notebooks, %d failed)", index, len(results), sum(not r.ok for r in results))
    return CourseResult(index, results, run_dir)


def _rel(path: Path, base: Path) -> str:
    return html.escape(path.relative_to(base).as_posix(), quote=True)


def _run_section(run_dir: Path, base: Path) -> str:
    """The data, protocol and results table of the run (from its metrics.json and report.md); these files and
    the run's figures are copied to ``base/results`` so that the site can be published without ``run/``."""
    metrics_path, report_path = run_dir / "metrics.json", run_dir / "report.md"
    if not metrics_path.is_file():
        return "<p>The run wrote no <code>metrics.json</code> (no trained branch), so there is no results table.</p>"
    results = base / "results"
    results.mkdir(exist_ok=True)
    files = [metrics_path, report_path, *sorted((run_dir / "figures").glob("*.png"))]
    copies = [Path(shutil.copy2(f, results / f.name)) for f in files if f.is_file()]
    metrics = json.loads(metrics_path.read_text())
    data = (
        "SYNTHETIC demo corpus (numbers show only that the pipeline works)" if metrics.get("synthetic") else "real data"
    )
    parts = [
        "<dl>",
        f"<dt>dataset</dt><dd>{html.escape(str(metrics.get('dataset', 'unknown')))}</dd>",
        f"<dt>data</dt><dd>{html.escape(data)}</dd>",
        f"<dt>protocol</dt><dd>{html.escape(str(metrics.get('protocol', 'unknown')))}</dd>",
        "</dl>",
    ]
    if report_path.is_file():
        table = "\n".join(line for line in report_path.read_text().splitlines() if line.startswith("|"))
        parts.append(markdown2html_mistune(table))
    parts += [
        f'<p><img src="{_rel(f, base)}" alt="{html.escape(f.stem)}" style="max-width:100%"></p>'
        for f in copies
        if f.suffix == ".png"
    ]
    parts.append(
        "<p>Files: " + ", ".join(f'<a href="{_rel(f, base)}">{html.escape(f.name)}</a>' for f in copies) + "</p>"
    )
    return "\n".join(parts)


_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.35em .6em;vertical-align:top;
text-align:left}th{background:#f3f3f3}td p{margin:0}.ok{color:#176317;font-weight:bold}
.failed{color:#b00020;font-weight:bold}pre{white-space:pre-wrap;margin:.3em 0;font-size:.85em}dt{font-weight:bold}"""


def write_index(out: Path, results: Sequence[NotebookResult], run_dir: Path) -> Path:
    """``out/index.html``: the notebook map with status and run time, then the run's data, protocol and results."""
    rows = []
    for r in results:
        name = html.escape(r.source.stem)
        title = f'<a href="{_rel(r.html, out)}">{html.escape(r.title)}</a>' if r.html else html.escape(r.title)
        status = (
            '<span class="ok">ok</span>'
            if r.ok
            else f'<span class="failed">failed</span><pre>{html.escape(r.error)}</pre>'
        )
        notebook = f'<a href="{_rel(r.executed, out)}">.ipynb</a>' if r.executed.is_file() else ""
        rows.append(
            f"<tr><td>{name}</td><td>{title}</td><td>{r.summary_html}</td><td>{status}</td>"
            f"<td>{r.seconds:.1f} s</td><td>{notebook}</td></tr>"
        )
    failed = sum(not r.ok for r in results)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>emotion-fusion: the course</title>
<style>{_STYLE}</style></head><body>
<h1>emotion-fusion: the course</h1>
<p>{len(results)} notebooks executed in order on {time.strftime("%Y-%m-%d %H:%M")}, {failed} failed;
total run time {sum(r.seconds for r in results):.0f} s. Every accuracy is measured with actors held out.</p>
<h2>The notebooks</h2>
<table><thead><tr><th>notebook</th><th>title</th><th>what it teaches</th><th>status</th><th>run time</th>
<th>executed</th></tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table>
<h2>Data, protocol and results of this run</h2>
{_run_section(run_dir, out)}
</body></html>
"""
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
