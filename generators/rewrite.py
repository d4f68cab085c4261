"""The string-rewrite task: apply a rule ``x -> y`` to the leftmost occurrence of ``x`` in ``z``.

:func:`apply_rule` is the plain reference semantics. :func:`rewrite_block` makes one block of rows with numpy
(no Python loop per row): inputs with the pattern planted exactly c times (or absent, for no-ops), checked by
counting every match position with candidate filtering, outputs and prompts assembled as byte matrices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from core.errors import ConfigError
from generators.rng import BLOCK, feistel_permute, generator, integers, uniform_symbols
from generators.textcols import Piece, build_strings

MAX_NOOP_REDRAWS = 16
MAX_OCCURRENCE_REDRAWS = 64

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
REWRITE_SCHEMA = pa.schema([*COMMON_FIELDS, ("pattern_len", pa.int32())])


class GenerationError(ConfigError):
    """The request is well formed but cannot be met with these settings (e.g. no-op inputs cannot avoid x)."""

    def __init__(self, message: str):
        super().__init__(None, message)


def apply_rule(x: str, y: str, z: str) -> str:
    """Reference semantics: replace the leftmost occurrence of x in z by y; z unchanged if x is absent."""
    i = z.find(x)
    return z if i < 0 else z[:i] + y + z[i + len(x) :]


def rule_text(x: str, y: str) -> str:
    return f"{x} -> {y}"


def count_matches(
    z: np.ndarray, zlen: np.ndarray, x: np.ndarray, xlen: np.ndarray, skip: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """Number of match positions (overlapping ones count) of row r's pattern ``x[r, :xlen[r]]`` in
    ``z[r, :zlen[r]]``, not counting the (row, start) pairs in ``skip`` (the planted copies, known to match)."""
    n, wz = z.shape
    ok = z == x[:, :1]
    if x.shape[1] > 1 and wz > 1:
        ok[:, :-1] &= (z[:, 1:] == x[:, 1:2]) | (xlen < 2)[:, None]
    ok &= np.arange(wz)[None, :] <= (zlen - xlen)[:, None]
    if skip is not None and skip[0].size:
        ok[skip] = False
    some = np.flatnonzero(ok.any(axis=1))
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
    return np.bincount(rows, minlength=n)


def leftmost(z: np.ndarray, zlen: np.ndarray, x: np.ndarray, xlen: np.ndarray, known: np.ndarray | None = None) -> np.ndarray:
    """Start of the leftmost occurrence of row r's pattern ``x[r, :xlen[r]]`` in ``z[r, :zlen[r]]``; -1 if none.

    ``known`` (optional, -1 for none) holds a start per row already known to be a full match (a planted
    pattern): it is not checked again. Candidate (row, start) pairs that match the pattern's first two
    characters are filtered one position at a time, so the cost is about one pass over the inputs.
    """
    n, wz = z.shape
    last_start = zlen - xlen  # inclusive
    ok = z == x[:, :1]
    if x.shape[1] > 1 and wz > 1:
        ok[:, :-1] &= (z[:, 1:] == x[:, 1:2]) | (xlen < 2)[:, None]
    ok &= np.arange(wz)[None, :] <= last_start[:, None]
    if known is not None:
        has = np.flatnonzero(known >= 0)
        ok[has, known[has]] = False
    some = np.flatnonzero(ok.any(axis=1))  # few rows have candidates: scan only those
    sub_rows, cols = np.nonzero(ok[some])
    rows = some[sub_rows]
    for j in range(2, x.shape[1]):
        if rows.size == 0:
            break
        active = j < xlen[rows]
        if not active.any():
            break
        col = np.minimum(cols + j, wz - 1)
        keep = ~active | (z[rows, col] == x[rows, j])
        rows, cols = rows[keep], cols[keep]
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
    if w and (length == w).all() and dest.shape[1] >= w:
        windows = np.lib.stride_tricks.sliding_window_view(dest, w, axis=1, writeable=True)
        windows[rows, at] = src
        return
    rr, jj = np.nonzero(np.arange(w)[None, :] < length[:, None])
    dest[rows[rr], at[rr] + jj] = src[rr, jj]


def _scalar_or(arr: np.ndarray) -> int | np.ndarray:
    """An int when every entry is equal (enables the fixed-width fast path), else the array."""
    if arr.size and (arr == arr.flat[0]).all():
        return int(arr.flat[0])
    return arr


def assign_instructions(plan, split, idx: np.ndarray) -> np.ndarray:
    """Which instruction (index into the split's pool) each row uses (see :class:`generators.plan.SplitPlan`)."""
    if split.assignment == "cycle":
        local = (idx % split.n_instructions).astype(np.int64)
        return local if split.order is None else split.order[local]
    if split.assignment == "exact":
        slots = split.slots
        pos = feistel_permute(plan.key("assign", split.name), slots, idx % slots).astype(np.int64)
        return np.searchsorted(split.cum, pos, side="right").astype(np.int64)
    raise ValueError(split.assignment)


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
    first = np.full(z.shape[0], -1, dtype=np.int64)
    at_rows, at_cols = [], []
    for c in np.unique(occ[rows]):
        r = rows[occ[rows] == c]
        free = zlen[r] - c * xlen[r] - (c - 1) * sep
        gaps = np.sort(integers(rng, 0, free[:, None], (r.size, int(c))), axis=1)
        for k in range(int(c)):
            start = gaps[:, k] + k * (xlen[r] + sep)
            write_rows(z, r, start, x[r], xlen[r])
            at_rows.append(r)
            at_cols.append(start)
        first[r] = gaps[:, 0]
    if not at_rows:
        return first, (np.zeros(0, np.int64), np.zeros(0, np.int64))
    return first, (np.concatenate(at_rows), np.concatenate(at_cols))


def exact_inputs(rng, split, zlen: np.ndarray, noop: np.ndarray, x: np.ndarray, xlen: np.ndarray, occ: np.ndarray, width: int):
    """Inputs holding row r's pattern exactly ``occ[r]`` times (no-op rows: never), and the first match of each.

    A row that misses the count (an accidental match in the background, or copies that overlap into an extra
    match) is redrawn, background and places, up to :data:`MAX_OCCURRENCE_REDRAWS` times; what still misses is
    remade by :func:`_remake` (tiny alphabets only). Every row is counted again at the end: a row that even
    this cannot fix is a GenerationError.
    """
    z = random_inputs(rng, split.alphabet, zlen, width)
    op = np.flatnonzero(~noop)
    pos, planted = plant(rng, z, zlen, op, x, xlen, occ)
    bad = np.flatnonzero(count_matches(z, zlen, x, xlen, skip=planted))
    for _ in range(MAX_OCCURRENCE_REDRAWS):
        if bad.size == 0:
            break
        sub = random_inputs(rng, split.alphabet, zlen[bad], width)
        sub_op = np.flatnonzero(~noop[bad])
        first, sub_planted = plant(rng, sub, zlen[bad], sub_op, x[bad], xlen[bad], occ[bad])
        still = count_matches(sub, zlen[bad], x[bad], xlen[bad], skip=sub_planted) > 0
        done = ~still
        z[bad[done]] = sub[done]
        pos[bad[done]] = first[done]
        bad = bad[still]
    if bad.size:
        _remake(rng, split, z, zlen, noop, x, xlen, occ, bad, pos, width)
    return z, np.where(noop, -1, pos)


def _remake(rng, split, z, zlen, noop, x, xlen, occ, bad, pos, width) -> None:
    """The last resort for rows that redraws could not fix (tiny alphabets or inputs), in place: no-op rows avoid
    x's first character; op rows get a background of characters that x does not use (copies one apart), else
    a background of one repeated character (each in turn, copies one apart, then touching) that makes no match."""
    noop_rows = bad[noop[bad]]
    if noop_rows.size:
        avoid_first_char(rng, z, noop_rows, x[noop_rows, 0], split.alphabet)
    todo = bad[~noop[bad]]
    if todo.size:
        present = np.zeros((todo.size, 256), dtype=bool)
        rr, jj = np.nonzero(np.arange(x.shape[1])[None, :] < xlen[todo, None])
        present[rr, x[todo][rr, jj]] = True
        outside = ~present[:, split.alphabet]  # alphabet characters that x does not use, per row
        ok = outside.any(axis=1) & (zlen[todo] >= occ[todo] * (xlen[todo] + 1) - 1)
        rows, outside = todo[ok], outside[ok]
        if rows.size:
            pick = integers(rng, 0, outside.sum(axis=1)[:, None] - 1, (rows.size, width))
            choice = np.argsort(~outside, axis=1, kind="stable")  # the outside characters first
            _plant_on(rng, z, zlen, rows, x, xlen, occ, pos, split.alphabet[np.take_along_axis(choice, pick, axis=1)], 1)
            todo = todo[~ok]
    for sep in (1, 0):
        for c in split.alphabet:
            if todo.size == 0:
                break
            fits = zlen[todo] >= occ[todo] * (xlen[todo] + sep) - sep
            rows = todo[fits]
            saved, saved_pos = z[rows].copy(), pos[rows].copy()
            _plant_on(rng, z, zlen, rows, x, xlen, occ, pos, np.full((rows.size, width), c, np.uint8), sep)
            wrong = count_matches(z[rows], zlen[rows], x[rows], xlen[rows]) != occ[rows]
            z[rows[wrong]], pos[rows[wrong]] = saved[wrong], saved_pos[wrong]
            todo = np.setdiff1d(todo, rows[~wrong])
    rest = np.flatnonzero(count_matches(z[bad], zlen[bad], x[bad], xlen[bad]) != np.where(noop[bad], 0, occ[bad]))
    if rest.size:
        r = bad[rest[0]]
        pattern = x[r, : xlen[r]].tobytes().decode("ascii")
        raise GenerationError(
            f"cannot make a {zlen[r]}-character input over {split.alphabet.tobytes().decode('ascii')!r} that contains "
            f"{pattern!r} exactly {0 if noop[r] else occ[r]} time(s) (counting overlapping matches); raise input_len or "
            f"the alphabet size, or lower occurrences"
        )


def _plant_on(rng, z, zlen, rows, x, xlen, occ, pos, background: np.ndarray, sep: int) -> None:
    """Rows ``rows`` of z become ``background`` (cut to their lengths) with their copies planted ``sep`` apart."""
    if rows.size == 0:
        return
    width = z.shape[1]
    background[np.arange(width)[None, :] >= zlen[rows, None]] = 0
    z[rows] = background
    first, _ = plant(rng, z, zlen, rows, x, xlen, occ, sep=sep)
    pos[rows] = first[rows]


def avoid_first_char(rng, z: np.ndarray, rows: np.ndarray, first: np.ndarray, alphabet: np.ndarray) -> None:
    """Replace every occurrence of ``first[i]`` in row ``rows[i]`` of z by another character of the alphabet
    (chosen at random), so the pattern, which starts with that character, cannot occur (needs 2 characters)."""
    sub = z[rows]
    hit = sub == first[:, None]
    r, c = np.nonzero(hit)
    if r.size == 0:
        return
    k = len(alphabet)
    choice = integers(rng, 0, k - 2, r.size)  # an index among the k - 1 other characters
    sorted_alpha = np.sort(alphabet)
    first_idx = np.searchsorted(sorted_alpha, first[r])
    choice = np.where(choice >= first_idx, choice + 1, choice)
    sub[r, c] = sorted_alpha[choice]
    z[rows] = sub


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


def rewrite_block(plan, split, block: int, attempt: int = 0) -> pa.RecordBatch:
    """Rows ``[block * BLOCK, ...)`` of a split of the rewrite task."""
    cfg = plan.cfg
    b = start_block(plan, split, block, attempt)
    rng, inst, noop, zlen, n = b.rng, b.inst, b.noop, b.zlen, b.n
    pool = split.pool
    x, xlen = pool.x[inst], pool.x_len[inst].astype(np.int64)
    y, ylen = pool.y[inst], pool.y_len[inst].astype(np.int64)
    occ = np.asarray(cfg.occurrences, dtype=np.int64)[integers(rng, 0, len(cfg.occurrences) - 1, n)]
    z, pos = exact_inputs(rng, split, zlen, noop, x, xlen, occ, cfg.input_len.max)
    return assemble(plan, split, inst, noop, x, xlen, y, ylen, z, zlen, pos)


def assemble(plan, split, inst, noop, x, xlen, y, ylen, z, zlen, pos) -> pa.RecordBatch:
    """Turn the byte matrices of a block into a record batch (applying the cipher)."""
    n = inst.size
    enc = plan.cipher.encrypt_bytes
    xc, yc, zc = enc(x), enc(y), enc(z)
    hit = pos >= 0
    if (xlen == ylen).all():  # output = input with y written over the match: same length as the input
        out = zc.copy()
        rows = np.flatnonzero(hit)
        write_rows(out, rows, pos[rows], yc[rows], ylen[rows])
        output = build_strings(n, [Piece(out, _scalar_or(zlen))])
    else:
        p = np.where(hit, pos, zlen)
        take_y = np.where(hit, ylen, 0)
        tail_start = np.where(hit, pos + xlen, zlen)
        output = build_strings(
            n,
            [
                Piece(zc, _scalar_or(p)),
                Piece(yc, _scalar_or(take_y)),
                Piece(zc, _scalar_or(zlen - tail_start), start=_scalar_or(tail_start)),
            ],
        )
    fields = {
        "x": Piece(xc, _scalar_or(xlen)),
        "y": Piece(yc, _scalar_or(ylen)),
        "input": Piece(zc, _scalar_or(zlen)),
    }
    segments = []
    for kind, text in plan.template:
        if kind == "lit":
            segments.append(text.encode("ascii"))
        elif text == "rule":
            segments += [fields["x"], b" -> ", fields["y"]]
        else:
            segments.append(fields[text])
    prompt = build_strings(n, segments)
    return pa.RecordBatch.from_arrays(
        [
            pa.array(split.global_ids(inst), pa.int64()),
            split.pool_text.take(pa.array(inst)),
            build_strings(n, [fields["input"]]),
            output,
            prompt,
            output,
            pa.array(noop, pa.bool_()),
            pa.array(xlen.astype(np.int32), pa.int32()),
        ],
        schema=REWRITE_SCHEMA,
    )
