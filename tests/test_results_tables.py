"""Every generated part of README.md and results/*/COMMAND.md is made from a committed results.json.

The tables, quoted values and comparisons are generated (sweeps.report, sweeps.claims); these tests re-render each
committed file, recompute each shown mean from the per-run rows themselves (not through sweeps.table.aggregate),
and check the formatting, the pairing of runs by fingerprint and the statistics against values worked out by hand
from the definitions (mean, sample standard deviation, min and max; McNemar, Fisher and t-tests on tiny counts).
test_results_claims.py recomputes what the committed prose says.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.errors import ConfigError
from sweeps import claims, report
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


def test_a_table_of_results_without_a_finished_run_is_a_one_line_error_naming_both_files(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "results.json").write_text(json.dumps({"rows": [], "points": []}))
    md = tmp_path / "NOTE.md"
    md.write_text("<!-- results-table: r/results.json -->\nold\n<!-- /results-table -->\n")
    res = CliRunner().invoke(report.main, [str(md), "--root", str(tmp_path)])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    line = res.output.strip()
    # the Markdown file, the results file, its field (the key ``points``), then what is wrong
    assert f"{md}: r/results.json: points: " in line and line.endswith("no finished run")
    assert md.read_text().endswith("old\n<!-- /results-table -->\n")  # nothing written


def test_a_cell_a_point_does_not_record_is_a_dash():
    """The knobs shown are those any point has; a point without one (older or hand-made results) shows ``-``."""
    rows = (_rows([0.5], point="a", variant="skewed", distribution="power_law", alpha=0.5, effective_instructions=10.0)
            + [{"run": "b", "point": "b", "seed": 0, "I": 4, "test_unseen_accuracy": 0.25}])
    lines = [line for line in report.render({"points": aggregate(rows)}).splitlines() if line.startswith("|")]
    assert lines[0] == "| variant | I | distribution | effective instructions | seeds | unseen: all |"
    assert lines[2] == "| skewed | 4 | power law, alpha 0.5 | 10 | 0 | 50.0 |"
    assert lines[3] == "| - | 4 | - | - | 0 | 25.0 |"


@pytest.mark.parametrize("knobs,shown", [
    ([{"distribution": "uniform"}, {"distribution": "explicit"}], ["uniform", "explicit"]),  # no alpha, two kinds
    ([{"distribution": "power_law", "alpha": 0.5}, {"distribution": "power_law", "alpha": 0.1}],
     ["power law, alpha 0.5", "power law, alpha 0.1"]),  # one kind: alpha is the knob that varies
    ([{"distribution": "power_law", "alpha": 2.0}], ["power law, alpha 2"]),  # one point, still a power law
    ([{"distribution": "uniform"}, {"distribution": "uniform"}], None),  # nothing to tell apart: no column
])
def test_the_distribution_column_shows_whenever_the_distribution_is_not_all_uniform(knobs, shown):
    rows = [{"run": f"r{i}", "point": f"p{i}", "seed": 0, "I": 4 + i, "test_unseen_accuracy": 0.5, **k}
            for i, k in enumerate(knobs)]
    table = [line for line in report.render({"points": aggregate(rows)}).splitlines() if line.startswith("|")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    if shown is None:
        assert "distribution" not in header
    else:
        col = header.index("distribution")
        assert [line.strip("|").split("|")[col].strip() for line in table[2:]] == shown


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
        with pytest.raises(ConfigError, match="outside") as exc:
            report.rendered(md, tmp_path / "repo")
        assert str(exc.value).startswith(f"{md}: ") and src in str(exc.value)


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


# ---------------------------------------------------------------------------------------------------------
# Which runs share their test rows; quoted values; comparisons


def _run(seed: int, variant: str, right: int, n: int = 12, fp: str | None = None, instructions: int = 4,
         **extra) -> dict:
    return {"run": f"{variant}_seed={seed}", "point": variant, "variant": variant, "seed": seed, "I": instructions,
            "test_unseen_accuracy": right / n, "test_unseen_n": n,
            **({"test_unseen_fingerprint": fp} if fp else {}), **extra}


def _sweep(tmp_path: Path, rows: list[dict], name: str = "toy") -> Path:
    (tmp_path / "results" / name).mkdir(parents=True)
    (tmp_path / "results" / name / "results.json").write_text(json.dumps({"rows": rows, "points": aggregate(rows)}))
    return tmp_path


def test_the_caption_says_which_runs_share_their_rows_by_fingerprint_alone():
    # equal fingerprints pair runs whatever their other columns (I, ids): the seed is what the shared runs agree on
    by_seed = [_run(s, v, 5, fp=f"u{s}", instructions=i) for s in (0, 1) for v, i in (("a", 4), ("b", 16))]
    assert "The runs of one seed were scored on the same unseen rows (equal fingerprints) and compare as pairs." in \
        report.render({"rows": by_seed, "points": aggregate(by_seed)})
    by_seed_and_i = [_run(s, v, 5, fp=f"u{s}{i}", instructions=i, distribution=v) for s in (0, 1) for i in (4, 16)
                     for v in ("a", "b")]
    assert "The runs of one seed and one I were scored" in claims.sharing(by_seed_and_i)
    own = [_run(s, v, 5, fp=f"u{s}{v}") for s in (0, 1) for v in ("a", "b")]
    assert claims.sharing(own) == "No two runs share a test split's fingerprint: runs compare as independent samples."
    assert claims.sharing([_run(0, "a", 5)]) is None  # no fingerprint recorded: nothing said
    partly = [_run(0, "a", 5, fp="u0"), _run(0, "b", 5, fp="u0"), _run(1, "a", 5, fp="u1"), _run(1, "b", 5, fp="v1")]
    assert claims.sharing(partly).startswith("1 group of runs with equal test_unseen_fingerprint were scored")
    lines = report.render({"rows": own, "points": aggregate(own)}).splitlines()
    assert lines[1].startswith("No two runs share") and lines[2] == "" and lines[3].startswith("| variant | I |")


def test_a_value_marker_rewrites_the_numbers_before_it_at_their_precision(tmp_path):
    rows = [_run(0, "a", 3), _run(1, "a", 5), _run(0, "b", 11)]  # a: 25.0% and 41.67%, b: 91.67%
    root = _sweep(tmp_path, rows)
    md = root / "NOTE.md"
    md.write_text("a scores 0%<!-- value: toy mean test_unseen_accuracy variant=a --> (0.0-0.0%<!-- value: toy range "
                  "test_unseen_accuracy variant=a -->; per seed 0.00 and 0.0<!-- value: toy each test_unseen_accuracy "
                  "variant=a -->), I = 4<!-- value: toy max I seed<=0 -->; b 1.0 points<!-- value: toy min "
                  "test_unseen_accuracy variant=b -->\n")
    assert report.rendered(md, root) == (
        "a scores 33%<!-- value: toy mean test_unseen_accuracy variant=a --> (25.0-41.7%<!-- value: toy range "
        "test_unseen_accuracy variant=a -->; per seed 25.00 and 41.7<!-- value: toy each test_unseen_accuracy "
        "variant=a -->), I = 4<!-- value: toy max I seed<=0 -->; b 91.7 points<!-- value: toy min "
        "test_unseen_accuracy variant=b -->\n")


@pytest.mark.parametrize("text,error", [
    ("seeds 0.0%<!-- value: toy range test_unseen_accuracy variant=a -->", "names 2 number(s); write them just before it (min-max)"),
    ("<!-- value: toy mean test_unseen_accuracy variant=a -->", "names 1 number(s); write them just before it (one number)"),
    ("seeds 1.0%<!-- value: toy each test_unseen_accuracy variant=a -->", "names 2 number(s); write them just before it (a, b and c)"),
    ("about 1,000<!-- value: toy mean test_unseen_accuracy variant=a -->", "names 1 number(s)"),  # not "000"
    ("81.0-91.8%<!-- value: toy mean test_unseen_accuracy variant=a -->", "names 1 number(s)"),  # a range
    ("1.0%<!-- value: toy mean test_unseen_accuracy variant=zz -->", "no run has variant=zz"),
    ("1.0%<!-- value: toy mean test_unseen_accuracy varaint=a -->", "no run has a column 'varaint'"),
    ("1.0%<!-- value: toy median test_unseen_accuracy -->", "STAT one of"),
    ("1.0%<!-- value: nosuch mean test_unseen_accuracy -->", "results/nosuch/results.json"),
    ("1.0%<!-- value: .. mean test_unseen_accuracy -->", "not a sweep's folder"),
    ("1.0%<!-- value: . mean test_unseen_accuracy -->", "not a sweep's folder"),  # results/results.json exists
    ("<!-- compare: nosuch test_unseen_accuracy variant=a vs variant=b --><!-- /compare -->", "results/nosuch"),
    ("<!-- compare: .. test_unseen_accuracy variant=a vs variant=b --><!-- /compare -->", "not a sweep's folder"),
    ("<!-- compare: toy test_unseen_accuracy variant=a vs variant=b --><!-- /compare -->", "seeds [0, 1] and [0]"),
    ("<!-- compare: toy test_unseen_accuracy vs variant=b --><!-- /compare -->", "two runs of seed 0"),
    ("<!-- compare: toy test_unseen_accuracy - test_seen_accuracy variant=a --><!-- /compare -->", "test_seen_n"),
    ("<!-- compare: toy I variant=a vs variant=b --><!-- /compare -->", "not an accuracy column"),
    ("<!-- compare: toy test_unseen_accuracy variant=a --><!-- /compare -->", "want COLUMN_A - COLUMN_B"),
    ("<!-- compare: toy test_unseen_accuracy variant=c vs variant=b --><!-- /compare -->", "0.3 is no count out of 12"),
])
def test_a_bad_marker_is_a_one_line_error_naming_the_file_and_line(tmp_path, text, error):
    not_a_count = dict(_run(0, "c", 0), test_unseen_accuracy=0.3)
    root = _sweep(tmp_path, [_run(0, "a", 3), _run(1, "a", 5), _run(0, "b", 11), not_a_count])
    for stray in ("results/results.json", "results.json"):  # what the sweeps "." and ".." would read
        (root / stray).write_text((root / "results" / "toy" / "results.json").read_text())
    md = root / "NOTE.md"
    md.write_text("intro\n\n" + text + "\n")
    with pytest.raises(ConfigError, match=re.escape(error)) as exc:
        report.rendered(md, root)
    assert str(exc.value).startswith(f"{md}:3: "), str(exc.value)
    res = CliRunner().invoke(report.main, [str(md), "--root", str(root)])
    assert res.exit_code == 2 and "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
    assert md.read_text() == "intro\n\n" + text + "\n"  # nothing written


def test_a_comparison_on_shared_rows_gives_mcnemar_ranges_and_a_paired_t_test(tmp_path):
    # seed 0: 10 against 2 of the same 12 rows; seed 1: 6 against 3 (fingerprints equal within a seed)
    rows = [_run(0, "a", 10, fp="u0"), _run(0, "b", 2, fp="u0"), _run(1, "a", 6, fp="u1"), _run(1, "b", 3, fp="u1")]
    root = _sweep(tmp_path, rows)
    md = root / "NOTE.md"
    md.write_text("<!-- compare: toy test_unseen_accuracy variant=a vs variant=b -->old<!-- /compare -->.\n")
    said = re.search(r"-->(.*)<!-- /compare -->", report.rendered(md, root))[1]
    # McNemar over the agreements the counts allow (both right on k rows): seed 0, k = 2..0: b, c = 8, 0 ... 10, 2:
    # p from 2/2^8 = 0.0078 to 2 (1 + 12 + 66) / 2^12 = 0.039; seed 1, k = 3..0: 3, 0 (p = 2/8) ... 6, 3
    # (p = 2 (1 + 9 + 36 + 84) / 2^9 = 0.51).
    # Paired t over the differences 66.67 and 25 points: mean 45.83, se = |66.67 - 25| / 2 = 20.83, t = 2.2 with
    # 1 df (a Cauchy): p = 1 - 2 atan(2.2) / pi = 0.27, the 97.5% quantile tan(0.475 pi) = 12.706.
    half = math.tan(0.475 * math.pi) * (200 / 3 - 25) / 2
    lo, hi = 125 / 6 * 2.2 - half, 125 / 6 * 2.2 + half
    assert said == ("a − b (unseen): +66.7 and +25.0 points on seeds 0 and 1 (higher on every seed; same rows, "
                    "McNemar's exact test over the unrecorded per-row agreement: p = 0.0078 to 0.039 and 0.25 to "
                    f"0.51); mean +45.8 points, 95% CI {lo:+.1f} to {hi:+.1f} (paired t-test over seeds, p = "
                    f"{1 - 2 * math.atan(2.2) / math.pi:.2f})")


def test_a_comparison_on_different_rows_gives_fisher_and_welch(tmp_path):
    # 12 of 12 against 0 of 12 on other rows: Fisher p = 2 / comb(24, 12); two seeds of a at 100 and 50%, b at 0 and
    # 50% (sample variances 1250): Welch's t = 50 / sqrt(1250/2 + 1250/2) = sqrt 2 with (625 + 625)^2 / (625^2 +
    # 625^2) = 2 df, so p = 1 - t / sqrt(t^2 + 2) = 1 - 1 / sqrt 2
    rows = [_run(0, "a", 12, fp="x"), _run(0, "b", 0, fp="y"), _run(1, "a", 6, fp="z"), _run(1, "b", 6, fp="w")]
    c = claims.compare(rows, "test_unseen_accuracy variant=a vs variant=b")
    assert not c.paired and [t.same_rows for t in c.per_seed] == [False, False]
    assert math.isclose(c.per_seed[0].p_low, 2 / math.comb(24, 12)) and c.per_seed[1].p_high == 1.0
    assert math.isclose(c.p, 1 - 1 / math.sqrt(2)) and math.isclose(c.mean_diff, 0.5)
    said = claims.sentence(c)
    assert "(higher on 1, equal on 1 of 2 seeds; different rows, Fisher's exact test: p < 0.001 and 1.0)" in said
    assert said.endswith("(Welch's t-test over seeds, p = 0.29)")
    # two accuracies of one run are different rows of one model: Fisher per run, a paired t over the runs
    both = [dict(_run(s, "a", 6 + s), test_seen_accuracy=(9 + s) / 12, test_seen_n=12, test_seen_fingerprint="s")
            for s in (0, 1, 2)]
    c = claims.compare(both, "test_unseen_accuracy - test_seen_accuracy variant=a")
    assert c.paired and c.label_a == "unseen" and c.at == "a" and not any(t.same_rows for t in c.per_seed)
    assert claims.sentence(c).startswith("unseen − seen at a: -25.0, -25.0 and -25.0 points on seeds 0, 1 and 2 "
                                         "(lower on every seed; different rows, Fisher's exact test")
    assert c.p is None and "mean" not in claims.sentence(c)  # no spread over seeds: no t-test to state


@pytest.mark.parametrize("p,text", [(0.0004, "< 0.001"), (0.001, "0.0010"), (0.0086, "0.0086"), (0.0503, "0.050"),
                                    (0.13, "0.13"), (0.995, "0.99"), (1.0, "1.0")])
def test_p_values_read_with_two_significant_digits(p, text):
    assert claims.p_text(p) == text
