"""pass@1 with evalplus's problems, inputs, time limits and checks, decided on the host from plain data.

Nothing that sandboxed code can write or run decides a verdict:

1. The start-up probe (:meth:`eval.code.sandbox.Sandbox.verify`) attacks a sandbox built like the workers'.
2. The expected outputs come from the canonical solutions, run apart from every sample
   (:mod:`eval.code.groundtruth`); they are cached in ``workdir``, which no sandbox is given, and reused only when
   their SHA-256 and their key match.
3. Each sample runs in a sandboxed worker (:mod:`eval.code.workers`, :mod:`eval.code.sandbox_worker`) that gets
   the inputs but never the expected outputs, and reports what the solution returned, input by input, through a
   pipe the host holds; the host decodes it as plain data (:mod:`eval.code.wire`) and applies evalplus's checks
   (:mod:`eval.code.oracle`). No file a sandbox wrote is read: each worker's work folder is its own, fresh, and
   removed afterwards.
4. Time: evalplus's per-input limits (``max(min_time_limit, gt_time_limit_factor x`` the canonical solution's
   time``)``) inside the worker, its process timeout (``min(60, sum of the limits) + 2`` s) by the worker, that
   plus ``grace`` seconds by the host, and the whole scoring by ``deadline`` (default
   :func:`default_deadline`): past it every worker is killed and :class:`ScoringError` says so in one line.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import warnings
from importlib.metadata import version
from pathlib import Path

from core.atomic import write_text_atomic
from core.errors import ConfigError
from eval.code.data import Problems
from eval.code.groundtruth import ground_truth, problem_inputs
from eval.code.oracle import TIMEOUT_PER_TASK, Judge, join_seconds, time_limits
from eval.code.sandbox import UID_SLOTS, Sandbox
from eval.code.wire import encode
from eval.code.workers import FILES, Deadline, Pool, ScoringError, ScoringTimeout

__all__ = ["ScoringError", "ScoringTimeout", "default_deadline", "score_samples"]

#: Problems that an evalplus version scores wrongly, reported with the scores (task id -> note).
KNOWN_ISSUES = {
    "0.3.1": {
        "HumanEval/32": "evalplus 0.3.1 fails every solution of HumanEval/32 (find_zero): its special oracle never "
        "records the passed input (evalplus pull request 201); every model loses this problem",
    },
}
DEFAULT_MIN_TIME_LIMIT = 1.0  # evalplus's defaults
DEFAULT_GT_TIME_LIMIT_FACTOR = 4.0
DEFAULT_GRACE = 10.0  # seconds the host waits for a worker past evalplus's process timeout
SETUP_SECONDS = 600.0  # the default deadline's allowance for the probe, the workers' start and the ground truth
MAX_WORKERS = UID_SLOTS - 2  # each worker has a uid of its own (root); the probe and the ground truth run apart
#: What scoring before this design left in the output folder (evalplus ran there): removed, never read.
STALE = ("samples_eval_results.json", "evalplus.log", "problems.jsonl")
OUTPUT_SLACK = 1 << 20  # a test set's outputs may take 4 x its expected outputs' size plus this, then it fails


def default_deadline(problems: int, workers: int, plus: bool, grace: float = DEFAULT_GRACE) -> float:
    """Seconds for one benchmark's scoring: ``SETUP_SECONDS``, and for each round of ``workers`` problems the
    longest time evalplus lets a test set run (60 s + 2) plus ``grace``, per test set (base, plus)."""
    rounds = math.ceil(problems / max(1, workers))
    return SETUP_SECONDS + rounds * (2 if plus else 1) * (TIMEOUT_PER_TASK + 2 + grace)


def score_samples(
    problems: Problems,
    samples: list[dict],
    workdir: str | Path,
    sandbox: Sandbox,
    parallel: int | None = None,
    min_time_limit: float = DEFAULT_MIN_TIME_LIMIT,
    gt_time_limit_factor: float = DEFAULT_GT_TIME_LIMIT_FACTOR,
    deadline: float | None = None,
    grace: float = DEFAULT_GRACE,
) -> dict:
    """Score one solution per problem; returns pass@1 (base, and plus when available) and per-task statuses.
    ``workdir`` gets ``samples.jsonl`` and the ground truth's cache (no sandbox is given it)."""
    by_task = {s["task_id"]: s["solution"] for s in samples}
    missing = [t for t in problems.records if t not in by_task]
    if missing:
        raise ConfigError("samples", f"no solution for {len(missing)} problem(s), e.g. {missing[0]} (one per problem)")
    extra = [t for t in by_task if t not in problems.records]
    if extra:
        raise ConfigError("samples", f"solution for unknown problem {extra[0]} (not in {problems.origin})")
    if not all(isinstance(s, str) for s in by_task.values()):
        raise ConfigError("samples", "every solution must be a string")
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    for name in STALE:  # evalplus's own results of an earlier version's run: never read, and no longer true
        if (workdir / name).is_symlink() or (workdir / name).exists() and not (workdir / name).is_dir():
            (workdir / name).unlink()
    write_text_atomic(workdir / "samples.jsonl", "".join(
        json.dumps({"task_id": t, "solution": by_task[t]}) + "\n" for t in problems.records))
    workers = max(1, min(parallel or max(1, (os.cpu_count() or 2) // 2), MAX_WORKERS, len(problems.records)))
    seconds = deadline if deadline is not None else default_deadline(len(problems.records), workers, problems.plus,
                                                                       grace)
    clock = Deadline(seconds)
    env = {  # evalplus sets this limit (and RLIMIT_DATA/STACK) for each solution: the sandbox's RLIMIT_AS is the same
        "EVALPLUS_MAX_MEMORY_BYTES": str(sandbox.limits.memory_bytes)}
    probe = _probe(sandbox)
    inputs = problem_inputs(problems)
    parts = ("base", "plus") if problems.plus else ("base",)
    try:
        expected, origin = ground_truth(problems, inputs, workdir, sandbox, env, clock)

        def judge_task(task_id, run_set) -> dict:
            r, exp = problems.records[task_id], expected[task_id]
            out = {}
            for part in parts:
                wanted = getattr(exp, part)
                limits = time_limits(getattr(exp, f"{part}_time"), min_time_limit, gt_time_limit_factor)
                job = {"code": by_task[task_id], "entry_point": r["entry_point"],
                       "inputs": encode(inputs[task_id][part]), "time_limits": limits, "join": join_seconds(limits),
                       "cap": 4 * len(json.dumps([encode(v) for v in wanted])) + OUTPUT_SLACK}
                judge = Judge(problems.benchmark, r["entry_point"], inputs[task_id][part], wanted, r["atol"],
                              limit=job["cap"])
                out[part] = run_set(job, judge)[0]
            return out

        pool = Pool(sandbox, env, workers, clock, grace)
        with warnings.catch_warnings():  # numpy's comparison warnings (evalplus's are swallowed in its workers)
            warnings.simplefilter("ignore")
            statuses = pool.run(list(problems.records), judge_task)
    except ScoringTimeout:
        raise ScoringTimeout(f"{problems.benchmark}: scoring did not finish within {seconds:g} s (the deadline; "
                             "see --scoring-deadline); no scores were written") from None
    out = summarize(problems, statuses)
    out["sandbox"] = {"kind": sandbox.kind, "probe": probe}
    out["expected_outputs"] = origin
    return out


def _probe(sandbox: Sandbox) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="idiv-code-probe-"))
    try:
        return sandbox.verify(folder, readable=FILES)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def summarize(problems: Problems, statuses: dict[str, dict]) -> dict:
    """pass@1 from each task's statuses (one greedy sample per task): base, and base and plus together."""
    per_task = {t: {"base": statuses[t]["base"], "plus": statuses[t].get("plus") if problems.plus else None}
                for t in problems.records}
    n = len(per_task)
    issues = KNOWN_ISSUES.get(version("evalplus"), {})
    base = sum(t["base"] == "pass" for t in per_task.values())
    out = {
        "problems": n,
        "pass@1": {"base": round(base / n, 6), "plus": None},
        "passed": {"base": base, "plus": None},
        "plus_tests": problems.plus,
        "known_issues": [note for task, note in issues.items() if task in per_task],
        "per_task": per_task,
    }
    if problems.plus:
        plus = sum(t["base"] == "pass" and t["plus"] == "pass" for t in per_task.values())
        out["pass@1"]["plus"] = round(plus / n, 6)
        out["passed"]["plus"] = plus
    return out
