"""Values across the sandbox's boundary as plain data: a tagged JSON form, and length-prefixed frames.

Standalone on purpose (standard library only; numpy when it is there): the sandboxed worker
(:mod:`eval.code.sandbox_worker`) loads this file by its path to *encode* what code returned, and the host
imports it as :mod:`eval.code.wire` to *decode* it. Nothing is unpickled and no code of the sandbox's choosing
runs on the host: :func:`decode` builds only the types below, checked one by one, so that the host's comparison
(:mod:`eval.code.oracle`) uses Python's and numpy's own equality, never an ``__eq__`` that sandboxed code wrote.

A value is JSON ``null``/``true``/``false``, a JSON integer in [-2**63, 2**63), a JSON string, or a list
``[tag, ...]``:

====================  =======================================================================================
``["i", hex]``         a larger int (hex has no digit limit)
``["f", hex]``         float, exact (``float.hex``: NaN, infinities and -0.0 kept)
``["c", hex, hex]``    complex
``["y", base64]``      bytes (``"Y"``: bytearray)
``["l", [v...]]``      list (``"t"`` tuple, ``"s"`` set, ``"S"`` frozenset, ``"k"`` dict keys view)
``["d", [[k, v]...]]`` dict in order (``"od"`` OrderedDict, ``"dd"`` defaultdict, ``"C"`` Counter,
                       ``"di"`` dict items view)
``["q", [v...], n]``   deque (maxlen ``n`` or null); ``["r", a, b, c]`` range
``["D", text]``        decimal.Decimal; ``["Q", n, d]`` fractions.Fraction
``["ns", dtype, v]``   a numpy scalar (bool, int, uint, float, complex of a standard size)
``["na", dtype, shape, [v...]]``  a numpy array of those kinds or of fixed-width str/bytes
``["sub", base, v]``   an instance of a subclass of a builtin (a namedtuple, a ``class L(list)``) that does not
                       define ``__eq__``/``__ne__``: rebuilt as a host class of that base (same equality, another
                       type)
``["o", name]``        anything else (instances of the code's own classes, generators, ...): equal to nothing
====================  =======================================================================================

What the host builds from a sample's data is bounded by the data's size, not by what it describes
(:func:`decode`): numpy arrays may take at most ``limit`` bytes in all (a ``<U9999999`` array of a few empty
strings would be 40 MB each), a set's or dict's items may share one hash at most :data:`MAX_SAME_HASH` times (a
set of 30,000 ints equal modulo 2**61 - 1 takes minutes to build, in one call that holds the GIL), a fraction's
terms at most :data:`MAX_FRACTION_BITS` bits (their gcd is quadratic), and arrays are :class:`HostArray`, whose
operations refuse to broadcast into far more elements than their operands hold. Anything that does not decode
is a :class:`WireError`, never another exception.

Frames: a 4-byte big-endian length, then that many bytes (:func:`frame`, :class:`FrameReader`).
"""

from __future__ import annotations

import base64
import collections
import decimal
import fractions
import math
import struct

try:  # numpy is optional here: the worker imports it anyway (evalplus does), the host has it with evalplus
    import numpy as _np
except ImportError:  # pragma: no cover - numpy is a dependency of evalplus
    _np = None

MAX_DEPTH = 100  # nesting deeper than this is opaque (encoding) or refused (decoding)
#: The most items of one decoded set or dict (or its keys) that may share one hash: an honest value's distinct
#: items share a hash only by accident (or as ints equal modulo 2**61 - 1), a forged one makes building it quadratic.
MAX_SAME_HASH = 64
#: The most bits of a decoded fraction's numerator or denominator (its gcd is computed on the host).
MAX_FRACTION_BITS = 1 << 16
#: A decoded array's operations may broadcast into at most this many elements, or as many as their largest operand.
BROADCAST_FLOOR = 1 << 20
SMALL_INT = 1 << 63
HEADER = struct.Struct(">I")
NUMPY_KINDS = {"b": (1,), "i": (1, 2, 4, 8), "u": (1, 2, 4, 8), "f": (2, 4, 8), "c": (8, 16)}
ARRAY_TEXT_KINDS = ("U", "S")


class WireError(ValueError):
    """Data that is not a value of this format (malformed, unknown tag, too deep, wrong types)."""


class Opaque:
    """A value that could not cross as plain data: equal only to itself (so to no expected output)."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<opaque {self.type_name}>"


class SubInt(int):
    """Host stand-in for an instance of a subclass of ``int`` (same equality, another type)."""


class SubFloat(float):
    """... of ``float``."""


class SubComplex(complex):
    """... of ``complex``."""


class SubStr(str):
    """... of ``str``."""


class SubBytes(bytes):
    """... of ``bytes``."""


class SubTuple(tuple):
    """... of ``tuple`` (a namedtuple, for one)."""


class SubList(list):
    """... of ``list``."""


class SubDict(dict):
    """... of ``dict``."""


class SubSet(set):
    """... of ``set``."""


class SubFrozenset(frozenset):
    """... of ``frozenset``."""


def check_broadcast(*operands) -> None:
    """MemoryError when numpy would broadcast ``operands`` into more than ``max(BROADCAST_FLOOR``, the largest
    operand's size``)`` elements (an array of shape (N, 1) against a list of M items makes N x M); ValueError
    when their shapes do not broadcast (numpy raises the same)."""
    shapes = [_np.shape(x) for x in operands]
    _check_growth(math.prod(_np.broadcast_shapes(*shapes)), shapes)


def _check_growth(size: int, shapes: list) -> None:
    if size > max(BROADCAST_FLOOR, *(math.prod(s) for s in shapes)):
        raise MemoryError(f"operands of shapes {' and '.join(map(str, shapes))} would make {size} elements")


if _np is not None:

    class HostArray(_np.ndarray):
        """A decoded numpy array: numpy's own operations and results, except that one which would broadcast its
        operands into far more elements than they hold (:func:`check_broadcast`) raises MemoryError, as it would
        under evalplus's memory limit, instead of taking the host's memory."""

        def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
            if method == "__call__":
                check_broadcast(*inputs)
            elif method == "outer":
                shapes = [_np.shape(x) for x in inputs]
                _check_growth(math.prod(math.prod(s) for s in shapes), shapes)

            def plain(x):
                return x.view(_np.ndarray) if isinstance(x, HostArray) else x

            if "out" in kwargs:
                kwargs["out"] = tuple(plain(x) for x in kwargs["out"])
            return getattr(ufunc, method)(*(plain(x) for x in inputs), **kwargs)


# base type, its tag in a "sub" value, the host's stand-in
_SUBCLASSABLE = [(int, "i", SubInt), (float, "f", SubFloat), (complex, "c", SubComplex), (str, "str", SubStr),
                 (bytes, "y", SubBytes), (tuple, "t", SubTuple), (list, "l", SubList), (dict, "d", SubDict),
                 (set, "s", SubSet), (frozenset, "S", SubFrozenset)]
_STAND_INS = {tag: cls for _base, tag, cls in _SUBCLASSABLE}


# -- encoding (inside the sandbox) ------------------------------------------------------------------------------


class _TooLarge(Exception):
    pass


class _Budget:
    """Roughly the bytes the encoded value will take, counted as it is built, so that a value far larger than
    ``limit`` is given up early (as opaque) instead of being serialized at length."""

    def __init__(self, limit: int | None) -> None:
        self.left = limit

    def take(self, n: int) -> None:
        if self.left is not None:
            self.left -= n
            if self.left < 0:
                raise _TooLarge


def encode(value, limit: int | None = None):
    """The JSON-ready form of ``value``; never raises: what cannot be encoded, or would take more than about
    ``limit`` bytes, becomes opaque."""
    try:
        return _encode(value, 0, _Budget(limit))
    except _TooLarge:
        return ["o", "too large"]
    except (RecursionError, MemoryError, ValueError, TypeError, OverflowError):
        return ["o", "unencodable"]


def _int(v: int):
    return v if -SMALL_INT <= v < SMALL_INT else ["i", hex(v)]


def _items(values, depth: int, budget: _Budget) -> list:
    return [_encode(v, depth + 1, budget) for v in values]


def _pairs(items, depth: int, budget: _Budget) -> list:
    return [[_encode(k, depth + 1, budget), _encode(v, depth + 1, budget)] for k, v in items]


def _encode(v, depth: int, budget: _Budget):  # noqa: C901 - one branch per type, in the table's order
    if depth > MAX_DEPTH:
        return ["o", "too deep"]
    t = type(v)
    budget.take(8 + (len(v) if isinstance(v, (str, bytes, bytearray)) else
                     v.bit_length() // 4 if isinstance(v, int) else 0))
    if v is None or t is bool or t is str:
        return v
    if t is int:
        return _int(v)
    if t is float:
        return ["f", v.hex()]
    if t is complex:
        return ["c", v.real.hex(), v.imag.hex()]
    if t is bytes:
        return ["y", base64.b64encode(v).decode("ascii")]
    if t is bytearray:
        return ["Y", base64.b64encode(bytes(v)).decode("ascii")]
    if t in (list, tuple, set, frozenset):
        return [{list: "l", tuple: "t", set: "s", frozenset: "S"}[t], _items(v, depth, budget)]
    if t in (dict, collections.OrderedDict, collections.defaultdict, collections.Counter):
        tag = {dict: "d", collections.OrderedDict: "od", collections.defaultdict: "dd", collections.Counter: "C"}[t]
        return [tag, _pairs(dict.items(v), depth, budget)]
    if t is collections.deque:
        return ["q", _items(v, depth, budget), v.maxlen]
    if t is range:
        return ["r", _int(v.start), _int(v.stop), _int(v.step)]
    if t is decimal.Decimal:
        return ["D", str(v)]
    if t is fractions.Fraction:
        return ["Q", _int(v.numerator), _int(v.denominator)]
    if t is type({}.keys()):
        return ["k", _items(v, depth, budget)]
    if t is type({}.items()):
        return ["di", _pairs(v, depth, budget)]
    if _np is not None and isinstance(v, (_np.generic, _np.ndarray)):
        return _encode_numpy(v, depth, budget)
    for base, tag, _cls in _SUBCLASSABLE:
        if isinstance(v, base):
            return _encode_subclass(v, base, tag, depth, budget)
    return ["o", f"{t.__module__}.{t.__qualname__}"]


def _numpy_dtype_ok(dtype, arrays: bool) -> bool:
    if dtype.kind in NUMPY_KINDS:
        return dtype.itemsize in NUMPY_KINDS[dtype.kind]
    return arrays and dtype.kind in ARRAY_TEXT_KINDS


def _encode_numpy(v, depth: int, budget: _Budget):
    t = type(v)
    if t is _np.ndarray and _numpy_dtype_ok(v.dtype, arrays=True):
        budget.take(v.nbytes)
        return ["na", v.dtype.str, list(v.shape), _items(v.ravel().tolist(), depth, budget)]
    if t is not _np.ndarray and t is v.dtype.type and _numpy_dtype_ok(v.dtype, arrays=False):
        return ["ns", v.dtype.str, _encode(v.item(), depth, budget)]  # one value: no deeper than the scalar
    return ["o", f"numpy.{t.__qualname__}[{v.dtype}]"]


def _encode_subclass(v, base: type, tag: str, depth: int, budget: _Budget):
    """Its contents through the base type's own methods, when no class between it and the base compares."""
    mro = type(v).__mro__
    if any("__eq__" in k.__dict__ or "__ne__" in k.__dict__ for k in mro[: mro.index(base)]):
        return ["o", f"{type(v).__module__}.{type(v).__qualname__} (defines __eq__)"]
    if base is int:
        return ["sub", tag, _int(int.__index__(v))]
    if base is float:
        return ["sub", tag, float.hex(v)]
    if base is complex:
        return ["sub", tag, [complex.real.__get__(v).hex(), complex.imag.__get__(v).hex()]]
    if base is str:
        return ["sub", tag, str.__str__(v)]
    if base is bytes:
        return ["sub", tag, base64.b64encode(bytes(memoryview(v))).decode("ascii")]
    if base is dict:
        return ["sub", tag, _pairs(dict.items(v), depth, budget)]
    return ["sub", tag, _items(base.__iter__(v), depth, budget)]


# -- decoding (on the host) -------------------------------------------------------------------------------------


class _Limit:
    """The bytes that the arrays of one decoded value may still take (None: no limit)."""

    def __init__(self, limit: int | None) -> None:
        self.left = limit

    def take(self, n: int) -> None:
        if self.left is not None:
            self.left -= n
            _need(self.left >= 0, "arrays larger than the output may be")


def decode(data, depth: int = 0, *, limit: int | None = None):
    """The value ``data`` (from :func:`encode`, after a JSON round trip) stands for; :class:`WireError` if it is
    not exactly of this format, and never another exception. ``limit``: the most bytes its numpy arrays may take
    in all (the encoder gives up on a value larger than its own limit, so the same limit here refuses only what
    it never sends)."""
    try:
        return _decode(data, depth, _Limit(limit))
    except WireError:
        raise
    except Exception as exc:  # noqa: BLE001 - Fraction(1, 0), unhashable keys, ...: whatever fails, the data is bad
        raise WireError(f"malformed value: {type(exc).__name__}") from None


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise WireError(what)


def _dec_int(x) -> int:
    if type(x) is int:
        return x
    _need(type(x) is list and len(x) == 2 and x[0] == "i" and type(x[1]) is str, "an int")
    return int(x[1], 16)


def _dec_float(x) -> float:
    _need(type(x) is str and len(x) < 64, "a float")
    return float.fromhex(x)


def _dec_list(x, depth: int, limit: _Limit) -> list:
    _need(type(x) is list, "a list of values")
    return [_decode(v, depth + 1, limit) for v in x]


def _dec_pairs(x, depth: int, limit: _Limit) -> list:
    _need(type(x) is list and all(type(p) is list and len(p) == 2 for p in x), "a list of pairs")
    pairs = [(_decode(k, depth + 1, limit), _decode(v, depth + 1, limit)) for k, v in x]
    _distinct_hashes([k for k, _v in pairs])
    return pairs


def _dec_keys(x, depth: int, limit: _Limit) -> list:
    items = _dec_list(x, depth, limit)
    _distinct_hashes(items)
    return items


def _distinct_hashes(keys: list) -> None:
    """Refuse keys of which more than MAX_SAME_HASH share one hash, before a set or dict is built of them (sorted,
    not hashed again: the hashes themselves may collide)."""
    hashes = sorted(hash(k) for k in keys)
    run = 1
    for a, b in zip(hashes, hashes[1:]):
        run = run + 1 if a == b else 1
        _need(run <= MAX_SAME_HASH, f"more than {MAX_SAME_HASH} keys of one set or dict with the same hash")


def _dec_b64(x) -> bytes:
    _need(type(x) is str, "base64 text")
    return base64.b64decode(x.encode("ascii"), validate=True)


def _dec_fraction(args: list) -> fractions.Fraction:
    n, d = _dec_int(args[0]), _dec_int(args[1])
    _need(max(n.bit_length(), d.bit_length()) <= MAX_FRACTION_BITS, f"a fraction of at most {MAX_FRACTION_BITS} bits")
    return fractions.Fraction(n, d)


def _decode(x, depth: int, limit: _Limit):  # noqa: C901 - one branch per tag
    _need(depth <= MAX_DEPTH + 1, "nested too deeply")  # the encoder's deepest: an opaque "too deep" item
    t = type(x)
    if x is None or t is bool or t is str:
        return x
    if t is int:
        _need(-SMALL_INT <= x < SMALL_INT, "a small int")
        return x
    _need(t is list and len(x) >= 1 and type(x[0]) is str, "a tagged value")
    tag, args = x[0], x[1:]
    n = len(args)
    if tag == "i" and n == 1:
        return _dec_int(x)
    if tag == "f" and n == 1:
        return _dec_float(args[0])
    if tag == "c" and n == 2:
        return complex(_dec_float(args[0]), _dec_float(args[1]))
    if tag == "y" and n == 1:
        return _dec_b64(args[0])
    if tag == "Y" and n == 1:
        return bytearray(_dec_b64(args[0]))
    if tag in ("l", "t") and n == 1:
        return {"l": list, "t": tuple}[tag](_dec_list(args[0], depth, limit))
    if tag in ("s", "S", "k") and n == 1:
        items = _dec_keys(args[0], depth, limit)
        if tag == "k":
            return dict.fromkeys(items).keys()
        return {"s": set, "S": frozenset}[tag](items)
    if tag in ("d", "od", "dd", "C", "di") and n == 1:
        pairs = _dec_pairs(args[0], depth, limit)
        if tag == "dd":
            return collections.defaultdict(None, pairs)
        if tag == "di":
            return dict(pairs).items()
        if tag == "C":
            return collections.Counter(dict(pairs))
        return {"d": dict, "od": collections.OrderedDict}[tag](pairs)
    if tag == "q" and n == 2:
        _need(args[1] is None or (type(args[1]) is int and args[1] >= 0), "a deque's maxlen")
        return collections.deque(_dec_list(args[0], depth, limit), args[1])
    if tag == "r" and n == 3:
        return range(_dec_int(args[0]), _dec_int(args[1]), _dec_int(args[2]))
    if tag == "D" and n == 1:
        _need(type(args[0]) is str and len(args[0]) <= 1 << 20, "a decimal")
        return decimal.Decimal(args[0])
    if tag == "Q" and n == 2:
        return _dec_fraction(args)
    if tag in ("ns", "na"):
        return _decode_numpy(tag, args, depth, limit)
    if tag == "sub" and n == 2:
        return _decode_subclass(args[0], args[1], depth, limit)
    if tag == "o" and n == 1 and type(args[0]) is str:
        return Opaque(args[0][:200])
    raise WireError(f"unknown tag {tag[:20]!r} with {n} argument(s)")


def _numpy_dtype(text):
    _need(_np is not None and type(text) is str and len(text) <= 8, "a numpy dtype")
    return _np.dtype(text)


def _decode_numpy(tag: str, args: list, depth: int, limit: _Limit):
    if tag == "ns" and len(args) == 2:
        dtype = _numpy_dtype(args[0])
        _need(_numpy_dtype_ok(dtype, arrays=False), "a numpy scalar type")
        value = _decode(args[1], depth + 1, limit)
        _need(type(value) in (bool, int, float, complex), "a numpy scalar's value")
        return dtype.type(value)
    _need(tag == "na" and len(args) == 3, "a numpy array")
    dtype = _numpy_dtype(args[0])
    _need(_numpy_dtype_ok(dtype, arrays=True), "a numpy array type")
    shape = args[1]
    _need(type(shape) is list and len(shape) <= 32 and all(type(s) is int and s >= 0 for s in shape), "a shape")
    size = math.prod(shape)
    limit.take(size * dtype.itemsize)  # before anything is built: a "<U9999999" item is 40 MB
    flat = _dec_list(args[2], depth, limit)
    _need(size == len(flat), "a shape that fits the items")
    kinds = (str,) if dtype.kind == "U" else (bytes,) if dtype.kind == "S" else (bool, int, float, complex)
    _need(all(type(v) in kinds for v in flat), "array items of the array's kind")
    return _np.array(flat, dtype=dtype).reshape(shape).view(HostArray)


def _decode_subclass(tag, payload, depth: int, limit: _Limit):
    _need(tag in _STAND_INS, "a subclassable base")
    cls = _STAND_INS[tag]
    if tag == "i":
        return cls(_dec_int(payload))
    if tag == "f":
        return cls(_dec_float(payload))
    if tag == "c":
        _need(type(payload) is list and len(payload) == 2, "a complex")
        return cls(_dec_float(payload[0]), _dec_float(payload[1]))
    if tag == "str":
        _need(type(payload) is str, "a str")
        return cls(payload)
    if tag == "y":
        return cls(_dec_b64(payload))
    if tag == "d":
        return cls(_dec_pairs(payload, depth, limit))
    if tag in ("s", "S"):
        return cls(_dec_keys(payload, depth, limit))
    return cls(_dec_list(payload, depth, limit))


# -- frames -----------------------------------------------------------------------------------------------------


def frame(payload: bytes) -> bytes:
    """``payload`` with its length in front."""
    return HEADER.pack(len(payload)) + payload


class FrameReader:
    """Splits a byte stream into frames; a frame longer than ``limit`` is an error (:class:`WireError`)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out = []
        while len(self._buf) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._buf)
            if size > self.limit:
                raise WireError(f"a frame of {size} bytes (at most {self.limit})")
            if len(self._buf) < HEADER.size + size:
                break
            out.append(bytes(self._buf[HEADER.size : HEADER.size + size]))
            del self._buf[: HEADER.size + size]
        return out

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame."""
        return len(self._buf)
