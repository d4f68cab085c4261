"""Exact-match scoring on a known-answer model: overall, op / no-op and rule-length numbers and counts."""

from __future__ import annotations

from collections import Counter

import datasets
import pytest
from evalkit import char_tokenizer, copy_model, tiny_gpt2

from core.errors import ConfigError
from eval.results import build_results, dataset_provenance, format_table, sweep_row
from eval.rewrite import DecodeSettings, evaluate_rewrite, plan_max_new_tokens
from eval.stats import wilson_interval


@pytest.fixture(scope="module")
def splits(tiny_dataset):
    from publishing.loading import resolve_splits

    dd, resolved = resolve_splits(str(tiny_dataset), splits=["test_unseen", "test_seen"])
    return dd, resolved


@pytest.fixture(scope="module")
def tok():
    return char_tokenizer("abcdef -> \n")


def test_copy_model_scores_noop_only(splits, tok):
    dd, _ = splits
    scores, preds = evaluate_rewrite(copy_model(tok), tok, dd, settings=DecodeSettings(batch_size=5))
    for name, ds in dd.items():
        s = scores["splits"][name]
        # what a model that copies its input must get, computed from the rows themselves
        right = [row["completion"] == row["input"] for row in ds]
        noop = ds["is_noop"]
        assert any(noop) and not all(noop)
        assert [r["predicted"] for r in preds[name]] == ds["input"]
        assert [r["correct"] for r in preds[name]] == right
        assert (s["n"], s["correct"]) == (len(ds), sum(right))
        assert s["by_kind"]["noop"]["accuracy"] == 1.0
        assert s["by_kind"]["noop"]["n"] == sum(noop)
        assert s["by_kind"]["op"]["n"] == len(ds) - sum(noop)
        assert s["by_kind"]["op"]["correct"] == sum(r and not n for r, n in zip(right, noop, strict=True))
        assert s["by_kind"]["op"]["accuracy"] <= 0.05  # an op that leaves the string unchanged is rare
        assert (s["ci_low"], s["ci_high"]) == wilson_interval(sum(right), len(ds))
        assert s["rule_length_column"] == "pattern_len"
        by_len = Counter(ds["pattern_len"])
        assert {k: v["n"] for k, v in s["by_rule_length"].items()} == {str(k): v for k, v in by_len.items()}
        for length, group in s["by_rule_length"].items():
            idx = [i for i, p in enumerate(ds["pattern_len"]) if str(p) == length]
            assert group["correct"] == sum(right[i] for i in idx)
        assert len(s["mistakes"]) == min(5, len(ds) - sum(right))
        assert all(m["predicted"] != m["expected"] for m in s["mistakes"])
    assert scores["examples"] == sum(len(ds) for ds in dd.values())
    assert scores["decode"]["max_new_tokens"] == max(len(c) for ds in dd.values() for c in ds["completion"]) + 1 + 8


GOES_ON = [  # (text written behind the input, whether EOS then comes): a model that does not stop at its answer
    ("\n", True),  # a newline, then EOS
    ("a", True),  # one character too many
    ("\nab -> c", True),  # a newline and a made-up next example
    ("", False),  # no EOS at all: the input's last character again until the token limit
]


@pytest.mark.parametrize(("after", "stops"), GOES_ON)
def test_an_answer_followed_by_more_text_is_wrong(splits, tok, after, stops):
    """Exact match is string equality with the whole completion: the right answer with anything behind it (the
    commonest failure of a real model: it does not stop) is wrong, in both match modes unless all that follows is
    whitespace and the mode is "strip"."""
    dd = {name: ds.select(range(24)) for name, ds in splits[0].items()}
    model = copy_model(tok, after, stops)
    for match in ("exact", "strip"):
        scores, preds = evaluate_rewrite(model, tok, dd, settings=DecodeSettings(batch_size=16, match=match))
        limit = scores["decode"]["max_new_tokens"]
        for name, ds in dd.items():
            noop = [r for r, row in zip(preds[name], ds, strict=True) if row["is_noop"] and r["expected"] == row["input"]]
            assert len(noop) == sum(ds["is_noop"]) > 0
            for r in noop:  # the model wrote the expected answer, then more
                wrote = r["expected"] + after if stops else (r["expected"] + r["expected"][-1] * limit)[:limit]
                assert r["predicted"] == wrote != r["expected"]
            forgiven = match == "strip" and not after.strip() and stops
            assert [r["correct"] for r in noop] == [forgiven] * len(noop)
            for r in preds[name]:  # op rows too: right only if the whole prediction is the completion
                assert r["correct"] == (r["predicted"].strip() == r["expected"].strip() if match == "strip"
                                        else r["predicted"] == r["expected"])
            s = scores["splits"][name]
            assert s["by_kind"]["noop"]["correct"] == (len(noop) if forgiven else 0)
            assert s["correct"] == sum(r["correct"] for r in preds[name])


def test_results_document_and_table(splits, tok):
    dd, resolved = splits
    scores, _ = evaluate_rewrite(copy_model(tok), tok, dd)
    model = {"name": "copy", "source": "folder", "repo_id": None, "revision": None, "folder_name": "copy"}
    results = build_results(scores, model, dataset_provenance(resolved))
    ds = results["dataset"]
    assert ds["fingerprint"] == resolved.fingerprint and ds["folder_name"] == resolved.path.name
    assert "/" not in ds["folder_name"] and str(resolved.path) not in repr(results)
    assert ds["diversity"] == {
        "instructions": 24, "examples_per_instruction": 8, "train_rows": 192,
        "distribution": "uniform", "alpha": None, "noop_fraction": 0.25,  # uniform is not alpha = 1
        "structures": ["random"], "k": [1, 1], "test_k": None,
    }
    # knobs of a results row come from the training data only: without it they are unknown
    assert results["training"]["match"] == "unknown" and results["training"]["diversity"] is None
    table = format_table(results)
    assert "test_unseen" in table and "test_seen" in table and "pattern_len" in table
    assert len(table.splitlines()) <= 24
    assert sweep_row(results)["I"] is None
    from eval.lineage import TrainingData
    from eval.results import training_provenance

    trained = TrainingData({"dataset": "tiny", "source": "folder", "revision": None, "fingerprint": resolved.fingerprint},
                           "same", meta=resolved.meta)
    results = build_results(scores, model, dataset_provenance(resolved), training_provenance(trained))
    row = sweep_row(results)
    assert (row["I"], row["S"], row["accuracy"]) == (24, 8, results["splits"]["test_unseen"]["accuracy"])
    assert row["alpha"] is None and row["distribution"] == "uniform"
    assert "trained on tiny (the evaluation data; I=24, S=8, uniform)" in format_table(results)


def test_markov_rows_break_down_by_number_of_rules(tok):
    ds = datasets.Dataset.from_dict(
        {
            "prompt": ["a -> b\nab\n", "a -> b\nbb\n", "c -> d\ncd\n", "c -> dd\nee\n"],
            "completion": ["bb", "bb", "dd", "ee"],
            "input": ["ab", "bb", "cd", "ee"],
            "is_noop": [False, True, False, True],
            "n_rules": [2, 2, 3, 3],
        }
    )
    scores, _ = evaluate_rewrite(copy_model(tok), tok, {"test_unseen": ds})
    s = scores["splits"]["test_unseen"]
    assert s["rule_length_column"] == "n_rules"
    assert {k: (v["n"], v["correct"]) for k, v in s["by_rule_length"].items()} == {"2": (2, 1), "3": (2, 1)}
    assert "breakdowns" not in s  # no column the Markov scorer breaks down by (truncated)
    # the scorer's breakdown column, every interval at the requested confidence, and progress for every row
    seen = []
    truncated = ds.add_column("truncated", [False, False, True, True])
    scores, _ = evaluate_rewrite(copy_model(tok), tok, {"test_unseen": truncated}, progress=seen.append,
                                 settings=DecodeSettings(confidence=0.5, batch_size=3))
    s = scores["splits"]["test_unseen"]
    assert {k: (v["n"], v["correct"]) for k, v in s["breakdowns"]["truncated"].items()} == {"False": (2, 1),
                                                                                           "True": (2, 1)}
    half = wilson_interval(1, 2, 0.5)
    assert (s["ci_low"], s["ci_high"]) == wilson_interval(2, 4, 0.5)
    for group in (*s["by_kind"].values(), *s["by_rule_length"].values(), *s["breakdowns"]["truncated"].values()):
        assert (group["ci_low"], group["ci_high"]) in (half, wilson_interval(0, 2, 0.5), wilson_interval(2, 2, 0.5))
    assert sum(seen) == 4


def test_limit_is_a_fixed_sample(splits, tok):
    dd, _ = splits
    settings = DecodeSettings(limit=7)
    a, pa = evaluate_rewrite(copy_model(tok), tok, dd, settings=settings)
    b, pb = evaluate_rewrite(copy_model(tok), tok, dd, settings=settings)
    assert a["splits"]["test_unseen"]["n"] == 7 and pa == pb and len(pa["test_seen"]) == 7
    assert a["decode"]["limit_sample"] == "shuffle(seed=0)"


def test_unencodable_characters_are_named_before_decoding(splits):
    dd, _ = splits
    narrow = char_tokenizer("abc -> \n")  # the dataset also uses d, e, f
    with pytest.raises(ConfigError, match=r"tokenizer: cannot encode 3 character\(s\).*'d', 'e', 'f'"):
        evaluate_rewrite(copy_model(narrow), narrow, dd)


def test_max_new_tokens_against_the_context(splits, tok):
    dd, _ = splits
    prompt = max(len(p) for ds in dd.values() for p in ds["prompt"])  # one token per character
    answer = max(len(c) for ds in dd.values() for c in ds["completion"])
    # room for every answer + EOS but not the whole margin: the margin shrinks
    fits = tiny_gpt2(tok, n_positions=prompt + answer + 1 + 3)
    assert plan_max_new_tokens(fits, tok, dd, DecodeSettings()) == answer + 1 + 3
    # one token short of the longest answer + EOS: correct answers could not be produced, so it refuses
    short = tiny_gpt2(tok, n_positions=prompt + answer)
    with pytest.raises(ConfigError, match=f"max_new_tokens.*{answer + 1} new tokens.*context of {prompt + answer}"):
        plan_max_new_tokens(short, tok, dd, DecodeSettings())
    with pytest.raises(ConfigError, match=f"max_new_tokens.*context of {prompt + answer + 4}"):
        plan_max_new_tokens(fits, tok, dd, DecodeSettings(max_new_tokens=20))
    assert plan_max_new_tokens(tiny_gpt2(tok), tok, dd, DecodeSettings(max_new_tokens=20)) == 20


def test_bad_settings_and_columns(splits, tok):
    dd, _ = splits
    with pytest.raises(ConfigError, match="match"):
        evaluate_rewrite(copy_model(tok), tok, dd, settings=DecodeSettings(match="fuzzy"))
    with pytest.raises(ConfigError, match="no column 'is_noop'"):
        evaluate_rewrite(copy_model(tok), tok, {"x": dd["test_seen"].remove_columns("is_noop")})


def test_seen_accuracy_by_training_frequency_on_a_hand_built_example():
    from eval.rewrite import train_frequency

    counts = {5: 10, 2: 10, 7: 3, 1: 1, 9: 3, 4: 50}  # rule 4 is trained on but not in these test rows
    outcomes = [(2, True), (2, True), (5, False), (7, True), (9, False), (9, False), (7, False), (1, True), (3, True)]
    records = [{"instruction_id": i, "instruction": f"rule{i}", "correct": ok} for i, ok in outcomes]
    freq = train_frequency(records, counts)
    # present: 1, 2, 3, 5, 7, 9 ranked 2 (10), 5 (10), 7 (3), 9 (3), 1 (1), 3 (0): thirds {2, 5} {7, 9} {1, 3}
    assert freq["rules"] == 6 and freq["matched_by"] == "instruction_id" and freq["rows_not_in_training"] == 0
    expect = {"head": (3, 2, 2, 10, 10), "middle": (4, 1, 2, 3, 3), "tail": (2, 2, 2, 0, 1)}
    for third, (n, k, rules, lo, hi) in expect.items():
        g = freq[third]
        assert (g["n"], g["correct"], g["rules"], g["train_examples_min"], g["train_examples_max"]) == (n, k, rules, lo, hi)
        assert g["accuracy"] == k / n and (g["ci_low"], g["ci_high"]) == wilson_interval(k, n)
    # other data: rows are matched to training rules by their text (their own ids mean nothing there)
    other = [{"instruction_id": 100 + i, "instruction": f"rule{i}", "correct": ok} for i, ok in outcomes[:3]]
    other.append({"instruction_id": 7, "instruction": "not a training rule", "correct": True})
    text_ids = {f"rule{i}": i for i in counts}
    freq = train_frequency(other, counts, text_ids)
    assert freq["matched_by"] == "instruction" and freq["rows_not_in_training"] == 1 and freq["rules"] == 2
    assert (freq["head"]["n"], freq["middle"]["n"], freq["tail"]["n"]) == (2, 1, 0)


# Each decode setting at its documented bound: the smallest value allowed passes, one below is refused by field
BOUNDS = [("batch_size", 1, 0), ("max_new_tokens", 1, 0), ("margin", 0, -1), ("limit", 1, 0)]


@pytest.mark.parametrize(("field", "lowest", "below"), BOUNDS)
def test_each_decode_setting_is_refused_just_below_its_bound_by_name(field, lowest, below):
    DecodeSettings(**{field: lowest}).validate()
    with pytest.raises(ConfigError) as err:
        DecodeSettings(**{field: below}).validate()
    assert err.value.field == field
    least = "at least 0" if field == "margin" else "at least 1"
    assert str(err.value) == f"{field}: must be {least}, got {below}"


def test_a_split_without_a_needed_column_or_rows_is_named(splits, tok):
    dd, _ = splits
    seen = dd["test_seen"]
    for column in ("prompt", "completion"):
        with pytest.raises(ConfigError) as err:
            evaluate_rewrite(copy_model(tok), tok, {"mine": seen.remove_columns(column)})
        assert err.value.field == "dataset"
        assert str(err.value).startswith(f"dataset: split 'mine' has no column '{column}' (it has: ")
    with pytest.raises(ConfigError) as err:
        evaluate_rewrite(copy_model(tok), tok, {"mine": seen.select([])})
    assert (err.value.field, str(err.value)) == ("dataset", "dataset: split 'mine' is empty")


def test_each_record_is_its_row_and_the_throughput_is_rows_per_second(splits, tok):
    """The predictions file's records, field by field, from the rows themselves (the definition in
    ``evaluate_split``'s docstring), and rows/s as rows over seconds."""
    dd, _ = splits
    scores, preds = evaluate_rewrite(copy_model(tok), tok, dd, settings=DecodeSettings(batch_size=4))
    total = 0
    for name, ds in dd.items():
        rows = ds.to_list()
        assert [r["instruction_id"] for r in preds[name]] == [row["instruction_id"] for row in rows]
        assert [r["instruction"] for r in preds[name]] == [row["instruction"] for row in rows]
        assert [r["is_noop"] for r in preds[name]] == [bool(row["is_noop"]) for row in rows]
        assert [r["prompt"] for r in preds[name]] == [row["prompt"] for row in rows]
        assert [r["expected"] for r in preds[name]] == [row["completion"] for row in rows]
        s = scores["splits"][name]
        assert s["seconds"] > 0 and s["examples_per_s"] == pytest.approx(len(rows) / s["seconds"], rel=0.02)
        total += len(rows)
    assert scores["examples"] == total
    assert scores["examples_per_s"] == pytest.approx(total / scores["seconds"], rel=0.02)
    assert scores["seconds"] >= max(s["seconds"] for s in scores["splits"].values())
    # a split without the optional columns still scores, its records saying None
    bare = dd["test_seen"].remove_columns(["instruction_id", "instruction"])
    _, preds = evaluate_rewrite(copy_model(tok), tok, {"bare": bare})
    assert {r["instruction_id"] for r in preds["bare"]} == {None} and {r["instruction"] for r in preds["bare"]} == {None}


def test_the_results_record_how_completions_were_decoded(splits, tok):
    """The ``decode`` entry of a results file says exactly what was done: greedy, KV cache, left padding, every
    setting, the token budget and whether it was given, the sample a limit took, the device and dtype."""
    dd, _ = splits
    scores, _ = evaluate_rewrite(copy_model(tok), tok, dd, settings=DecodeSettings(batch_size=3, limit=7, margin=2))
    longest = max(len(c) for ds in dd.values() for c in ds["completion"])
    assert scores["decode"] == {
        "strategy": "greedy", "kv_cache": True, "padding": "left", "batch_size": 3, "max_new_tokens": longest + 1 + 2,
        "margin": 2, "match": "exact", "limit": 7, "confidence": 0.95, "max_new_tokens_given": False,
        "limit_sample": "shuffle(seed=0)", "device": "cpu", "dtype": "float32",
    }  # fmt: skip
    assert all(s["n"] == 7 for s in scores["splits"].values())
    given, _ = evaluate_rewrite(copy_model(tok), tok, dd, settings=DecodeSettings(max_new_tokens=40))
    assert (given["decode"]["max_new_tokens"], given["decode"]["max_new_tokens_given"]) == (40, True)
    assert given["decode"]["limit_sample"] is None


class DecodeClock:
    """A stand-in for ``time.perf_counter`` that moves only while rows are decoded: ``per_row`` seconds for each
    row the decoder reports done (its ``progress`` callback); ``per_row=0``: a clock that never moves."""

    def __init__(self, per_row: float):
        self.now, self.per_row = 0.0, per_row

    def perf_counter(self) -> float:
        return self.now

    def progress(self, rows: int) -> None:
        self.now += rows * self.per_row


def test_decoding_time_and_throughput_are_recorded_to_their_stated_precision(splits, tok, monkeypatch):
    """``seconds`` is the decoding time to 0.1 ms and ``examples_per_s`` rows over that time to 0.01, per split and
    for all splits together (evaluate_split's docstring); a clock that did not move gives no rate, not a crash."""
    import eval.rewrite

    dd = {"test_unseen": splits[0]["test_unseen"].select(range(5)), "test_seen": splits[0]["test_seen"].select(range(7))}
    per_row = 0.0070707  # 141.4287... rows/s: the 3rd decimal and the fraction show, as do the 5th of the seconds
    clock = DecodeClock(per_row)
    monkeypatch.setattr(eval.rewrite, "time", clock)
    scores, _ = evaluate_rewrite(copy_model(tok), tok, dd, settings=DecodeSettings(batch_size=3), progress=clock.progress)
    for name, ds in dd.items():
        took = len(ds) * per_row
        s = scores["splits"][name]
        assert (s["seconds"], s["examples_per_s"]) == (round(took, 4), round(len(ds) / took, 2))
    took = 12 * per_row
    assert (scores["seconds"], scores["examples_per_s"]) == (round(took, 4), round(12 / took, 2))
    assert (scores["seconds"], scores["examples_per_s"]) == (0.0848, 141.43)  # the same, worked by hand

    frozen = DecodeClock(0.0)
    monkeypatch.setattr(eval.rewrite, "time", frozen)
    scores, _ = evaluate_rewrite(copy_model(tok), tok, dd, progress=frozen.progress)
    for s in (scores, *scores["splits"].values()):
        assert (s["seconds"], s["examples_per_s"]) == (0.0, None)


def test_the_scorer_given_decides_and_its_absent_rule_length_column_is_skipped(tok):
    """The scorer passed in (the dataset's task's, from datagen.json) is the one that judges: the abstraction
    family's answers are right up to the order of ``+`` and ``*`` operands, although these columns alone would name
    no task (plain string equality). Its rule-length column (rule_depth) is not in the split: no breakdown by it."""
    from generators.tasks import get

    rows = [("ab+ba", "ab+ba"), ("a*b", "b*a"), ("a+b", "a*b"), ("(a+b)*a", "a*(b+a)")]  # (input, expected)
    ds = datasets.Dataset.from_dict({
        "prompt": [f"r -> r\n{x}\n" for x, _ in rows], "completion": [e for _, e in rows],
        "input": [x for x, _ in rows], "is_noop": [x == e for x, e in rows], "pattern_len": [1, 1, 2, 2],
    })  # fmt: skip
    wide = char_tokenizer("abr+*() -> \n")
    scores, preds = evaluate_rewrite(copy_model(wide), wide, {"test_unseen": ds}, scorer=get("abstraction").scorer)
    assert [r["correct"] for r in preds["test_unseen"]] == [True, True, False, True]
    s = scores["splits"]["test_unseen"]
    assert (s["n"], s["correct"]) == (4, 3)
    assert s["rule_length_column"] is None and s["by_rule_length"] == {} and "breakdowns" not in s
    # without the scorer, the same columns are judged by plain string equality
    scores, preds = evaluate_rewrite(copy_model(wide), wide, {"test_unseen": ds})
    assert [r["correct"] for r in preds["test_unseen"]] == [True, False, False, False]
    # a split holding no rule-length column at all scores, without that breakdown
    bare = ds.remove_columns("pattern_len")
    scores, _ = evaluate_rewrite(copy_model(wide), wide, {"test_unseen": bare})
    assert scores["splits"]["test_unseen"]["rule_length_column"] is None
    assert scores["splits"]["test_unseen"]["by_rule_length"] == {}


def test_a_limit_as_large_as_the_split_evaluates_it_whole_as_no_limit_does(splits, tok):
    """``limit``: a sample of that many rows; a limit not smaller than the split takes every row, in row order."""
    ds = splits[0]["test_seen"].select(range(9))
    _, whole = evaluate_rewrite(copy_model(tok), tok, {"s": ds})
    for limit in (9, 10):
        _, limited = evaluate_rewrite(copy_model(tok), tok, {"s": ds}, settings=DecodeSettings(limit=limit))
        assert limited == whole
    _, sample = evaluate_rewrite(copy_model(tok), tok, {"s": ds}, settings=DecodeSettings(limit=8))
    assert len(sample["s"]) == 8 and [r["prompt"] for r in sample["s"]] != ds["prompt"][:8]


def char_tokenizer_with_bos(chars: str):
    """A char tokenizer that, like Llama's, puts a BOS token before every text it encodes with special tokens."""
    from tokenizers import processors

    tok = char_tokenizer(chars)
    tok.add_special_tokens({"bos_token": "<bos>"})
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", tok.bos_token_id)]
    )
    return tok


def test_the_token_budget_counts_the_answer_without_bos_and_the_prompt_with_it(splits):
    """The budget is the longest expected completion in tokens + 1 (EOS) + the margin: a completion is generated
    after the prompt, so the BOS a tokenizer puts before each text is the prompt's (it takes context), never the
    answer's. At exactly the context length, every answer + EOS still fits (no margin left): it is allowed."""
    dd, _ = splits
    bos = char_tokenizer_with_bos("abcdef -> \n")
    assert bos("ab")["input_ids"][0] == bos.bos_token_id  # the tokenizer does put a BOS first
    prompt = max(len(p) for ds in dd.values() for p in ds["prompt"]) + 1  # its characters and the BOS
    answer = max(len(c) for ds in dd.values() for c in ds["completion"])
    assert plan_max_new_tokens(tiny_gpt2(bos), bos, dd, DecodeSettings()) == answer + 1 + 8
    assert plan_max_new_tokens(tiny_gpt2(bos, n_positions=prompt + answer + 1), bos, dd, DecodeSettings()) == answer + 1
    with pytest.raises(ConfigError) as err:
        plan_max_new_tokens(tiny_gpt2(bos, n_positions=prompt + answer), bos, dd, DecodeSettings())
    assert err.value.field == "max_new_tokens"
    # a budget given is kept when it fills the context exactly, refused (naming it) one token beyond
    exact = tiny_gpt2(bos, n_positions=prompt + 20)
    assert plan_max_new_tokens(exact, bos, dd, DecodeSettings(max_new_tokens=20)) == 20
    with pytest.raises(ConfigError) as err:
        plan_max_new_tokens(exact, bos, dd, DecodeSettings(max_new_tokens=21))
    assert err.value.field == "max_new_tokens"
    assert f"{prompt} tokens plus 21 new tokens" in str(err.value) and f"context of {prompt + 20}" in str(err.value)


def test_a_bad_match_mode_or_missing_column_is_named_with_what_is_allowed(splits):
    """The one-line errors name the field, the value given and what would do: the match modes (exact, strip), and
    the columns the split does have."""
    with pytest.raises(ConfigError) as err:
        DecodeSettings(match="fuzzy").validate()
    assert err.value.field == "match"
    assert "exact, strip" in str(err.value) and "'fuzzy'" in str(err.value)
    seen = splits[0]["test_seen"]
    partial = seen.remove_columns("is_noop")
    tok = char_tokenizer("abcdef -> \n")
    with pytest.raises(ConfigError) as err:
        evaluate_rewrite(copy_model(tok), tok, {"mine": partial})
    has = str(err.value).split("(it has: ", 1)[1].removesuffix(")").split(", ")
    assert has == partial.column_names and "is_noop" not in has


def test_the_frequency_thirds_state_their_definition_and_use_the_confidence_asked():
    """The ``by_train_frequency`` entry carries its ``definition`` (the results layout: a reader must learn what
    head / middle / tail mean from the file), and every third's interval is at the confidence asked."""
    from eval.rewrite import train_frequency

    counts = {1: 9, 2: 5, 3: 1}
    records = [{"instruction_id": i, "instruction": None, "correct": ok}
               for i, ok in [(1, True), (1, False), (2, True), (2, True), (3, False), (3, False), (3, True)]]
    freq = train_frequency(records, counts, confidence=0.5)
    assert all(word in freq["definition"] for word in ("head", "middle", "tail", "floor(3r/m)", "train split"))
    for third, (k, n) in {"head": (1, 2), "middle": (2, 2), "tail": (1, 3)}.items():
        assert (freq[third]["correct"], freq[third]["n"]) == (k, n)
        assert (freq[third]["ci_low"], freq[third]["ci_high"]) == wilson_interval(k, n, 0.5) != wilson_interval(k, n)
