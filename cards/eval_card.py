"""Rendering evaluation scores into a model card (any ``huggingface_hub.ModelCard``), idempotently.

Two places hold the scores:

- the card's ``model-index`` metadata: one ``EvalResult`` per evaluated split (task ``text-generation``,
  dataset id + config + split + revision, metric ``exact_match`` in percent). Entries are keyed by
  (task, dataset, config, split, metric): re-running an evaluation replaces its entries, other entries
  (other datasets, other metrics, results written by other tools) are kept. As in the training card
  (:func:`cards.model_card.hub_id`), only data with a Hub id gets entries: the model-index identifies a dataset
  by ``dataset.type``, a Hub id, and data that exists on this machine only (a folder, a bare or ``local/`` local
  hub name) has none; its scores are in the body table;
- one section of the body, between ``<!-- diveval:results:start -->`` and ``<!-- diveval:results:end -->``:
  a table with counts, Wilson intervals and the op / no-op breakdown, rendered from the rows kept under the
  ``diveval`` metadata key (so results for several datasets accumulate in one table), plus optional images.

Pure functions of the card and the results (and :func:`write_card`, an atomic file write): where the card is
pushed back to (a folder, the local hub, the Hub) is :mod:`publishing.scores`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard

from cards.model_card import hub_id
from core.atomic import write_text_atomic

START = "<!-- diveval:results:start -->"
END = "<!-- diveval:results:end -->"
DETAILS_KEY = "diveval"
TASK_TYPE = "text-generation"
TASK_NAME = "Instruction following (string rewriting)"
METRIC_TYPE = "exact_match"
DATASET_CONFIG = "default"
#: How tables and cards name the test splits (eval.results uses the same labels).
SPLIT_LABELS = {"test_unseen": "unseen instructions", "test_seen": "seen instructions"}


def _percent(x: float | None) -> float | None:
    return None if x is None else round(100 * x, 3)


def eval_results_from(results: dict) -> list[EvalResult]:
    """One ``EvalResult`` per split of an :mod:`eval.results` document (metric value in percent); none for a
    dataset that is not on the Hub."""
    ds = results["dataset"]
    dataset_id = hub_id(ds.get("source"), ds.get("repo_id"))
    out: list[EvalResult] = []
    for split, s in results["splits"].items() if dataset_id is not None else ():
        if s["accuracy"] is None:
            continue
        label = SPLIT_LABELS.get(split, split)
        out.append(
            EvalResult(
                task_type=TASK_TYPE,
                task_name=TASK_NAME,
                dataset_type=dataset_id,
                dataset_name=ds["name"],
                dataset_config=DATASET_CONFIG,
                dataset_split=split,
                dataset_revision=ds.get("revision"),
                metric_type=METRIC_TYPE,
                metric_name=f"Exact match (%), {label}",
                metric_value=_percent(s["accuracy"]),
            )
        )
    return out


def result_key(r: EvalResult) -> tuple:
    return (r.task_type, r.dataset_type, r.dataset_config, r.dataset_split, r.metric_type)


def merge_eval_results(existing: Sequence[EvalResult] | None, new: Sequence[EvalResult]) -> list[EvalResult]:
    """``existing`` with every entry that has the key of a new one replaced (in place), the rest appended."""
    fresh = {result_key(r): r for r in new}
    merged, used = [], set()
    for r in existing or []:
        key = result_key(r)
        if key in fresh:
            if key not in used:
                merged.append(fresh[key])
                used.add(key)
            continue  # a replaced entry (or a duplicate left by an older tool) goes
        merged.append(r)
    merged.extend(r for key, r in fresh.items() if key not in used)
    return merged


def detail_rows(results: dict) -> list[dict]:
    """The rows of the body table (stored under the ``diveval`` metadata key)."""
    ds, model = results["dataset"], results["model"]
    rows = []
    for split, s in results["splits"].items():
        rows.append(
            {
                "dataset": ds["name"],
                "dataset_config": DATASET_CONFIG,
                "dataset_revision": ds.get("revision"),
                "fingerprint": ds.get("fingerprint"),
                "split": split,
                "n": s["n"],
                "exact_match": _percent(s["accuracy"]),
                "ci_low": _percent(s["ci_low"]),
                "ci_high": _percent(s["ci_high"]),
                "confidence": results["decode"]["confidence"],
                "op": {"n": s["by_kind"].get("op", {}).get("n", 0), "exact_match": _percent(s["by_kind"].get("op", {}).get("accuracy"))},
                "noop": {"n": s["by_kind"].get("noop", {}).get("n", 0), "exact_match": _percent(s["by_kind"].get("noop", {}).get("accuracy"))},
                "model_revision": model.get("revision"),
                "evaluated": results["created"],
            }
        )
    return rows


def _row_key(row: dict) -> tuple:
    return (row["dataset"], row.get("dataset_config"), row["split"])


def _cell(v: float | None) -> str:
    return "–" if v is None else f"{v:.1f}%"


def render_section(rows: Sequence[dict], images: Sequence[dict] = ()) -> str:
    """The markdown between the markers: a results table and the images (``{"alt", "src"}``)."""
    conf = round(100 * rows[0]["confidence"]) if rows else 95
    lines = [
        START,
        "## Evaluation",
        "",
        "Exact match of the greedy completion (`diveval rewrite`), with Wilson "
        f"{conf}% intervals. *Unseen instructions*: rewrite rules that never occur in the training data.",
        "",
        f"| dataset | split | n | exact match | {conf}% CI | op | no-op | model revision | evaluated |",
        "|---|---|---:|---:|---|---:|---:|---|---|",
    ]
    for r in rows:
        rev = f"@{r['dataset_revision']}" if r.get("dataset_revision") else ""
        split = f"{r['split']} ({SPLIT_LABELS[r['split']]})" if r["split"] in SPLIT_LABELS else r["split"]
        op, noop = r["op"], r["noop"]
        lines.append(
            f"| {r['dataset']}{rev} | {split} | {r['n']} | {_cell(r['exact_match'])} | "
            f"[{r['ci_low']:.1f}, {r['ci_high']:.1f}] | {_cell(op['exact_match'])} ({op['n']}) | "
            f"{_cell(noop['exact_match'])} ({noop['n']}) | {r.get('model_revision') or '–'} | {r['evaluated'][:10]} |"
        )
    for img in images:
        lines += ["", f"![{img['alt']}]({img['src']})"]
    lines.append(END)
    return "\n".join(lines)


def replace_section(text: str, section: str, start: str = START, end: str = END) -> str:
    """``text`` with the marked section replaced by ``section`` (appended when there is none yet)."""
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _: section, text, count=1)
    return text.rstrip("\n") + "\n\n" + section + "\n"


def update_card(
    card: ModelCard, results: dict, *, model_name: str | None = None, images: Sequence[dict] | None = None
) -> ModelCard:
    """Put ``results`` into ``card`` (metadata and body), replacing what an earlier run of the same key wrote.

    ``images`` (``[{"alt": ..., "src": ...}]``, e.g. plots uploaded beside the card) replace the stored list
    when given; ``None`` keeps the images of earlier runs.
    """
    data = card.data
    if not getattr(data, "model_name", None):
        data.model_name = model_name or results["model"]["name"]
    data.eval_results = merge_eval_results(getattr(data, "eval_results", None), eval_results_from(results)) or None
    details = dict(data.get(DETAILS_KEY) or {})
    rows = {_row_key(r): r for r in details.get("results", [])}
    for r in detail_rows(results):
        rows[_row_key(r)] = r
    details["results"] = list(rows.values())
    if images is not None:
        details["images"] = [{"alt": i["alt"], "src": i["src"]} for i in images]
    data[DETAILS_KEY] = details
    card.text = replace_section(card.text, render_section(details["results"], details.get("images", [])))
    return card


def empty_card(title: str) -> ModelCard:
    """A card with empty metadata and a title (for a model published without one)."""
    return ModelCard(f"---\n{{}}\n---\n# {title}\n")


def load_card(path: str | Path) -> ModelCard:
    """The card at ``path``, or an empty one (just a title) when the folder has none."""
    path = Path(path)
    if path.exists():
        return ModelCard.load(path)
    return empty_card(path.parent.name)


def write_card(card: ModelCard, path: str | Path) -> Path:
    """Write ``card`` to ``path`` atomically (a reader never sees half a card)."""
    return write_text_atomic(path, str(card))


CODE_START = "<!-- diveval:code:start -->"
CODE_END = "<!-- diveval:code:end -->"


def update_card_with_code(card: ModelCard, code_results: dict, entries: Sequence[EvalResult], *, model_name: str | None = None) -> ModelCard:
    """Put code-generation scores (``eval.code`` results and their ``EvalResult`` entries) into ``card``.

    The model-index entries are merged like the rewrite scores (a re-run replaces its own entries); the body
    gets a pass@1 table between ``<!-- diveval:code:start -->`` and ``<!-- diveval:code:end -->``.
    """
    data = card.data
    if not getattr(data, "model_name", None):
        data.model_name = model_name or ((code_results.get("model") or {}).get("name")) or "model"
    data.eval_results = merge_eval_results(getattr(data, "eval_results", None), list(entries))
    lines = [CODE_START, "## Code generation (evalplus, greedy pass@1)", "",
             "| benchmark | problems | pass@1 base | pass@1 plus | data |", "|---|---:|---:|---:|---|"]
    for bench, r in code_results["benchmarks"].items():
        plus = r["pass@1"].get("plus") if r.get("plus_tests") else None
        data_note = r.get("data") if isinstance(r.get("data"), str) else (r.get("data") or {}).get("name", "")
        lines.append(f"| {bench} | {r['problems']} | {_cell(r['pass@1']['base'])} | {_cell(plus)} | {data_note} |")
    sandbox = (code_results.get("settings") or {}).get("sandbox")
    if sandbox:
        lines += ["", f"Generated code ran under: {sandbox}."]
    lines.append(CODE_END)
    card.text = replace_section(card.text, "\n".join(lines), CODE_START, CODE_END)
    return card


LOSS_START = "<!-- diveval:loss:start -->"
LOSS_END = "<!-- diveval:loss:end -->"
LOSS_TASK_NAME = "Held-out completion loss"
LOSS_KEY = "diveval_loss"


def loss_eval_results(results: dict) -> list[EvalResult]:
    """``EvalResult`` entries of a ``diveval loss`` results document: the loss (nats per completion token) and
    the perplexity of each split; none for a dataset that is not on the Hub."""
    ds = results["dataset"]
    dataset_id = hub_id(ds.get("source"), ds.get("repo_id"))
    out: list[EvalResult] = []
    for split, s in results["splits"].items() if dataset_id is not None else ():
        if s["loss"] is None:
            continue
        label = SPLIT_LABELS.get(split, split).replace("instructions", "clusters")
        for metric, name, value in (("loss", f"Completion loss (nats/token), {label}", s["loss"]),
                                    ("perplexity", f"Perplexity, {label}", s["perplexity"])):
            out.append(EvalResult(task_type=TASK_TYPE, task_name=LOSS_TASK_NAME, dataset_type=dataset_id,
                                  dataset_name=ds["name"], dataset_config=DATASET_CONFIG, dataset_split=split,
                                  dataset_revision=ds.get("revision"), metric_type=metric, metric_name=name,
                                  metric_value=value))
    return out


def update_card_with_loss(card: ModelCard, results: dict, *, model_name: str | None = None) -> ModelCard:
    """Put ``diveval loss`` scores into ``card``: model-index entries (merged as the exact-match ones are) and a
    table between ``<!-- diveval:loss:start -->`` and ``<!-- diveval:loss:end -->``, kept per (dataset, split)
    under the ``diveval_loss`` metadata key so results for several datasets accumulate."""
    data = card.data
    if not getattr(data, "model_name", None):
        data.model_name = model_name or results["model"]["name"]
    data.eval_results = merge_eval_results(getattr(data, "eval_results", None), loss_eval_results(results)) or None
    ds = results["dataset"]
    rows = {(r["dataset"], r["split"]): r for r in (data.get(LOSS_KEY) or {}).get("results", [])}
    for split, s in results["splits"].items():
        rows[(ds["name"], split)] = {
            "dataset": ds["name"], "dataset_revision": ds.get("revision"), "fingerprint": ds.get("fingerprint"),
            "split": split, "n": s["n"], "tokens": s["tokens"], "loss": s["loss"], "loss_ci_low": s.get("loss_ci_low"),
            "loss_ci_high": s.get("loss_ci_high"), "perplexity": s["perplexity"],
            "confidence": results["settings"]["confidence"], "evaluated": results["created"],
            "model_revision": results["model"].get("revision"),
        }
    data[LOSS_KEY] = {"results": list(rows.values())}
    conf = round(100 * results["settings"]["confidence"])
    lines = [LOSS_START, "## Held-out loss", "",
             f"Completion-only loss (mean NLL per completion token, nats) of the reference completions (`diveval loss`), "
             f"with {conf}% bootstrap intervals. *Unseen clusters*: semantic clusters of the pool that never occur "
             f"in the training data.", "",
             "| dataset | split | rows | tokens | loss | interval | perplexity | model revision | evaluated |",
             "|---|---|---:|---:|---:|---|---:|---|---|"]
    for r in data[LOSS_KEY]["results"]:
        rev = f"@{r['dataset_revision']}" if r.get("dataset_revision") else ""
        ci = "–" if r["loss_ci_low"] is None else f"[{r['loss_ci_low']:.4f}, {r['loss_ci_high']:.4f}]"
        loss = "–" if r["loss"] is None else f"{r['loss']:.4f}"
        ppl = "–" if r["perplexity"] is None else f"{r['perplexity']:.3f}"
        lines.append(f"| {r['dataset']}{rev} | {r['split']} | {r['n']} | {r['tokens']} | {loss} | {ci} | {ppl} | "
                     f"{r.get('model_revision') or '–'} | {r['evaluated'][:10]} |")
    gap = results.get("gap")
    if gap:
        lines += ["", f"Latest evaluation ({ds['name']}): unseen minus seen clusters {gap['unseen_minus_seen']:+.4f} "
                      f"nats/token [{gap['ci_low']:+.4f}, {gap['ci_high']:+.4f}]."]
    lines.append(LOSS_END)
    card.text = replace_section(card.text, "\n".join(lines), LOSS_START, LOSS_END)
    return card
