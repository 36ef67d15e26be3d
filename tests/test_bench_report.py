"""docs/benchmarks.md is generated from bench/results/*.json: no hand-typed numbers."""

import json
from pathlib import Path

from bench import report

ROOT = Path(__file__).resolve().parents[1]


def test_benchmarks_page_is_exactly_what_the_json_files_generate():
    page = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert page == report.render(), "docs/benchmarks.md differs from its JSON: run `python -m bench report`"


def test_every_benchmark_has_a_result_and_targets_are_reported():
    for name in report.ORDER:
        data = json.loads((ROOT / "bench" / "results" / f"{name}.json").read_text())
        assert {"machine", "data", "settings"} <= set(data)
        assert data["machine"]["cores"] and data["machine"]["tensorflow"]


def test_missing_results_say_how_to_measure(tmp_path):
    page = report.render(tmp_path)
    assert page.count("Not measured yet") == len(report.ORDER)
    assert "python -m bench.cached_vs_recompute" in page
