"""The string-rewrite task of the paper: apply a rule ``x -> y`` to the leftmost occurrence of ``x`` in ``z``.

:func:`apply_rule` is the plain reference semantics. :func:`rewrite_block` makes one block of rows with numpy
(no Python loop per row): inputs with the pattern planted exactly c times (or absent, for no-ops), checked by
counting every match position with candidate filtering, outputs and prompts assembled as byte matrices. The task
has no config section of its own (``occurrences``, lengths and the space are shared fields).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from core.errors import ConfigError
from generators.blocks import (
    COMMON_FIELDS,
    GenerationError,
    count_matches,
    matrix_block,
    plant,
    random_inputs,
    scalar_or,
    start_block,
    write_rows,
)
from generators.rng import integers
from generators.space import Exclusion, exclude_patterns
from generators.tasks.registry import Scorer, Task, TaskSizes, register
from generators.textcols import Piece

MAX_OCCURRENCE_REDRAWS = 64


REWRITE_SCHEMA = pa.schema([*COMMON_FIELDS, ("pattern_len", pa.int32())])


def apply_rule(x: str, y: str, z: str) -> str:
    """Reference semantics: replace the leftmost occurrence of x in z by y; z unchanged if x is absent."""
    i = z.find(x)
    return z if i < 0 else z[:i] + y + z[i + len(x) :]


def rule_text(x: str, y: str) -> str:
    return f"{x} -> {y}"


def exact_inputs(rng, split, zlen: np.ndarray, noop: np.ndarray, x: np.ndarray, xlen: np.ndarray, occ: np.ndarray, width: int):
    """Inputs holding row r's pattern exactly ``occ[r]`` times (no-op rows: never), and its first match (-1: none).

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
    return z, pos  # -1 for no-op rows: plant leaves the rows it does not plant at -1


def _remake(rng, split, z, zlen, noop, x, xlen, occ, bad, pos, width) -> None:
    """The last resort for rows that redraws could not fix (tiny alphabets or inputs), in place: no-op rows avoid
    x's first character; op rows get a background of characters that x does not use (copies one apart), else
    a background of one repeated character (each in turn, copies one apart, then touching) that makes no match."""
    noop_rows = bad[noop[bad]]
    if noop_rows.size:
        avoid_first_char(rng, z, noop_rows, x[noop_rows, 0], split.alphabet)
    op_rows = todo = bad[~noop[bad]]  # no-op rows are made by then: x's first character no longer occurs
    if todo.size:
        # alphabet characters that x does not use, per row (x's padding, byte 0, is no letter)
        outside = ~(x[todo][:, :, None] == split.alphabet).any(axis=1)
        ok = outside.any(axis=1) & (zlen[todo] >= occ[todo] * (xlen[todo] + 1) - 1)
        rows, outside = todo[ok], outside[ok]
        if rows.size:
            pick = integers(rng, 0, outside.sum(axis=1)[:, None] - 1, (rows.size, width))
            choice = np.argsort(~outside, kind="stable")  # per row, the outside characters first
            _plant_on(rng, z, zlen, rows, x, xlen, occ, pos, split.alphabet[np.take_along_axis(choice, pick, axis=1)], 1)
            todo = todo[~ok]
    for sep in (1, 0):
        for c in split.alphabet:  # rows already made drop out of todo; an empty todo plants nothing
            fits = zlen[todo] >= occ[todo] * (xlen[todo] + sep) - sep
            rows = todo[fits]
            saved, saved_pos = z[rows].copy(), pos[rows].copy()
            _plant_on(rng, z, zlen, rows, x, xlen, occ, pos, np.full((rows.size, width), c), sep)  # uint8, as c
            wrong = count_matches(z[rows], zlen[rows], x[rows], xlen[rows]) != occ[rows]
            z[rows[wrong]], pos[rows[wrong]] = saved[wrong], saved_pos[wrong]
            todo = np.setdiff1d(todo, rows[~wrong])
    rest = np.flatnonzero(count_matches(z[op_rows], zlen[op_rows], x[op_rows], xlen[op_rows]) != occ[op_rows])
    if rest.size:
        r = op_rows[rest[0]]
        raise GenerationError(
            f"cannot make a {zlen[r]}-character input over {split.alphabet.tobytes().decode()!r} that contains "
            f"{x[r, : xlen[r]].tobytes().decode()!r} exactly {occ[r]} time(s) (counting overlapping matches); raise "
            f"input_len or the alphabet size, or lower occurrences"
        )


def _plant_on(rng, z, zlen, rows, x, xlen, occ, pos, background: np.ndarray, sep: int) -> None:
    """Rows ``rows`` of z become ``background`` with their copies planted ``sep`` apart (the cells past a row's
    length keep the background: nothing reads them, matches are counted and texts cut within the length)."""
    if rows.size == 0:
        return
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


def rewrite_block(plan, split, block: int, attempt: int = 0) -> pa.RecordBatch:
    """Rows ``[block * BLOCK, ...)`` of a split of the rewrite task."""
    cfg = plan.cfg
    b = start_block(plan, split, block, attempt)
    rng, inst, noop, zlen, n = b.rng, b.inst, b.noop, b.zlen, b.n
    pool = split.pool
    x, xlen = pool.x[inst], pool.x_len[inst].astype(np.int64)
    y, ylen = pool.y[inst], pool.y_len[inst]  # (only compared and used as lengths: the pool's int32 will do)
    occ = np.asarray(split.occurrences)[integers(rng, 0, len(split.occurrences) - 1, n)]
    z, pos = exact_inputs(rng, split, zlen, noop, x, xlen, occ, cfg.input_len.max)
    hit = pos >= 0
    if (xlen == ylen).all():  # output = input with y written over the match: same length as the input
        out = z.copy()
        rows = np.flatnonzero(hit)
        write_rows(out, rows, pos[rows], y[rows], ylen[rows])
        output = [Piece(out, scalar_or(zlen))]
    else:
        p = np.where(hit, pos, zlen)
        take_y = np.where(hit, ylen, 0)
        tail_start = np.where(hit, pos + xlen, zlen)
        output = [
            Piece(z, scalar_or(p)),
            Piece(y, scalar_or(take_y)),
            Piece(z, scalar_or(zlen - tail_start), start=scalar_or(tail_start)),
        ]
    xs, ys = Piece(x, scalar_or(xlen)), Piece(y, scalar_or(ylen))
    fields = {"x": [xs], "y": [ys], "input": [Piece(z, scalar_or(zlen))], "rule": [xs, b" -> ", ys]}
    return matrix_block(plan, split, inst, fields=fields, output=output, is_noop=noop,
                        flags=[pa.array(xlen, pa.int32())], schema=REWRITE_SCHEMA)


def validate(cfg) -> None:
    """Inputs must hold ``max(occurrences)`` copies of the longest pattern of each space (and the test splits'
    own ``occurrences``, when given, copies of the longest pattern of the space their rules come from)."""
    checks = [("occurrences", cfg.occurrences, cfg.space, "space"),
              ("occurrences", cfg.occurrences, cfg.effective_test_space, "test_space"),
              ("splits.test_unseen.occurrences", cfg.splits.test_unseen.occurrences, cfg.effective_test_space,
               "test_space"),
              ("splits.test_seen.occurrences", cfg.splits.test_seen.occurrences, cfg.space, "space")]
    for field, occ, sp, where in checks:
        if not occ:
            continue
        need = max(occ) * sp.x_len.max
        if need > cfg.input_len.min:
            raise ConfigError(
                "input_len",
                f"inputs of {cfg.input_len.min} characters cannot hold {max(occ)} occurrence(s) "
                f"of a {sp.x_len.max}-character pattern ({where}.x_len); raise input_len or lower "
                f"{field} / x_len",
            )


def draw_pools(cfg, train_space, test_space, n_test: int, behaviour=None):
    """(test pool, train pool, the exclusion used): test rules first, then training rules that avoid them (and,
    with ``splits.test_unseen.novel_patterns``, their patterns or the test space's structured patterns)."""
    ex = Exclusion()
    test_pool = test_space.distinct(cfg.seed, "test_unseen", n_test, ex)
    exclude_patterns(ex, test_pool, cfg.splits.test_unseen, test_space)
    train_pool = train_space.distinct(cfg.seed, "train", cfg.instructions, ex)
    return test_pool, train_pool, ex


def pool_texts(pool) -> list[str]:
    return [rule_text(pool.x_str(i), pool.y_str(i)) for i in range(len(pool))]


def sizes(cfg, xmin: int, ymax: int) -> TaskSizes:
    """One rule per instruction; an output is the input with a pattern replaced (it may grow by ymax - xmin);
    input, output, prompt and completion all carry the input."""
    return TaskSizes(1, cfg.input_len.max + max(0, ymax - xmin), None, 4)


TASK = register(Task(
    name="rewrite",
    card_text="String rewriting: apply the rule `x -> y` to the input by replacing the leftmost occurrence of `x` "
              "with `y`; if `x` does not occur (a no-op), the output is the input.",
    schema=REWRITE_SCHEMA,
    sections=(),
    validate=validate,
    draw_pools=draw_pools,
    pool_texts=pool_texts,
    make_block=rewrite_block,
    sizes=sizes,
    scorer=Scorer(rule_length="pattern_len", difficulty=("pattern_len",), partial="edit_similarity"),
    plants_occurrences=True,
))
