"""The expected outputs (evalplus's ground truth), computed where no sample runs and kept where none can write.

The canonical solutions run on every base and plus input in a sandboxed worker of their own
(:func:`eval.code.workers.expected_outputs`, evalplus's ``trusted_exec``: outputs and the time of each call, MBPP's
not-None tasks reduced to booleans), before and apart from any sample. Their outputs come back as plain data
(:mod:`eval.code.wire`); one that cannot (an instance of a class the solution defines) stops scoring with an
error naming it, since no sample's output could then be compared with it.

They are cached in the output folder as ``groundtruth.json`` (a folder no sandbox is given): one header line
``{"format", "key", "sha256"}``, then the payload. ``key`` is the SHA-256 of everything they depend on (the
problems' code, entry points and inputs, evalplus's and Python's versions, the worker's and codec's source);
``sha256`` is the payload's. A cache is used only when both match and it decodes as the format says; otherwise
it is computed again and replaced (atomically). It is opened without following links and without blocking (a
FIFO at its name is not read).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import sys
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from core.atomic import write_text_atomic
from eval.code.data import Problems
from eval.code.wire import Opaque, WireError, decode, encode
from eval.code.workers import FILES, Deadline, ScoringError, expected_outputs

FORMAT = 1
CACHE_FILE = "groundtruth.json"
MAX_CACHE_BYTES = 4 << 30


@dataclass
class Expected:
    """One problem's ground truth: outputs and seconds per input, for the base and the plus inputs."""

    base: list
    base_time: list[float]
    plus: list
    plus_time: list[float]


def problem_inputs(problems: Problems) -> dict[str, dict[str, list]]:
    """{task_id: {"base": inputs, "plus": inputs}} as evalplus passes them to the function (MBPP's are
    deserialized into tuples, sets, complex numbers by evalplus's own ``mbpp_deserialize_inputs``)."""
    if problems.benchmark != "mbpp":
        return {t: {"base": r["base_input"], "plus": r["plus_input"]} for t, r in problems.records.items()}
    # deferred: evalplus.data imports `datasets` (seconds), needed only for MBPP
    from evalplus.data.mbpp import mbpp_deserialize_inputs

    out = {}
    for task_id, r in problems.records.items():
        try:
            out[task_id] = {part: mbpp_deserialize_inputs(task_id, r[f"{part}_input"]) for part in ("base", "plus")}
        except ValueError:
            raise ScoringError(f"MBPP task ids end in a number (evalplus reads it), not {task_id!r}") from None
    return out


def not_none_task(problems: Problems, entry_point: str) -> bool:
    # deferred: evalplus (the [code] extra) only for code evaluation
    from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS

    return problems.benchmark == "mbpp" and entry_point in MBPP_OUTPUT_NOT_NONE_TASKS


def cache_key(problems: Problems) -> str:
    h = hashlib.sha256()
    for f in FILES:
        h.update(f.read_bytes())
    head = {"format": FORMAT, "evalplus": version("evalplus"), "python": sys.version, "benchmark": problems.benchmark}
    h.update(json.dumps(head, sort_keys=True).encode())
    for task_id, r in problems.records.items():
        item = [task_id, r["prompt"] + r["canonical_solution"], r["entry_point"],
                not_none_task(problems, r["entry_point"]), r["base_input"], r["plus_input"]]
        h.update(json.dumps(item).encode() + b"\n")
    return h.hexdigest()


def ground_truth(problems: Problems, inputs: dict, folder: Path, sandbox, env: dict[str, str],
                 deadline: Deadline) -> tuple[dict[str, Expected], str]:
    """The expected outputs of every problem and whether they came from the ``"cache"`` or were ``"computed"``."""
    key = cache_key(problems)
    path = folder / CACHE_FILE
    cached = _read_cache(path, key)
    if cached is not None:
        try:
            return _parse(problems, cached), "cache"
        except ScoringError:
            pass  # the cache decodes, but not into what these problems need: compute again
    job = {"problems": [
        {"task_id": t, "code": r["prompt"] + r["canonical_solution"], "entry_point": r["entry_point"],
         "base": encode(inputs[t]["base"]), "plus": encode(inputs[t]["plus"]),
         "not_none": not_none_task(problems, r["entry_point"])}
        for t, r in problems.records.items()]}
    raw = expected_outputs(sandbox, job, env, deadline)
    expected = _parse(problems, raw)
    payload = json.dumps(raw)
    header = {"format": FORMAT, "key": key, "sha256": hashlib.sha256(payload.encode()).hexdigest()}
    write_text_atomic(path, json.dumps(header) + "\n" + payload)
    return expected, "computed"


def _read_cache(path: Path, key: str) -> dict | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_CACHE_BYTES:
            return None
        head, _, payload = f.read().partition(b"\n")
    try:
        header = json.loads(head)
        if header != {"format": FORMAT, "key": key, "sha256": hashlib.sha256(payload).hexdigest()}:
            return None
        raw = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    return raw if isinstance(raw, dict) else None


def _times(values, n: int, where: str) -> list[float]:
    ok = (isinstance(values, list) and len(values) == n and
          all(type(v) in (int, float) and math.isfinite(v) and v >= 0 for v in values))
    if not ok:
        raise ScoringError(f"the expected outputs of {where} are malformed (times)")
    return [float(v) for v in values]


def _has_opaque(value, depth: int = 0) -> str | None:
    if isinstance(value, Opaque):
        return value.type_name
    if depth > 200:
        return None
    if isinstance(value, dict):
        items = [x for pair in value.items() for x in pair]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
    else:
        return None
    for item in items:
        found = _has_opaque(item, depth + 1)
        if found:
            return found
    return None


def _parse(problems: Problems, raw: dict) -> dict[str, Expected]:
    out = {}
    for task_id, r in problems.records.items():
        record = raw.get(task_id)
        if not isinstance(record, dict):
            raise ScoringError(f"no expected outputs for {task_id}")
        parts = {}
        for part in ("base", "plus"):
            n = len(r[f"{part}_input"])
            values = record.get(part)
            if not isinstance(values, list) or len(values) != n:
                raise ScoringError(f"the expected outputs of {task_id} are malformed ({part})")
            try:
                decoded = [decode(v) for v in values]
            except WireError as exc:
                raise ScoringError(f"the expected outputs of {task_id} are malformed ({exc})") from None
            for i, value in enumerate(decoded):
                kind = _has_opaque(value)
                if kind:
                    raise ScoringError(f"the canonical solution of {task_id} returns a {kind} for {part} input {i}, "
                                       "which cannot be compared as plain data")
            parts[part] = decoded
            parts[f"{part}_time"] = _times(record.get(f"{part}_time"), n, task_id)
        out[task_id] = Expected(**parts)
    return out
