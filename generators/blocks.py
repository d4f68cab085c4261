"""What every task's block builder shares: the common columns, the block's start (row indices, random stream,
instructions, no-op rows, input lengths), vectorized string helpers over byte matrices, and the assembly of a
block into a record batch, where the cipher and the prompt template are applied.

Rows are made in blocks of :data:`generators.rng.BLOCK` rows, each from its own random stream (keyed by seed,
split and block), and written in parquet row groups of :data:`BLOCKS_PER_ROW_GROUP` blocks. A task makes its
rows in plain text and hands them to :func:`matrix_block` (byte matrices) or :func:`string_block` (Python
strings): those encipher every rule, input and output character (never the template's text nor the rule arrow of
a prompt) and render the prompt, so the cipher wraps every task without the task knowing (:mod:`generators.cipher`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from core.errors import ConfigError
from generators.rng import BLOCK, feistel_permute, generator, integers, uniform_symbols
from generators.textcols import Piece, Segment, build_strings

BLOCKS_PER_ROW_GROUP = 8

MAX_NOOP_REDRAWS = 16


#: Columns every synthetic task has, in order; each task appends its own flags.
COMMON_FIELDS = [
    ("instruction_id", pa.int64()),
    ("instruction", pa.string()),
    ("input", pa.string()),
    ("output", pa.string()),
    ("prompt", pa.string()),
    ("completion", pa.string()),
    ("is_noop", pa.bool_()),
]


class GenerationError(ConfigError):
    """The request is well formed but cannot be met with these settings (e.g. no-op inputs cannot avoid x)."""

    def __init__(self, message: str):
        super().__init__(None, message)


def _match_positions(
    z: np.ndarray, zlen: np.ndarray, x: np.ndarray, xlen: np.ndarray, skip: tuple[np.ndarray, np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Every (row, start) where row r's pattern ``x[r, :xlen[r]]`` matches ``z[r, :zlen[r]]``, row-major, except
    the pairs in ``skip``. Candidates matching the first two characters are filtered one position at a time, so
    the cost is about one pass over the inputs."""
    wz = z.shape[1]
    ok = z == x[:, :1]
    if x.shape[1] > 1:  # (inputs one character wide: an empty slice, nothing to narrow)
        ok[:, :-1] &= (z[:, 1:] == x[:, 1:2]) | (xlen < 2)[:, None]
    ok &= np.arange(wz)[None, :] <= (zlen - xlen)[:, None]  # the last start is inclusive
    if skip is not None:
        ok[skip] = False
    some = np.flatnonzero(ok.any(axis=1))  # few rows have candidates: scan only those
    sub_rows, cols = np.nonzero(ok[some])
    rows = some[sub_rows]
    for j in range(2, x.shape[1]):
        if rows.size == 0:
            break
        active = j < xlen[rows]
        if not active.any():
            break
        keep = ~active | (z[rows, np.minimum(cols + j, wz - 1)] == x[rows, j])
        rows, cols = rows[keep], cols[keep]
    return rows, cols


def count_matches(
    z: np.ndarray, zlen: np.ndarray, x: np.ndarray, xlen: np.ndarray, skip: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """Number of match positions (overlapping ones count) of row r's pattern ``x[r, :xlen[r]]`` in
    ``z[r, :zlen[r]]``, not counting the (row, start) pairs in ``skip`` (the planted copies, known to match)."""
    rows, _ = _match_positions(z, zlen, x, xlen, skip)
    return np.bincount(rows, minlength=z.shape[0])


def leftmost(z: np.ndarray, zlen: np.ndarray, x: np.ndarray, xlen: np.ndarray, known: np.ndarray | None = None) -> np.ndarray:
    """Start of the leftmost occurrence of row r's pattern ``x[r, :xlen[r]]`` in ``z[r, :zlen[r]]``; -1 if none.

    ``known`` (optional, -1 for none) holds a start per row already known to be a full match (a planted
    pattern): it is not checked again.
    """
    n = z.shape[0]
    skip = None
    if known is not None:
        has = np.flatnonzero(known >= 0)
        skip = (has, known[has])
    rows, cols = _match_positions(z, zlen, x, xlen, skip)
    out = np.full(n, -1, dtype=np.int64) if known is None else known.astype(np.int64, copy=True)
    if rows.size:
        first_rows, first_at = np.unique(rows, return_index=True)  # row-major: first hit is leftmost
        hit = cols[first_at]
        prev = out[first_rows]
        out[first_rows] = np.where((prev < 0) | (hit < prev), hit, prev)
    return out


def write_rows(dest: np.ndarray, rows: np.ndarray, at: np.ndarray, src: np.ndarray, length: np.ndarray) -> None:
    """``dest[r, at[i] : at[i] + length[i]] = src[i, :length[i]]`` for each ``r = rows[i]`` (in place)."""
    if rows.size == 0:
        return
    w = src.shape[1]
    if w and (length == w).all():  # (then dest is at least w wide: the pieces fit their places)
        windows = np.lib.stride_tricks.sliding_window_view(dest, w, axis=1, writeable=True)
        windows[rows, at] = src
        return
    rr, jj = np.nonzero(np.arange(w)[None, :] < length[:, None])
    dest[rows[rr], at[rr] + jj] = src[rr, jj]


def scalar_or(arr: np.ndarray) -> int | np.ndarray:
    """An int when every entry is equal (enables the fixed-width fast path), else the array."""
    if arr.size and (arr == arr.flat[0]).all():
        return int(arr.flat[0])
    return arr


def assign_instructions(plan, split, idx: np.ndarray) -> np.ndarray:
    """Which instruction (index into the split's pool) each row uses (see :class:`generators.plan.SplitPlan`)."""
    if split.assignment == "cycle":
        local = (idx % split.n_instructions).astype(np.int64)
        return local if split.order is None else split.order[local]
    slots = split.slots  # "exact", the only other assignment make_plan gives
    pos = feistel_permute(plan.key("assign", split.name), slots, idx % slots).astype(np.int64)
    return np.searchsorted(split.cum, pos, side="right").astype(np.int64)


def noop_mask(plan, split, idx: np.ndarray) -> np.ndarray:
    """Exactly ``split.noop_count`` no-op rows in the split, placed by a keyed permutation of row indices."""
    if split.noop_count == 0:
        return np.zeros(idx.size, dtype=bool)
    key = plan.key("noop", split.name)
    return feistel_permute(key, split.rows, idx) < np.uint64(split.noop_count)


def draw_lengths(rng: np.random.Generator, lo: int, hi: int, n: int) -> np.ndarray:
    if lo == hi:
        return np.full(n, lo, dtype=np.int64)
    return integers(rng, lo, hi, n)


def random_inputs(rng, alphabet: np.ndarray, zlen: np.ndarray, width: int) -> np.ndarray:
    z = uniform_symbols(rng, len(alphabet), (zlen.size, width), lut=alphabet)
    if zlen.size and int(zlen.min()) < width:
        z[np.arange(width)[None, :] >= zlen[:, None]] = 0
    return z


def plant(
    rng, z: np.ndarray, zlen: np.ndarray, rows: np.ndarray, x: np.ndarray, xlen: np.ndarray, occ: np.ndarray, sep: int = 0
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Write each row's pattern ``occ[r]`` times into z at random non-overlapping places (in place), at least
    ``sep`` characters apart.

    Returns the first planted start of each row (-1 for rows not planted) and every planted (row, start) pair.
    """
    first = np.full(z.shape[0], -1)  # numpy's default integer, as the fill value -1
    at_rows, at_cols = [], []
    for c in np.unique(occ[rows]):
        r = rows[occ[rows] == c]
        free = zlen[r] - c * xlen[r] - (c - 1) * sep
        gaps = np.sort(integers(rng, 0, free[:, None], (r.size, int(c))))  # along each row
        for k in range(int(c)):
            start = gaps[:, k] + k * (xlen[r] + sep)
            write_rows(z, r, start, x[r], xlen[r])
            at_rows.append(r)
            at_cols.append(start)
        first[r] = gaps[:, 0]
    if not at_rows:
        return first, (np.zeros(0, np.int64), np.zeros(0, np.int64))
    return first, (np.concatenate(at_rows), np.concatenate(at_cols))


@dataclass
class BlockStart:
    """What every task draws first for a block: row indices, the block's generator, instructions, no-op rows,
    input lengths (in this order, which fixes the block's random stream)."""

    idx: np.ndarray
    rng: np.random.Generator
    inst: np.ndarray
    noop: np.ndarray
    zlen: np.ndarray

    @property
    def n(self) -> int:
        return self.idx.size


def start_block(plan, split, block: int, attempt: int = 0) -> BlockStart:
    """``attempt`` > 0 redraws a block (validation rows that met a test_seen prompt): another random stream,
    and for ``exact`` splits other slots (so other rules) for the same row indices and no-op flags."""
    start = block * BLOCK
    idx = np.arange(start, min(start + BLOCK, split.rows), dtype=np.int64)
    rng = generator(plan.cfg.seed, "rows", split.name, block, *(("redraw", attempt) if attempt else ()))
    inst = assign_instructions(plan, split, idx + attempt * split.rows)
    noop = noop_mask(plan, split, idx)
    zlen = draw_lengths(rng, plan.cfg.input_len.min, plan.cfg.input_len.max, idx.size)
    return BlockStart(idx, rng, inst, noop, zlen)


def matrix_block(plan, split, inst: np.ndarray, *, fields: dict[str, list[Segment]], output: list[Segment],
                 is_noop: np.ndarray, flags: list[pa.Array], schema: pa.Schema) -> pa.RecordBatch:
    """A block from byte matrices (the vectorized path).

    ``fields``: the prompt template's fields (``x``, ``y``, ``input``, ``rule``) as segments, ``output`` the
    output's; a :class:`~generators.textcols.Piece` is a slice of a plain-text matrix, enciphered here, a
    ``bytes`` segment stays as written (the rule arrow). ``input`` is also the input column."""
    enciphered: dict[int, np.ndarray] = {}

    def enc(segments: list[Segment]) -> list[Segment]:
        out = []
        for s in segments:
            if isinstance(s, Piece):
                key = id(s.mat)
                if key not in enciphered:
                    enciphered[key] = plan.cipher.encrypt_bytes(s.mat)
                s = Piece(enciphered[key], s.length, s.start)
            out.append(s)
        return out

    n = inst.size
    parts = {name: enc(segs) for name, segs in fields.items()}
    text = build_strings(n, enc(output))
    prompt: list[Segment] = []
    for kind, value in plan.template:
        prompt += [value.encode("ascii")] if kind == "lit" else parts[value]
    return _batch(split, inst, build_strings(n, parts["input"]), text, build_strings(n, prompt), is_noop, flags, schema)


def string_block(plan, split, inst: np.ndarray, *, inputs: list[str], outputs: list[str], is_noop: np.ndarray,
                 flags: list[pa.Array], schema: pa.Schema) -> pa.RecordBatch:
    """A block from Python strings (tasks made with a loop per row). The prompt's ``{rule}`` is the
    instruction text; ``{x}`` and ``{y}`` are empty."""
    enc = plan.cipher.encrypt
    ins = [enc(t) for t in inputs]
    texts = split.pool_text.to_pylist()
    prompts = []
    for r in range(inst.size):
        values = {"rule": texts[inst[r]], "input": ins[r], "x": "", "y": ""}
        prompts.append("".join(t if kind == "lit" else values[t] for kind, t in plan.template))
    output = pa.array([enc(t) for t in outputs], pa.string())
    return _batch(split, inst, pa.array(ins, pa.string()), output, pa.array(prompts, pa.string()), is_noop, flags,
                  schema)


def _batch(split, inst, inputs: pa.Array, output: pa.Array, prompt: pa.Array, is_noop, flags, schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [
            pa.array(split.global_ids(inst), pa.int64()),
            split.pool_text.take(pa.array(inst)),
            inputs,
            output,
            prompt,
            output,
            pa.array(is_noop, pa.bool_()),
            *flags,
        ],
        schema=schema,
    )
