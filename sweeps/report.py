"""Markdown tables made from a sweep's results.json, and the blocks of README / COMMAND.md files that hold them.

A block in a Markdown file names the results it shows; everything between its two markers is generated::

    <!-- results-table: results/toy_cpu_phase_transition/results.json -->
    | I | seeds | unseen: all | ... |
    <!-- /results-table -->

``python -m sweeps.report README.md results/*/COMMAND.md`` rewrites every block from the file it names (a path
relative to the repository root), and ``--check`` only reports the files whose blocks differ. The tests re-render every committed block, so no number in the docs
is typed by hand. Accuracies are percentages of a point's runs (the runs differing only by seed): the mean, then
``± sd`` (sample standard deviation) and ``(min-max)`` when the point has more than one seed.
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

BLOCK = re.compile(r"(<!-- results-table: (?P<src>[^ ]+) -->\n)(?P<body>.*?)(<!-- /results-table -->)", re.S)

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
    if (point.get(f"{key}_seeds") or 0) < 2:
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
        if "third" in header and not skewed:
            continue  # equal training frequencies: the thirds are arbitrary cuts of the same thing
        if any(p.get(key) is not None for p in points):
            cols.append((header, lambda p, key=key: accuracy_cell(p, key)))
    spread = " ± sample sd (min-max) over seeds" if any(p.get("n_seeds", 1) > 1 for p in points) else ""
    lines = [f"Exact-match accuracy in %: the mean{spread}.", "",
             "| " + " | ".join(h for h, _ in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(f(p) for _, f in cols) + " |" for p in points]
    return "\n".join(lines) + "\n"


def _source(md: Path, src: str, root: Path) -> Path:
    """A block's results file: relative to the repository root (``root``), and inside it (no ``..``, no absolute
    path, no link out of it)."""
    path = root / src
    if not path.resolve().is_relative_to(root.resolve()):
        raise ConfigError(str(md), f"results-table block names {src}, which is outside {root.name or '.'}")
    if not path.is_file():
        raise ConfigError(str(md), f"results-table block names {src}, which is not a file under {root.name or '.'}")
    return path


def blocks(text: str) -> list[re.Match]:
    return list(BLOCK.finditer(text))


def rendered(md: Path, root: Path) -> str:
    """``md``'s text with every results-table block re-rendered from its results.json."""
    text = md.read_text()

    def one(m: re.Match) -> str:
        results = json.loads(_source(md, m["src"], root).read_text())
        return m.group(1) + render(results) + m.group(4)

    return BLOCK.sub(one, text)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="The folder the blocks' results paths are relative to (the repository root).")
@click.option("--check", is_flag=True, help="Change nothing; exit 1 naming each file whose blocks differ.")
@user_errors
def main(files: tuple[Path, ...], root: Path, check: bool) -> None:
    """Rewrite the results-table blocks of FILES from the results.json each names."""
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
