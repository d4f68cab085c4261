"""The results of a rewrite evaluation: a stable JSON layout, its terminal table, and rows for plots.

Layout (``schema`` = ``"diveval/rewrite/1"``; added keys never change the meaning of existing ones)::

    {
      "schema": "diveval/rewrite/1",
      "created": "2025-01-01T12:00:00+00:00",           # UTC, when the evaluation finished
      "model":   {"name", "source": "folder"|"local"|"hub", "repo_id", "revision", "folder_name"?},
      "dataset": {"name", "source", "repo_id", "revision", "fingerprint", "folder_name"?, "task",
                  "diversity": {"instructions", "examples_per_instruction", "train_rows", "distribution",
                                "alpha", "noop_fraction"}},
      "decode":  {"strategy": "greedy", "kv_cache": true, "padding": "left", "batch_size", "max_new_tokens",
                  "max_new_tokens_given", "margin", "match": "exact"|"strip", "limit", "limit_sample",
                  "confidence", "device", "dtype"},
      "splits": {
        "test_unseen": {"n", "correct", "accuracy", "ci_low", "ci_high",          # Wilson interval
                        "by_kind": {"op": {n, correct, accuracy, ci_low, ci_high}, "noop": {...}},
                        "rule_length_column": "pattern_len"|"n_rules"|null,
                        "by_rule_length": {"<length>": {n, correct, accuracy, ci_low, ci_high}, ...},
                        "seconds", "examples_per_s",
                        "mistakes": [{"prompt", "expected", "predicted"}, ...]},     # the first few
        "test_seen": {...}
      },
      "examples", "seconds", "examples_per_s",            # all splits together (decoding only)
      "versions": {"instruction-diversity", "transformers", "torch"}
    }

Accuracies are fractions in [0, 1] (None for an empty group). Provenance comes from
:meth:`cards.resolve.Resolved.describe`: a folder is named by its last path component only, never by a full
machine path. ``alpha`` is the power-law exponent of the instruction distribution (1.0 for uniform, which is
the same distribution; None for an explicit one).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from generators.errors import ConfigError

SCHEMA = "diveval/rewrite/1"
SPLIT_LABELS = {"test_unseen": "unseen instructions", "test_seen": "seen instructions"}


def dataset_provenance(resolved) -> dict:
    """The ``dataset`` entry: where the data came from and the diversity knobs it was made with."""
    meta = resolved.meta or {}
    cfg = meta.get("config") or {}
    out = {
        "name": resolved.repo_id or meta.get("name") or (resolved.path.name if resolved.path is not None else resolved.source),
        **resolved.describe(),
        "task": meta.get("task"),
    }
    if cfg:
        dist = cfg.get("distribution") or {}
        kind = dist.get("kind")
        train_rows = (meta.get("splits") or {}).get("train", {}).get("rows")
        instructions = cfg.get("instructions")
        per = cfg.get("examples_per_instruction")
        if per is None and train_rows and instructions:
            per = train_rows / instructions
        out["diversity"] = {
            "instructions": instructions,
            "examples_per_instruction": per,
            "train_rows": train_rows,
            "distribution": kind,
            "alpha": power_law_alpha(dist),
            "noop_fraction": cfg.get("noop_fraction"),
        }
    return out


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def build_results(scores: dict, model: dict, dataset: dict) -> dict:
    """The full results document from :func:`eval.rewrite.evaluate_rewrite`'s scores plus provenance."""
    return {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "model": model,
        "dataset": dataset,
        "decode": scores["decode"],
        "splits": scores["splits"],
        "examples": scores["examples"],
        "seconds": scores["seconds"],
        "examples_per_s": scores["examples_per_s"],
        "versions": {d: _version(d) for d in ("instruction-diversity", "transformers", "torch")},
    }


def write_results(results: dict, path: str | Path) -> Path:
    from generators.atomic import write_text_atomic

    return write_text_atomic(path, json.dumps(results, indent=2, ensure_ascii=False) + "\n")


def read_results(path: str | Path) -> dict:
    """A results document written by :func:`write_results` (refuses other JSON with a clear message)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(None, f"results file {path} does not exist") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(None, f"{path} is not readable JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ConfigError(None, f"{path} is not a diveval rewrite results file (schema {SCHEMA})")
    return data


def pct(x: float | None) -> str:
    return "  n/a" if x is None else f"{100 * x:5.1f}"


def _cell(group: dict | None) -> str:
    if not group or not group["n"]:
        return "-"
    return f"{pct(group['accuracy']).strip()}% ({group['n']})"


def format_table(results: dict) -> str:
    """A one-screen table: one line per split (accuracy, interval, op / no-op), then rule lengths."""
    ds, model = results["dataset"], results["model"]
    rev = f"@{ds['revision']}" if ds.get("revision") else ""
    fp = f"  fingerprint {ds['fingerprint'][:12]}" if ds.get("fingerprint") else ""
    mrev = f"@{model['revision']}" if model.get("revision") else ""
    conf = round(100 * results["decode"]["confidence"])
    lines = [
        f"model    {model['name']}{mrev} ({model['source']})",
        f"dataset  {ds['name']}{rev} ({ds['source']}){fp}",
        "",
        f"{'split':<13}{'n':>7}{'acc %':>8}   {f'{conf}% CI':<15}{'op':>15}{'no-op':>15}",
    ]
    for name, s in results["splits"].items():
        ci = f"[{pct(s['ci_low']).strip()}, {pct(s['ci_high']).strip()}]"
        lines.append(
            f"{name:<13}{s['n']:>7}{pct(s['accuracy']):>8}   {ci:<15}"
            f"{_cell(s['by_kind'].get('op')):>15}{_cell(s['by_kind'].get('noop')):>15}"
        )
    for name, s in results["splits"].items():
        if s["by_rule_length"]:
            cells = "  ".join(f"{k}: {_cell(v)}" for k, v in s["by_rule_length"].items())
            lines.append(f"{name} by {s['rule_length_column']}: {cells}")
    return "\n".join(lines)


def summary_line(results: dict, written: str | None = None) -> str:
    accs = ", ".join(f"{name} {pct(s['accuracy']).strip()}%" for name, s in results["splits"].items())
    rate = f" ({results['examples_per_s']:,.1f} examples/s)" if results.get("examples_per_s") else ""
    where = f"; wrote {written}" if written else ""
    return f"evaluated {results['examples']} examples in {results['seconds']:.1f}s{rate}: {accs}{where}"


def power_law_alpha(dist: dict) -> float | None:
    """The power-law exponent of an instruction distribution: 1.0 for uniform frequencies (the same law), None for
    explicit ones."""
    kind = dist.get("kind", "uniform")
    return dist.get("alpha") if kind == "power_law" else (1.0 if kind == "uniform" else None)


def sweep_row(results: dict, split: str = "test_unseen") -> dict:
    """One row of a sweep table (for :mod:`eval.plots`): diversity knobs plus the accuracy on ``split``."""
    if split not in results["splits"]:
        raise ConfigError("split", f"results of {results['model']['name']} have no split {split!r} (have: {', '.join(results['splits'])})")
    s = results["splits"][split]
    div = results["dataset"].get("diversity") or {}
    return {
        "model": results["model"]["name"],
        "dataset": results["dataset"]["name"],
        "split": split,
        "I": div.get("instructions"),
        "S": div.get("examples_per_instruction"),
        "N": div.get("train_rows"),
        "noop_fraction": div.get("noop_fraction"),
        "alpha": div.get("alpha"),
        "distribution": div.get("distribution"),
        "n": s["n"],
        "accuracy": s["accuracy"],
        "ci_low": s["ci_low"],
        "ci_high": s["ci_high"],
    }
