"""The numbers and comparisons in the prose of README.md and results/*/COMMAND.md, recomputed from the committed rows.

test_results_tables.py checks that every generated part of those files is what ``python -m sweeps.report`` makes;
this file checks, from the per-run rows of each committed results.json and without sweeps.report or sweeps.claims,
that what they say is true of the rows they name:

- a number quoted from the results is followed by a marker naming its sweep, statistic, column and runs
  (``25.7%<!-- value: toy_cpu_semantic mean test_unseen_accuracy variant=whole-space -->``). Each marker is
  recomputed here and must equal its number(s) at the precision written; a percentage or "N points" in the prose
  without one fails (except the 95% of an interval and the no-op share of a setting), and so does a p-value outside
  a generated comparison;
- a comparison (``<!-- compare: SWEEP SPEC -->sentence<!-- /compare -->``) is recomputed from its definition: the
  two sides' runs paired by seed, each seed's counts (accuracy x rows), McNemar's exact test summed from binomial
  coefficients over every agreement the counts allow where the two runs share rows (equal ``*_fingerprint``),
  Fisher's exact test summed from the hypergeometric distribution elsewhere, a paired t-test (or Welch's where a
  seed's runs share nothing) with its 95% interval; the sentence must name the sides, directions, tests and
  values that these give;
- mutations of README (two quoted numbers swapped, a transposed digit that equals another run's value, a
  comparison reversed) are each caught.
"""

from __future__ import annotations

import functools
import json
import math
import re
from pathlib import Path
from statistics import mean, stdev

import pytest
from scipy.stats import t as student_t

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "results").glob("*/COMMAND.md"))]
RESULTS = {p.parent.name: json.loads(p.read_text()) for p in sorted((ROOT / "results").glob("*/results.json"))}

NUM = r"\d+(?:\.\d+)?"
SEP = r"(?:[-–]|, and |, | and | to )"
UNIT = r"(?:%|\s+points?\b|\s+percent\b)"
TABLE = re.compile(r"<!-- results-table:.*?<!-- /results-table -->", re.S)
COMPARE = re.compile(r"<!-- compare: (?P<sweep>\S+) (?P<spec>[^\n]*?) -->(?P<said>.*?)<!-- /compare -->", re.S)
VALUE = re.compile(r"<!-- value: (?P<sweep>\S+) (?P<spec>[^\n]*?) -->")
QUOTE = re.compile(rf"(?<![\w.+-]){NUM}(?:{SEP}{NUM})*{UNIT}")
P_VALUE = re.compile(r"\bp\s*(?:=|<|>|≤|<=)\s*\d*\.\d")


def _blank(m: re.Match) -> str:
    return "\n" * m.group(0).count("\n")


def _prose(text: str) -> str:
    """The text with its generated tables and comparisons blanked; lines keep their place."""
    return COMPARE.sub(_blank, TABLE.sub(_blank, text))


def _exempt(prose: str, quote: re.Match) -> bool:
    """A confidence level ("95% interval") or a setting ("20% no-ops"), not a result."""
    after = prose[quote.end():quote.end() + 12]
    return quote.group(0).endswith("%") and (after.startswith(" no-op") or (
        quote.group(0).endswith("95%") and re.match(r" (interval|CI|confidence)", after) is not None))


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


# ---------------------------------------------------------------------------------------------------------
# The reference: which runs a marker names, and what is true of them


def _holds(row: dict, token: str) -> bool:
    column, op, text = re.fullmatch(r"(\w+)(<=|>=|=|<|>)(\S+)", token).groups()
    v = row.get(column)
    if op != "=":
        return isinstance(v, (int, float)) and {"<=": v <= float(text), ">=": v >= float(text), "<": v < float(text),
                                                ">": v > float(text)}[op]
    for x in text.split(","):
        if (v is None and x == "none") or (v is not None and str(v) == x):
            return True
        if isinstance(v, (int, float)) and re.fullmatch(r"-?\d+(\.\d+)?", x) and float(x) == v:
            return True
    return False


def _runs(sweep: str, tokens: list[str]) -> list[dict]:
    runs = sorted((r for r in RESULTS[sweep]["rows"] if all(_holds(r, tok) for tok in tokens)),
                  key=lambda r: (r["seed"], r["run"]))
    assert runs, f"{sweep}: no run has {tokens}"
    return runs


@functools.cache
def _reference_values(sweep: str, spec: str) -> list[float]:
    stat, column, *tokens = spec.split()
    vals = [r[column] * (100 if column.endswith("_accuracy") else 1) for r in _runs(sweep, tokens)]
    return {"mean": [mean(vals)], "min": [min(vals)], "max": [max(vals)], "range": [min(vals), max(vals)],
            "each": vals}[stat]


def _rounds_to(written: str, value: float) -> bool:
    """``written`` is ``value`` rounded to the decimals written (either way at an exact half)."""
    decimals = len(written.partition(".")[2])
    return abs(float(written) - value) <= 0.5 * 10 ** -decimals + 1e-9


def _counts(row: dict, column: str) -> tuple[int, int]:
    n = row[column.replace("_accuracy", "_n")]
    right = round(row[column] * n)
    assert abs(row[column] * n - right) < 1e-6, (row["run"], column)
    return right, n


def _mcnemar(b: int, c: int) -> float:
    """Exact McNemar, two-sided: 2 P(X <= min(b, c)) for X ~ Binomial(b + c, 1/2), at most 1."""
    m, k = b + c, min(b, c)
    term, tail = 1, 1
    for i in range(k):
        term = term * (m - i) // (i + 1)
        tail += term
    return min(1.0, 2 * tail / 2 ** m)


def _mcnemar_range(right_a: int, right_b: int, n: int) -> tuple[float, float]:
    """Over every table of two runs on the same n rows with these margins (``both`` right on some rows)."""
    ps = [_mcnemar(right_a - both, right_b - both)
          for both in range(max(0, right_a + right_b - n), min(right_a, right_b) + 1)]
    return min(ps), max(ps)


def _fisher(right_a: int, n_a: int, right_b: int, n_b: int) -> float:
    """Two-sided Fisher: the hypergeometric probability of every table with these margins no likelier than this one."""
    right, total = right_a + right_b, n_a + n_b

    def prob(x: int) -> int:  # times comb(total, n_a)
        return math.comb(right, x) * math.comb(total - right, n_a - x)

    seen = prob(right_a)
    tables = range(max(0, n_a - (total - right)), min(right, n_a) + 1)
    return min(1.0, sum(p for x in tables if (p := prob(x)) <= seen * (1 + 1e-7)) / math.comb(total, n_a))


def _t_test(a: list[float], b: list[float], paired: bool) -> tuple[float, float, float, float]:
    """(mean difference, 95% CI low, high, two-sided p) of a paired t-test or of Welch's."""
    if paired:
        d = [x - y for x, y in zip(a, b)]
        se, df = stdev(d) / math.sqrt(len(d)), len(d) - 1
    else:
        va, vb = stdev(a) ** 2 / len(a), stdev(b) ** 2 / len(b)
        se = math.sqrt(va + vb)
        df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    diff = mean(a) - mean(b)
    half = student_t.ppf(0.975, df) * se
    return diff, diff - half, diff + half, 2 * student_t.sf(abs(diff / se), df)


NAMES = {"test_unseen_accuracy": "unseen", "test_seen_accuracy": "seen", "test_seen_head_accuracy": "seen, head third",
         "test_seen_middle_accuracy": "seen, middle third", "test_seen_tail_accuracy": "seen, tail third"}


def _words(tokens: list[str]) -> str:
    out = []
    for tok in tokens:
        column, op, text = re.fullmatch(r"(\w+)(<=|>=|=|<|>)(\S+)", tok).groups()
        values = " or ".join(text.split(","))
        out.append(values if op == "=" and column in ("variant", "distribution") else f"{column} {op} {values}")
    return ", ".join(out)


@functools.cache
def _reference_comparison(sweep: str, spec: str) -> dict:
    tokens = spec.split()
    if tokens[1] == "-":  # two accuracies of the same runs
        col_a, col_b, toks_a, toks_b = tokens[0], tokens[2], tokens[3:], tokens[3:]
        names = (NAMES[col_a], NAMES[col_b], None)
    else:  # one accuracy of two selections
        cut = tokens.index("vs")
        col_a = col_b = tokens[0]
        toks_a, toks_b = tokens[1:cut], tokens[cut + 1:]
        names = (_words([t for t in toks_a if t not in toks_b]), _words([t for t in toks_b if t not in toks_a]),
                 NAMES[col_a])
    common = [t for t in toks_a if t in toks_b]
    side_a, side_b = _runs(sweep, toks_a), _runs(sweep, toks_b)
    assert [r["seed"] for r in side_a] == [r["seed"] for r in side_b] == sorted({r["seed"] for r in side_a})
    seeds = []
    for a, b in zip(side_a, side_b):
        split_a, split_b = col_a.replace("_accuracy", ""), col_b.replace("_accuracy", "")
        fp_a, fp_b = a.get(f"{split_a}_fingerprint"), b.get(f"{split_b}_fingerprint")
        shared = split_a == split_b and fp_a is not None and fp_a == fp_b
        (ra, na), (rb, nb) = _counts(a, col_a), _counts(b, col_b)
        p = _mcnemar_range(ra, rb, na) if shared else (_fisher(ra, na, rb, nb),) * 2
        seeds.append({"seed": a["seed"], "diff": 100 * (a[col_a] - b[col_b]), "shared": shared, "p": p,
                      "paired": shared or a["run"] == b["run"]})
    paired = all(s["paired"] for s in seeds)
    over = _t_test([100 * r[col_a] for r in side_a], [100 * r[col_b] for r in side_b], paired)
    return {"a": names[0], "b": names[1], "of": names[2], "at": _words(common) or None, "seeds": seeds,
            "paired": paired, "over": over}


# ---------------------------------------------------------------------------------------------------------
# Checking a document against the reference

SENTENCE = re.compile(
    r"(?P<a>.+?) − (?P<b>.+?)(?: \((?P<of>[^)]*)\))?(?: at (?P<at>[^:]+))?: (?P<diffs>[-+\d., and]+) points on "
    r"seeds? (?P<seeds>[\d, and]+) \((?P<dir>[^;]+); (?P<rows>[^:]+): p (?P<ps>[^)]+)\)"
    r"(?:; mean (?P<mean>\S+) points, 95% CI (?P<lo>\S+) to (?P<hi>\S+) \((?P<test>paired t-test|Welch's t-test) "
    r"over seeds, p (?P<p>[^)]+)\))?")


def _items(text: str) -> list[str]:
    return re.split(r", | and ", text)


def _p_matches(written: str, p: float) -> bool:
    written = written.removeprefix("= ").strip()
    return p < 0.001 if written == "< 0.001" else p >= 0.001 and _rounds_to(written, p)


def _direction(diffs: list[float]) -> str:
    up, down = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
    if up == len(diffs) or down == len(diffs):
        return f"{'higher' if up else 'lower'} on every seed"
    counts = [f"{w} on {k}" for w, k in (("higher", up), ("lower", down), ("equal", len(diffs) - up - down)) if k]
    return ", ".join(counts) + f" of {len(diffs)} seeds"


def _comparison_problems(sweep: str, spec: str, said: str) -> list[str]:
    ref = _reference_comparison(sweep, spec)
    m = SENTENCE.fullmatch(said)
    if not m:
        return [f"{said[:60]!r}... is not a comparison sentence"]
    bad = []
    for key in ("a", "b", "of", "at"):
        if m[key] != ref[key]:
            bad.append(f"names {key} {m[key]!r}, the spec's runs are {ref[key]!r}")
    seeds = ref["seeds"]
    if [int(s) for s in _items(m["seeds"])] != [s["seed"] for s in seeds]:
        bad.append(f"seeds {m['seeds']!r}")
    diffs = _items(m["diffs"])
    if len(diffs) != len(seeds) or not all(_rounds_to(w, s["diff"]) for w, s in zip(diffs, seeds)):
        bad.append(f"differences {m['diffs']!r}, the rows give {[round(s['diff'], 2) for s in seeds]}")
    if m["dir"] != _direction([s["diff"] for s in seeds]):
        bad.append(f"says {m['dir']!r}, the rows give {_direction([s['diff'] for s in seeds])!r}")
    if ("McNemar" in m["rows"]) != any(s["shared"] for s in seeds) or (
            ("Fisher" in m["rows"]) != any(not s["shared"] for s in seeds)):
        bad.append(f"names the test {m['rows']!r}, which does not fit which seeds share rows")
    ps = _items(m["ps"].removeprefix("= "))
    for written, s in zip(ps, seeds):
        ends = written.split(" to ")
        lo, hi = (ends[0], ends[-1]) if s["shared"] else (written, written)
        if len(ends) > 1 and not s["shared"] or not (_p_matches(lo, s["p"][0]) and _p_matches(hi, s["p"][1])):
            bad.append(f"seed {s['seed']}: p {written!r}, the counts give {s['p']}")
    if len(ps) != len(seeds):
        bad.append(f"{len(ps)} p-values for {len(seeds)} seeds")
    if m["test"] != ("paired t-test" if ref["paired"] else "Welch's t-test"):
        bad.append(f"over seeds: {m['test']!r}, paired is {ref['paired']}")
    elif m["test"]:
        diff, lo, hi, p = ref["over"]
        if not (_rounds_to(m["mean"], diff) and _rounds_to(m["lo"], lo) and _rounds_to(m["hi"], hi)
                and _p_matches(m["p"], p)):
            bad.append(f"over seeds: {m['mean']} ({m['lo']} to {m['hi']}), p {m['p']}; the rows give "
                       f"{diff:.2f} ({lo:.2f} to {hi:.2f}), p {p:.4f}")
    return [f"{spec}: {b}" for b in bad]


def problems(text: str) -> list[str]:
    """What in a document's prose the committed rows do not bear out (empty when everything does)."""
    prose, bad = _prose(text), []
    for m in VALUE.finditer(prose):
        values = _reference_values(m["sweep"], m["spec"])
        before = re.search(rf"(?<![\w.,+–-]){NUM}(?:{SEP}{NUM}){{{len(values) - 1}}}{UNIT}?\Z", prose[:m.start()])
        written = re.findall(NUM, before.group(0)) if before else []
        if len(written) != len(values) or not all(_rounds_to(w, v) for w, v in zip(written, values)):
            bad.append(f"line {_line(prose, m.start())}: {', '.join(written) or 'nothing'} before a marker whose "
                       f"runs give {[round(v, 3) for v in values]} ({m['sweep']} {m['spec']})")
    for m in QUOTE.finditer(prose):
        if not prose.startswith("<!-- value:", m.end()) and not _exempt(prose, m):
            bad.append(f"line {_line(prose, m.start())}: {m.group(0)!r} carries no value marker")
    for m in P_VALUE.finditer(prose):
        bad.append(f"line {_line(prose, m.start())}: {m.group(0)!r} outside a generated comparison")
    for m in COMPARE.finditer(text):
        bad += [f"line {_line(text, m.start())}: {b}" for b in _comparison_problems(m["sweep"], m["spec"], m["said"])]
    return bad


@pytest.mark.parametrize("md", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_what_the_prose_says_is_true_of_the_rows_it_names(md):
    assert not problems(md.read_text()), f"{md.relative_to(ROOT)}: " + "; ".join(problems(md.read_text()))


def test_the_docs_state_their_comparisons_and_quote_the_issues_numbers():
    """The claims issue 22 found unsupported are stated with their tests, in README and the sweeps' COMMAND.md."""
    specs = {(m["sweep"], m["spec"]) for md in DOCS for m in COMPARE.finditer(md.read_text())}
    assert ("toy_cpu_semantic", "test_unseen_accuracy variant=whole-space vs variant=restricted-k3-8") in specs
    assert ("toy_cpu_power_law", "test_unseen_accuracy I=3000 alpha=0.03 vs I=256 distribution=uniform") in specs
    unseen_seen = "test_unseen_accuracy - test_seen_accuracy"
    assert {("toy_cpu_phase_transition", f"{unseen_seen} I={i}") for i in (1000, 3000)} <= specs
    readme = (ROOT / "README.md").read_text()
    assert len(COMPARE.findall(readme)) >= 8 and len(VALUE.findall(readme)) >= 8


# ---------------------------------------------------------------------------------------------------------
# The checks fail where the prose is wrong

README = (ROOT / "README.md").read_text()


def _mutated(old: str, new: str, text: str = README) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def _values_of_any_run() -> set[float]:
    """Every accuracy of every run, in percent to one decimal (what the earlier, any-value check accepted)."""
    return {round(100 * v, 1) for res in RESULTS.values() for r in res["rows"] for k, v in r.items()
            if k.endswith("_accuracy") and isinstance(v, float)}


def test_two_swapped_numbers_fail():
    whole, restricted = "scores 25.7%<!-- value: toy_cpu_semantic mean test_unseen_accuracy variant=whole-space -->", \
        "14.3%<!-- value: toy_cpu_semantic mean test_unseen_accuracy variant=restricted-k3-8 -->"
    swapped = _mutated(whole, whole.replace("25.7", "14.3"))
    swapped = _mutated(restricted, restricted.replace("14.3", "25.7"), swapped)
    found = problems(swapped)
    assert len(found) == 2 and all("toy_cpu_semantic mean test_unseen_accuracy" in p for p in found), found


def test_a_transposed_number_equal_to_another_runs_value_fails():
    for quoted, transposed in (
            ("94.0%<!-- value: toy_cpu_phase_transition min test_seen_accuracy I<=64 -->", "90.4"),
            ("81.0-91.8%<!-- value: toy_cpu_phase_transition range test_unseen_op_accuracy I=1000,3000 -->", "19.8")):
        original = re.findall(r"\d+\.\d", quoted)[-1]
        assert float(transposed) in _values_of_any_run()  # a check against any run's value would let it pass
        found = problems(_mutated(quoted, quoted.replace(original, transposed)))
        assert len(found) == 1 and f"{transposed} before a marker" in found[0], found


def test_a_reversed_comparison_fails():
    head_tail = "seen, head third − seen, tail third at I = 256, alpha = 0.1"
    assert problems(_mutated(head_tail, "seen, tail third − seen, head third at I = 256, alpha = 0.1"))
    said = re.search(r"seen, head third − seen, tail third at I = 256, alpha = 0.1: .*?<!-- /compare -->", README)[0]
    for old, new in (("higher on every seed", "lower on every seed"), ("+28.1", "-28.1"), ("+36.2", "-36.2")):
        assert old in said
        found = problems(_mutated(said, said.replace(old, new)))
        assert found and all("test_seen_head_accuracy - test_seen_tail_accuracy" in p for p in found), (old, found)


def test_a_wrong_test_or_p_value_fails():
    said = re.search(r"whole-space − restricted-k3-8 \(unseen\): .*?<!-- /compare -->", README)[0]
    for old, new in (("McNemar's exact test over the unrecorded per-row agreement", "Fisher's exact test"),
                     ("< 0.001 to 0.32", "0.32"), ("paired t-test", "Welch's t-test"), ("p = 0.13", "p = 0.03"),
                     ("95% CI -8.7", "95% CI +1.7")):
        assert old in said
        assert problems(_mutated(said, said.replace(old, new))), old


def test_an_unmarked_number_and_a_typed_p_value_fail():
    anchor = "three seeds do not pin this gap down."
    found = problems(_mutated(anchor, anchor + " Seed 2 alone scores 24.8% (p = 0.23)."))
    assert any("'24.8%' carries no value marker" in p for p in found)
    assert any("'p = 0.2' outside a generated comparison" in p for p in found)
    marker = "<!-- value: toy_cpu_semantic mean test_unseen_accuracy variant=whole-space -->"
    assert problems(_mutated(marker, marker.replace("whole-space", "one-family-k3-8")))  # the marker re-pointed


def test_the_references_agree_with_hand_computed_values():
    # McNemar: 10 vs 2 right of 12 rows: both right on 2 -> b, c = 8, 0: 2 / 2^8; on 1 -> 9, 1: 2 (1 + 10) / 2^10;
    # on 0 -> 10, 2: 2 (1 + 12 + 66) / 2^12, the largest
    assert _mcnemar_range(10, 2, 12) == (2 / 256, 158 / 4096) and _mcnemar(9, 1) == 22 / 1024
    # Fisher: 3 of 3 against 0 of 3: the two extreme tables of 20 are as unlikely, p = 2 / 20
    assert math.isclose(_fisher(3, 3, 0, 3), 0.1)
    # paired t of differences 0.1, 0.2, 0.3: t = 0.2 / (0.1 / sqrt 3); with 2 df, p = 1 - t / sqrt(t^2 + 2)
    diff, lo, hi, p = _t_test([0.3, 0.5, 0.7], [0.2, 0.3, 0.4], paired=True)
    t = 0.2 / (0.1 / math.sqrt(3))
    assert math.isclose(p, 1 - t / math.sqrt(t * t + 2)) and math.isclose(hi - diff, 4.302653 * 0.1 / math.sqrt(3),
                                                                          rel_tol=1e-6)
    assert _rounds_to("25.7", 25.66) and not _rounds_to("25.7", 25.76) and _rounds_to("94", 94.4)


@pytest.mark.parametrize("sweep", [s for s in sorted(RESULTS) if s.startswith("toy_cpu_")])
def test_the_quoted_training_times_are_the_rows_train_s(sweep):
    minutes = [r["train_s"] / 60 for r in RESULTS[sweep]["rows"] if r.get("train_s")]
    lo, hi = round(min(minutes)), round(max(minutes))
    text = " ".join((ROOT / "results" / sweep / "COMMAND.md").read_text().split())
    assert f"took {lo}-{hi} minutes per run" in text or f"vary from {lo} to {hi} minutes" in text, (lo, hi)
    assert re.search(rf"sweeps/{sweep}\.yaml +#[^\n]* {lo}-{hi} min each", README), (lo, hi)

