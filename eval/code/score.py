"""pass@1 with evalplus: its own execution and oracles (base and plus tests), run in a sandboxed subprocess.

evalplus reads its data paths once, at import, from ``HUMANEVAL_OVERRIDE_PATH`` / ``MBPP_OVERRIDE_PATH``, so
scoring runs :mod:`eval.code.evalplus_runner` in a fresh process whose environment points them at the problems
written into the work folder (only the problems being scored: evalplus needs a sample for every problem it
knows). Its expected outputs are cached in the work folder (``XDG_CACHE_HOME``), never in the user's cache. The
per-test time limit is evalplus's: ``max(min_time_limit, gt_time_limit_factor x`` the canonical solution's
time``)``; ``EVALPLUS_TIMEOUT_PER_TASK`` is never set (evalplus 0.3.1 crashes on it).

The work folder is writable by the sandboxed code, so the host treats what it finds there as hostile: before a
run it removes what sits at the names it writes (a link planted there is removed, never followed); it reads
evalplus's results without following links and with a size cap, and the log back through its own descriptor.
Each run starts with the sandbox's probe (:meth:`eval.code.sandbox.Sandbox.verify`) on the same work folder; its
report is the result's ``sandbox`` entry.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from core.errors import ConfigError
from eval.code.data import OVERRIDE_VARS, Problems, write_problems
from eval.code.sandbox import Sandbox

RUNNER = Path(__file__).with_name("evalplus_runner.py")
#: Problems that an evalplus version scores wrongly, reported with the scores (task id -> note).
KNOWN_ISSUES = {
    "0.3.1": {
        "HumanEval/32": "evalplus 0.3.1 fails every solution of HumanEval/32 (find_zero): its special oracle never "
        "records the passed input (evalplus pull request 201); every model loses this problem",
    },
}
DEFAULT_MIN_TIME_LIMIT = 1.0  # evalplus's defaults
DEFAULT_GT_TIME_LIMIT_FACTOR = 4.0
MAX_RESULTS_BYTES = 1 << 30


class ScoringError(RuntimeError):
    """evalplus did not produce a usable results file."""


def score_samples(
    problems: Problems,
    samples: list[dict],
    workdir: str | Path,
    sandbox: Sandbox,
    parallel: int | None = None,
    min_time_limit: float = DEFAULT_MIN_TIME_LIMIT,
    gt_time_limit_factor: float = DEFAULT_GT_TIME_LIMIT_FACTOR,
    timeout: float | None = None,
) -> dict:
    """Score one solution per problem; returns pass@1 (base, and plus when available) and per-task statuses."""
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    by_task = {s["task_id"]: s["solution"] for s in samples}
    missing = [t for t in problems.records if t not in by_task]
    if missing:
        raise ConfigError("samples", f"no solution for {len(missing)} problem(s), e.g. {missing[0]} (evalplus needs one per problem)")
    extra = [t for t in by_task if t not in problems.records]
    if extra:
        raise ConfigError("samples", f"solution for unknown problem {extra[0]} (not in {problems.origin})")
    # Code run here earlier could write in this folder: never follow what it may have left at these names.
    for name in ("problems.jsonl", "samples.jsonl", "samples_eval_results.json", "evalplus.log", "cache"):
        clear_path(workdir / name, keep_dir=name == "cache")
    problems_file = write_problems(problems, workdir / "problems.jsonl")
    samples_file = workdir / "samples.jsonl"
    with open(samples_file, "x", encoding="utf-8") as f:
        for task_id in problems.records:
            f.write(json.dumps({"task_id": task_id, "solution": by_task[task_id]}) + "\n")
    results_file = workdir / "samples_eval_results.json"  # removed above: evalplus would reuse an old one
    (workdir / "cache").mkdir(exist_ok=True)

    env = {
        "XDG_CACHE_HOME": str(workdir / "cache"),
        OVERRIDE_VARS[problems.benchmark]: str(problems_file),
        # evalplus sets this limit (and RLIMIT_DATA/STACK) in each solution's process: the sandbox's own
        # RLIMIT_AS is the same number, so that evalplus lowers nothing it cannot
        "EVALPLUS_MAX_MEMORY_BYTES": str(sandbox.limits.memory_bytes),
    }
    probe = sandbox.verify(workdir, readable=[RUNNER])  # the same command line as the scoring run below
    workers = parallel or max(1, (os.cpu_count() or 2) // 2)
    argv = [sys.executable, "-I", str(RUNNER), problems.benchmark, str(samples_file), "0" if problems.plus else "1",
            str(workers), str(min_time_limit), str(gt_time_limit_factor)]
    # The log stays open here: what the sandboxed code may have put at its path later is never read.
    with open(workdir / "evalplus.log", "x+b") as log:
        try:
            run = sandbox.run(argv, workdir, env, readable=[RUNNER], stdout=log, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ScoringError(f"evalplus scoring took longer than {timeout}s (log: {log.name})") from None
        log.seek(max(0, log.seek(0, os.SEEK_END) - 2000))
        tail = log.read().decode("utf-8", errors="replace")
    results = _read_results(results_file) if run.returncode == 0 else None
    if results is None:
        raise ScoringError(f"evalplus scoring failed (exit {run.returncode}); last output:\n{tail}")
    out = summarize(problems, by_task, results)
    out["sandbox"] = {"kind": sandbox.kind, "probe": probe}
    return out


def clear_path(path: Path, keep_dir: bool = False) -> None:
    """Remove a file or link at ``path`` (not what a link points to); a real folder stays when ``keep_dir``."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.is_dir() and not keep_dir:
        raise ConfigError("output", f"{path} is a folder where a file belongs: remove it")


def _read_results(path: Path) -> dict | None:
    """evalplus's results file, read without following a link the sandboxed code may have put there."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_RESULTS_BYTES:
            return None
        try:
            return json.loads(f.read())
        except ValueError:
            return None


def summarize(problems: Problems, submitted: dict[str, str], results: dict) -> dict:
    """pass@1 from evalplus's results (one greedy sample per task), after checking they are about our samples."""
    per_task = {}
    for task_id in problems.records:
        try:
            entries = results.get("eval", {}).get(task_id) or []
            if len(entries) != 1 or entries[0].get("solution") != submitted[task_id]:
                raise ScoringError(f"evalplus's results do not match the submitted solution of {task_id}")
            e = entries[0]
            per_task[task_id] = {"base": str(e["base_status"]), "plus": str(e["plus_status"]) if problems.plus else None}
        except (AttributeError, KeyError, TypeError):
            raise ScoringError(f"evalplus's results are malformed at {task_id}") from None
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
