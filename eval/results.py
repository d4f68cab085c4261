"""The results of a rewrite evaluation: a stable JSON layout, its terminal table, and rows for plots.

Layout (``schema`` = ``"diveval/rewrite/1"``; added keys never change the meaning of existing ones)::

    {
      "schema": "diveval/rewrite/1",
      "created": "2025-01-01T12:00:00+00:00",           # UTC, when the evaluation finished
      "model":   {"name", "source": "folder"|"local"|"hub", "repo_id", "revision", "folder_name"?},
      "dataset": {"name", "source", "repo_id", "revision", "fingerprint", "folder_name"?, "task",
                  "diversity": {...}},                  # the EVALUATION data and its own knobs (see below)
      "training": {                                     # the data the model was trained on (eval.lineage)
        "data": {"dataset", "source", "revision", "fingerprint"} | null,   # from the model card
        "match": "same"|"different"|"unknown",          # is the evaluation data the training data?
        "warning": str | null,                          # printed too, when it is not (known to be) the same
        "note": str | null,                             # why the training data's knobs are unknown
        "diversity": {...} | null                       # the TRAINING data's knobs: what a sweep row plots
      },
      "decode":  {"strategy": "greedy", "kv_cache": true, "padding": "left", "batch_size", "max_new_tokens",
                  "max_new_tokens_given", "margin", "match": "exact"|"strip", "limit", "limit_sample",
                  "confidence", "device", "dtype"},
      "splits": {
        "test_unseen": {"n", "correct", "accuracy", "ci_low", "ci_high",          # Wilson interval
                        "by_kind": {"op": {n, correct, accuracy, ci_low, ci_high}, "noop": {...}},
                        "rule_length_column": "pattern_len"|"n_rules"|null,
                        "by_rule_length": {"<length>": {n, correct, accuracy, ci_low, ci_high}, ...},
                        "breakdowns"?: {"<column>": {"<value>": {n, correct, ...}}},  # the task's scorer's
                                                                                      # further columns
                        "seconds", "examples_per_s",
                        "mistakes": [{"prompt", "expected", "predicted"}, ...]},     # the first few
        "test_seen": {...,
                      "by_train_frequency": {"definition", "matched_by", "rules", "rows_not_in_training",
                                             "head"|"middle"|"tail": {n, correct, accuracy, ci_low, ci_high,
                                                                       rules, train_examples_min, _max}}
                                            | {"unavailable": reason}}
      },
      "examples", "seconds", "examples_per_s",            # all splits together (decoding only)
      "versions": {"instruction-diversity", "transformers", "torch"}
    }

A ``diversity`` entry: ``{"instructions", "examples_per_instruction", "train_rows", "distribution", "alpha",
"noop_fraction", "structures", "k", "test_k"}`` (I, S, N, the frequency distribution, its power-law exponent,
the no-op share, the pattern families with their k range, and the unseen test space's k range when it has its
own). Accuracies are fractions in [0, 1] (None for an empty group). Provenance comes from
:meth:`publishing.resolve.Resolved.describe`: a folder is named by its last path component only, never by a full
machine path. ``alpha`` is the exponent of a ``power_law`` distribution and None otherwise: Uniform is its own
point of the paper's axis (Uniform, 2, 1, 0.5, ...), not alpha = 1.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from core.atomic import write_text_atomic
from core.documents import read_json
from core.errors import ConfigError

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
        out["diversity"] = diversity_of(meta)
    return out


def _k_range(value) -> list[int] | None:
    if value is None:
        return None
    return [value, value] if isinstance(value, int) else list(value)


def diversity_of(meta: dict | None) -> dict | None:
    """The diversity knobs of a dataset from its ``datagen.json`` (None when it has none)."""
    cfg = (meta or {}).get("config") or {}
    if not cfg:
        return None
    dist = cfg.get("distribution") or {}
    train_rows = (meta.get("splits") or {}).get("train", {}).get("rows")
    instructions = cfg.get("instructions")
    per = cfg.get("examples_per_instruction")
    if per is None and train_rows and instructions:
        per = train_rows / instructions
    space, test_space = cfg.get("space") or {}, cfg.get("test_space") or {}
    return {
        "instructions": instructions,
        "examples_per_instruction": per,
        "train_rows": train_rows,
        "distribution": dist.get("kind"),
        "alpha": power_law_alpha(dist),
        "noop_fraction": cfg.get("noop_fraction"),
        "structures": space.get("structures"),
        "k": _k_range(space.get("k")),
        "test_k": _k_range(test_space.get("k")) if test_space else None,
    }


def training_provenance(training) -> dict:
    """The ``training`` entry from an :class:`eval.lineage.TrainingData`: the knobs come from its metadata only."""
    return {**training.describe(), "diversity": diversity_of(training.meta)}


def versions() -> dict:
    """The versions of the packages that decide a score (recorded in every results file)."""
    return {d: _version(d) for d in ("instruction-diversity", "transformers", "torch")}


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def build_results(scores: dict, model: dict, dataset: dict, training: dict | None = None) -> dict:
    """The full results document from :func:`eval.rewrite.evaluate_rewrite`'s scores plus provenance
    (``training``: :func:`training_provenance`; None records the training data as unknown)."""
    if training is None:
        training = {"data": None, "match": "unknown", "warning": None, "note": "not looked up", "diversity": None}
    return {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "model": model,
        "dataset": dataset,
        "training": training,
        "decode": scores["decode"],
        "splits": scores["splits"],
        "examples": scores["examples"],
        "seconds": scores["seconds"],
        "examples_per_s": scores["examples_per_s"],
        "versions": versions(),
    }


def write_results(results: dict, path: str | Path) -> Path:
    return write_text_atomic(path, json.dumps(results, indent=2, ensure_ascii=False) + "\n")


def read_results(path: str | Path, schema: str = SCHEMA, what: str = "rewrite") -> dict:
    """A results document written by :func:`write_results` with ``schema`` (refuses other JSON with a clear
    message naming ``what`` kind of results it should be)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(None, f"results file {path} does not exist")
    data = read_json(path)  # one line naming the file: invalid JSON, too deep, an endless integer
    if not isinstance(data, dict) or data.get("schema") != schema:
        raise ConfigError(None, f"{path} is not a diveval {what} results file (schema {schema})")
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
    for name, s in results["splits"].items():
        freq = s.get("by_train_frequency")
        if freq and "unavailable" not in freq and not freq["rules"]:
            lines.append(f"{name} by training frequency: none of its {freq['rows_not_in_training']} rows has a training rule")
        elif freq and "unavailable" not in freq:
            cells = "  ".join(f"{t}: {_third(freq[t], conf)}" for t in ("head", "middle", "tail"))
            lines.append(f"{name} by training frequency ({freq['rules']} rules): {cells}")
        elif freq:
            lines.append(f"{name} by training frequency: unavailable ({freq['unavailable']})")
    lines.append(_training_line(results.get("training")))
    return "\n".join(lines)


def _third(g: dict, conf: int) -> str:
    if not g["n"]:
        return "-"
    span = g["train_examples_min"] if g["train_examples_min"] == g["train_examples_max"] else \
        f"{g['train_examples_min']}-{g['train_examples_max']}"
    return (f"{pct(g['accuracy']).strip()}% [{pct(g['ci_low']).strip()}, {pct(g['ci_high']).strip()}] "
            f"({g['n']} rows, {g['rules']} rules x {span} train ex.)")


def _training_line(training: dict | None) -> str:
    if not training:
        return "trained on: not recorded"
    data = training.get("data")
    named = f"{data['dataset']}" + (f"@{data['revision']}" if data.get("revision") else "") if data else "not named in the model card"
    div = training.get("diversity")
    knobs = "I, S, alpha unknown"
    if div:
        dist = div["distribution"] if div["alpha"] is None else f"alpha={div['alpha']:g}"
        knobs = f"I={div['instructions']}, S={_num(div['examples_per_instruction'])}, {dist}"
    what = {"same": "the evaluation data", "different": "NOT the evaluation data", "unknown": "unconfirmed"}[training["match"]]
    return f"trained on {named} ({what}; {knobs})"


def _num(x) -> str:
    return "?" if x is None else f"{x:g}"


def summary_line(results: dict, written: str | None = None) -> str:
    accs = ", ".join(f"{name} {pct(s['accuracy']).strip()}%" for name, s in results["splits"].items())
    rate = f" ({results['examples_per_s']:,.1f} examples/s)" if results.get("examples_per_s") else ""
    where = f"; wrote {written}" if written else ""
    return f"evaluated {results['examples']} examples in {results['seconds']:.1f}s{rate}: {accs}{where}"


def power_law_alpha(dist: dict) -> float | None:
    """The exponent of a ``power_law`` instruction distribution; None for the others (``uniform`` and alpha = 1
    are different points of the paper's axis: a row's ``distribution`` says which it is)."""
    return dist.get("alpha") if dist.get("kind", "uniform") == "power_law" else None


def sweep_row(results: dict, split: str = "test_unseen") -> dict:
    """One row of a sweep table (for :mod:`eval.plots`): diversity knobs plus the accuracy on ``split``."""
    if split not in results["splits"]:
        raise ConfigError("split", f"results of {results['model']['name']} have no split {split!r} (have: {', '.join(results['splits'])})")
    s = results["splits"][split]
    if "training" in results:  # the training data's knobs (unknown when it could not be found), never the eval data's
        div = results["training"].get("diversity") or {}
    else:  # a results file from before lineage was recorded: its dataset was taken to be the training data
        div = results["dataset"].get("diversity") or {}
        if div.get("distribution") == "uniform":
            div = {**div, "alpha": None}  # such files wrote alpha 1 for uniform
    row = {
        "model": results["model"]["name"],
        "dataset": results["dataset"]["name"],
        "split": split,
        "I": div.get("instructions"),
        "S": div.get("examples_per_instruction"),
        "N": div.get("train_rows"),
        "noop_fraction": div.get("noop_fraction"),
        "alpha": div.get("alpha"),
        "distribution": div.get("distribution"),
        **semantic_columns(div),
        "n": s["n"],
        "accuracy": s["accuracy"],
        "ci_low": s["ci_low"],
        "ci_high": s["ci_high"],
    }
    row.update(frequency_columns(results, "test_seen"))
    return row


def semantic_columns(div: dict) -> dict:
    """``families``, ``k_range`` and ``restricted`` of structured (semantic) training patterns; {} for others.

    ``restricted``: the training k range leaves out every k of the unseen test space (the paper's restricted
    sub-space); False when they overlap (the unrestricted reference); None without a test space of its own.
    """
    structures, k = div.get("structures"), div.get("k")
    if not structures or structures == ["random"] or not k:
        return {}
    test_k = div.get("test_k")
    restricted = None if not test_k else (k[0] > test_k[1] or k[1] < test_k[0])
    return {"families": "+".join(structures), "k_range": f"{k[0]}-{k[1]}", "k_max": k[1], "restricted": restricted}


def frequency_columns(results: dict, split: str = "test_seen") -> dict:
    """``<split>_<third>_accuracy`` / ``_ci_low`` / ``_ci_high`` / ``_n`` for the head, middle and tail thirds."""
    freq = (results["splits"].get(split) or {}).get("by_train_frequency")
    if not freq or "unavailable" in freq:
        return {}
    out = {}
    for third in ("head", "middle", "tail"):
        g = freq[third]
        out.update({f"{split}_{third}_accuracy": g["accuracy"], f"{split}_{third}_ci_low": g["ci_low"],
                    f"{split}_{third}_ci_high": g["ci_high"], f"{split}_{third}_n": g["n"]})
    return out
