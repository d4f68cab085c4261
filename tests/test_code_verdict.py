"""The code score's verdict on the host, in process: plain data in, evalplus 0.3.1's verdict out.

A sample's worker reports, input by input, what the solution returned (:mod:`eval.code.wire`: the tagged plain
data format of its docstring), and :class:`eval.code.oracle.Judge` decides the status. Here the records are made
in this process from the very values the solutions return, and each verdict (status and per-input details) is
compared with evalplus's own ``untrusted_check`` on the same code (fast check, as ``evalplus.evaluate`` runs it):
the MBPP special oracles, HumanEval's ``find_zero``, the float tolerance that stays raised for the rest of a test
set, the first failing input. The wire format is checked against its table (each type crosses with its tag and
comes back equal, of the documented host type), its bounds (a value larger than the limit or nested deeper
than ``MAX_DEPTH`` is opaque) and the frames. No sandbox here: the same checks through sandboxed workers are in
test_code_eval.py, test_code_forgery.py and test_code_hostile_records.py.
"""

from __future__ import annotations

import collections
import decimal
import fractions
import json
import math

import numpy as np
import pytest

from eval.code.oracle import Judge, join_seconds, time_limits
from eval.code.wire import (
    MAX_DEPTH,
    MAX_FRACTION_BITS,
    MAX_SAME_HASH,
    FrameReader,
    Opaque,
    SubBytes,
    SubComplex,
    SubDict,
    SubFloat,
    SubFrozenset,
    SubInt,
    SubList,
    SubSet,
    SubStr,
    SubTuple,
    WireError,
    check_broadcast,
    decode,
    encode,
    frame,
)


def crossed(value, limit=None):
    """``value`` as the host gets it: encoded, through JSON, decoded."""
    return decode(json.loads(json.dumps(encode(value, limit))))


def judged(dataset: str, entry: str, code: str, inputs: list, expected: list, atol: float) -> tuple[str, list]:
    """Our verdict on ``code``: its outputs, one record each (or ``raised``), then the end record."""
    scope: dict = {}
    exec(code, scope)  # noqa: S102 - our own test solutions
    judge = Judge(dataset, entry, inputs, [crossed(e) for e in expected], atol)
    for i, inp in enumerate(inputs):
        try:
            record = {"i": i, "ok": json.loads(json.dumps(encode(scope[entry](*inp))))}
        except Exception as exc:  # noqa: BLE001 - as the worker: any exception is reported
            record = {"i": i, "raised": type(exc).__name__}
        judge.feed(record)
    judge.feed({"end": True})
    status, details = judge.result()
    return status, list(details)


def evalplus_verdict(dataset: str, entry: str, code: str, inputs: list, expected: list, atol: float):
    from evalplus.eval import untrusted_check

    status, details = untrusted_check(dataset, code, inputs, entry, expected=expected, atol=atol,
                                      ref_time=[0.01] * len(inputs), fast_check=True)
    return status, [bool(d) for d in details]


# (dataset, entry point, solution body, inputs, expected outputs, atol): each special oracle and rule of
# unsafe_execute, with a solution it accepts and one it refuses
CASES = [
    ("mbpp", "are_equivalent", "return 'anything'", [[36, 57]], [False], 0),
    ("mbpp", "sum_div", "return 0", [[8]], [7], 0),
    ("mbpp", "sum_div", "return 5", [[8]], [7], 0),
    ("mbpp", "sum_div", "return 7", [[8]], [7], 0),
    ("mbpp", "surface_Area", "return 2 * b * s + b * b + 1.5", [[3, 4]], [33], 2),
    ("mbpp", "surface_Area", "return 2 * b * s + b * b + 2.5", [[3, 4]], [33], 2),
    ("mbpp", "surface_Area", "return 2 * b * s + b * b - 1", [[3, 4]], [33], 0),
    ("mbpp", "digit_distance_nums", "return sum(map(int, str(abs(b - s))))", [[23, 56]], [99], 0),
    ("mbpp", "digit_distance_nums", "return str(sum(map(int, str(abs(b - s)))))", [[23, 56]], [6], 0),
    ("mbpp", "check_str", "import re\n    return re.search('^a', b)", [["annie", 0], ["dan", 0]], [True, False], 0),
    ("mbpp", "check_str", "return 0", [["dan", 0]], [False], 0),
    ("mbpp", "check_str", "return b[0] == 'a'", [["annie", 0], ["dan", 0]], [True, False], 0),
    ("mbpp", "check_str", "return not b.startswith('a')", [["annie", 0]], [True], 0),
    ("mbpp", "similar_elements", "return (s, b)", [[1, 2]], [[2, 1]], 0),
    ("mbpp", "similar_elements", "return (s, 3)", [[1, 2]], [[2, 1]], 0),
    ("mbpp", "volume", "return b * s + 1e-7", [[0.5, 0.2], [1, 2]], [0.1, 2.0], 0),
    ("mbpp", "find_zero", "return b + 1e-9", [[0.5, 0]], [0.5], 0),  # find_zero is HumanEval's oracle only
    ("humaneval", "find_zero", "return -b[0] / b[1]", [[[1.0, 2.0], 0]], [-0.5], 1e-6),
    ("humaneval", "find_zero", "return 3.0", [[[1.0, 2.0], 0]], [-0.5], 1e-6),
    ("humaneval", "are_equivalent", "return 'anything'", [[36, 57]], [False], 0),
    ("humaneval", "sum_div", "return 0", [[8]], [7], 0),
    # the float tolerance, once raised by a float output, holds for the next input's list of ints too
    ("humaneval", "f", "return 0.1 + 1e-7 if b == 0 else [1, 2 + 1e-7]", [[0, 0], [1, 0]], [0.1, [1, 2]], 0),
    ("humaneval", "f", "return [1, 2 + 1e-7]", [[1, 0]], [[1, 2]], 0),
    ("humaneval", "f", "return 0.1 + 1e-5", [[0, 0]], [0.1], 1e-4),
    ("humaneval", "f", "return 0.1 + 1e-3", [[0, 0]], [0.1], 1e-4),
    ("humaneval", "f", "return (0.1,)", [[0, 0]], [[0.1]], 1e-4),
    ("humaneval", "f", "return [0.1, 0.2]", [[0, 0]], [[0.1]], 1e-4),
    ("humaneval", "f", "return [0.1, 0.2]", [[0, 0]], [[0.1, 0.2]], 0),
    ("humaneval", "f", "return b if b < 2 else 1 // 0", [[0, 0], [1, 0], [2, 0], [3, 0]], [0, 1, 2, 3], 0),
    ("humaneval", "f", "return b if b != 1 else -1", [[0, 0], [1, 0], [2, 0]], [0, 1, 2], 0),
    ("humaneval", "f", "return b", [[0, 0], [1, 0], [2, 0]], [0, 1, 2], 0),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[1]}:{c[2][:24]}" for c in CASES])
def test_each_oracle_gives_the_verdict_of_evalplus_itself(case):
    dataset, entry, body, inputs, expected, atol = case
    code = f"def {entry}(b, s):\n    {body}\n"
    assert judged(dataset, entry, code, inputs, expected, atol) == \
        evalplus_verdict(dataset, entry, code, inputs, expected, atol)


def test_records_after_the_verdict_and_a_worker_past_its_cap():
    """Once an input failed nothing changes the verdict; a worker past its output cap fails the input it was
    on (and only when nothing is decided yet); the end of a worker that said nothing is a timeout."""
    judge = Judge("humaneval", "f", [[1], [2]], [1, 2], 0)
    judge.feed({"i": 0, "ok": 9})
    assert judge.decided
    for record in ({"i": 1, "ok": 2}, {"end": True}):
        judge.feed(record)
    assert judge.result() == ("fail", [False])
    judge = Judge("humaneval", "f", [[1], [2]], [1, 2], 0)
    judge.feed({"i": 0, "ok": 1})
    assert not judge.decided
    judge.fail()
    judge.fail()  # decided: changes nothing more
    assert judge.result() == ("fail", [True, False])
    judge = Judge("humaneval", "f", [[1], [2]], [1, 2], 0)
    judge.feed({"exec": "SyntaxError"})
    assert judge.result() == ("fail", [])  # the solution did not load: nothing ran
    judge = Judge("humaneval", "f", [[1]], [1], 0)
    assert judge.result() == ("timeout", [])
    judge.feed({"i": 0, "ok": 1})
    judge.feed({"exec": "late"})  # only before the first input does it mean the code did not load
    assert judge.result()[0] == "fail"
    judge = Judge("humaneval", "f", [[1]], [1], 0)
    judge.feed({"i": 0})  # neither a value nor an exception
    assert judge.result() == ("fail", [False])
    with pytest.raises(ValueError):
        Judge("humaneval", "f", [[1], [2]], [1], 0)


def test_time_limits_are_those_of_untrusted_check():
    """evalplus: each input ``max(min_time_limit, factor x reference time)``; the process is joined for
    ``min(60, sum) + 1`` (fast check) and one second more."""
    assert time_limits([0.1, 2.0, 0.25], 1.0, 4.0) == [1.0, 8.0, 1.0]
    assert time_limits([], 1.0, 4.0) == []
    assert join_seconds([1.0, 8.0]) == 11.0
    assert join_seconds([30.0, 40.0]) == 62.0
    assert join_seconds([60.0]) == 62.0


class Own:
    pass


class EqualsAll(list):
    def __eq__(self, other):
        return True

    __hash__ = None


Point = collections.namedtuple("Point", "x y")

# (value, its tag in the format's table, the type the host gets)
TABLE = [
    (None, None, type(None)), (True, None, bool), ("text", None, str), (2**63 - 1, None, int), (-(2**63), None, int),
    (2**63, "i", int), (-(2**63) - 1, "i", int), (10**400, "i", int), (0.1, "f", float), (1 + 2.5j, "c", complex),
    (b"\x00b", "y", bytes), (bytearray(b"ab"), "Y", bytearray), ([1, [2]], "l", list), ((1, "a"), "t", tuple),
    ({1, 2}, "s", set), (frozenset({3}), "S", frozenset), ({"a": 1, 2: [3]}, "d", dict),
    (collections.OrderedDict(b=1, a=2), "od", collections.OrderedDict),
    (collections.defaultdict(list, a=[1]), "dd", collections.defaultdict),
    (collections.Counter("aab"), "C", collections.Counter), (collections.deque([1, 2], 5), "q", collections.deque),
    (collections.deque([1]), "q", collections.deque), (range(2**70, -3, -7), "r", range),
    (decimal.Decimal("0.10"), "D", decimal.Decimal), (fractions.Fraction(2**70, 3), "Q", fractions.Fraction),
    ({"a": 1, "b": 2}.keys(), "k", type({}.keys())), ({"a": 1}.items(), "di", type({}.items())),
    (np.float64(0.1), "ns", np.float64), (np.float32(0.5), "ns", np.float32), (np.float16(1.5), "ns", np.float16),
    (np.int8(-3), "ns", np.int8), (np.uint64(2**64 - 1), "ns", np.uint64), (np.bool_(True), "ns", np.bool_),
    (np.complex64(1j), "ns", np.complex64), (np.array([[1.5, 2.0]]), "na", np.ndarray),
    (np.array([1, 2], dtype=np.int16), "na", np.ndarray), (np.array(["ab", "c"]), "na", np.ndarray),
    (np.array([b"x"]), "na", np.ndarray), (np.array([], dtype=np.uint8), "na", np.ndarray),
    (Point(1, 2.5), "sub", SubTuple), (type("L", (list,), {})([1]), "sub", SubList),
    (type("D", (dict,), {})(a=1), "sub", SubDict), (type("S", (set,), {})({1}), "sub", SubSet),
    (type("I", (int,), {})(2**70), "sub", SubInt), (type("F", (float,), {})(0.5), "sub", SubFloat),
    (type("T", (str,), {})("x"), "sub", SubStr), (type("C", (complex,), {})(1 - 2j), "sub", SubComplex),
    (type("B", (bytes,), {})(b"\x00y"), "sub", SubBytes), (type("Z", (frozenset,), {})({2}), "sub", SubFrozenset),
]


@pytest.mark.parametrize("value,tag,host_type", TABLE, ids=[f"{i}:{t}" for i, (_v, t, _h) in enumerate(TABLE)])
def test_each_type_crosses_with_its_tag_and_comes_back_equal(value, tag, host_type):
    sent = json.loads(json.dumps(encode(value)))
    assert (sent[0] if type(sent) is list else None) == tag, sent
    got = decode(sent)
    assert type(got) is host_type or (isinstance(got, np.ndarray) and host_type is np.ndarray)
    if isinstance(value, np.ndarray):
        assert got.dtype == value.dtype and got.shape == value.shape and (got == value).all()
    elif isinstance(value, collections.deque):
        assert got == value and got.maxlen == value.maxlen
    elif isinstance(value, collections.defaultdict):
        assert got == value and got.default_factory is None  # the factory is code: not sent
    elif isinstance(value, np.generic):
        assert got == value and got.dtype == value.dtype
    elif tag == "sub":  # the host's stand-in: the base type's equality and contents
        assert got == value and list(got.__class__.__mro__[1:]) == [c for c in type(value).__mro__ if c in
                                                                     got.__class__.__mro__[1:]]
    else:
        assert got == value and str(got) == str(value)


def test_floats_cross_exactly():
    for x in (0.1, -0.0, math.inf, -math.inf, 5e-324, 1.7976931348623157e308):
        got = crossed(x)
        assert got == x and math.copysign(1, got) == math.copysign(1, x)
    assert math.isnan(crossed(math.nan))
    z = crossed(complex(-0.0, math.nan))
    assert math.copysign(1, z.real) == -1 and math.isnan(z.imag)
    assert crossed(type("F", (float,), {})(-0.0)).hex() == "-0x0.0p+0"


def test_what_cannot_cross_is_opaque_and_equal_to_nothing():
    """The code's own classes, generators, subclasses that define ``__eq__``, numpy values of other kinds:
    opaque, equal only to themselves (so to no expected output)."""
    values = [Own(), (x for x in []), EqualsAll([1]), np.array([1], dtype=object),
              np.array([1.0], dtype=np.longdouble) if np.dtype(np.longdouble).itemsize > 8 else Own(),
              np.datetime64("2020-01-01"), type("I", (int,), {"__ne__": lambda a, b: False})(1)]
    for value in values:
        sent = encode(value)
        assert sent[0] == "o" and type(sent[1]) is str, (value, sent)
        got = crossed(value)
        assert isinstance(got, Opaque) and got == got and not got == 1 and not [1] == got and got != crossed(value)
    assert encode(Own()) == ["o", f"{__name__}.Own"]
    assert encode(np.array([1], dtype=object)) == ["o", "numpy.ndarray[object]"]
    assert encode(np.str_("a")) == ["o", "numpy.str_[<U1]"] and encode(np.bytes_(b"a"))[0] == "o"  # not in the table
    assert encode(EqualsAll([1])) == ["o", f"{__name__}.EqualsAll (defines __eq__)"]


def test_a_value_past_the_limit_or_too_deep_is_opaque():
    """About ``limit`` bytes: a value much larger becomes opaque ("too large"), a small one crosses; nesting up
    to MAX_DEPTH crosses, one level more is opaque there."""
    assert encode("x" * 1000, 100) == ["o", "too large"]
    assert encode(["x"] * 200, 100) == ["o", "too large"]
    assert encode(10**2000, 100) == ["o", "too large"]
    assert encode(np.zeros(1000), 100) == ["o", "too large"]
    assert encode(b"x" * 1000, 100) == ["o", "too large"]
    assert encode(bytearray(1000), 100) == ["o", "too large"]
    assert crossed("x" * 50, 100) == "x" * 50 and crossed([1, 2], 100) == [1, 2]
    assert crossed("x" * 1000) == "x" * 1000  # no limit
    deep = 0
    for _ in range(MAX_DEPTH):
        deep = [deep]
    assert crossed(deep) == deep
    deeper = crossed([deep])
    inner = deeper
    for _ in range(MAX_DEPTH + 1):
        inner = inner[0]
    assert isinstance(inner, Opaque)
    scalar = np.float64(0.5)  # a numpy scalar as deep as a float may be crosses as the float does
    for _ in range(MAX_DEPTH):
        scalar = [scalar]
    inner = crossed(scalar)
    for _ in range(MAX_DEPTH):
        inner = inner[0]
    assert type(inner) is np.float64 and inner == 0.5
    too_deep = ["ns", "<f8", ["f", "0x1p-1"]]  # deeper than anything the encoder sends: refused
    for _ in range(MAX_DEPTH + 1):
        too_deep = ["l", [too_deep]]
    with pytest.raises(WireError, match="nested too deeply"):
        decode(too_deep)
    nest = 0  # as a value, an int as deep as an opaque item may be; as a dict's key or value, one level deeper
    for _ in range(MAX_DEPTH + 1):
        nest = ["t", [nest]]
    decode(nest)
    for pair in ([nest, 1], [1, nest]):
        with pytest.raises(WireError, match="nested too deeply"):
            decode(["d", [pair]])
    key = 0  # a dict's keys and values are one level below it, as a list's items are
    for _ in range(MAX_DEPTH - 1):
        key = (key,)
    assert crossed({key: key}) == {key: key}
    assert crossed({(key,): 1}) != {(key,): 1} and crossed({1: (key,)}) != {1: (key,)}


def test_what_the_worker_sends_under_a_limit_the_host_takes_under_it():
    """The worker encodes each output with its cap and the host decodes with the same one: a value the encoder
    did not give up on must never be refused as too large by the host (an honest output would fail)."""
    cap = 4096
    sent_some = 0
    for n in range(2, cap // 8 + 2, 5):
        for value in (np.zeros(n), np.array(["abcd"] * (n // 2)), [np.ones(n // 2), np.ones(n // 2)],
                      {"a": np.zeros(n // 2, dtype=np.int64), "b": [np.zeros(n // 2, dtype=np.int64)]}):
            sent = json.loads(json.dumps(encode(value, cap)))
            if sent != ["o", "too large"]:
                decode(sent, limit=cap)
                sent_some += 1
    assert sent_some > 0


def test_decoding_takes_nothing_but_the_format():
    bad = [["i", 5], ["i"], ["f", 1.0], ["c", "0x1p0"], ["y", "!!"], ["l", [1], 2], ["q", [1], 1.5], ["q", [1]],
           ["r", 1, 2], ["D", 5], ["D", "x" * ((1 << 20) + 1)], ["Q", 1], ["ns", "<f8"], ["ns", "<f8", "1"],
           ["ns", "<U4", "a"], ["ns", "<f8" * 4, ["f", "0x1p0"]], ["na", "<f8", [1]], ["na", "<f8", [-1], []],
           ["na", "<f8", 3, [1]], ["na", "<f8", [1] * 33, [1]], ["na", "<U2", [1], [1]], ["na", "|S2", [1], ["a"]],
           ["na", "<i4", [2], [1]], ["sub", "i", 1, 2], ["sub", "c", [1]], ["sub", "str", 5], ["o"], ["o", "a", "b"],
           [5], [], ["d", [[1, 2, 3]]], ["d", [1]], -(2**63) - 1, 2**63, ["k", [[]]]]
    for value in bad:
        with pytest.raises(WireError):
            decode(value)
    assert decode(["o", "x" * 500]).type_name == "x" * 200  # a name is kept short
    assert decode(["q", [1, 2], 0]) == collections.deque([], 0)
    assert decode(["na", "<f8", [2, 0], []]).shape == (2, 0)
    assert decode(["sub", "c", ["0x1p0", "0x0p0"]]) == 1 and decode(["sub", "y", "eA=="]) == b"x"
    assert decode(["sub", "S", [1]]) == frozenset({1}) and decode(["sub", "d", [[1, 2]]]) == {1: 2}


# malformed data, and what the refusal says the data should have been (groundtruth.py puts it in its one-line
# error when a stored expected output is malformed)
REASONS = [
    (["y", 5], "base64 text"), (["sub", "y", 5], "base64 text"),
    (["Q", ["i", hex(1 << MAX_FRACTION_BITS)], 1], f"a fraction of at most {MAX_FRACTION_BITS} bits"),
    (["sub", "x", 1], "a subclassable base"), (["sub", "c", [1]], "a complex"), (["sub", "c", "ab"], "a complex"),
    (["sub", "str", 5], "a str"), (["Q", ["x", "ff"], 1], "an int"), (["r", ["i", 5], 1, 1], "an int"),
    (["ns", "<U4", "a"], "a numpy scalar type"), (["ns", "<f8", "x"], "a numpy scalar's value"),
    (["ns", "<f8", ["na", "<f8", [0], []]], "a numpy scalar's value"), (["na", "<f8", [1]], "a numpy array"),
    (["ns", "<f8", 1, 2], "a numpy array"), (["na", "|O", [1], [1]], "a numpy array type"),
    (["na", "<U1000000", [0], []], "a numpy dtype"), (["na", 5, [0], []], "a numpy dtype"),
    (["na", [], [0], []], "a numpy dtype"), (["na", "<f8", [2], []], "a shape that fits the items"),
    (["na", "<f8", "x", []], "a shape"), (["na", "<U2", [1], [1]], "array items of the array's kind"),
    (["f", 1], "a float"), (["l", "x"], "a list of values"), (["d", [[1]]], "a list of pairs"),
    (["q", [], -1], "a deque's maxlen"), (["na", "<f8", [-1], []], "a shape"),
    (["na", "<f8", [1], [["na", "<f8", [0], []]]], "array items of the array's kind"), (["D", 1], "a decimal"), (["?", 1], "unknown tag '?' with 1 argument(s)"),
    ([1, 2], "a tagged value"), (2**63, "a small int"),
]


@pytest.mark.parametrize("data,reason", REASONS)
def test_a_refusal_says_what_the_data_should_be(data, reason):
    with pytest.raises(WireError) as refused:
        decode(data)
    assert str(refused.value) == reason


def test_a_set_may_hold_max_same_hash_items_of_one_hash_after_others():
    """At most MAX_SAME_HASH items of one hash, wherever they come in the sorted hashes: -1 hashes to -2, and
    multiples of 2**61 - 1 to 0 (an honest set at the bound decodes; one more item of that hash is refused)."""
    colliding = [["i", hex(k * ((1 << 61) - 1))] for k in range(1, MAX_SAME_HASH + 1)]
    assert len(decode(["s", [-1, *colliding, 5]])) == MAX_SAME_HASH + 2
    with pytest.raises(WireError, match="same hash"):
        decode(["s", [-1, *colliding, ["i", hex((MAX_SAME_HASH + 1) * ((1 << 61) - 1))]]])


def test_subclass_values_keep_the_bounds_of_their_base():
    """A set or frozenset subclass's items may share a hash no more than a set's may; a dict subclass's values
    may hold arrays within the limit, as a dict's may, and not past it."""
    colliding = [["i", hex(k * ((1 << 61) - 1))] for k in range(1, 100)]
    for tag in ("s", "S"):
        with pytest.raises(WireError, match="same hash"):
            decode(["sub", tag, colliding])
    one = ["na", "<f8", [1], [["f", "0x1p+0"]]]
    got = decode(["sub", "d", [["a", one]]], limit=8)
    assert type(got) is SubDict and got["a"].tolist() == [1.0]
    with pytest.raises(WireError) as refused:
        decode(["sub", "d", [["a", one], ["b", one]]], limit=8)
    assert str(refused.value) == "arrays larger than the output may be"
    got = decode(["sub", "l", [one]], limit=8)  # a list subclass (a namedtuple too) may hold arrays
    assert type(got) is SubList and got[0].tolist() == [1.0]
    assert crossed(np.zeros((1,) * 32)).shape == (1,) * 32  # numpy's 32 dimensions of old cross too


def test_frames_split_a_stream_and_refuse_one_over_the_limit():
    reader = FrameReader(limit=5)
    stream = frame(b"12345") + frame(b"") + frame(b"abc")
    got = []
    for k in range(0, len(stream), 3):
        got += reader.feed(stream[k:k + 3])
    assert got == [b"12345", b"", b"abc"] and reader.pending == 0
    assert reader.feed(frame(b"")) == [b""] and reader.pending == 0  # a header alone is a whole (empty) frame
    assert reader.feed(frame(b"xy")[:5]) == [] and reader.pending == 5
    with pytest.raises(WireError, match="6 bytes"):
        FrameReader(limit=5).feed(frame(b"123456"))
    assert frame(b"ab") == b"\x00\x00\x00\x02ab"


def test_decoded_arrays_refuse_to_broadcast_far_past_their_operands():
    """As numpy, except that an operation that would make far more elements than its operands hold raises
    MemoryError (an outer product too); shapes that do not broadcast raise ValueError, as in numpy."""
    column = crossed(np.zeros((3000, 1)))
    row = crossed(np.zeros(3000))
    with pytest.raises(MemoryError):
        column + row
    with pytest.raises(MemoryError):
        np.multiply.outer(row, row)
    with pytest.raises(ValueError):
        check_broadcast(np.zeros(3), np.zeros(4))
    small = crossed(np.ones((2, 1)))
    assert (small + crossed(np.ones(3))).shape == (2, 3)  # within the floor: numpy's result
    assert np.multiply.outer(crossed(np.ones(2)), crossed(np.ones(3))).shape == (2, 3)
    out = np.empty(3)
    np.add(crossed(np.ones(3)), 1.0, out=out)
    assert out.tolist() == [2.0, 2.0, 2.0]
    check_broadcast(np.zeros((1 << 10, 1)), np.zeros(1 << 10))  # 2**20 elements: at the floor, allowed
