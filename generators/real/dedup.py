"""Exact and near-duplicate detection for real instruction sets (numpy only).

- Exact: two instructions are the same after lower-casing and collapsing runs of whitespace
  (:func:`normalize`); the index keeps a SHA-1 digest of each normalized text.
- Near: MinHash. Each normalized text is cut into overlapping ``shingle``-byte grams of its UTF-8 bytes (a text
  shorter than that is one gram), each gram is hashed to 64 bits (splitmix64), and each of ``permutations``
  multiply-shift hash functions ``(a * h + b) >> 32`` (fixed odd ``a``, fixed ``b``) takes its minimum over them. Two signatures agree in a position with probability equal to the
  texts' Jaccard similarity. Locality-sensitive hashing over ``bands`` bands of ``permutations / bands`` rows
  proposes candidates; a candidate is a near duplicate when the share of equal positions (the estimated
  Jaccard similarity) reaches ``threshold``. With the defaults (128 permutations, 16 bands, threshold 0.8) a
  pair at Jaccard 0.8 is proposed with probability 1 - (1 - 0.8**8)**16 = 0.94.

Indexes are filled in the order rows are offered, so the first of a group of duplicates is the one kept.
"""

from __future__ import annotations

import hashlib

import numpy as np

from generators.rng import _mix, derive_key

#: Upper bound on the (permutations x grams) matrix hashed at once.
_CHUNK_ELEMENTS = 1 << 23


def normalize(text: str) -> str:
    return " ".join(text.lower().split())


class ExactIndex:
    def __init__(self) -> None:
        self._seen: set[bytes] = set()

    def __contains__(self, normalized: str) -> bool:
        return hashlib.sha1(normalized.encode()).digest() in self._seen

    def add(self, normalized: str) -> None:
        self._seen.add(hashlib.sha1(normalized.encode()).digest())


def shingles(text: str, k: int) -> np.ndarray:
    """The distinct ``k``-byte grams of ``text`` (UTF-8) packed into uint64 (k <= 8)."""
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    if data.size == 0:
        return np.zeros(1, dtype=np.uint64)
    if data.size <= k:
        windows = data[None, :]
    else:
        windows = np.lib.stride_tricks.sliding_window_view(data, k)
    weights = np.uint64(256) ** np.arange(windows.shape[1], dtype=np.uint64)
    packed = (windows.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    return np.unique(packed)


class MinHashIndex:
    """Near-duplicate index over MinHash signatures with LSH banding."""

    def __init__(self, permutations: int = 128, bands: int = 16, threshold: float = 0.8, shingle: int = 5) -> None:
        if permutations % bands:
            raise ValueError("bands must divide permutations")
        self.permutations, self.bands, self.threshold, self.shingle = permutations, bands, threshold, shingle
        self.rows_per_band = permutations // bands
        keys = np.stack([derive_key("minhash", i) for i in range(permutations)])
        self._mul = (keys[:, 0] | np.uint64(1))[:, None]  # odd multipliers
        self._add = keys[:, 1][:, None]
        self._tables: list[dict[bytes, list[int]]] = [{} for _ in range(bands)]
        self._sigs = np.empty((0, permutations), dtype=np.uint64)
        self._count = 0

    def signatures(self, texts: list[str]) -> np.ndarray:
        """MinHash signatures (one row per text) of normalized texts."""
        grams = [shingles(t, self.shingle) for t in texts]
        out = np.empty((len(texts), self.permutations), dtype=np.uint64)
        start = 0
        while start < len(grams):
            stop, total = start, 0
            while stop < len(grams) and (stop == start or (total + grams[stop].size) * self.permutations <= _CHUNK_ELEMENTS):
                total += grams[stop].size
                stop += 1
            flat = _mix(np.concatenate(grams[start:stop]))
            with np.errstate(over="ignore"):
                hashed = self._mul * flat[None, :]
                hashed += self._add
            hashed >>= np.uint64(32)
            offsets = np.cumsum([0] + [g.size for g in grams[start : stop - 1]])
            out[start:stop] = np.minimum.reduceat(hashed, offsets, axis=1).T
            start = stop
        return out

    def _bucket_keys(self, sig: np.ndarray) -> list[bytes]:
        r = self.rows_per_band
        return [sig[b * r : (b + 1) * r].tobytes() for b in range(self.bands)]

    def add(self, sig: np.ndarray) -> bool:
        """Add a signature unless it near-duplicates one already added; True when added."""
        keys = self._bucket_keys(sig)
        candidates: set[int] = set()
        for table, key in zip(self._tables, keys, strict=True):
            candidates.update(table.get(key, ()))
        if candidates:
            idx = np.fromiter(candidates, dtype=np.int64, count=len(candidates))
            similarity = (self._sigs[idx] == sig[None, :]).mean(axis=1)
            if float(similarity.max()) >= self.threshold:
                return False
        if self._count == self._sigs.shape[0]:
            grown = np.empty((max(1024, 2 * self._count), self.permutations), dtype=np.uint64)
            grown[: self._count] = self._sigs[: self._count]
            self._sigs = grown
        self._sigs[self._count] = sig
        for table, key in zip(self._tables, keys, strict=True):
            table.setdefault(key, []).append(self._count)
        self._count += 1
        return True
