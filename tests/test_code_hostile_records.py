"""What a sample sends the host costs the host no more than its size, and never stops the scoring of the others.

The sandboxed worker reports what a solution returned as plain data (:mod:`eval.code.wire`), but a sample can
write any record to its report pipe itself (descriptor 3), skipping the work its value would have cost it. Each
hostile record below is small and valid as JSON, and would make the host (not the sandbox, which has limits)
do what the record only describes: a fraction with denominator 0 (an exception no one caught: the whole scoring
run stopped with a traceback), a ``<U9999999`` array of empty strings (40 MB per item), a set of ints equal
modulo 2**61 - 1 (one hash: building it is quadratic, in one call that holds the GIL), a fraction of huge coprime
terms (a quadratic gcd), ``range(10**18)`` for an MBPP task whose oracle builds ``set(out)``, and arrays or lists
shaped so that numpy broadcasts them against the expected output into N x M elements. Each must fail its input,
within a few MB of host memory, while the honest samples of the same run score as usual.
"""

from __future__ import annotations

import json
import tracemalloc

import pytest
from test_code_forgery import problems_file

from eval.code.data import read_problems_file
from eval.code.oracle import Judge
from eval.code.score import score_samples
from eval.code.wire import BROADCAST_FLOOR, MAX_FRACTION_BITS, MAX_SAME_HASH, WireError, decode

P = (1 << 61) - 1  # ints equal modulo P have one hash
MB = 1 << 20

# A sample that sends the host one record of its choosing for input 0, then leaves (no "end": its status is
# decided by that record alone).
SENDS = '''import json, os, struct
def f{i}(x):
    record = json.dumps({{"i": 0, "ok": json.loads({value!r})}}).encode()
    os.write(3, struct.pack(">I", len(record)) + record)
    os._exit(0)
'''
HOSTILE = {
    "zero denominator": ["Q", 1, 0],
    "string array": ["na", "U9999999", [5], [""] * 5],  # 200 MB on the host, from 60 bytes
    "colliding set": ["s", [["i", hex(k * P)] for k in range(1, 4 * MAX_SAME_HASH)]],
    "huge fraction": ["Q", ["i", hex((1 << MAX_FRACTION_BITS + 8) + 1)], ["i", hex(3 ** 42000)]],
}


def test_hostile_records_fail_their_input_and_the_run_scores_the_rest(tmp_path, sandbox):
    """One scoring run: each hostile record fails its sample (before this fix, the zero denominator raised
    ZeroDivisionError out of ``score_samples``, so no sample of the run got a score); honest samples beside
    them pass or fail as they should."""
    codes = [SENDS.format(i=i, value=json.dumps(v)) for i, v in enumerate(HOSTILE.values())]
    n = len(codes)
    codes += [f"def f{n}(x):\n    return 2 * x\n", f"def f{n + 1}(x):\n    return x + 1\n"]
    probs = read_problems_file("humaneval", problems_file(tmp_path / "p.jsonl", len(codes), plus=False), "test")
    rows = [{"task_id": f"Frg/{i}", "solution": code} for i, code in enumerate(codes)]
    res = score_samples(probs, rows, tmp_path / "w", sandbox, parallel=2)
    got = {t: s["base"] for t, s in res["per_task"].items()}
    assert got == {**{f"Frg/{i}": "fail" for i in range(n)}, f"Frg/{n}": "pass", f"Frg/{n + 1}": "fail"}, got


def test_decoding_refuses_what_would_cost_the_host_more_than_the_data_and_keeps_honest_values():
    refused = [
        ["Q", 1, 0],  # ZeroDivisionError inside: still a WireError, never another exception
        ["Q", ["i", hex(1 << MAX_FRACTION_BITS)], 3],
        ["s", [["i", hex(k * P)] for k in range(1, MAX_SAME_HASH + 2)]],
        ["S", [["i", hex(k * P)] for k in range(1, MAX_SAME_HASH + 2)]],
        ["k", [["i", hex(k * P)] for k in range(1, MAX_SAME_HASH + 2)]],
        ["d", [[["i", hex(k * P)], k] for k in range(1, MAX_SAME_HASH + 2)]],
        ["C", [[["i", hex(k * P)], k] for k in range(1, MAX_SAME_HASH + 2)]],
        ["sub", "s", [["i", hex(k * P)] for k in range(1, MAX_SAME_HASH + 2)]],
        ["s", [1] * (MAX_SAME_HASH + 1)],  # an encoder never repeats an item of a set
        ["s", [3, *[["i", hex(k * P + 7)] for k in range(1, MAX_SAME_HASH + 2)]]],  # one hash after another
    ]
    for value in refused:
        with pytest.raises(WireError):
            decode(value)
    tracemalloc.start()
    try:
        with pytest.raises(WireError, match="arrays larger"):
            decode(["l", [["na", "U9999999", [1], [""]]] * 3], limit=MB)  # 120 MB described in 100 bytes
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MB, peak
    # at the limits, and what honest values hold, still decodes
    assert len(decode(["s", [["i", hex(k * P)] for k in range(1, MAX_SAME_HASH + 1)]])) == MAX_SAME_HASH
    powers = decode(["s", [["i", hex(1 << k)] for k in range(2000)]])  # 2**k collide every 61 k: 33 per hash
    assert powers == {1 << k for k in range(2000)}
    assert decode(["Q", ["i", hex((1 << MAX_FRACTION_BITS) - 1)], 2]) * 2 == (1 << MAX_FRACTION_BITS) - 1
    assert decode(["na", "U4", [2], ["ab", "c"]], limit=2 * 4 * 4).tolist() == ["ab", "c"]  # exactly at the limit


def judged_within(limit_bytes: int, dataset: str, entry_point: str, inputs: list, expected: list, value) -> str:
    """The status of one input whose record holds ``value``; fails the test if judging it took more than
    ``limit_bytes`` of the host's memory (Python's and numpy's allocations, as tracemalloc sees them)."""
    judge = Judge(dataset, entry_point, inputs, expected, 0, limit=MB)
    tracemalloc.start()
    try:
        judge.feed({"i": 0, "ok": value})
        judge.feed({"end": True})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < limit_bytes, (entry_point, peak)
    return judge.result()[0]


def test_judging_a_hostile_output_takes_no_more_memory_than_it_sent():
    """``range(3 * 10**6)`` for an MBPP set-equal task (``set(out)`` held 3 million ints; ``range(10**18)`` never
    ended), a (20000, 1) array against 2,000 expected ints (a 40 MB comparison), and 3,000 one-item lists against
    3,000 equal floats (np.allclose broadcasts them to 3,000 x 3,000): each fails within 8 MB."""
    small = 8 * MB
    assert judged_within(small, "mbpp", "similar_elements", [[[1, 2], [2, 3]]], [[2]],
                         ["r", 0, 3_000_000, 1]) == "fail"
    assert judged_within(small, "humaneval", "f", [[0]], [list(range(2000))],
                         ["na", "|b1", [20000, 1], [False] * 20000]) == "fail"
    floats = [0.5] * 3000
    column = ["l", [["l", [["f", (0.5).hex()]]] for _ in floats]]
    assert 3000 * 3000 > BROADCAST_FLOOR
    assert judged_within(small, "humaneval", "f", [[0]], [floats], column) == "fail"


# MBPP set-equal task (evalplus: set(out) == set(exp)); (what the solution returns, the expected output)
SET_EQUAL_CASES = [("[2, 2, 3]", "[3, 2]"), ("(3, 2)", "[2, 3]"), ("range(2, 4)", "[2, 3]"), ("range(2, 5)", "[2, 3]"),
                   ("[2]", "[2, 3]"), ("[2, 3, 4]", "[2, 3]"), ("[[2], 3]", "[2, 3]"), ("[3, [2]]", "[2, 3]"),
                   ("{2: 0, 3: 1}", "[2, 3]"), ("numpy.array([3, 2])", "[2, 3]"), ("[True, 2]", "[1, 2]"),
                   ("[]", "[]"), ("None", "[2]"), ("'ab'", "['a', 'b']"), ("[float('nan')]", "[float('nan')]")]


def test_the_set_equal_oracle_keeps_evalplus_verdicts():
    """The set-equal check that no longer builds ``set(out)`` gives evalplus's own verdict on each case (duplicates,
    tuples, ranges, unhashable items first or after an unexpected one, dicts, numpy arrays, True for 1, NaN)."""
    import numpy  # noqa: F401 - used by the expressions
    from evalplus.eval import untrusted_check

    from eval.code.wire import encode

    for out_expr, exp_expr in SET_EQUAL_CASES:
        expected = eval(exp_expr, {"numpy": numpy})
        code = f"import numpy\ndef similar_elements(a, b):\n    return {out_expr}\n"
        reference, _ = untrusted_check("mbpp", code, [[[1], [2]]], "similar_elements", expected=[expected], atol=0,
                                       ref_time=[0.01])
        out = json.loads(json.dumps(encode(eval(out_expr, {"numpy": numpy}))))
        judge = Judge("mbpp", "similar_elements", [[[1], [2]]], [decode(json.loads(json.dumps(encode(expected))))], 0)
        judge.feed({"i": 0, "ok": out})
        judge.feed({"end": True})
        assert judge.result()[0] == reference, (out_expr, exp_expr, reference)


def test_decoded_arrays_compare_as_numpy_arrays_do():
    """What a decoded array is for the checks: its type is one (expected and output alike), its comparisons and
    np.allclose give numpy's results, and a broadcast within the floor is computed as numpy computes it."""
    import numpy as np

    a = decode(["na", "<f8", [2, 1], [["f", (1.0).hex()], ["f", (1.0).hex()]]])
    b = decode(["na", "<f8", [2], [["f", (1.0).hex()], ["f", (2.0).hex()]]])
    assert isinstance(a, np.ndarray) and type(a) is type(b)
    assert (a == [1.0, 1.0]).tolist() == [[True, True], [True, True]]  # (2, 1) against (2,): numpy broadcasts
    assert (b == [1.0, 2.0]).all() and not np.allclose(b, [1.0, 3.0]) and np.allclose(b, [1.0, 2.0 + 1e-9])
