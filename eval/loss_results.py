"""The results of a held-out loss evaluation (``diveval loss``): a stable JSON layout and its terminal table.

Layout (``schema`` = ``"diveval/loss/1"``; added keys never change the meaning of existing ones)::

    {
      "schema": "diveval/loss/1",
      "created": "2025-01-01T12:00:00+00:00",
      "model":   {...}, "dataset": {...}, "training": {...},     # as in diveval rewrite results (eval.results)
      "settings": {"batch_size", "confidence", "resamples", "bootstrap_seed", "limit", "max_length", "loss"},
      "splits": {
        "test_unseen": {"n", "tokens", "loss", "loss_ci_low", "loss_ci_high",            # nats per token
                        "perplexity", "perplexity_ci_low", "perplexity_ci_high", "truncated_rows",
                        "by_cluster"?: {"<cluster id>": {"n", "tokens", "loss"}}},
        "test_seen": {...}, "validation": {...}
      },
      "gap": {"unseen_minus_seen", "ci_low", "ci_high"}?,       # when both test splits were scored
      "seconds", "versions": {...}
    }

See :mod:`eval.loss` for the definitions. A dataset's ``diversity`` (from its ``datagen.json``) holds I, S, N
and, for a pool, the clusters it was cut from.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from eval.results import SPLIT_LABELS, read_results, versions

SCHEMA = "diveval/loss/1"


def build_loss_results(scores: dict, model: dict, dataset: dict, training: dict | None = None) -> dict:
    """The results document from :func:`eval.loss.evaluate_loss`'s scores plus provenance."""
    out = {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "model": model,
        "dataset": dataset,
        "training": training or {"data": None, "match": "unknown", "warning": None, "note": "not looked up",
                                 "diversity": None},
        "settings": scores["settings"],
        "splits": scores["splits"],
        "seconds": scores["seconds"],
        "versions": versions(),
    }
    if "gap" in scores:
        out["gap"] = scores["gap"]
    return out


def read_loss_results(path: str | Path) -> dict:
    """A results document of ``diveval loss`` (written by :func:`eval.results.write_results`)."""
    return read_results(path, SCHEMA, "loss")


def _num(x, fmt: str = ".4f") -> str:
    return "n/a" if x is None else format(x, fmt)


def format_loss_table(results: dict) -> str:
    """One line per split: rows, tokens, loss with its interval, perplexity with its interval; then the gap."""
    ds, model = results["dataset"], results["model"]
    conf = round(100 * results["settings"]["confidence"])
    lines = [f"model    {model['name']} ({model['source']})", f"dataset  {ds['name']} ({ds['source']})", "",
             f"{'split':<13}{'rows':>7}{'tokens':>9}{'loss':>9}  {f'{conf}% CI':<19}{'perplexity':>11}  {f'{conf}% CI':<19}"]
    for name, s in results["splits"].items():
        ci = f"[{_num(s.get('loss_ci_low'))}, {_num(s.get('loss_ci_high'))}]"
        pci = f"[{_num(s.get('perplexity_ci_low'), '.3f')}, {_num(s.get('perplexity_ci_high'), '.3f')}]"
        lines.append(f"{name:<13}{s['n']:>7}{s['tokens']:>9}{_num(s['loss']):>9}  {ci:<19}"
                     f"{_num(s['perplexity'], '.3f'):>11}  {pci:<19}")
    gap = results.get("gap")
    if gap:
        lines.append(f"unseen - seen clusters: {gap['unseen_minus_seen']:+.4f} nats/token "
                     f"[{gap['ci_low']:+.4f}, {gap['ci_high']:+.4f}] ({conf}% bootstrap interval)")
    return "\n".join(lines)


def loss_summary_line(results: dict, written: str | None = None) -> str:
    parts = ", ".join(f"{SPLIT_LABELS.get(n, n)} {_num(s['loss'])}" for n, s in results["splits"].items())
    where = f"; wrote {written}" if written else ""
    return f"scored {sum(s['n'] for s in results['splits'].values())} rows in {results['seconds']:.1f}s: loss {parts}{where}"


def loss_columns(results: dict, splits) -> dict:
    """A sweep row's loss columns: ``<split>_loss``, ``_loss_ci_low``, ``_loss_ci_high``, ``_perplexity``, ``_n``
    per split, and ``loss_gap`` (unseen - seen) with its interval."""
    row = {}
    for split in splits:
        s = results["splits"].get(split)
        if s is None:
            continue
        row.update({f"{split}_loss": s["loss"], f"{split}_loss_ci_low": s.get("loss_ci_low"),
                    f"{split}_loss_ci_high": s.get("loss_ci_high"), f"{split}_perplexity": s["perplexity"],
                    f"{split}_n": s["n"]})
    gap = results.get("gap")
    if gap:
        row.update({"loss_gap": gap["unseen_minus_seen"], "loss_gap_ci_low": gap["ci_low"],
                    "loss_gap_ci_high": gap["ci_high"]})
    return row
