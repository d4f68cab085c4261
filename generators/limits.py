"""Bounds on a generation request, estimated from its config alone before any work: rows, bytes, memory.

:func:`estimate` works from the config (no instruction pool is drawn, nothing is allocated) and
:func:`check_request` compares the estimate with the machine and refuses, with one line naming the field at
fault, what cannot work:

- *hard* limits, never lifted: the least number of bytes the dataset can take (its random input characters
  cannot be compressed below their entropy, and parquet compresses each column on its own, so every text column
  that carries the input pays for it again) exceeds the free space at the output folder; one process's working
  set (a block of rows, the instruction pools) exceeds the machine's physical memory (or its cgroup limit); a
  text column of one block would pass Arrow's 2 GiB limit for one string array.
- *soft* limits, lifted by ``force`` (``datagen generate --force``): more rows than :data:`MAX_ROWS` or an
  upper estimate of the bytes beyond :data:`MAX_BYTES` (caps against a typo such as an extra zero: a request
  beyond them is possible but almost surely not meant), an upper estimate of the bytes beyond the free space
  (it may still fit: the data compresses), or all processes together beyond the memory available now.

The per-row and per-rule costs are measured on this generator (numpy 2, pyarrow 26) and rounded up.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError
from generators import tasks
from generators.blocks import BLOCKS_PER_ROW_GROUP
from generators.fields import parse_template
from generators.plan import split_occurrences
from generators.rng import BLOCK
from generators.space import _BATCH, DENSE_LIMIT
from generators.version import behaviour

MAX_ROWS = 200_000_000  # 200x the paper's 10^6-example budget
MAX_BYTES = 100 * 10**9  # upper estimate of the parquet files
PROCESS_BYTES = 250 * 2**20  # one Python process with numpy, pyarrow and the generator imported (~200 MB measured)
BYTES_PER_ROW_CHAR = 8  # working set of one block, per character of a row's text columns (~6.5 measured)
HELD_BYTES_PER_ROW_CHAR = 2  # each block held until its row group is written (~1.5 measured)
RULE_BYTES = 300  # per distinct rule besides 4 bytes per character: matrices, key set, text, Arrow copy (~260 measured)
ARROW_STRING_LIMIT = 2**31 - 1  # bytes of one pyarrow string array (32-bit offsets)


@dataclass
class Estimate:
    """What a request needs. ``rows`` maps each split to its rows and the config field that sets them."""

    rows: dict[str, tuple[int, str]]
    bytes_min: int  # no encoding can store the dataset in less
    bytes_max: int  # uncompressed parquet, plus a margin
    row_chars: int  # characters of one row's text columns, at most
    column_chars: int  # characters of one row in its widest text column
    block_rows: int  # rows of the largest block
    width_field: str  # the field that makes rows wide
    process_bytes: int  # one process: the pools, a block's working set, counters
    pool_bytes: int
    pool_field: str
    rules: int  # distinct rules drawn (train and unseen test)
    rule_chars: int  # characters of one rule's pattern and replacement, at most
    block_bytes: int  # one block's working set
    count_bytes: int  # instruction counts per shard, block digests
    processes: int  # working processes (1, or the shard workers)

    @property
    def total_rows(self) -> int:
        return sum(n for n, _ in self.rows.values())

    @property
    def largest_split(self) -> tuple[int, str]:
        return max(self.rows.values())

    @property
    def memory(self) -> int:
        """All processes together (the parent of shard workers holds the pools and the results too)."""
        return self.process_bytes * self.processes + (self.pool_bytes + PROCESS_BYTES if self.processes > 1 else 0)


def _size(n: float) -> str:
    for unit, size in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n / 2**10:.3g} KiB"


def split_rows(cfg) -> dict[str, tuple[int, str]]:
    """Rows of every split, with the config field that sets them (train: budget, or I x S)."""
    if cfg.budget is not None:
        train_field = "budget"
    elif cfg.examples_per_instruction is not None:
        train_field = "examples_per_instruction"
    else:
        train_field = "instructions"
    rows = {"train": (int(cfg.train_examples), train_field)}
    for name in type(cfg.splits).model_fields:
        split = getattr(cfg.splits, name)
        examples = getattr(split, "examples", None)
        if isinstance(examples, int) and examples > 0:
            rows[name] = (examples, f"splits.{name}.examples")
    return rows


def _spaces(cfg) -> list:
    return [cfg.space] + ([cfg.test_space] if cfg.test_space is not None else [])


def estimate(cfg, workers: int = 1) -> Estimate:
    """The rows, bytes and memory a (validated) generator config asks for; computed from the config alone."""
    spaces = _spaces(cfg)
    xmax = max(s.x_len.max for s in spaces)
    xmin = min(s.x_len.min for s in spaces)
    ymax = max(s.y_len.max for s in spaces)
    zmin, zmax = cfg.input_len.min, cfg.input_len.max
    sizes = tasks.get(cfg.task).sizes(cfg, xmin, ymax)
    per_rule = xmax + 5 + ymax  # "x -> y" (markov: "x ->. y; ")
    rule_chars = per_rule * sizes.rules_per_instruction
    out_chars = sizes.out_chars
    widths = {"rule": rule_chars, "x": xmax, "y": ymax, "input": zmax}
    prompt_chars = sum(len(t) if kind == "lit" else widths[t] for kind, t in parse_template(cfg.prompt_template))
    row_chars = rule_chars + zmax + 2 * out_chars + prompt_chars
    column_chars = max(rule_chars, zmax, out_chars, prompt_chars)
    width_field = max(
        [(zmax, "input_len"), (rule_chars, "space.y_len" if ymax > xmax else "space.x_len"),
         (len(cfg.prompt_template), "prompt_template")] + ([(out_chars, sizes.out_field)] if sizes.out_field else [])
    )[1]
    rows = split_rows(cfg)
    total = sum(n for n, _ in rows.values())

    # least bytes: the characters of an input not covered by planted patterns are uniform over the alphabet
    alphabet = min(len(s.alphabet) for s in spaces)
    columns = sizes.input_columns  # the text columns that hold the input
    free_chars = sum(n * max(0, zmin - max(split_occurrences(cfg, split, behaviour())) * xmax) for split, (n, _) in rows.items())
    bytes_min = int(columns * free_chars * math.log2(alphabet) / 8) if alphabet > 1 else 0
    bytes_max = int(total * (row_chars + 6 * 4 + 8 + 4 + 1) * 1.1) + 2**20

    # memory: the rule pools (every process holds them), one block's working set, per-shard counters
    n_test = cfg.splits.test_unseen.instructions if cfg.splits.test_unseen.examples > 0 else 0
    n_rules = (cfg.instructions + n_test) * sizes.rules_per_instruction
    pool_bytes = n_rules * (4 * (xmax + ymax) + RULE_BYTES)
    pool_field = "instructions" if cfg.instructions >= n_test else "splits.test_unseen.instructions"
    if 4 * (xmax + ymax) > RULE_BYTES:
        pool_field = "space.y_len" if ymax > xmax else "space.x_len"
    pool_bytes += _drawing_bytes(spaces, xmax, ymax)
    classes = sum(len(s.x_len.values()) * (s.x_len.min + s.x_len.max) * len(s.structures) * len(s.k.values())
                  for s in spaces)  # pattern index maps: one tuple per (structure, k, length), 16 B per entry
    pool_bytes += 8 * classes
    counters = 8 * (cfg.instructions + n_test) * 3
    block_rows = min(BLOCK, max(n for n, _ in rows.values()))
    held = min(BLOCKS_PER_ROW_GROUP, -(-max(n for n, _ in rows.values()) // BLOCK), -(-cfg.shard_rows // BLOCK))
    block_bytes = block_rows * row_chars * (BYTES_PER_ROW_CHAR + held * HELD_BYTES_PER_ROW_CHAR)
    shards = sum(-(-n // max(cfg.shard_rows, BLOCK)) for n, _ in rows.values())
    blocks = -(-total // BLOCK)
    count_bytes = counters + shards * 8 * (cfg.instructions + n_test) + blocks * 200  # per-shard counts, digests
    process = PROCESS_BYTES + pool_bytes + block_bytes + count_bytes
    processes = 1 if workers <= 1 else max(1, min(workers, shards))
    return Estimate(rows, bytes_min, bytes_max, row_chars, column_chars, block_rows, width_field, process, pool_bytes,
                    pool_field, n_rules, xmax + ymax, block_bytes, count_bytes, processes)


def _drawing_bytes(spaces, xmax: int, ymax: int) -> int:
    """Memory to draw rules: a large space is sampled in batches of candidates (random bytes, their mapping and
    copies: ~6 bytes per character measured as 4-5); a small one (at most DENSE_LIMIT rules) is enumerated whole."""
    need = _BATCH * (xmax + ymax) * 6
    for s in spaces:
        ax, a = len(s.x_alphabet or s.alphabet), len(s.alphabet)
        # the fewest rules the space can hold (one pattern class's strings times the replacements of one length),
        # and the most (every class at its longest)
        free = s.x_len.min if s.structures == ["random"] or s.k.min == 1 else math.ceil(s.x_len.min / s.k.max)
        log_least = free * math.log2(ax) + s.y_len.max * math.log2(a)
        classes = len(s.x_len.values()) * len(s.structures) * len(s.k.values())
        log_most = math.log2(classes * len(s.y_len.values())) + s.x_len.max * math.log2(ax) + s.y_len.max * math.log2(a)
        if log_least <= math.log2(DENSE_LIMIT) + 1:  # may be enumerated
            rules = DENSE_LIMIT if log_most > math.log2(DENSE_LIMIT) else int(2**log_most) + 1
            need = max(need, rules * (xmax + ymax + 64) * 2)
    return need


def physical_memory() -> int | None:
    """Bytes of memory this process can ever use: physical memory, or a smaller cgroup limit."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        total = None
    limit = _cgroup_limit()
    return min(x for x in (total, limit) if x is not None) if (total or limit) else None


def available_memory() -> int | None:
    """Bytes of memory available now (MemAvailable, and what a cgroup limit leaves), or physical memory."""
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    limit = _cgroup_limit()
    if limit is not None:
        try:
            used = int(Path("/sys/fs/cgroup/memory.current").read_text())
            limit = max(0, limit - used)
        except (OSError, ValueError):
            pass
    found = [x for x in (avail, limit) if x is not None]
    return min(found) if found else physical_memory()


def _cgroup_limit() -> int | None:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:
            return int(text)
    return None


def free_disk(out_dir: str | Path) -> tuple[int | None, Path]:
    """Free bytes on the file system that will hold ``out_dir`` (its nearest existing ancestor)."""
    p = Path(out_dir).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free, p
    except OSError:
        return None, p


def _memory_field(est: Estimate) -> str:
    """The field behind the largest part of one process's memory."""
    parts = [(est.pool_bytes, est.pool_field), (est.block_bytes, est.width_field), (est.count_bytes, est.largest_split[1])]
    return max(parts)[1]


def check_request(cfg, out_dir: str | Path, *, workers: int = 1, force: bool = False) -> Estimate:
    """Refuse (ConfigError naming the field) a request that cannot fit this machine; ``force`` lifts only the
    soft caps. Returns the estimate."""
    est = estimate(cfg, workers)
    rows_n, rows_field = est.largest_split
    soft = " (pass --force to try anyway)"

    # hard: impossible whatever the user says
    longest = est.column_chars * est.block_rows
    if longest > ARROW_STRING_LIMIT:
        raise ConfigError(
            est.width_field,
            f"texts of up to {est.column_chars:,} characters make a column of {_size(longest)} per block of "
            f"{est.block_rows} rows, beyond the {_size(ARROW_STRING_LIMIT)} one Arrow string array holds: ask for shorter rows",
        )
    physical = physical_memory()
    one = est.process_bytes
    if physical is not None:
        if est.pool_bytes > physical:
            raise ConfigError(
                est.pool_field,
                f"{est.rules} distinct rules need about {_size(est.pool_bytes)} of memory to draw and de-duplicate (at "
                f"up to {est.rule_chars} characters each); this machine has {_size(physical)}: ask for fewer",
            )
        if est.block_bytes > physical:
            raise ConfigError(
                est.width_field,
                f"a block of {est.block_rows} rows of up to {est.row_chars:,} characters needs about "
                f"{_size(est.block_bytes)} of memory; this machine has {_size(physical)}: ask for shorter rows",
            )
    free, where = free_disk(out_dir)
    if free is not None and est.bytes_min > free:
        raise ConfigError(
            rows_field,
            f"{est.total_rows:,} rows need at least {_size(est.bytes_min)} on disk (their random characters cannot be "
            f"compressed further) and {where} has {_size(free)} free: ask for fewer",
        )
    if physical is not None and one > physical:
        raise ConfigError(
            _memory_field(est),
            f"generating this needs about {_size(one)} of memory in one process (instruction pools "
            f"{_size(est.pool_bytes)}, a block {_size(est.block_bytes)}, per-shard counts {_size(est.count_bytes)}) "
            f"and this machine has {_size(physical)}: ask for less",
        )
    if force:
        return est
    # soft: lifted by --force
    if est.total_rows > MAX_ROWS:
        raise ConfigError(
            rows_field,
            f"{est.total_rows:,} rows is more than the default cap of {MAX_ROWS:,} (a typo? the paper uses 10^6)" + soft,
        )
    if est.bytes_max > MAX_BYTES:
        raise ConfigError(
            rows_field, f"the dataset may take up to {_size(est.bytes_max)}, more than the default cap of {_size(MAX_BYTES)}" + soft
        )
    if free is not None and est.bytes_max > free:
        raise ConfigError(
            rows_field,
            f"the dataset may take up to {_size(est.bytes_max)} (at least {_size(est.bytes_min)}) and {where} has "
            f"{_size(free)} free" + soft,
        )
    available = available_memory()
    if available is not None and est.memory > available:
        field = "workers" if est.processes > 1 and one <= available else _memory_field(est)
        raise ConfigError(
            field,
            f"{est.processes} process(es) need about {_size(est.memory)} of memory and {_size(available)} is available "
            f"now: use fewer workers or ask for less" + soft,
        )
    return est
