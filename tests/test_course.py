"""``emo course``: the notebooks executed in order, each rendered to HTML, and an index a teacher can publish."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from conftest import REPO_ROOT

from emo_utils.cli import main as emo
from emo_utils.course import CourseResult, declared_parameters, notebook_outline, render_course
from emo_utils.workshop import WORKSHOP_PARAMETERS, WORKSHOP_TRACKS, WorkshopTrack

pytestmark = pytest.mark.slow

NOTEBOOKS = REPO_ROOT / "notebooks"
METRICS = {"protocol": "6-fold actor-independent (test run)", "dataset": "ravdess", "synthetic": False}
REPORT = """# Results: ravdess

| model | accuracy | macro-F1 | UAR | clips | note |
|---|---|---|---|---|---|
| audio_mfcc_cnn | 0.500 | 0.400 | 0.450 | 96 |  |
"""


class _Links(HTMLParser):
    """Every href/src of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [v for k, v in attrs if k in ("href", "src") and v]


def local_links(page: Path) -> list[str]:
    """The page's links to files beside it (not data: URIs, anchors or web addresses)."""
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return [link for link in parser.links if not re.match(r"^(data:|#|[a-z]+://)", link)]


def write_notebook(path: Path, heading: str, parameters: str, *code: str) -> Path:
    """A tiny notebook: a Markdown heading and paragraph, a parameters cell, then code cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell(heading),
        nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}),
        *(nbformat.v4.new_code_cell(source) for source in code),
    ]
    nbformat.write(nb, path)
    return path


def write_failing_notebook(path: Path) -> Path:
    """Prints, then fails in its second code cell."""
    return write_notebook(
        path,
        "# A lesson that breaks\n\nIt fails on purpose, **half way**.",
        'greeting = "hi"\nout_dir = "unused"',
        'print(f"before the failure: {greeting}")',
        'raise RuntimeError("deliberate failure")',
        'print("never printed")',
    )


def write_run_notebook(path: Path) -> Path:
    """Writes its clip_limit into the shared run folder, as the course's notebooks write their stages."""
    return write_notebook(
        path,
        "# A lesson that writes\n\nIt leaves a file in `out_dir`.",
        "out_dir = None\nclip_limit = None\nepochs = None",
        "from pathlib import Path\nPath(out_dir, 'seen.json').write_text(repr((clip_limit, epochs)))",
    )


@pytest.fixture(scope="module", autouse=True)
def kernels_import_this_checkout() -> Iterator[None]:
    """The notebooks' kernels import this checkout's emo_utils (whatever the environment's install points to)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
        yield


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> CourseResult:
    tmp = tmp_path_factory.mktemp("course")
    out = tmp / "site"
    (out / "run").mkdir(parents=True)  # a run that already has a summary: the index reads it
    (out / "run" / "metrics.json").write_text(json.dumps(METRICS))
    (out / "run" / "report.md").write_text(REPORT)
    failing = write_failing_notebook(tmp / "broken.ipynb")
    notebooks = [NOTEBOOKS / "00_overview.ipynb", failing, write_run_notebook(tmp / "writes.ipynb")]
    return render_course(out, notebooks=notebooks, clip_limit=48, n_actors=6)


def test_outline_is_the_first_heading_and_paragraph() -> None:
    nb = nbformat.read(NOTEBOOKS / "00_overview.ipynb", as_version=4)
    title, summary = notebook_outline(nb)
    assert title.startswith("00 · Overview") and summary.startswith("**You will learn**")
    assert {"data_root", "out_dir"} <= declared_parameters(nb)
    fusion = nbformat.read(NOTEBOOKS / "07_fusion_and_evaluation.ipynb", as_version=4)
    title, summary = notebook_outline(fusion)  # a paragraph ending in a colon brings its list along
    assert title == "07 · Fusion and evaluation" and summary.endswith("(notebook 08).") and "\n- " in summary


def test_every_notebook_is_run_and_rendered_and_a_failure_stops_none(course: CourseResult) -> None:
    assert [r.ok for r in course.notebooks] == [True, False, True]
    broken = course.notebooks[1]
    assert broken.error.startswith("RuntimeError: deliberate failure")
    assert all(r.html is not None and r.html.is_file() and r.executed.is_file() for r in course.notebooks)
    partial = broken.html.read_text(encoding="utf-8")
    assert (
        "before the failure: hi" in partial and "deliberate failure" in partial and "never printed</pre>" not in partial
    )
    assert (course.run_dir / "seen.json").read_text() == "(48, None)"  # declared and given, declared only


def test_rendered_notebooks_embed_their_figures(course: CourseResult) -> None:
    overview = course.notebooks[0].html.read_text(encoding="utf-8")
    assert re.search(r'<img[^>]+src="data:image/png;base64,', overview)


def test_index_lists_notebooks_status_data_protocol_and_results(course: CourseResult) -> None:
    page = course.index.read_text(encoding="utf-8")
    for r in course.notebooks:
        assert r.title in page and f'href="{r.html.name}"' in page and f"{r.seconds:.1f} s" in page
    assert "<strong>You will learn</strong>" in page  # what it teaches, rendered from Markdown
    assert page.count('class="ok"') == 2 and page.count('class="failed"') == 1
    assert "RuntimeError: deliberate failure" in page
    assert METRICS["protocol"] in page and "ravdess" in page and "real data" in page
    assert re.search(r"<td>audio_mfcc_cnn</td>\s*<td>0.500</td>", page)


def test_index_links_resolve_to_files(course: CourseResult) -> None:
    links = local_links(course.index)
    assert len(links) >= 2 * len(course.notebooks)
    assert {"results/metrics.json", "results/report.md"} <= set(links)
    assert not any(link.startswith("run/") for link in links)  # the site can be published without run/
    for link in links:
        assert (course.index.parent / link).is_file(), link


def test_cli_passes_extra_parameters_and_exits_nonzero_on_a_failed_notebook(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    failing = write_failing_notebook(tmp_path / "broken.ipynb")
    code = emo(
        [
            "course",
            "--out",
            str(tmp_path / "site"),
            "--notebooks",
            str(failing),
            "-p",
            "greeting=hello",
            "-p",
            "not_declared=1",
            "--no-summary",
        ]
    )
    assert code == 1 and "FAILED" in capsys.readouterr().out
    assert "before the failure: hello" in (tmp_path / "site" / "broken.html").read_text(encoding="utf-8")
    assert "no trained branch" in (tmp_path / "site" / "index.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("minutes", sorted(WORKSHOP_TRACKS))
def test_workshop_renders_exactly_its_track_with_the_small_settings(
    minutes: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``emo course --workshop N`` hands render_course the track's notebooks, in numbered order, with the small
    settings (an explicit option wins); rendering itself is what the tests above check."""
    calls: list[dict] = []

    def record(out: str, **options: object) -> CourseResult:
        calls.append(options)
        return CourseResult(tmp_path / "index.html", [], tmp_path / "run")

    monkeypatch.setattr("emo_utils.course.render_course", record)
    assert emo(["course", "--out", str(tmp_path), "--workshop", str(minutes)]) == 0
    assert emo(["course", "--out", str(tmp_path), "--workshop", str(minutes), "--epochs", "5"]) == 0
    track = WORKSHOP_TRACKS[minutes]
    notebooks = [Path(p) for p in calls[0]["notebooks"]]
    assert list(dict.fromkeys(p.name[:2] for p in notebooks)) == sorted(track.numbers) == list(track.numbers)
    assert all(p.is_file() and p.parent == NOTEBOOKS for p in notebooks)
    assert {k: calls[0][k] for k in WORKSHOP_PARAMETERS} == WORKSHOP_PARAMETERS
    assert calls[1]["epochs"] == 5 and calls[1]["n_actors"] == WORKSHOP_PARAMETERS["n_actors"]


def test_workshop_tracks_are_documented_with_their_notebooks() -> None:
    plan = (REPO_ROOT / "docs" / "workshop.md").read_text(encoding="utf-8")
    for minutes, track in WORKSHOP_TRACKS.items():
        assert f"emo course --workshop {minutes}" in plan
        for path in track.notebooks():
            assert path.stem in plan, f"docs/workshop.md does not list {path.stem} in the {minutes}-minute track"


def test_a_track_naming_a_missing_notebook_says_which(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="needs notebook 07_"):
        WorkshopTrack(90, ("07",)).notebooks(tmp_path)
