"""The content fingerprint against a reference written from its definition (module doc of
:mod:`generators.fingerprint`), in plain Python: no pyarrow buffer, no numpy.

A block's digest is SHA-256 over its columns in order: ``name NUL kind NUL``; for a column with nulls, ``nulls``
then one byte per row (1: null), the nulls then counting as ``""`` / 0; then the values: strings as the int64
little-endian byte lengths of their UTF-8 encodings followed by the encodings, integers (of any width) as int64
little-endian, booleans as one byte, floats as float64 little-endian. A split's fingerprint hashes its 8,192-row
block digests in order (whatever the files, row groups and chunks), a dataset's the ``name:rows:digest`` lines.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from generators.fingerprint import block_digest, combine, dataset_fingerprint, split_fingerprint_of_files
from generators.rng import BLOCK

FILL = {"string": "", "int": 0, "bool": False, "float": 0.0}


def reference_digest(columns: list[tuple[str, str, list]]) -> bytes:
    """``columns``: (name, kind, values) with kind string / int / bool / float and None for a null."""
    h = hashlib.sha256()
    for name, kind, values in columns:
        h.update(name.encode() + b"\x00" + kind.encode() + b"\x00")
        if any(v is None for v in values):
            h.update(b"nulls" + bytes(int(v is None) for v in values))
            values = [FILL[kind] if v is None else v for v in values]
        if kind == "string":
            encoded = [v.encode("utf-8") for v in values]
            h.update(b"".join(struct.pack("<q", len(e)) for e in encoded) + b"".join(encoded))
        elif kind == "int":
            h.update(b"".join(struct.pack("<q", v) for v in values))
        elif kind == "bool":
            h.update(bytes(int(v) for v in values))
        else:
            h.update(b"".join(struct.pack("<d", v) for v in values))
    return h.digest()


ROWS = {  # (arrow type, kind, values): every kind, nulls in each, multi-byte UTF-8, empty strings, extremes
    "instruction_id": (pa.int64(), "int", [0, -1, 2**63 - 1, -(2**63), 7, 41]),
    "prompt": (pa.string(), "string", ["ab -> c\nabab\n", "", "é→ü", "x" * 40, "", "last"]),
    "is_noop": (pa.bool_(), "bool", [True, False, False, True, True, False]),
    "pattern_len": (pa.int32(), "int", [2, 3, -4, 0, 2**31 - 1, 1]),
    "score": (pa.float64(), "float", [0.5, -0.0, 1e300, 3.25, float("inf"), 1 / 3]),
    "maybe_text": (pa.string(), "string", [None, "a", None, "bc", "", None]),
    "maybe_id": (pa.int64(), "int", [1, None, 3, None, 5, 6]),
    "maybe_flag": (pa.bool_(), "bool", [None, True, False, None, True, None]),
    "maybe_float": (pa.float32(), "float", [0.5, None, 2.0, None, -1.5, 8.0]),
}


def table(rows: dict = ROWS, large: bool = False) -> pa.Table:
    return pa.table({name: pa.array(values, pa.large_string() if large and tp == pa.string() else tp)
                     for name, (tp, _, values) in rows.items()})


def reference(rows: dict = ROWS, start: int = 0, stop: int | None = None) -> bytes:
    return reference_digest([(name, kind, values[start:stop]) for name, (_, kind, values) in rows.items()])


def test_a_block_digest_is_the_canonical_serialization():
    assert block_digest(table()) == reference()


def test_any_chunking_string_width_or_slice_gives_the_same_digest():
    whole = table()
    chunked = pa.concat_tables([whole.slice(0, 1), whole.slice(1, 3), whole.slice(4)])
    assert chunked.column("prompt").num_chunks == 3
    assert block_digest(chunked) == block_digest(table(large=True)) == reference()
    assert block_digest(whole.to_batches()[0]) == reference()
    # rows 2..4 of the table (arrays with an offset into longer buffers) are the rows 2..4 alone
    for large in (False, True):
        batch = table(large=large).to_batches()[0]
        for start, stop in ((2, 5), (1, 2), (0, 1), (5, 6), (3, 3)):
            expected = reference(start=start, stop=stop)
            assert block_digest(batch.slice(start, stop - start)) == expected, (large, start, stop)
            assert block_digest(whole.slice(start, stop - start)) == expected


def test_each_column_and_its_name_count():
    base = block_digest(table())
    renamed = table().rename_columns(["id", *table().column_names[1:]])
    assert block_digest(renamed) != base
    flipped = table().set_column(2, "is_noop", pa.array([False, False, False, True, True, False]))
    assert block_digest(flipped) != base
    swapped = table().select([1, 0, *range(2, len(ROWS))])
    assert block_digest(swapped) != base  # column order is part of the serialization


def test_a_type_without_a_canonical_serialization_is_refused():
    with pytest.raises(TypeError, match="list<item: int64>"):
        block_digest(pa.table({"ids": pa.array([[1, 2]])}))


def test_the_dataset_fingerprint_hashes_the_split_lines_in_order():
    splits = {"train": {"rows": 10, "fingerprint": "ab" * 32}, "test_unseen": {"rows": 2, "fingerprint": "cd" * 32}}
    lines = f"train:10:{'ab' * 32}\ntest_unseen:2:{'cd' * 32}\n"
    assert dataset_fingerprint(splits) == hashlib.sha256(lines.encode()).hexdigest()
    assert combine([b"1", b"23"]) == hashlib.sha256(b"123").hexdigest()


N = 2 * BLOCK + 1234  # two full blocks and a part


@pytest.fixture(scope="module")
def long_split() -> tuple[pa.Table, str]:
    """N rows of three columns and their split fingerprint computed from the definition."""
    ids = list(range(N))
    texts = [f"row {i} " + "ab" * (i % 7) for i in range(N)]
    flags = [i % 3 == 0 for i in range(N)]
    rows = {"instruction_id": (pa.int64(), "int", ids), "input": (pa.string(), "string", texts),
            "is_noop": (pa.bool_(), "bool", flags)}
    digests = [reference(rows, b, min(b + BLOCK, N)) for b in range(0, N, BLOCK)]
    return table(rows), hashlib.sha256(b"".join(digests)).hexdigest()


LAYOUTS = {  # name: (rows per file, rows per row group)
    "one row group": ([N], N),
    "row groups of 5,000": ([N], 5000),
    "row groups of one block": ([N], BLOCK),
    "row groups of a block less one": ([N], BLOCK - 1),
    "three files": ([BLOCK - 1, BLOCK + 2, N - 2 * BLOCK - 1], 3000),
    "a file per block and an empty file": ([BLOCK, BLOCK, 0, N - 2 * BLOCK], BLOCK),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_split_fingerprint_does_not_depend_on_files_or_row_groups(long_split, tmp_path, layout):
    whole, expected = long_split
    sizes, group = LAYOUTS[layout]
    files, start = [], 0
    for i, size in enumerate(sizes):
        path = tmp_path / f"train-{i:05d}.parquet"
        pq.write_table(whole.slice(start, size), path, row_group_size=group)
        files.append(path)
        start += size
    assert start == N
    assert split_fingerprint_of_files(files) == (N, expected)


def test_no_rows_and_unreadable_files(tmp_path):
    assert split_fingerprint_of_files([]) == (0, hashlib.sha256(b"").hexdigest())
    bad = tmp_path / "data" / "train-00000-of-00001.parquet"
    bad.parent.mkdir()
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(ValueError, match=r"^data/train-00000-of-00001.parquet is not a readable parquet file"):
        split_fingerprint_of_files([Path(bad)])
