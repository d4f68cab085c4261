"""Exact-match evaluation of rewrite (and markov) tasks on seen and unseen instructions.

For each split (``test_unseen``: rules never seen in training; ``test_seen``: training rules on new inputs),
every prompt is decoded greedily (:func:`eval.decode.greedy_decode`) and the completion compared with the
dataset's ``completion`` by the task scorer's answer check (:meth:`generators.tasks.Scorer.is_correct`:
identical strings, or e.g. expressions equal up to the order of ``+`` and ``*`` operands for the abstraction
family), the very check the RL reward (:mod:`generators.reward`) and the gym score with. Accuracy is reported
with a Wilson interval, overall, for op / no-op rows
(``is_noop``), by the columns the task's scorer names (:class:`generators.tasks.Scorer`: its rule length, e.g.
``pattern_len`` or ``n_rules``, and further breakdowns such as ``truncated``; the task comes from the dataset's
``datagen.json``, else from its columns), and seen accuracy by the training frequency of the rule
(:func:`train_frequency`: head / middle / tail thirds). No task family is named here.
The result layout is documented in :mod:`eval.results`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

from core.errors import ConfigError
from eval.decode import encode_prompts, greedy_decode
from eval.loading import check_alphabet, context_length
from eval.stats import THIRDS, frequency_thirds, summarize, summarize_groups
from generators.tasks import MATCH_MODES, Scorer, scorer_for

REQUIRED_COLUMNS = ("prompt", "completion", "is_noop")
MISTAKES_KEPT = 5
LIMIT_SEED = 0


@dataclass
class DecodeSettings:
    """How completions are produced and compared (recorded in the results)."""

    batch_size: int = 64
    max_new_tokens: int | None = None  # None: longest expected completion (in tokens) + 1 (EOS) + margin
    margin: int = 8  # extra tokens so that over-long wrong answers are seen in full (exact match needs none)
    match: str = "exact"  # "exact": identical strings; "strip": identical once surrounding whitespace is removed
    limit: int | None = None  # evaluate a fixed random sample of this many rows per split (None: all)
    confidence: float = 0.95

    def validate(self) -> None:
        if self.batch_size < 1:
            raise ConfigError("batch_size", f"must be at least 1, got {self.batch_size}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ConfigError("max_new_tokens", f"must be at least 1, got {self.max_new_tokens}")
        if self.margin < 0:
            raise ConfigError("margin", f"must be at least 0, got {self.margin}")
        if self.match not in MATCH_MODES:
            raise ConfigError("match", f"must be one of {', '.join(MATCH_MODES)}, got {self.match!r}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError("limit", f"must be at least 1, got {self.limit}")


def prepare_splits(splits: Mapping, limit: int | None = None) -> dict:
    """Check the columns of each split and apply ``limit`` (a fixed random sample: ``shuffle(seed=0)``)."""
    out = {}
    for name, ds in splits.items():
        missing = [c for c in REQUIRED_COLUMNS if c not in ds.column_names]
        if missing:
            raise ConfigError("dataset", f"split {name!r} has no column {missing[0]!r} (it has: {', '.join(ds.column_names)})")
        if len(ds) == 0:
            raise ConfigError("dataset", f"split {name!r} is empty")
        if limit is not None and limit < len(ds):
            ds = ds.shuffle(seed=LIMIT_SEED).select(range(limit))
        out[name] = ds
    return out


def plan_max_new_tokens(model, tokenizer, splits: Mapping, settings: DecodeSettings) -> int:
    """The number of new tokens to allow, checked against the model's context length."""
    longest_prompt = max(max(len(ids) for ids in encode_prompts(tokenizer, ds["prompt"])) for ds in splits.values())
    longest = max(
        max(len(ids) for ids in tokenizer(list(ds["completion"]), add_special_tokens=False)["input_ids"])
        for ds in splits.values()
    )
    wanted = settings.max_new_tokens if settings.max_new_tokens is not None else longest + 1 + settings.margin
    limit = context_length(model)
    if limit is None or longest_prompt + wanted <= limit:
        return wanted
    room = limit - longest_prompt
    if settings.max_new_tokens is not None or room < longest + 1:
        # fewer new tokens than the longest answer (+ EOS) would score correct answers as wrong: refuse instead
        raise ConfigError(
            "max_new_tokens",
            f"prompts of up to {longest_prompt} tokens plus {wanted if settings.max_new_tokens is not None else longest + 1} "
            f"new tokens (the longest expected completion + EOS) exceed the model's context of {limit} tokens",
        )
    return room  # the margin for over-long wrong answers shrinks; every expected answer still fits


def evaluate_split(
    model,
    tokenizer,
    ds,
    *,
    max_new_tokens: int,
    settings: DecodeSettings,
    progress: Callable[[int], None] | None = None,
    scorer: Scorer | None = None,
) -> tuple[dict, list[dict]]:
    """Decode one split and score it: (summary, one record per row in row order); ``scorer``: the task's
    (by default the one its columns name, :func:`generators.tasks.scorer_for`).

    A record: ``{"instruction_id", "instruction", "is_noop", "prompt", "expected", "predicted", "correct"}``
    (``instruction``: the rule text, None when the split has no such column). The summary's ``seconds`` is the
    decoding time to 0.1 ms, ``examples_per_s`` rows per second to 0.01 (None when the clock did not move).
    """
    start = time.perf_counter()
    predictions = greedy_decode(model, tokenizer, ds["prompt"], max_new_tokens, settings.batch_size, progress)
    seconds = time.perf_counter() - start
    expected = ds["completion"]
    scorer = scorer or scorer_for(None, ds.column_names)
    correct = [scorer.is_correct(p, e, settings.match) for p, e in zip(predictions, expected, strict=True)]
    summary = summarize(correct, settings.confidence)
    kinds = ["noop" if noop else "op" for noop in ds["is_noop"]]
    summary["by_kind"] = summarize_groups(correct, kinds, settings.confidence)
    column = scorer.rule_length if scorer.rule_length in ds.column_names else None
    summary["rule_length_column"] = column
    summary["by_rule_length"] = summarize_groups(correct, ds[column], settings.confidence) if column else {}
    breakdowns = [c for c in scorer.breakdowns if c in ds.column_names]
    if breakdowns:
        summary["breakdowns"] = {c: summarize_groups(correct, ds[c], settings.confidence) for c in breakdowns}
    summary["seconds"] = round(seconds, 4)
    summary["examples_per_s"] = round(len(ds) / seconds, 2) if seconds > 0 else None
    ids = ds["instruction_id"] if "instruction_id" in ds.column_names else [None] * len(ds)
    texts = ds["instruction"] if "instruction" in ds.column_names else [None] * len(ds)
    records = [
        {
            "instruction_id": ids[i],
            "instruction": texts[i],
            "is_noop": kinds[i] == "noop",
            "prompt": prompt,
            "expected": expected[i],
            "predicted": predictions[i],
            "correct": correct[i],
        }
        for i, prompt in enumerate(ds["prompt"])
    ]
    summary["mistakes"] = [
        {k: r[k] for k in ("prompt", "expected", "predicted")} for r in records if not r["correct"]
    ][:MISTAKES_KEPT]
    return summary, records


def evaluate_rewrite(
    model,
    tokenizer,
    splits: Mapping,
    *,
    settings: DecodeSettings | None = None,
    progress: Callable[[int], None] | None = None,
    scorer: Scorer | None = None,
) -> tuple[dict, dict[str, list[dict]]]:
    """Evaluate ``splits`` (name -> ``datasets.Dataset``): per-split summaries and the shared decode settings
    (``scorer``: the dataset's task's, see :func:`evaluate_split`).

    Returns ``({"decode": {...}, "splits": {...}, "examples", "seconds", "examples_per_s"}, records)`` with
    ``records[split]`` as :func:`evaluate_split` gives them (``seconds`` and ``examples_per_s``: all splits'
    decoding together, rounded as there);
    :func:`eval.results.build_results` adds the provenance around it.
    """
    settings = settings or DecodeSettings()
    settings.validate()
    splits = prepare_splits(splits, settings.limit)
    check_alphabet(tokenizer, [t for ds in splits.values() for col in ("prompt", "completion") for t in ds[col]])
    max_new = plan_max_new_tokens(model, tokenizer, splits, settings)
    param = next(model.parameters())
    decode = {
        "strategy": "greedy",
        "kv_cache": True,
        "padding": "left",
        **asdict(settings),
        "max_new_tokens": max_new,
        "max_new_tokens_given": settings.max_new_tokens is not None,
        "limit_sample": f"shuffle(seed={LIMIT_SEED})" if settings.limit is not None else None,
        "device": str(param.device),
        "dtype": str(param.dtype).removeprefix("torch."),
    }
    start = time.perf_counter()
    out_splits, predictions = {}, {}
    for name, ds in splits.items():
        out_splits[name], predictions[name] = evaluate_split(
            model, tokenizer, ds, max_new_tokens=max_new, settings=settings, progress=progress, scorer=scorer
        )
    seconds = time.perf_counter() - start
    examples = sum(len(ds) for ds in splits.values())
    scores = {
        "decode": decode,
        "splits": out_splits,
        "examples": examples,
        "seconds": round(seconds, 4),
        "examples_per_s": round(examples / seconds, 2) if seconds > 0 else None,
    }
    return scores, predictions


FREQUENCY_DEFINITION = (
    "the test_seen rules ranked by their number of training examples (instruction_id counted in the training "
    "data's train split), most first, ties by smaller instruction_id; rank r (from 0) of m rules is in third "
    "floor(3r/m): head, middle, tail"
)


def train_frequency(records: list[dict], counts: Mapping[int, int], text_ids: Mapping[str, int] | None = None,
                    confidence: float = 0.95) -> dict:
    """Accuracy on seen rules by how often they occur in training: head / middle / tail thirds.

    ``records`` are one split's records (:func:`evaluate_split`), ``counts`` the training examples per
    ``instruction_id`` of the training data. With ``text_ids`` (training instruction text -> id) rows are
    matched to training rules by their rule text, for evaluation data other than the training data (whose
    ids need not be the training ids); rows whose rule is not a training rule are counted, not scored here.
    The thirds are those of :func:`eval.stats.frequency_thirds` over the rules present in ``records``.
    Each third: ``{n, correct, accuracy, ci_low, ci_high, rules, train_examples_min, train_examples_max}``.
    """
    if text_ids is not None:  # each row's training rule (None: not a training rule) and outcome
        keyed = [(text_ids.get(r["instruction"]), r["correct"]) for r in records]
    else:
        keyed = [(r["instruction_id"], r["correct"]) for r in records]
    present = sorted({k for k, _ in keyed if k is not None})
    per_rule = {k: int(counts.get(k, 0)) for k in present}
    third = frequency_thirds(per_rule)
    out: dict = {"definition": FREQUENCY_DEFINITION, "matched_by": "instruction" if text_ids is not None else "instruction_id",
                 "rules": len(present), "rows_not_in_training": sum(k is None for k, _ in keyed)}
    for name in THIRDS:
        rules = [k for k in present if third[k] == name]
        outcomes = [ok for k, ok in keyed if k is not None and third[k] == name]
        group = summarize(outcomes, confidence)
        group["rules"] = len(rules)
        group["train_examples_min"] = min((per_rule[k] for k in rules), default=None)
        group["train_examples_max"] = max((per_rule[k] for k in rules), default=None)
        out[name] = group
    return out
