"""The instruction space (rules ``x -> y``): its size, and drawing distinct rules from it.

Rules are drawn without replacement from a fixed law: pick one of the space's pattern *classes* uniformly,
fill its free characters uniformly, then pick the replacement length uniformly and its characters uniformly;
rules with ``x == y`` are excluded (they would be disguised no-ops). A class is a distinct index map: the
(structure, k, pattern length) combinations that give the same map are one class (e.g. at length 60, periodic
k = 31 ... 59 all repeat a base of 2 characters; k = 1 of any structure is the unstructured random class).
A pattern that two classes can make ("aaaabbbb" is repeated k = 4 and k = 2) is one pattern, whose
probability is the sum of what each class gives it; repeated draws of it are dropped, so classes with few
patterns (repeated k = 60: 26 patterns) run out early and larger requests shift the realized mix towards
the classes with many patterns.

Small spaces (at most :data:`DENSE_LIMIT` rules) are enumerated and ordered by exponential clocks (weighted
sampling without replacement under the same law), so any request up to the whole space is met. Larger spaces
are sampled and de-duplicated, and refuse requests above half the space. The mode depends on the space alone,
so for one seed, a larger request extends a smaller one: instruction sets are nested across a sweep.

A draw can be told what to avoid (:class:`Exclusion`): rules already taken (the other split's), patterns
(the unseen-test patterns, for novel-pattern test sets), replacements (the unseen-test ones, for novel
replacements) and a whole pattern sub-space (:meth:`contains`).

With ``k_rule: divides`` (the papers' literal families) a structure only takes the k that divide the pattern
length: ``aaabbbccc`` is repeated k = 3 at length 9, and no repeated k = 4 pattern of length 9 exists; with
``k_rule: any`` (the generator's extension, the default) every k gives a class, segments of ceil(L / k)
characters, the last one cut short.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from core.errors import ConfigError
from generators.fields import SpaceConfig
from generators.rng import generator, integers, uniform01, uniform_symbols

DENSE_LIMIT = 1 << 22
_BATCH = 65536


@dataclass(frozen=True)
class PatternClass:
    structure: str
    k: int
    length: int
    index_map: tuple[int, ...]  # x[i] = free[index_map[i]]

    @property
    def free(self) -> int:
        return max(self.index_map) + 1

    @property
    def structured(self) -> bool:
        """Whether the class repeats a character (the random class, every character free, does not)."""
        return self.free < self.length

    @property
    def label(self) -> str:
        return "random" if not self.structured else f"{self.structure} k={self.k}"

    def within(self, other: PatternClass) -> bool:
        """Whether every pattern of this class is also one of ``other`` (same length, and every pair of positions
        that ``other`` makes equal is equal here too): repeated k = 4 lies within repeated k = 2."""
        if other.length != self.length:
            return False
        groups: dict[int, int] = {}
        return all(groups.setdefault(o, f) == f for o, f in zip(other.index_map, self.index_map))

    def members(self, x: np.ndarray) -> np.ndarray:
        """Which rows of ``x`` (patterns of this class's length) repeat their characters as the map requires."""
        first = {}
        for pos, f in enumerate(self.index_map):
            first.setdefault(f, pos)
        src = np.asarray([first[f] for f in self.index_map], dtype=np.int64)
        return (x[:, : self.length] == x[:, src]).all(axis=1)


def pattern_index_map(structure: str, k: int, length: int) -> tuple[int, ...]:
    """Which free character each position of a pattern copies, for a structure with parameter k."""
    if structure == "random" or k == 1:
        return tuple(range(length))
    seg = math.ceil(length / k)
    if structure == "repeated":  # runs of k equal characters
        return tuple(i // k for i in range(length))
    if structure == "periodic":  # a base of length ceil(L/k), repeated
        return tuple(i % seg for i in range(length))
    if structure == "mirrored":  # base, reversed base, base, ...
        return tuple((i % seg) if (i // seg) % 2 == 0 else seg - 1 - (i % seg) for i in range(length))
    raise ValueError(f"unknown structure {structure!r}")


@dataclass
class Exclusion:
    """What a draw must avoid. ``rules`` (keys ``x + b"\\x00" + y``) is updated in place with every rule drawn,
    so drawing the test rules and then the training rules with one ``Exclusion`` keeps them disjoint."""

    rules: set[bytes] = field(default_factory=set)
    patterns: set[bytes] = field(default_factory=set)  # patterns x that may not be drawn
    space: InstructionSpace | None = None  # patterns lying in this space's structured classes may not be drawn
    replacements: set[bytes] = field(default_factory=set)  # replacements y that may not be drawn
    refused: int = 0  # candidate rules refused because of their pattern (patterns or space)
    refused_replacements: int = 0  # candidate rules refused because of their replacement

    def refuses(self, pool: Rules) -> np.ndarray | None:
        return self.space.contains(pool.x, pool.x_len, structured_only=True) if self.space is not None else None


def pattern_matrix(patterns: set[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Patterns as :meth:`InstructionSpace.contains` reads them: a uint8 matrix, one pattern per row (sorted),
    padded with 0 to the longest, and the lengths."""
    xs = sorted(patterns)
    width = max(map(len, xs), default=0)
    mat = np.frombuffer(b"".join(x.ljust(width, b"\0") for x in xs), dtype=np.uint8).reshape(len(xs), width)
    return mat, np.array([len(x) for x in xs])


def exclude_patterns(ex: Exclusion, test_pool, unseen, test_space: InstructionSpace) -> None:
    """Set what the training draw must avoid beyond the test rules, as ``unseen`` (the ``splits.test_unseen``
    section) asks: for ``novel_patterns`` the unseen-test patterns, and with ``test_space`` the test space's
    structured patterns too; with ``novel_replacements`` the unseen-test replacements."""
    mode = unseen.novel_patterns
    if mode in ("test_patterns", "test_space"):
        ex.patterns = set(test_pool.patterns())
    if mode == "test_space":
        ex.space = test_space
    if unseen.novel_replacements:
        ex.replacements = set(test_pool.replacements())


@dataclass
class Rules:
    """A list of rules as padded byte matrices (ASCII codes; padding is 0)."""

    x: np.ndarray  # (m, Wx) uint8
    x_len: np.ndarray  # (m,) int32
    y: np.ndarray  # (m, Wy) uint8
    y_len: np.ndarray  # (m,) int32

    def __len__(self) -> int:
        return int(self.x_len.shape[0])

    def x_str(self, i: int) -> str:
        return self.x[i, : self.x_len[i]].tobytes().decode("ascii")

    def y_str(self, i: int) -> str:
        return self.y[i, : self.y_len[i]].tobytes().decode("ascii")

    def keys(self) -> list[bytes]:
        return [
            self.x[i, : self.x_len[i]].tobytes() + b"\x00" + self.y[i, : self.y_len[i]].tobytes()
            for i in range(len(self))
        ]

    def rule_keys(self) -> list[bytes]:
        """The single rules (here: every entry is one rule)."""
        return self.keys()

    def patterns(self) -> set[bytes]:
        return {self.x[i, : self.x_len[i]].tobytes() for i in range(len(self))}

    def replacements(self) -> list[bytes]:
        """The replacement of every rule, in order."""
        return [self.y[i, : self.y_len[i]].tobytes() for i in range(len(self))]

    def pattern_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct patterns, as a padded matrix and lengths."""
        if len(self) == 0:
            return self.x, self.x_len
        rows = np.ascontiguousarray(self.x).view(np.dtype((np.void, self.x.shape[1]))).reshape(-1)
        _, first = np.unique(rows, return_index=True)
        return self.x[first], self.x_len[first]

    def take(self, idx: np.ndarray) -> Rules:
        return Rules(self.x[idx], self.x_len[idx], self.y[idx], self.y_len[idx])

    @staticmethod
    def concat(parts: list[Rules], wx: int, wy: int) -> Rules:
        if not parts:
            return Rules(np.zeros((0, wx), np.uint8), np.zeros(0, np.int32), np.zeros((0, wy), np.uint8), np.zeros(0, np.int32))
        return Rules(
            np.concatenate([p.x for p in parts]),
            np.concatenate([p.x_len for p in parts]),
            np.concatenate([p.y for p in parts]),
            np.concatenate([p.y_len for p in parts]),
        )


class InstructionSpace:
    """The rule space described by a :class:`SpaceConfig`."""

    def __init__(self, cfg: SpaceConfig, where: str = "space"):
        self.cfg = cfg
        self.where = where
        self.alphabet = np.frombuffer(cfg.alphabet.encode("ascii"), dtype=np.uint8)
        self.x_alphabet = np.frombuffer((cfg.x_alphabet or cfg.alphabet).encode("ascii"), dtype=np.uint8)
        seen: dict[tuple[int, ...], PatternClass] = {}
        for s in cfg.structures:
            for k in ([1] if s == "random" else list(cfg.k.values())):
                for L in cfg.x_len.values():
                    if cfg.k_rule == "divides" and L % k:
                        continue  # the papers' families: k segments (runs) of equal length
                    imap = pattern_index_map(s, k, L)
                    seen.setdefault(imap, PatternClass(s, k, L, imap))
        self.classes: list[PatternClass] = list(seen.values())
        self.wx = cfg.x_len.max
        self.wy = max(cfg.y_len.max, 1)

    # ---- size ----------------------------------------------------------------------------------------
    @property
    def x_size(self) -> int:
        """Number of patterns (an upper bound when two structures can make the same string)."""
        ax = len(self.x_alphabet)
        return sum(ax**c.free for c in self.classes)

    @property
    def y_size(self) -> int:
        a = len(self.alphabet)
        return sum(a**L for L in self.cfg.y_len.values())

    @property
    def size(self) -> int:
        """Number of rules ``x -> y`` with ``x != y`` (an upper bound when two structures overlap)."""
        ax = len(self.x_alphabet)  # x_alphabet is within the alphabet (validated), so x == y is possible
        same = sum(ax**c.free for c in self.classes if c.length in self.cfg.y_len.values())
        return self.x_size * self.y_size - same

    @property
    def dense(self) -> bool:
        return self.size <= DENSE_LIMIT

    # ---- membership ----------------------------------------------------------------------------------
    def contains(self, x: np.ndarray, x_len: np.ndarray, structured_only: bool = False) -> np.ndarray:
        """Which patterns (rows of ``x``, lengths ``x_len``) lie in this space: their length is one of its pattern
        lengths, their characters are in its pattern alphabet, and they repeat their characters as one of its
        classes requires. ``structured_only`` ignores the random class (every string of a length is in it)."""
        x = np.asarray(x, dtype=np.uint8)
        x_len = np.asarray(x_len)
        out = np.zeros(x.shape[0], dtype=bool)
        allowed = np.zeros(256, dtype=bool)
        allowed[self.x_alphabet] = True
        for c in self.classes:
            if structured_only and not c.structured:
                continue
            rows = np.flatnonzero((x_len == c.length) & ~out)
            if rows.size == 0 or c.length > x.shape[1]:
                continue
            sub = x[rows]
            ok = allowed[sub[:, : c.length]].all(axis=1) & c.members(sub)
            out[rows[ok]] = True
        return out

    def classes_within(self, other: InstructionSpace) -> list[PatternClass]:
        """This space's classes whose every pattern lies in a structured class of ``other`` (under
        ``novel_patterns: test_space`` every draw from them is refused)."""
        if not set(self.x_alphabet.tolist()) <= set(other.x_alphabet.tolist()):
            return []
        return [c for c in self.classes if any(t.structured and c.within(t) for t in other.classes)]

    def all_patterns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every distinct pattern of the space (small spaces only), with its probability under the draw's law.

        A pattern that several classes make is listed once, at its first class, with the classes' summed weight.
        """
        xs, xls, xw = [], [], []
        ax = len(self.x_alphabet)
        for c in self.classes:
            count = ax**c.free
            digits = _all_strings(ax, c.free)
            block = np.zeros((count, self.wx), dtype=np.uint8)
            block[:, : c.length] = self.x_alphabet[digits[:, list(c.index_map)]]
            xs.append(block)
            xls.append(np.full(count, c.length, np.int32))
            xw.append(np.full(count, 1.0 / (len(self.classes) * count)))
        x_all, xl_all, xw_all = np.concatenate(xs), np.concatenate(xls), np.concatenate(xw)
        _, first, inverse = np.unique(x_all, axis=0, return_index=True, return_inverse=True)
        weight = np.bincount(inverse.reshape(-1), weights=xw_all)  # summed over the classes that make it
        order = np.argsort(first, kind="stable")  # first-appearance order
        keep = first[order]
        return x_all[keep], xl_all[keep], weight[order]

    # ---- drawing -------------------------------------------------------------------------------------
    def _draw(self, rng: np.random.Generator, n: int) -> Rules:
        """n candidate rules drawn independently from the space's law."""
        x = np.zeros((n, self.wx), dtype=np.uint8)
        x_len = np.zeros(n, dtype=np.int32)
        cls = integers(rng, 0, len(self.classes) - 1, n)
        for ci, c in enumerate(self.classes):
            rows = np.flatnonzero(cls == ci)
            if rows.size == 0:
                continue
            free = uniform_symbols(rng, len(self.x_alphabet), (rows.size, c.free))
            x[rows, : c.length] = self.x_alphabet[free[:, list(c.index_map)]]
            x_len[rows] = c.length
        y_len = integers(rng, self.cfg.y_len.min, self.cfg.y_len.max, n).astype(np.int32)
        y = self.alphabet[uniform_symbols(rng, len(self.alphabet), (n, self.wy))]
        y[np.arange(self.wy)[None, :] >= y_len[:, None]] = 0
        return Rules(x, x_len, y, y_len)

    def _enumerate(self, rng: np.random.Generator) -> Rules:
        """Every rule of a small space, ordered by exponential clocks (sampling without replacement)."""
        x_all, xl_all, xw_all = self.all_patterns()
        ys, yls, yw = [], [], []
        a = len(self.alphabet)
        n_len = len(self.cfg.y_len.values())
        for L in self.cfg.y_len.values():
            count = a**L
            block = np.zeros((count, self.wy), dtype=np.uint8)
            if L:
                block[:, :L] = self.alphabet[_all_strings(a, L)]
            ys.append(block)
            yls.append(np.full(count, L, np.int32))
            yw.append(np.full(count, 1.0 / (n_len * count)))
        y_all, yl_all, yw_all = np.concatenate(ys), np.concatenate(yls), np.concatenate(yw)
        xi, yi = np.divmod(np.arange(len(x_all) * len(y_all)), len(y_all))
        rules = Rules(x_all[xi], xl_all[xi], y_all[yi], yl_all[yi])
        weight = xw_all[xi] * yw_all[yi]
        clocks = -np.log1p(-uniform01(rng, len(weight))) / weight  # exponential clocks
        order = np.argsort(clocks, kind="stable")
        return rules.take(order)

    def distinct(self, seed: int, purpose: str, count: int, exclude: set[bytes] | Exclusion | None = None) -> Rules:
        """``count`` distinct rules that ``exclude`` allows, the same for the same seed, purpose and exclusion.

        ``exclude`` (a set of rule keys, or an :class:`Exclusion`) is updated in place with the rules drawn, in
        both modes, so the caller's next draw avoids them. The rules come in a fixed order, so the first m of a
        larger request equal a request for m.
        """
        ex = exclude if isinstance(exclude, Exclusion) else Exclusion(rules=exclude if exclude is not None else set())
        rng = generator(seed, "instructions", purpose)
        if count == 0:
            return Rules.concat([], self.wx, self.wy)
        if self.dense:
            pool = self._enumerate(rng)
            parts, have = [], 0
            for start in range(0, len(pool), _BATCH):
                picked = _pick(pool.take(np.arange(start, min(start + _BATCH, len(pool)))), count - have, ex)
                parts.append(picked)
                have += len(picked)
                if have == count:
                    break
            if have < count:
                raise ConfigError(
                    f"{self.where}",
                    f"the instruction space holds only {have} usable rules here "
                    f"(after excluding x == y, the other split's rules and any excluded patterns), fewer than the "
                    f"{count} requested; widen the alphabet or the lengths",
                )
            return Rules.concat(parts, self.wx, self.wy)
        if count > self.size // 2:
            raise ConfigError(
                f"{self.where}",
                f"{count} distinct instructions is more than half of this space (about {self.size:.3g} rules); "
                f"sampling so densely from a space this large is refused: widen the space or ask for fewer",
            )
        parts: list[Rules] = []
        have = 0
        draws = 0
        budget = 50 * count + 1_000_000
        while have < count:
            batch = self._draw(rng, _BATCH)
            draws += _BATCH
            picked = _pick(batch, count - have, ex)
            parts.append(picked)
            have += len(picked)
            if have < count and draws > budget:
                raise ConfigError(
                    f"{self.where}",
                    f"found only {have} distinct instructions of the {count} requested after {draws} draws; "
                    f"the space is effectively too small (its structures overlap, or excluded patterns cover most "
                    f"of it): widen it or ask for fewer",
                )
        return Rules.concat(parts, self.wx, self.wy)


def _pick(pool: Rules, count: int, ex: Exclusion) -> Rules:
    """The first ``count`` rules of ``pool`` that ``ex`` allows (x != y, not taken, pattern not excluded), in
    order; adds them to ``ex.rules``."""
    refused = ex.refuses(pool)
    keep = []
    for i in range(len(pool)):
        if len(keep) == count:
            break
        x = pool.x[i, : pool.x_len[i]].tobytes()
        y = pool.y[i, : pool.y_len[i]].tobytes()
        key = x + b"\x00" + y
        if x == y or key in ex.rules:
            continue
        if (refused is not None and refused[i]) or x in ex.patterns:
            ex.refused += 1
            continue
        if ex.replacements and y in ex.replacements:
            ex.refused_replacements += 1
            continue
        ex.rules.add(key)
        keep.append(i)
    return pool.take(np.asarray(keep, dtype=np.int64))


def _all_strings(base: int, length: int) -> np.ndarray:
    """All ``base**length`` digit strings, in lexicographic order, as a (count, length) uint8 matrix."""
    count = base**length
    idx = np.arange(count, dtype=np.int64)
    out = np.zeros((count, length), dtype=np.uint8)
    for pos in range(length - 1, -1, -1):
        idx, out[:, pos] = np.divmod(idx, base)
    return out
