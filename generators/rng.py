"""Counter-based randomness: every random value is addressed by (seed, purpose, split, block), never by order.

Rows are generated in fixed blocks of :data:`BLOCK` rows. Block ``b`` of a split draws everything it needs
from a Philox generator keyed by ``(seed, purpose, split, b)``, so a row is a pure function of (config, seed,
row index): shards can be made in any order, by any number of processes, with the same bytes.
"""

from __future__ import annotations

import hashlib

import numpy as np

#: Rows per generation block. Part of the output format: changing it changes every dataset.
BLOCK = 8192


def derive_key(*parts: object) -> np.ndarray:
    """A 128-bit Philox key (two uint64) derived from any printable parts by SHA-256."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return np.frombuffer(digest[:16], dtype="<u8").astype(np.uint64)


def generator(*parts: object) -> np.random.Generator:
    """A fresh Philox generator keyed by ``parts`` (e.g. ``seed, "inputs", "train", block``)."""
    return np.random.Generator(np.random.Philox(key=derive_key(*parts)))


def uniform01(rng: np.random.Generator, shape: int | tuple[int, ...]) -> np.ndarray:
    """Uniform floats in [0, 1) from the top 53 bits of raw 64-bit words.

    Only the bit generator's raw words are used (never numpy's sampling algorithms, which numpy does not
    promise to keep), so the output depends on Philox alone.
    """
    n = int(np.prod(shape))
    raw = rng.bit_generator.random_raw(n) if n else np.zeros(0, np.uint64)
    return ((raw >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))).reshape(shape)


def integers(rng: np.random.Generator, low: int | np.ndarray, high: int | np.ndarray, shape: int | tuple[int, ...]) -> np.ndarray:
    """Integers in ``[low, high]`` (inclusive; arrays broadcast) as int64, from :func:`uniform01`.

    ``floor(u * span)`` with 53-bit u: the bias is below span / 2**53, far under any measurable effect.
    """
    low = np.asarray(low, dtype=np.int64)
    span = np.asarray(high, dtype=np.int64) - low + 1
    return low + np.floor(uniform01(rng, shape) * span).astype(np.int64)


def uniform_symbols(rng: np.random.Generator, n_symbols: int, shape: tuple[int, ...], lut: np.ndarray | None = None) -> np.ndarray:
    """Exactly uniform integers in ``[0, n_symbols)`` as uint8 (or ``lut[value]`` when a table is given).

    Random bytes at or above the largest multiple of ``n_symbols`` are rejected, which keeps the distribution
    exactly uniform; the mapping and the rejection are one ``bytes.translate`` pass.
    """
    if not 1 <= n_symbols <= 256:
        raise ValueError("n_symbols must be within 1..256")
    need = int(np.prod(shape))
    symbols = np.arange(n_symbols, dtype=np.uint8) if lut is None else np.asarray(lut, dtype=np.uint8)
    if n_symbols == 1 or need == 0:
        return np.full(shape, symbols[0], dtype=np.uint8)
    limit = (256 // n_symbols) * n_symbols
    table = bytes(symbols[np.arange(256) % n_symbols].tobytes())
    reject = bytes(range(limit, 256))
    chunks: list[bytes] = []
    have = 0
    while have < need:
        want = need - have
        words = (int(want * 256 / limit * 1.01) + 64) // 8 + 1
        raw = rng.bit_generator.random_raw(words).astype("<u8", copy=False).tobytes()
        got = raw.translate(table, reject) if reject else raw.translate(table)
        chunks.append(got)
        have += len(got)
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return np.frombuffer(data, dtype=np.uint8, count=need).reshape(shape).copy()


def feistel_permute(key: np.ndarray, n: int, idx: np.ndarray) -> np.ndarray:
    """A keyed bijection of ``[0, n)`` evaluated at ``idx`` (vectorized; cycle-walking Feistel network).

    Used to pick an exact number of rows (e.g. the no-op rows) as a pure function of the row index.
    """
    idx = np.asarray(idx, dtype=np.uint64)
    if n <= 1:
        return np.zeros_like(idx)
    bits = max(2, int(n - 1).bit_length())
    half = (bits + 1) // 2
    mask = np.uint64((1 << half) - 1)
    rounds = [np.uint64(int(k) & 0xFFFFFFFFFFFFFFFF) for k in _round_keys(key, 6)]
    out = idx.copy()
    todo = np.ones(out.shape, dtype=bool)
    while True:
        v = out[todo]
        left, right = v >> np.uint64(half), v & mask
        for rk in rounds:
            left, right = right, left ^ (_mix(right ^ rk) & mask)
        v = (left << np.uint64(half)) | right
        out[todo] = v
        todo = out >= np.uint64(n)
        if not todo.any():
            return out


def _round_keys(key: np.ndarray, count: int) -> list[int]:
    base = hashlib.sha256(np.asarray(key, dtype="<u8").tobytes()).digest()
    return [int.from_bytes(hashlib.sha256(base + bytes([r])).digest()[:8], "little") for r in range(count)]


def _mix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer: a fast, well-mixed 64-bit hash (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = x.astype(np.uint64, copy=True)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x
