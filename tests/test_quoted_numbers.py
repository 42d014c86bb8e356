"""One quantity, one number: every number the README, the docs and the notebooks' Markdown quote with a marker
(``<!-- quote: FILE KEY -->``, or a pasted ``<!-- NAME:start -->`` block) equals its source, a results file the
benchmarks write. Conventions: ``emo_utils/quotes.py`` and ``docs/quoting.md``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from emo_utils.quotes import BLOCK, QUOTE, check_text, markdown_of_notebook, quoting_pages, refresh_page, refresh_text

PAGES = [p for p in quoting_pages(REPO_ROOT) if p.suffix == ".md"]
NOTEBOOKS = [p for p in quoting_pages(REPO_ROOT) if p.suffix == ".ipynb"]


def _text(path: Path) -> str:
    return markdown_of_notebook(path) if path.suffix == ".ipynb" else path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", PAGES + NOTEBOOKS, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_quoted_numbers_match_their_sources(path: Path) -> None:
    problems = check_text(_text(path), REPO_ROOT, path.relative_to(REPO_ROOT).as_posix())
    assert not problems, "quoted numbers differ from their sources:\n" + "\n".join(map(str, problems))


def test_readme_pastes_the_headline_results_from_the_benchmarks() -> None:
    blocks = {m["name"] for m in BLOCK.finditer((REPO_ROOT / "README.md").read_text(encoding="utf-8"))}
    assert {"results", "enrolment", "benchmark"} <= blocks


def test_the_docs_quote_their_measured_numbers() -> None:
    quoted = sum(len(QUOTE.findall(_text(p))) for p in PAGES[1:] + NOTEBOOKS)
    assert quoted >= 10, "the docs and notebooks quote their measured numbers with markers"


SOURCE_MD = """Measured by a benchmark.

| model | accuracy | macro-F1 |
|---|---|---|
| audio_compare | 0.62 +- 0.02 | 0.61 |
|   baseline: SVM face_au | 0.56 | 0.54 |

Next predictions took 0.69 s.
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "r.md").write_text(SOURCE_MD)
    (tmp_path / "bench" / "r.json").write_text(json.dumps({"branches": [{"accuracy": 0.5764}]}))
    (tmp_path / "bench" / "r.csv").write_text("model,seed,accuracy\nau,0,0.55\nau,1,0.57\n")
    return tmp_path


@pytest.mark.parametrize(
    "quote",
    [
        "The SVM reaches 0.56 <!-- quote: bench/r.md baseline: SVM face_au | accuracy --> on AUs.",
        "**0.62 +- 0.02** <!-- quote: bench/r.md audio_compare | accuracy -->",
        "It scored 57.6 % <!-- quote: bench/r.json branches.0.accuracy --> and 0.58 <!-- quote: bench/r.json "
        "branches.0.accuracy -->.",
        "then 0.7 s <!-- quote: bench/r.md /took ([\\d.]+) s/ --> per clip",
        "seed 1: 0.57 <!-- quote: bench/r.csv accuracy where model=au, seed=1 -->",
    ],
)
def test_a_correct_quote_passes(root: Path, quote: str) -> None:
    assert check_text(quote, root, "page") == []


@pytest.mark.parametrize(
    ("quote", "problem"),
    [
        ("0.53 <!-- quote: bench/r.md audio_compare | macro-F1 -->", "the source says 0.61"),
        ("0.62 <!-- quote: bench/r.md audio_compare | accuracy -->", "the source says '0.62 +- 0.02'"),
        ("57 % <!-- quote: bench/r.json branches.0.accuracy -->", "the source says 0.5764"),
        ("0.55 <!-- quote: bench/r.csv accuracy where model=au -->", "2 rows match"),
        ("0.5 <!-- quote: bench/missing.md a | b -->", "cannot read it"),
        ("0.5 <!-- quote: bench/r.md face_au | UAR -->", "no table row"),
        ("accuracy <!-- quote: bench/r.md /took ([\\d.]+) s/ -->", "no number right before"),
    ],
)
def test_a_wrong_or_unreadable_quote_fails_and_says_why(root: Path, quote: str, problem: str) -> None:
    (mismatch,) = check_text(quote, root, "page")
    assert problem in mismatch.problem and mismatch.where == "page:1"


def test_a_pasted_block_must_equal_its_file(tmp_path: Path) -> None:
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "latest_results.md").write_text("| a | 0.62 |\n")
    page = "intro\n<!-- results:start -->\n{}\n<!-- results:end -->\n"
    assert check_text(page.format("| a | 0.62 |"), tmp_path, "README.md") == []
    (mismatch,) = check_text(page.format("| a | 0.63 |"), tmp_path, "README.md")
    assert mismatch.source == "benchmarks/latest_results.md"


@pytest.mark.parametrize(
    ("stale", "fresh"),
    [
        (
            "The SVM reaches 0.51 <!-- quote: bench/r.md baseline: SVM face_au | accuracy --> on AUs.",
            "The SVM reaches 0.56 <!-- quote: bench/r.md baseline: SVM face_au | accuracy --> on AUs.",
        ),
        (
            "It scored 12.3 % <!-- quote: bench/r.json branches.0.accuracy --> (0.6 <!-- quote: bench/r.json "
            "branches.0.accuracy -->)",
            "It scored 57.6 % <!-- quote: bench/r.json branches.0.accuracy --> (0.6 <!-- quote: bench/r.json "
            "branches.0.accuracy -->)",
        ),
        (
            "**0.60 +- 0.05** <!-- quote: bench/r.md audio_compare | accuracy -->",
            "**0.62 +- 0.02** <!-- quote: bench/r.md audio_compare | accuracy -->",
        ),
        (
            "then 2 s <!-- quote: bench/r.md /took ([\\d.]+) s/ --> per clip",
            "then 1 s <!-- quote: bench/r.md /took ([\\d.]+) s/ --> per clip",
        ),
    ],
)
def test_refresh_sets_each_quote_to_its_source_at_its_own_decimals(root: Path, stale: str, fresh: str) -> None:
    text, changes, left = refresh_text(stale, root, "page")
    assert (text, left) == (fresh, []) and len(changes) == 1
    assert check_text(text, root, "page") == []
    assert refresh_text(fresh, root, "page") == (fresh, [], [])


def test_refresh_leaves_what_it_cannot_read_or_recognise_to_a_person(root: Path) -> None:
    page = "0.5 <!-- quote: bench/missing.md a | b -->\nabout 0.6 <!-- quote: bench/r.md audio_compare | accuracy -->"
    text, changes, left = refresh_text(page, root, "page")
    assert text == page and changes == []
    assert ["cannot read it" in m.problem for m in left] == [True, False]


def test_refresh_pastes_a_block_again_and_rewrites_a_notebooks_markdown_only(tmp_path: Path) -> None:
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "latest_results.md").write_text("| a | 0.63 |\n")
    (tmp_path / "benchmarks" / "t.json").write_text(json.dumps({"seconds": 41.6}))
    cells = [
        {
            "cell_type": "markdown",
            "metadata": {},
            "source": [
                "Run time: 39 s <!-- quote: benchmarks/t.json seconds -->\n",
                "<!-- results:start -->\n| a | 0.62 |\n<!-- results:end -->",
            ],
        },
        {"cell_type": "code", "metadata": {}, "source": ["x = 39  # s"], "outputs": [], "execution_count": None},
    ]
    path = tmp_path / "notebooks" / "00_x.ipynb"
    path.parent.mkdir()
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1) + "\n")
    changes, left = refresh_page(path, tmp_path)
    assert len(changes) == 2 and left == []
    refreshed = json.loads(path.read_text())["cells"]
    assert "".join(refreshed[0]["source"]) == (
        "Run time: 42 s <!-- quote: benchmarks/t.json seconds -->\n"
        "<!-- results:start -->\n| a | 0.63 |\n<!-- results:end -->"
    )
    assert refreshed[1] == cells[1]
    stored = path.read_text()
    assert refresh_page(path, tmp_path) == ([], []) and path.read_text() == stored
