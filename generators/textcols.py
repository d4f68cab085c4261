"""Vectorized text columns: build Arrow string arrays from byte matrices without a Python loop per row.

A row's text is a concatenation of *segments*: a constant (``bytes``) or a :class:`Piece`, a slice of each
row of a byte matrix. When every segment has one length for all rows, the rows are laid side by side in one
matrix (plain strided copies); otherwise the bytes are scattered to their offsets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa


@dataclass
class Piece:
    """Row r contributes ``mat[r, start[r] : start[r] + length[r]]`` (start defaults to 0).

    ``length`` is an int (the same for every row) or an int array; so is ``start``.
    """

    mat: np.ndarray
    length: int | np.ndarray
    start: int | np.ndarray = 0

    @property
    def fixed(self) -> bool:
        return np.isscalar(self.length) and np.isscalar(self.start)


Segment = bytes | Piece


def build_strings(n: int, segments: list[Segment]) -> pa.Array:
    """An Arrow ``string`` array of n rows, each the concatenation of the segments."""
    if all(isinstance(s, bytes) or s.fixed for s in segments):
        return _build_fixed(n, segments)
    return _build_scatter(n, segments)


def _build_fixed(n: int, segments: list[Segment]) -> pa.Array:
    widths = [len(s) if isinstance(s, bytes) else int(s.length) for s in segments]
    total = sum(widths)
    out = np.empty((n, total), dtype=np.uint8)
    col = 0
    for seg, w in zip(segments, widths):
        if w == 0:
            continue
        if isinstance(seg, bytes):
            out[:, col : col + w] = np.frombuffer(seg, dtype=np.uint8)
        else:
            s0 = int(seg.start)
            out[:, col : col + w] = seg.mat[:, s0 : s0 + w]
        col += w
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(total) if n * total < 2**31 else None
    if offsets is None:
        return pa.LargeStringArray.from_buffers(
            n, pa.py_buffer(np.arange(n + 1, dtype=np.int64) * total), pa.py_buffer(out.reshape(-1))
        ).cast(pa.string())
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(out.reshape(-1)))


def _build_scatter(n: int, segments: list[Segment]) -> pa.Array:
    lengths = np.zeros(n, dtype=np.int64)
    for seg in segments:
        lengths += len(seg) if isinstance(seg, bytes) else np.asarray(seg.length, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = np.empty(int(offsets[-1]), dtype=np.uint8)
    pos = offsets[:-1].copy()
    for seg in segments:
        if isinstance(seg, bytes):
            if seg:
                data[(pos[:, None] + np.arange(len(seg))).reshape(-1)] = np.tile(np.frombuffer(seg, np.uint8), n)
                pos += len(seg)
            continue
        length = np.broadcast_to(np.asarray(seg.length, dtype=np.int64), (n,))
        start = np.broadcast_to(np.asarray(seg.start, dtype=np.int64), (n,))
        width = int(length.max(initial=0))
        if width == 0:
            continue
        rows, cols = np.nonzero(np.arange(width)[None, :] < length[:, None])
        data[pos[rows] + cols] = seg.mat[rows, start[rows] + cols]
        pos += length
    if offsets[-1] < 2**31:
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data))
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data)).cast(pa.string())
