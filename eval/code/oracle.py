"""evalplus 0.3.1's verdict on one test set (base or plus) of one solution, decided on the host.

The sandboxed worker (:mod:`eval.code.sandbox_worker`) reports, input by input, what the solution returned or
that it raised; :class:`Judge` takes those records in order and applies, statement by statement, the checks of
``evalplus.eval.unsafe_execute`` and the status rules of ``evalplus.eval.untrusted_check`` (fast check, as
``evalplus.evaluate`` runs them): ``out == exp``; MBPP's special oracles (``are_equivalent``, ``sum_div``,
``surface_Area``, ``digit_distance_nums``, set-equal and not-None tasks) and HumanEval's ``find_zero`` with
evalplus's own helper functions; the float tolerance (``is_floats``; an ``atol`` of 0 becomes 1e-6 for float
outputs and stays so for the rest of the test set, as in evalplus); the first failing input fails the
solution; a worker that stops before saying it finished means ``timeout`` (evalplus: the status was never
set). The expected outputs come from :mod:`eval.code.groundtruth`; the outputs are plain data built by
:func:`eval.code.wire.decode`, so every comparison is Python's or numpy's own.

Also here: the per-input time limits and the process timeout, as ``untrusted_check`` computes them.
"""

from __future__ import annotations

from collections.abc import Sequence

from eval.code.wire import WireError, check_broadcast, decode

PASS, FAIL, TIMEOUT = "pass", "fail", "timeout"  # evalplus.eval's statuses
DEFAULT_LIMIT = 64 << 20  # the most bytes of arrays one output may decode into, unless the caller says
_SUCCESS, _FAILED, _UNKNOWN = 0, 1, 3
#: evalplus reads EVALPLUS_TIMEOUT_PER_TASK, default 60 s (setting it crashes 0.3.1: it is never set).
TIMEOUT_PER_TASK = 60.0


def time_limits(ref_times: Sequence[float], min_time_limit: float, gt_time_limit_factor: float) -> list[float]:
    """Seconds each input may take: ``max(min_time_limit, factor x`` the canonical solution's time``)``."""
    return [max(min_time_limit, gt_time_limit_factor * t) for t in ref_times]


def join_seconds(limits: Sequence[float]) -> float:
    """How long the solution's process may run in all: evalplus waits ``min(60, sum(limits)) + 1`` and one
    second more (``p.join(timeout=timeout + 1)``) before killing it."""
    return min(TIMEOUT_PER_TASK, sum(limits)) + 1 + 1


class Judge:
    """One solution on one test set: feed the worker's records (:meth:`feed`), then :meth:`result`."""

    def __init__(self, dataset: str, entry_point: str, inputs: list, expected: list, atol: float,
                 limit: int = DEFAULT_LIMIT) -> None:
        if len(inputs) != len(expected):
            raise ValueError("one expected output per input")
        self.dataset, self.entry_point = dataset, entry_point
        self.limit = limit  # bytes of arrays an output may decode into (the worker's cap on its records)
        self.inputs, self.expected, self.atol = inputs, expected, atol
        self.stat = _UNKNOWN
        self.details = [False] * len(inputs)
        self.progress = 0
        self.next = 0  # the input whose record comes next

    @property
    def decided(self) -> bool:
        """Whether the status is settled (later records, and how the worker ends, change nothing)."""
        return self.stat != _UNKNOWN

    def feed(self, record) -> None:
        """One record of the worker (a decoded JSON object); anything out of order or malformed fails."""
        if self.decided:
            return
        if not isinstance(record, dict):
            return self._fail_here()
        if "exec" in record and self.next == 0:
            self.stat = _FAILED  # the solution did not load (evalplus: before any input)
        elif record.get("end") is True and len(record) == 1:
            if self.next == len(self.inputs):
                self.stat = _SUCCESS
            else:
                self._fail_here()
        elif type(record.get("i")) is int and record["i"] == self.next < len(self.inputs):
            if "raised" in record:
                self._fail_here()
            elif "ok" in record:
                try:
                    value = decode(record["ok"], limit=self.limit)
                except WireError:
                    return self._fail_here()
                self._check(value)
            else:
                self._fail_here()
        else:
            self._fail_here()

    def fail(self) -> None:
        """The worker's output went past its cap: the input it was on fails (unless already decided)."""
        if not self.decided:
            self._fail_here()

    def result(self) -> tuple[str, list[bool]]:
        """(status, details) as ``untrusted_check`` returns them."""
        stat = {_SUCCESS: PASS, _FAILED: FAIL, _UNKNOWN: None}[self.stat]
        details = self.details[: self.progress]
        if not stat:
            stat = TIMEOUT
        if stat == PASS and (len(details) != len(self.inputs) or not all(details)):
            stat = FAIL
        return stat, details

    def _fail_here(self) -> None:
        """The input the worker is on fails, and with it the solution (nothing is read after this)."""
        if self.next < len(self.inputs):
            self.details[self.next] = False
        self.progress += 1
        self.stat = _FAILED

    def _check(self, out) -> None:
        # deferred: evalplus (the [code] extra, numpy) is loaded only when solutions are judged
        import numpy as np
        from evalplus.eval import is_floats
        from evalplus.eval._special_oracle import (
            MBPP_OUTPUT_NOT_NONE_TASKS,
            MBPP_OUTPUT_SET_EQ_TASKS,
            _digit_distance_nums,
            _poly,
            _surface_Area,
        )

        i, entry_point = self.next, self.entry_point
        inp, exp = self.inputs[i], self.expected[i]
        self.next += 1
        try:  # the body of unsafe_execute's loop, after the call
            exact_match = out == exp
            if self.dataset == "mbpp":
                if "are_equivalent" == entry_point:  # Mbpp/164 special oracle
                    exact_match = exact_match or True
                elif "sum_div" == entry_point:  # Mbpp/295 special oracle
                    exact_match = exact_match or out == 0
                elif "surface_Area" == entry_point:  # Mbpp/581 special oracle
                    exact_match = exact_match or abs(out - _surface_Area(*inp)) <= self.atol
                elif "digit_distance_nums" == entry_point:  # Mbpp/558 special oracle
                    exact_match = exact_match or out == _digit_distance_nums(*inp)
                elif entry_point in MBPP_OUTPUT_SET_EQ_TASKS:
                    exact_match = _same_set(out, exp)
                elif entry_point in MBPP_OUTPUT_NOT_NONE_TASKS:
                    if isinstance(out, bool):
                        exact_match = out == exp
                    else:
                        exact_match = exp == (out is not None)
            if self.dataset == "humaneval":
                if "find_zero" == entry_point:
                    assert abs(_poly(*inp, out)) <= self.atol
                    return  # evalplus `continue`s here without recording the input (its HumanEval/32 issue)
            if self.atol == 0 and is_floats(exp):
                self.atol = 1e-6  # enforce atol for float comparison
            if not exact_match and self.atol != 0:
                assert type(out) == type(exp)  # noqa: E721 - evalplus's exact type check
                if isinstance(exp, (list, tuple)):
                    assert len(out) == len(exp)
                check_broadcast(out, exp)  # a list of N one-item lists against M floats: N x M, refused
                assert np.allclose(out, exp, rtol=1e-07, atol=self.atol)
            else:
                assert exact_match
        except Exception:  # noqa: BLE001 - as evalplus: any failure of the checks fails the input
            self.details[i] = False
            self.progress += 1
            self.stat = _FAILED
            return
        self.details[i] = True
        self.progress += 1


def _same_set(out, exp) -> bool:
    """``set(out) == set(exp)`` (MBPP's set-equal tasks), without building a set of ``out``: its items are only
    looked up among the expected ones, so a ``range(10**18)`` (never materialized) or items forged to share one
    hash cost no more than ``len(out)`` lookups, and at most ``len(set(exp)) + 1`` distinct ones. An unhashable
    item raises TypeError, as ``set(out)`` does (unless an unexpected item came first: both then fail)."""
    wanted = set(exp)
    seen = set()  # items equal to expected ones, so hashed as those are
    for item in out:
        if item not in wanted:
            return False
        seen.add(item)
    return len(seen) == len(wanted)
