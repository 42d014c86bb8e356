"""Quoted numbers and their sources: every measured number in the README, the docs and the notebooks' Markdown
names the results file it comes from, and :func:`check_text` says where a quote and its source disagree.

Two conventions (``docs/quoting.md`` explains them with examples):

- **an inline quote**: ``0.62 <!-- quote: benchmarks/latest_results.md audio_compare | accuracy -->``. The number
  right before the marker (``%`` allowed after it) must equal the value the key picks from the file, rounded to the
  quote's decimals. Keys: ``ROW | COLUMN`` (a Markdown table's cell, the row named by its first cell), ``/REGEX/``
  (the first match's group 1, in any text file), a dotted path (``a.b.0.c``, in a JSON file) or
  ``COLUMN where NAME=VALUE, ...`` (the one matching row of a CSV file). A cell that is not one number (``0.62 +-
  0.02``) must be quoted in full: the text before the marker ends with it.
- **a pasted block**: ``<!-- NAME:start -->`` ... ``<!-- NAME:end -->``, where ``NAME`` is a key of
  :data:`BLOCK_SOURCES`; the block must be exactly the source file's text (the benchmarks paste it so).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

# Blocks that benchmarks paste into Markdown pages, by marker name -> the file they paste (relative to the repository).
BLOCK_SOURCES: dict[str, str] = {
    "results": "benchmarks/latest_results.md",
    "enrolment": "benchmarks/latest_enrolment.md",
    "benchmark": "benchmarks/latest.md",
}

QUOTE = re.compile(r"<!--\s*quote:\s*(?P<path>\S+)\s+(?P<key>.*?)\s*-->")
BLOCK = re.compile(r"<!--\s*(?P<name>[\w-]+):start\s*-->\n?(?P<body>.*?)\n?<!--\s*(?P=name):end\s*-->", re.DOTALL)
_NUMBER_BEFORE = re.compile(r"(?P<number>[-+]?\d+(?:\.\d+)?)\s*(?:(?P<percent>%)|[A-Za-z]{1,6})?[\s*_)\],;:]*$")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Mismatch:
    """One quote that disagrees with its source (or whose source cannot be read)."""

    where: str
    quoted: str
    source: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.quoted!r} quotes {self.source}: {self.problem}"


def _markdown_cell(text: str, row: str, column: str) -> str:
    header: list[str] | None = None
    for line in text.splitlines():
        if not line.lstrip().startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif cells[0].strip("*` ") == row and column in header:
            return cells[header.index(column)]
    raise KeyError(f"no table row {row!r} with a column {column!r}")


def _csv_value(path: Path, key: str) -> str:
    column, _, where = key.partition(" where ")
    wanted = dict(part.strip().split("=", 1) for part in where.split(",") if part.strip())
    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if all(r.get(k) == v for k, v in wanted.items())]
    if len(rows) != 1:
        raise KeyError(f"{len(rows)} rows match {wanted} (need exactly one)")
    return rows[0][column.strip()]


def _json_value(path: Path, key: str) -> str:
    value = json.loads(path.read_text())
    for part in key.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return str(value)


def source_value(root: Path, path: str, key: str) -> str:
    """The text the key picks from the results file ``root/path`` (raises KeyError/OSError when it cannot)."""
    file = root / path
    if key.startswith("/") and key.endswith("/") and len(key) > 1:
        match = re.search(key[1:-1], file.read_text())
        if not match:
            raise KeyError(f"the pattern {key} does not occur")
        return match.group(1)
    if file.suffix == ".json":
        return _json_value(file, key)
    if file.suffix == ".csv":
        return _csv_value(file, key)
    row, sep, column = key.partition("|")
    if not sep:
        raise KeyError(f"the key {key!r} is neither 'ROW | COLUMN', '/REGEX/', a JSON path nor a CSV selection")
    return _markdown_cell(file.read_text(), row.strip(), column.strip())


def _agrees(before: str, value: str) -> str:
    """'' when the text before the marker quotes ``value`` correctly, else what is wrong."""
    if not _NUMBER.fullmatch(value.strip()):
        return "" if before.rstrip(" *_").endswith(value.strip()) else f"the source says {value.strip()!r}"
    match = _NUMBER_BEFORE.search(before)
    if not match:
        return "no number right before the marker"
    quoted, source = match["number"], float(value) * (100 if match["percent"] else 1)
    decimals = len(quoted.partition(".")[2])
    if abs(round(source, decimals) - float(quoted)) > 10 ** (-decimals) / 2:
        return f"the source says {value.strip()} (quoted with {decimals} decimals: {round(source, decimals)})"
    return ""


@dataclass(frozen=True)
class _Quote:
    """One quote marker of a text: where its line starts, the line's text before it, its source and what the source
    says (``value``, None when unreadable) or what is wrong with the quote (``problem``, '' when it agrees)."""

    line_start: int
    before: str
    line: str
    source: str
    value: str | None
    problem: str

    def mismatch(self) -> Mismatch:
        return Mismatch(self.line, self.before[-40:].strip(), self.source, self.problem)


def _quotes(text: str, root: Path, where: str) -> list[_Quote]:
    """Every quote marker of ``text`` read against its source under ``root``."""
    quotes = []
    for marker in QUOTE.finditer(text):
        line_start = text.rfind("\n", 0, marker.start()) + 1
        before = text[line_start : marker.start()]
        line = f"{where}:{text.count(chr(10), 0, marker.start()) + 1}"
        source = f"{marker['path']} [{marker['key']}]"
        try:
            value: str | None = source_value(root, marker["path"], marker["key"]).strip()
            problem = _agrees(before, value)
        except (OSError, KeyError, IndexError, ValueError) as exc:
            value, problem = None, f"cannot read it: {exc}"
        quotes.append(_Quote(line_start, before, line, source, value, problem))
    return quotes


def check_text(text: str, root: Path, where: str) -> list[Mismatch]:
    """Every quote marker and pasted block of ``text`` (a Markdown page or cell) against its source under ``root``."""
    problems = [q.mismatch() for q in _quotes(text, root, where) if q.problem]
    for block in BLOCK.finditer(text):
        path = BLOCK_SOURCES.get(block["name"])
        if path is None:
            continue
        source = (root / path).read_text().strip() if (root / path).is_file() else None
        if source != block["body"].strip():
            marker = f"<!-- {block['name']} -->"
            problems.append(Mismatch(where, marker, path, "the pasted block differs from the file"))
    return problems


def markdown_of_notebook(path: Path) -> str:
    """The Markdown cells of a notebook, joined (cells separated by a blank line)."""
    cells = json.loads(path.read_text())["cells"]
    return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def quoting_pages(root: Path) -> list[Path]:
    """The pages whose quotes are checked: the README, the docs and the numbered notebooks (their Markdown)."""
    return [
        root / "README.md",
        *sorted((root / "docs").glob("*.md")),
        *sorted((root / "notebooks").glob("[0-9][0-9]*.ipynb")),
    ]


def _shape(value: str) -> re.Pattern[str]:
    """A pattern for text shaped like ``value`` (``0.62 +- 0.02``: any two numbers around ``+-``), at a line's end."""
    parts = _NUMBER.split(value.strip())
    return re.compile(_NUMBER.pattern.join(re.escape(p) for p in parts) + r"(?=[\s*_]*$)")


def _replacement(before: str, value: str | None) -> tuple[int, int, str] | None:
    """Where in ``before`` (the line's text before a marker) the quoted value stands and what replaces it: the
    number at its own decimals (times 100 after a ``%``), or a value quoted in full; None when it cannot tell."""
    if value is None:
        return None
    if not _NUMBER.fullmatch(value):
        found = _shape(value).search(before)
        return None if found is None else (*found.span(), value)
    found = _NUMBER_BEFORE.search(before)
    if found is None:
        return None
    decimals = len(found["number"].partition(".")[2])
    return (*found.span("number"), f"{float(value) * (100 if found['percent'] else 1):.{decimals}f}")


def refresh_text(text: str, root: Path, where: str) -> tuple[str, list[str], list[Mismatch]]:
    """``text`` with every quote set to what its source says now and every pasted block pasted again.

    A one-number quote keeps its decimals (and its ``%``); a quote in full (``0.62 +- 0.02``) is replaced when the
    text before its marker has the same shape. Returns the new text, the changes made (``where: old -> new``) and
    the quotes left for a person (a source that cannot be read, text that does not look like the value)."""
    edits: list[tuple[int, int, str]] = []
    changes: list[str] = []
    left: list[Mismatch] = []
    blocks = [b for b in BLOCK.finditer(text) if b["name"] in BLOCK_SOURCES]
    for block in blocks:
        file = root / BLOCK_SOURCES[block["name"]]
        pasted = file.read_text().strip() if file.is_file() else None
        if pasted is None:
            left.append(Mismatch(where, f"<!-- {block['name']} -->", str(file), "cannot read it"))
        elif pasted != block["body"].strip():
            edits.append((block.start("body"), block.end("body"), pasted))
            changes.append(f"{where}: the {block['name']} block pasted again from {BLOCK_SOURCES[block['name']]}")
    for quote in _quotes(text, root, where):
        if not quote.problem or any(b.start() <= quote.line_start + len(quote.before) < b.end() for b in blocks):
            continue
        replacement = _replacement(quote.before, quote.value)
        if replacement is None:
            left.append(quote.mismatch())
            continue
        start, end, new = replacement
        edits.append((quote.line_start + start, quote.line_start + end, new))
        changes.append(f"{quote.line}: {quote.before[start:end]} -> {new} ({quote.source})")
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text, changes, left


def refresh_page(path: Path, root: Path, write: bool = True) -> tuple[list[str], list[Mismatch]]:
    """:func:`refresh_text` on a Markdown page, or on each Markdown cell of a notebook (stored as Jupyter stores
    it); the file is rewritten only when ``write`` and something changed."""
    where = path.relative_to(root).as_posix()
    if path.suffix != ".ipynb":
        text, changes, left = refresh_text(path.read_text(encoding="utf-8"), root, where)
        if write and changes:
            path.write_text(text, encoding="utf-8")
        return changes, left
    notebook = json.loads(path.read_text(encoding="utf-8"))
    changes, left = [], []
    for number, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text, cell_changes, cell_left = refresh_text("".join(cell["source"]), root, f"{where} cell {number}")
        if cell_changes:
            cell["source"] = text.splitlines(keepends=True)
        changes += cell_changes
        left += cell_left
    if write and changes:
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changes, left
