"""Content fingerprints: SHA-256 over a canonical serialization of the rows, not over parquet bytes.

Parquet files record the writer's version, so two environments can write different bytes for the same rows.
The fingerprint hashes the rows instead: each split is cut into blocks of :data:`~generators.rng.BLOCK` rows
(the generator's own blocks, so shard sizes and process counts do not matter), each block is serialized column
by column (name, type, then int64 little-endian lengths and UTF-8 bytes for strings, int64 values for integers,
one byte per boolean, float64 values for floats; a column with nulls first adds ``nulls`` and one byte per row,
1 for a null, which then counts as an empty string, 0 or false), and the block digests are hashed in order. A
dataset's fingerprint hashes its splits' ``name:rows:digest`` lines in split order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from generators.rng import BLOCK


def _kind(tp: pa.DataType) -> str:
    if pa.types.is_string(tp) or pa.types.is_large_string(tp):
        return "string"
    if pa.types.is_boolean(tp):
        return "bool"
    if pa.types.is_integer(tp):
        return "int"
    if pa.types.is_floating(tp):
        return "float"
    raise TypeError(f"no canonical serialization for Arrow type {tp}")


def block_digest(batch: pa.RecordBatch | pa.Table) -> bytes:
    """Digest of one block of rows (any chunking, any string width)."""
    h = hashlib.sha256()
    for name, col in zip(batch.schema.names, batch.columns):
        arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        kind = _kind(arr.type)
        h.update(f"{name}\x00{kind}\x00".encode())
        if arr.null_count:
            h.update(b"nulls")
            h.update(np.asarray(arr.is_null()).tobytes())  # numpy bool: one byte, 0 or 1, per row
            arr = arr.fill_null({"string": "", "bool": False}.get(kind, 0))
        if kind == "string":
            arr = arr.cast(pa.large_string())
            offsets = np.frombuffer(arr.buffers()[1], dtype="<i8")[arr.offset : arr.offset + len(arr) + 1]
            h.update(np.diff(offsets).astype("<i8").tobytes())
            data = arr.buffers()[2]  # pyarrow allocates it even for zero rows (then the slice is empty)
            h.update(memoryview(data)[int(offsets[0]) : int(offsets[-1])])
        elif kind == "bool":
            h.update(np.asarray(arr).tobytes())  # numpy bool: one byte, 0 or 1, per row
        elif kind == "int":
            h.update(np.asarray(arr).astype("<i8").tobytes())
        else:
            h.update(np.asarray(arr).astype("<f8").tobytes())
    return h.digest()


def combine(block_digests: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for d in block_digests:
        h.update(d)
    return h.hexdigest()


def dataset_fingerprint(splits: dict[str, dict]) -> str:
    """From ``{split: {"rows": n, "fingerprint": hex}}`` in split order."""
    lines = "".join(f"{name}:{s['rows']}:{s['fingerprint']}\n" for name, s in splits.items())
    return hashlib.sha256(lines.encode()).hexdigest()


def _row_groups(path: Path) -> Iterable[pa.Table]:
    """A parquet file's row groups, one at a time; a damaged file is a ValueError naming it."""
    try:
        pf = pq.ParquetFile(path)
        for rg in range(pf.num_row_groups):
            yield pf.read_row_group(rg)
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{path.parent.name}/{path.name} is not a readable parquet file ({exc})") from exc


def split_fingerprint_of_files(files: list[Path]) -> tuple[int, str]:
    """Recompute a split's (rows, fingerprint) from its parquet shards, in order."""
    digests: list[bytes] = []
    pending: list[pa.Table] = []
    pending_rows = 0
    rows = 0
    for f in files:
        for t in _row_groups(Path(f)):
            pending.append(t)
            pending_rows += t.num_rows
            rows += t.num_rows
            while pending_rows >= BLOCK:
                table = pa.concat_tables(pending)
                digests.append(block_digest(table.slice(0, BLOCK)))
                rest = table.slice(BLOCK)
                pending, pending_rows = [rest], rest.num_rows  # rest may be empty: it adds no rows
    if pending_rows:
        digests.append(block_digest(pa.concat_tables(pending)))
    return rows, combine(digests)
