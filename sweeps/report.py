"""What README / COMMAND.md files show of a sweep's results.json, generated: its tables, the numbers the prose
quotes, and the comparisons it states with their tests.

Three kinds of marker say what is generated; none shows when the Markdown is rendered (they are HTML comments):

- a table: everything between the two markers, from the results file named (a path relative to the root)::

    <!-- results-table: results/toy_cpu_phase_transition/results.json -->
    | I | seeds | unseen: all | ... |
    <!-- /results-table -->

  Accuracies are percentages of a point's runs (the runs differing only by seed): the mean, then ``± sd`` (sample
  standard deviation) and ``(min-max)`` when the point has more than one seed. Under the caption, which runs were
  scored on the same test rows (equal ``*_fingerprint`` columns), and so compare as pairs;
- a quoted number: the number(s) just before the marker, rewritten at the precision they are written with::

    the whole space scores 25.7%<!-- value: toy_cpu_semantic mean test_unseen_accuracy variant=whole-space -->

  SWEEP (``toy_cpu_semantic``) is a folder of ``results/`` under the root; then ``STAT COLUMN FILTER...`` as
  sweeps.claims defines them (``range`` rewrites the two numbers of ``81.0-91.8%``, ``each`` one per run);
- a comparison: the sentence between the markers, with its per-seed and over-seeds tests (sweeps.claims)::

    <!-- compare: toy_cpu_semantic test_unseen_accuracy variant=whole-space vs variant=restricted-k3-8 -->
    ...<!-- /compare -->

``python -m sweeps.report README.md results/*/COMMAND.md`` rewrites all of them (write an empty comparison or a
``0.0`` before a value marker, and it fills them in); ``--check`` only reports the files that differ. The tests
re-render every committed file and recompute each number from the rows, so no number in the docs is typed by hand.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import click

from core.atomic import write_text_atomic
from core.cli import user_errors
from core.errors import ConfigError
from sweeps import claims

BLOCK = re.compile(r"(<!-- results-table: (?P<src>[^ ]+) -->\n)(?P<body>.*?)(<!-- /results-table -->)", re.S)
COMPARE = re.compile(r"(<!-- compare: (?P<sweep>[\w.-]+) (?P<spec>[^\n]*?) -->)(?P<body>.*?)(<!-- /compare -->)", re.S)
VALUE = re.compile(r"<!-- value: (?P<sweep>[\w.-]+) (?P<spec>[^\n]*?) -->")
NUM = r"\d+(?:\.\d+)?"
SEP = r"(?:[-–]|, and |, | and | to )"

# (column of a results.json point, header); shown when any point has it
ACCURACIES = [
    ("test_unseen_accuracy", "unseen: all"),
    ("test_unseen_op_accuracy", "unseen: rewrites"),
    ("test_unseen_noop_accuracy", "unseen: no-ops"),
    ("test_seen_accuracy", "seen: all"),
    ("test_seen_head_accuracy", "seen: head third"),
    ("test_seen_middle_accuracy", "seen: middle third"),
    ("test_seen_tail_accuracy", "seen: tail third"),
]


def _pct(v: float) -> str:
    return f"{100 * v:.1f}"


def accuracy_cell(point: dict, key: str) -> str:
    """``mean`` for one seed; ``mean ± sd (min-max)`` for more; ``-`` where no run has it."""
    mean = point.get(key)
    if mean is None:
        return "-"
    if point[f"{key}_seeds"] < 2:  # sweeps.table.aggregate: how many seeds have it
        return _pct(mean)
    return (f"{_pct(mean)} ± {_pct(point[f'{key}_sd'])} "
            f"({_pct(point[f'{key}_min'])}-{_pct(point[f'{key}_max'])})")


def _distribution(point: dict) -> str:
    if point.get("distribution") == "power_law":
        return f"power law, alpha {point['alpha']:g}"
    return str(point.get("distribution", "-"))


def render(results: dict) -> str:
    """The Markdown table of a results.json: one line per point, knobs first, then the accuracies (in %)."""
    points = results["points"]
    if not points:
        raise ConfigError("points", "the results hold no finished run")
    cols: list[tuple[str, Callable[[dict], str]]] = []
    if any(p.get("variant") for p in points):
        cols.append(("variant", lambda p: str(p.get("variant") or "-")))
    cols.append(("I", lambda p: str(p["I"])))
    if len({p.get("distribution") for p in points}) > 1 or any(p.get("alpha") is not None for p in points):
        cols.append(("distribution", _distribution))
        cols.append(("effective instructions", lambda p: f"{p['effective_instructions']:.0f}"
                     if p.get("effective_instructions") is not None else "-"))
    cols.append(("seeds", lambda p: ", ".join(str(s) for s in p["seeds"])))
    skewed = any(p.get("distribution") not in (None, "uniform") for p in points)
    for key, header in ACCURACIES:
        # under equal training frequencies the thirds are arbitrary cuts of the same thing: not shown
        if (skewed or "third" not in header) and any(p.get(key) is not None for p in points):
            cols.append((header, lambda p, key=key: accuracy_cell(p, key)))
    spread = " ± sample sd (min-max) over seeds" if any(p["n_seeds"] > 1 for p in points) else ""
    shared = claims.sharing(results.get("rows") or [])
    lines = [f"Exact-match accuracy in %: the mean{spread}.", *([shared] if shared else []), "",
             "| " + " | ".join(h for h, _ in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(f(p) for _, f in cols) + " |" for p in points]
    return "\n".join(lines) + "\n"


def _source(where: Path | str, src: str, root: Path) -> Path:
    """A block's or marker's results file: relative to the repository root (``root``), and inside it (no ``..``,
    no absolute path, no link out of it). An error names ``where`` (the Markdown file, or its file:line)."""
    path = root / src
    if not path.resolve().is_relative_to(root.resolve()):
        raise ConfigError(str(where), f"{src} is outside the --root folder {root}")
    if not path.is_file():
        raise ConfigError(str(where), f"{src} is not a file under the --root folder {root}")
    return path


def blocks(text: str) -> list[re.Match]:
    return list(BLOCK.finditer(text))


def _sweep_rows(where: str, sweep: str, root: Path, cache: dict[str, list[dict]]) -> list[dict]:
    """The per-run rows of ``results/<sweep>/results.json`` under ``root``; an error names ``where`` (the
    marker's file:line)."""
    if sweep not in cache:
        if sweep in (".", ".."):
            raise ConfigError(where, f"{sweep!r} is not a sweep's folder under results/")
        cache[sweep] = json.loads(_source(where, f"results/{sweep}/results.json", root).read_text())["rows"]
    return cache[sweep]


def _line(text: str, pos: int) -> int:
    return text[:pos].count("\n") + 1


_FORMS = {"range": "min-max", "each": "a, b and c"}  # how a marker's numbers are written


def _requote(quote: str, values: list[float]) -> str:
    """``quote`` with its numbers (as many as ``values``) replaced by ``values``, each at the decimals it has."""
    new = iter(values)
    return re.sub(NUM, lambda num: f"{next(new):.{len(num.group(0).partition('.')[2])}f}", quote)


def _fill(md: Path, text: str, root: Path, cache: dict[str, list[dict]]) -> str:
    """Each value marker's number(s), just before it, rewritten from the rows at their written precision."""
    out, last = [], 0
    for m in VALUE.finditer(text):
        where = f"{md}:{_line(text, m.start())}"
        rows = _sweep_rows(where, m["sweep"], root, cache)
        try:
            values = claims.quoted_values(rows, m["spec"])
        except ConfigError as exc:
            raise ConfigError(where, exc.message) from None
        k = len(values)
        # the number(s) end just before the marker and start a number of their own (not "000" of "1,000")
        before = re.search(rf"(?<![\w.,+–-]){NUM}(?:{SEP}{NUM}){{{k - 1}}}(?:%|\s+points?|\s+percent)?\Z",
                           text[last:m.start()])
        if before is None:
            raise ConfigError(where, f"the value marker names {k} number(s); write them just before it "
                                     f"({_FORMS.get(m['spec'].split()[0], 'one number')})")
        out += [text[last:last + before.start()], _requote(before.group(0), values), m.group(0)]
        last = m.end()
    out.append(text[last:])
    return "".join(out)


def rendered(md: Path, root: Path) -> str:
    """``md``'s text with every results-table block, comparison and quoted value re-made from its results.json."""
    text = md.read_text()
    cache: dict[str, list[dict]] = {}

    def table(m: re.Match) -> str:
        results = json.loads(_source(md, m["src"], root).read_text())
        try:
            return m.group(1) + render(results) + m.group(4)
        except ConfigError as exc:  # name the Markdown file and the results file too
            raise ConfigError(f"{md}: {m['src']}", str(exc)) from None

    tabled = BLOCK.sub(table, text)

    def comparison(m: re.Match) -> str:
        where = f"{md}:{_line(tabled, m.start())}"
        rows = _sweep_rows(where, m["sweep"], root, cache)
        try:
            said = claims.sentence(claims.compare(rows, m["spec"]))
        except ConfigError as exc:
            raise ConfigError(where, exc.message) from None
        return m.group(1) + said + m.group(5)

    return _fill(md, COMPARE.sub(comparison, tabled), root, cache)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="The folder the blocks' results paths are relative to (the repository root).")
@click.option("--check", is_flag=True, help="Change nothing; exit 1 naming each file that differs from its results.")
@user_errors
def main(files: tuple[Path, ...], root: Path, check: bool) -> None:
    """Rewrite the results tables, quoted values and comparisons of FILES from the results.json each names."""
    stale = []
    for md in files:
        new = rendered(md, root)
        if new != md.read_text():
            stale.append(md)
            if not check:
                write_text_atomic(md, new)
    for md in stale:
        click.echo(f"{md}: {'differs from its results' if check else 'updated'}")
    if check and stale:
        sys.exit(1)


if __name__ == "__main__":
    main()
