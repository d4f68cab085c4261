"""Every results table in README.md and results/*/COMMAND.md is made from a committed results.json.

The tables are generated (sweeps.report); these tests re-render each committed block, recompute each shown mean
from the per-run rows themselves (not through sweeps.table.aggregate), and check the formatting against values
worked out by hand from the definitions (mean, sample standard deviation, min and max).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.errors import ConfigError
from sweeps import report
from sweeps.table import aggregate

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "results").glob("*/COMMAND.md"))]


def _rows(values: list[float | None], **knobs) -> list[dict]:
    return [{"run": f"r{i}", "point": "p", "seed": i, "I": 4, "distribution": "uniform", "alpha": None,
             "test_unseen_accuracy": v, **knobs} for i, v in enumerate(values)]


def test_a_point_of_two_seeds_shows_mean_sd_and_range():
    # 0.5 and 0.7: mean 0.6, sample sd sqrt(2 * 0.1^2 / 1) = 0.1414
    table = report.render({"points": aggregate(_rows([0.5, 0.7]))})
    caption, _, header, rule, line = table.splitlines()
    assert caption == "Exact-match accuracy in %: the mean ± sample sd (min-max) over seeds."
    assert header == "| I | seeds | unseen: all |"
    assert line == "| 4 | 0, 1 | 60.0 ± 14.1 (50.0-70.0) |"


def test_one_seed_shows_the_value_alone_and_a_missing_split_a_dash():
    rows = [{"run": "a", "point": "a", "seed": 0, "I": 4, "test_unseen_accuracy": 0.25, "test_seen_accuracy": None},
            {"run": "b", "point": "b", "seed": 0, "I": 16, "test_unseen_accuracy": 0.125, "test_seen_accuracy": 0.5}]
    lines = report.render({"points": aggregate(rows)}).splitlines()
    assert lines[0] == "Exact-match accuracy in %: the mean."
    assert lines[2] == "| I | seeds | unseen: all | seen: all |"
    assert lines[4:] == ["| 4 | 0 | 25.0 | - |", "| 16 | 0 | 12.5 | 50.0 |"]


def test_power_law_points_name_alpha_and_effective_instructions():
    rows = (_rows([0.5], distribution="power_law", alpha=0.03, effective_instructions=23.4, point="a")
            + _rows([0.5], effective_instructions=256.0, point="b"))
    lines = [line for line in report.render({"points": aggregate(rows)}).splitlines() if line.startswith("|")]
    assert lines[0].startswith("| I | distribution | effective instructions | seeds |")
    assert "| power law, alpha 0.03 | 23 |" in lines[2] and "| uniform | 256 |" in lines[3]


def test_no_finished_run_is_an_error():
    with pytest.raises(ConfigError, match="points"):
        report.render({"points": []})


def test_a_block_naming_a_missing_file_names_the_markdown_file(tmp_path):
    md = tmp_path / "NOTE.md"
    md.write_text("<!-- results-table: results/nosuch/results.json -->\nold\n<!-- /results-table -->\n")
    with pytest.raises(ConfigError, match="NOTE.md"):
        report.rendered(md, tmp_path)


def test_a_block_naming_a_file_outside_the_root_is_refused(tmp_path):
    (tmp_path / "repo").mkdir()
    (tmp_path / "results.json").write_text(json.dumps({"points": aggregate(_rows([0.5]))}))
    (tmp_path / "repo" / "link.json").symlink_to(tmp_path / "results.json")
    for src in ("../results.json", str(tmp_path / "results.json"), "link.json"):
        md = tmp_path / "repo" / "NOTE.md"
        md.write_text(f"<!-- results-table: {src} -->\nold\n<!-- /results-table -->\n")
        with pytest.raises(ConfigError, match="outside"):
            report.rendered(md, tmp_path / "repo")


def test_check_reports_a_stale_block_and_changes_nothing_then_update_fixes_it(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "results.json").write_text(json.dumps({"points": aggregate(_rows([0.5, 0.7]))}))
    md = tmp_path / "NOTE.md"
    stale = "intro\n<!-- results-table: r/results.json -->\n| typed by hand |\n<!-- /results-table -->\nend\n"
    md.write_text(stale)
    res = CliRunner().invoke(report.main, [str(md), "--root", str(tmp_path), "--check"])
    assert res.exit_code == 1 and "differs" in res.output and md.read_text() == stale
    res = CliRunner().invoke(report.main, [str(md), "--root", str(tmp_path)])
    assert res.exit_code == 0 and "60.0 ± 14.1" in md.read_text() and md.read_text().startswith("intro\n")
    assert CliRunner().invoke(report.main, [str(md), "--root", str(tmp_path), "--check"]).exit_code == 0


def _committed_blocks():
    return [(md, m) for md in DOCS if md.exists() for m in report.blocks(md.read_text())]


def test_the_readme_shows_the_committed_toy_results():
    sources = {m["src"] for md, m in _committed_blocks() if md.name == "README.md"}
    assert {"results/toy_cpu_phase_transition/results.json", "results/toy_cpu_power_law/results.json",
            "results/toy_cpu_semantic/results.json"} <= sources


@pytest.mark.parametrize("md", [d for d in DOCS if d.exists()], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_committed_table_is_its_results_rendered(md):
    assert report.rendered(md, ROOT) == md.read_text(), f"run: python -m sweeps.report {md.relative_to(ROOT)}"


def _cells(body: str) -> list[dict]:
    header, _, *lines = [line for line in body.splitlines() if line.startswith("|")]
    names = [c.strip() for c in header.strip("|").split("|")]
    return [dict(zip(names, (c.strip() for c in line.strip("|").split("|")))) for line in lines]


@pytest.mark.parametrize("md,block", _committed_blocks(), ids=lambda x: getattr(x, "name", None) or x["src"])
def test_each_shown_mean_is_the_mean_of_the_run_rows(md, block):
    """Recomputed from the per-run rows of results.json: group by point, average the seeds' accuracies."""
    results = json.loads((ROOT / block["src"]).read_text())
    by_point: dict[str, list[dict]] = {}
    for r in results["rows"]:
        by_point.setdefault(r["point"], []).append(r)
    shown = _cells(block["body"])
    assert len(shown) == len(by_point)
    for cells, (point, runs) in zip(shown, by_point.items()):
        assert cells["I"] == str(runs[0]["I"])
        assert cells["seeds"] == ", ".join(str(r["seed"]) for r in runs)
        values = [r["test_unseen_accuracy"] for r in runs]
        mean = 100 * sum(values) / len(values)
        shown_mean = float(re.match(r"[\d.]+", cells["unseen: all"]).group())
        assert math.isclose(shown_mean, round(mean, 1), abs_tol=0.051), (point, cells["unseen: all"], mean)
        if len(values) > 1:
            lo, hi = re.search(r"\(([\d.]+)-([\d.]+)\)", cells["unseen: all"]).groups()
            assert (float(lo), float(hi)) == (round(100 * min(values), 1), round(100 * max(values), 1))


def test_frequency_thirds_are_shown_only_when_some_point_is_skewed():
    thirds = {"test_seen_head_accuracy": 0.9, "test_seen_middle_accuracy": 0.8, "test_seen_tail_accuracy": 0.7}
    uniform = report.render({"points": aggregate(_rows([0.5], **thirds))})
    assert "third" not in uniform
    skewed = report.render({"points": aggregate(_rows([0.5], distribution="power_law", alpha=0.1, **thirds))})
    assert "| 90.0 | 80.0 | 70.0 |" in skewed and "seen: tail third" in skewed
