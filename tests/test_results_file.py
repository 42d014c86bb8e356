"""A benchmark's results: the record as JSON, the page as Markdown, both under one name."""

from __future__ import annotations

import json
from pathlib import Path

from emo_utils.results_file import machine_line, write_results


def test_write_results_writes_the_record_and_its_page(tmp_path: Path, capsys) -> None:
    record = {"machine": machine_line(0.5), "rows": [{"batch": 64, "added_mb": 272}]}
    write_results(tmp_path / "bench", record, ["# Title", "", "| batch | MB |"])
    assert json.loads((tmp_path / "bench.json").read_text()) == record
    assert (tmp_path / "bench.md").read_text() == "# Title\n\n| batch | MB |\n"
    assert "# Title" in capsys.readouterr().out
    assert "cores; load average before 0.5, after " in record["machine"]
