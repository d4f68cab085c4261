"""Held-out rows of the training rules: ``validation`` (eval loss, early stopping) and ``test_seen`` (scored).

What is guaranteed, and what is only measured:

- Both splits use only training rules that have at least one training example. ``test_seen`` visits them in a
  keyed random order (cycling), so with fewer rows than rules its rules are a uniform sample of them.
  ``validation`` rows sample the training rows' instruction slots (a keyed permutation of the N slots), so
  they follow the training mix; their inputs come from the split's own random stream.
- No validation prompt equals a ``test_seen`` prompt. A validation row that would repeat one is redrawn (another
  training slot and another input, from a stream keyed by the attempt) up to :data:`MAX_REDRAWS` times; a row
  that still repeats one is dropped. Only spaces so small that a rule has a handful of possible inputs ever
  drop rows; ``datagen.json`` (``heldout``) counts redrawn and dropped rows. The validation split is made once
  with the plan (it is small) and written from that table.
- Neither split is kept apart from train: in a small input space a held-out row can repeat a training row.
  How many rows of each repeat a training prompt is measured over every training row while it is written, and
  recorded in ``datagen.json`` (``heldout``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from generators import tasks
from generators.rng import BLOCK

MAX_REDRAWS = 16
PROMPT = 4  # column index of ``prompt`` in every task's schema

GUARANTEE = (
    "validation and test_seen share no prompt (validation rows that would repeat a test_seen prompt are redrawn, "
    "then dropped); both may repeat train prompts: counted here, not prevented"
)


def block_maker(plan):
    """The block function of the plan's task: ``make(plan, split, block, attempt=0) -> RecordBatch``."""
    return tasks.get(plan.cfg.task).make_block


def prepare_heldout(plan) -> None:
    """Make the validation rows (avoiding test_seen prompts) and the prompt list looked up in train rows."""
    make = block_maker(plan)
    seen, val = plan.splits.get("test_seen"), plan.splits.get("validation")
    prompts: dict[str, pa.Array] = {}
    if seen is not None:
        prompts["test_seen"] = _concat([make(plan, seen, b).column(PROMPT) for b in range(seen.blocks)])
    if val is not None:
        avoid = pc.unique(prompts["test_seen"]) if "test_seen" in prompts else None
        val.table, stats = validation_table(plan, val, make, avoid)
        val.rows = val.table.num_rows
        plan.heldout["validation"] = stats
        if val.rows == 0:  # every candidate repeated a test_seen prompt: no validation split at all
            del plan.splits["validation"]
        else:
            prompts["validation"] = _concat([val.table.column(PROMPT)])
            if avoid is not None and pc.any(pc.is_in(prompts["validation"], value_set=avoid)).as_py():
                raise RuntimeError("internal error: a validation prompt is also a test_seen prompt")
    plan.watch = pc.unique(_concat(list(prompts.values())))
    plan.watch_rows = {name: np.asarray(pc.index_in(p, value_set=plan.watch)) for name, p in prompts.items()}


def validation_table(plan, split, make, avoid: pa.Array | None) -> tuple[pa.Table, dict]:
    """All validation rows; rows whose prompt is in ``avoid`` are redrawn, then dropped."""
    table = pa.Table.from_batches([make(plan, split, b) for b in range(split.blocks)])
    n = table.num_rows
    stats = {"requested": n, "redrawn": 0, "dropped": 0}
    if avoid is None:
        return table.combine_chunks(), stats
    bad = np.flatnonzero(np.asarray(pc.is_in(table.column(PROMPT), value_set=avoid)))
    stats["redrawn"] = int(bad.size)
    pieces, used, source = [table], n, np.arange(n)
    for attempt in range(1, MAX_REDRAWS + 1):
        if bad.size == 0:
            break
        blocks = bad // BLOCK
        parts = []
        for b in np.unique(blocks):
            batch = make(plan, split, int(b), attempt)
            parts.append(batch.take(pa.array(bad[blocks == b] - int(b) * BLOCK)))
        alt = pa.Table.from_batches(parts)
        ok = ~np.asarray(pc.is_in(alt.column(PROMPT), value_set=avoid))
        source[bad[ok]] = used + np.flatnonzero(ok)
        pieces.append(alt)
        used += alt.num_rows
        bad = bad[~ok]
    keep = np.setdiff1d(np.arange(n), bad)
    stats["dropped"] = int(bad.size)
    return pa.concat_tables(pieces).take(pa.array(source[keep])).combine_chunks(), stats


class TrainWatch:
    """Which held-out prompts (``plan.watch``) occur among the rows of one train shard (none, for a shard of
    another split: a held-out row counts as repeating train only if a train row has its prompt)."""

    def __init__(self, plan, split):
        self.watch = plan.watch if split.name == "train" else None  # None too when there is no held-out split
        self.found: list[np.ndarray] = []

    def see(self, batch: pa.RecordBatch) -> None:
        if self.watch is not None:
            idx = pc.index_in(batch.column(PROMPT), value_set=self.watch).drop_null()
            if len(idx):
                self.found.append(np.unique(np.asarray(idx)))

    def hits(self) -> np.ndarray:
        return np.unique(np.concatenate(self.found)) if self.found else np.zeros(0, dtype=np.int64)


def heldout_report(plan, train_hits: list[np.ndarray]) -> dict:
    """``datagen.json``'s ``heldout``: what is guaranteed, and how many held-out rows repeat a train prompt."""
    if plan.watch is None:
        return {}
    hit = np.zeros(len(plan.watch), dtype=bool)
    for h in train_hits:  # TrainWatch.hits: integer indices into plan.watch
        hit[h] = True
    out: dict = {"guarantee": GUARANTEE}
    rows = plan.watch_rows
    for name in ("validation", "test_seen"):
        idx = rows.get(name, np.zeros(0, dtype=np.int64))
        if name not in rows and name not in plan.heldout:
            continue
        entry = {"rows": int(idx.size), "rows_matching_train": int(hit[idx].sum())}
        if name == "validation":
            entry.update(plan.heldout["validation"])
            entry["rows_matching_test_seen"] = 0  # prepare_heldout raises before a validation row repeats a test_seen prompt
        out[name] = entry
    return out


def _concat(arrays: list) -> pa.Array:
    chunks = [c for a in arrays for c in (a.chunks if isinstance(a, pa.ChunkedArray) else [a])]
    return pa.concat_arrays(chunks)  # never empty: prepare_heldout runs only for a split with rows
