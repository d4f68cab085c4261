"""Code-evaluation results: the JSON document ``code`` writes, and its model-index entries for a model card.

The JSON (``code_eval.json``)::

    {"model": {...provenance...}, "settings": {...}, "benchmarks": {"humaneval": {"problems": 164,
     "pass@1": {"base": 0.62, "plus": 0.567}, "passed": {...}, "plus_tests": true, "data": "file ...",
     "notes": [...], "per_task": {...}, "expected_outputs": "computed" (or "cache"), "sandbox": {"kind":
     "bubblewrap", "probe": {"passed": true, "checks": {"capabilities": "all capability sets empty", ...}}}},
     "mbpp": {...}}}

``settings.sandbox`` is one line saying what the generated code ran under (``NO SANDBOX (--unsafe-no-sandbox)...``
when there was none), ``settings.sandbox_limits`` the limits it set; each benchmark's ``sandbox.probe`` is what the
start-up probe of that run tried and found blocked (see :mod:`eval.code.sandbox`). No host path is recorded.

:func:`eval_results` turns it into ``huggingface_hub.EvalResult`` entries (task ``text-generation``, metric
``pass@1`` as a fraction): HumanEval and MBPP from the base tests, HumanEval+ and MBPP+ from base + plus tests
(only when plus tests ran). A score on a subset of the problems is labelled with a ``test[:N]`` split.
"""

from __future__ import annotations

import json
from pathlib import Path

from huggingface_hub import EvalResult

from core.atomic import write_text_atomic

RESULTS_FILE = "code_eval.json"
# (dataset id on the Hub, display name) for the base and the plus score of each benchmark.
DATASETS = {
    "humaneval": (("openai/openai_humaneval", "HumanEval"), ("evalplus/humanevalplus", "HumanEval+")),
    "mbpp": (("google-research-datasets/mbpp", "MBPP"), ("evalplus/mbppplus", "MBPP+")),
}


def write_results(results: dict, out_dir: str | Path) -> Path:
    """Write ``code_eval.json`` atomically (a reader sees the old file or the new one, never half)."""
    return write_text_atomic(Path(out_dir) / RESULTS_FILE, json.dumps(results, indent=2) + "\n")


def read_results(path: str | Path) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    return json.loads(path.read_text(encoding="utf-8"))


def eval_results(results: dict) -> list[EvalResult]:
    """Model-index entries for the scores in a ``code_eval.json`` document."""
    out = []
    for bench, r in results["benchmarks"].items():
        subset = any(n.startswith("subset:") for n in r.get("notes", []))
        split = f"test[:{r['problems']}]" if subset else "test"
        (base_id, base_name), (plus_id, plus_name) = DATASETS[bench]
        scores = [(base_id, base_name, r["pass@1"]["base"])]
        if r.get("plus_tests") and r["pass@1"].get("plus") is not None:
            scores.append((plus_id, plus_name, r["pass@1"]["plus"]))
        for dataset_id, name, value in scores:
            out.append(
                EvalResult(
                    task_type="text-generation",
                    dataset_type=dataset_id,
                    dataset_name=name,
                    dataset_split=split,
                    metric_type="pass@1",
                    metric_name="pass@1 (greedy)",
                    metric_value=value,
                )
            )
    return out
