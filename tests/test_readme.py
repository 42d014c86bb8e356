"""The README quotes the latest benchmark output and the latest real-data results as they were measured."""

from __future__ import annotations

from conftest import REPO_ROOT


def _table_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def test_readme_quotes_the_latest_benchmark_and_results_tables() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    sources = ["latest.md"] + [
        name for name in ("latest_results.md", "latest_enrolment.md") if (REPO_ROOT / "benchmarks" / name).is_file()
    ]  # written once measured
    for source in sources:
        lines = _table_lines((REPO_ROOT / "benchmarks" / source).read_text())
        assert len(lines) > 3, f"benchmarks/{source} holds no table"
        missing = [line for line in lines if line not in readme]
        assert not missing, f"README.md does not quote benchmarks/{source}; first missing row: {missing[0]}"
