"""A disk-backed matrix of float32 embeddings, written and read in chunks, so memory stays bounded.

A pool of a million instructions has a 1.5 GB embedding matrix (384 dimensions). It is appended chunk by chunk
to a file in a private scratch folder and read back with plain reads of contiguous row ranges (no memory map,
whose touched pages would count against the process's resident memory): a pass over all rows holds one chunk,
and picking a sorted set of rows holds those rows and one chunk.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

#: Rows read per chunk (about 100 MB at 384 dimensions).
READ_CHUNK = 65_536


class VectorFile:
    """Rows of ``dim`` float32 values in ``path``; :meth:`append` writes, :meth:`chunks` / :meth:`take` read."""

    def __init__(self, path: str | Path, dim: int):
        self.path, self.dim, self.rows = Path(path), int(dim), 0
        self.path.write_bytes(b"")

    @classmethod
    def existing(cls, path: str | Path, dim: int) -> VectorFile:
        """A file written before (its rows counted from its size)."""
        out = cls.__new__(cls)
        out.path, out.dim = Path(path), int(dim)
        out.rows = out.path.stat().st_size // (4 * out.dim)
        return out

    @classmethod
    def of(cls, path: str | Path, array: np.ndarray) -> VectorFile:
        """A file holding ``array``'s rows."""
        out = cls(path, array.shape[1])
        out.append(array)
        return out

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows, self.dim

    def append(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype="<f4")
        if rows.ndim != 2 or rows.shape[1] != self.dim:
            raise ValueError(f"rows of {self.dim} values expected, got shape {rows.shape}")
        with self.path.open("ab") as f:
            f.write(rows.tobytes())
        self.rows += rows.shape[0]

    def _read(self, f, start: int, stop: int) -> np.ndarray:
        f.seek(start * self.dim * 4)
        return np.fromfile(f, dtype="<f4", count=(stop - start) * self.dim).reshape(stop - start, self.dim)

    def chunks(self, size: int = READ_CHUNK) -> Iterator[tuple[int, np.ndarray]]:
        """``(first row, rows)`` for consecutive chunks of ``size`` rows."""
        with self.path.open("rb") as f:
            for start in range(0, self.rows, size):
                yield start, self._read(f, start, min(self.rows, start + size))

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The given rows (any order, repeats allowed), reading only the chunks that hold them."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((rows.size, self.dim), dtype=np.float32)
        if rows.size == 0:
            return out
        if rows.min() < 0 or rows.max() >= self.rows:
            raise IndexError(f"row out of range 0..{self.rows - 1}")
        order = np.argsort(rows, kind="stable")
        wanted = rows[order]
        with self.path.open("rb") as f:
            i = 0
            while i < wanted.size:
                start = int(wanted[i])
                stop = min(self.rows, start + READ_CHUNK)
                j = int(np.searchsorted(wanted, stop, side="left"))
                block = self._read(f, start, int(wanted[j - 1]) + 1)
                out[order[i:j]] = block[wanted[i:j] - start]
                i = j
        return out
