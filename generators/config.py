"""Generator configuration: dataclasses loaded from YAML, every field validated with a message naming it.

A config file is a YAML mapping whose keys are the fields of :class:`GeneratorConfig` (nested mappings for the
nested dataclasses). Unknown keys are errors, so a typo never silently falls back to a default. Command-line
overrides use dotted paths: ``--set space.x_len=10 --set instructions=500`` (values are parsed as YAML).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError

STRUCTURES = ("random", "repeated", "periodic", "mirrored")
NOVEL_PATTERNS = ("none", "test_patterns", "test_space")
HELDOUT_LIMIT = 10_000_000  # validation rows (and test_seen prompts) are made in memory with the plan
DISTRIBUTIONS = ("uniform", "power_law", "explicit")
CIPHERS = ("none", "caesar", "substitution")
TASKS = ("rewrite", "markov")


@dataclass(frozen=True)
class Range:
    """An inclusive integer range, written in YAML as ``20`` or ``[5, 20]``."""

    min: int
    max: int

    @property
    def fixed(self) -> bool:
        return self.min == self.max

    def values(self) -> range:
        return range(self.min, self.max + 1)

    def to_yaml(self) -> int | list[int]:
        return self.min if self.fixed else [self.min, self.max]


@dataclass
class SpaceConfig:
    """The instruction space: rules ``x -> y``.

    ``x`` (the pattern) is drawn from ``x_alphabet`` (default: the whole alphabet) with one of the
    ``structures``; ``y`` (the replacement) is a random string over ``alphabet``. Structures, for a pattern of
    length L and structure parameter k (k = 1 is always an unstructured random string):

    - ``random``: every character free.
    - ``repeated``: runs of k equal characters (``aaabbbccc`` has k = 3).
    - ``periodic``: a base of length ceil(L/k) repeated k times (``abcabc`` has k = 2).
    - ``mirrored``: k segments of length ceil(L/k), alternately the base and its reverse
      (``abccbaabc`` has k = 3).

    Restricting ``x_alphabet`` or the structures (and k) names a semantic sub-space; ``test_space`` in the
    generator config can draw the unseen test instructions from another one.

    The family mix: the space's pattern *classes* are the distinct index maps of its (structure, k, length)
    combinations (k = 1 of every structure is the one random class; combinations with the same map, e.g.
    periodic k = 31 ... 59 at length 60, are one class). Each draw picks a class uniformly, then its free
    characters uniformly, so before de-duplication every class gets the same share of draws, whatever its size.
    A pattern that two classes make (``aaaabbbb``: repeated k = 4 and k = 2) is one pattern with the summed
    probability, and is counted once; distinct-rule sampling drops repeats, so a class with few patterns
    (repeated k = L: one per letter) is used up early and the realized mix shifts towards large classes as the
    number of instructions grows. ``datagen.json`` (``patterns``) records how many training patterns also lie
    in the test space.
    """

    alphabet: str = "abcdefghijklmnopqrstuvwxyz"
    x_alphabet: str | None = None
    x_len: Range = field(default_factory=lambda: Range(20, 20))
    y_len: Range = field(default_factory=lambda: Range(20, 20))
    structures: list[str] = field(default_factory=lambda: ["random"])
    k: Range = field(default_factory=lambda: Range(1, 1))


@dataclass
class DistributionConfig:
    """How the N training examples are spread over the I training instructions (exact counts, summing to N).

    - ``uniform``: N / I each (exactly S when N = I x S; otherwise the budget spread as evenly as possible:
      ``N mod I`` instructions get one more).
    - ``power_law`` (the paper's imbalance experiment): one weight per instruction drawn from the density
      ``f(w) = alpha * w**(alpha - 1)`` on (0, 1] (``w = u**(1/alpha)``, u uniform, from a stream keyed by the
      seed and the instruction's index: instruction i keeps its weight whatever I is), and counts proportional
      to the weights, rounded by the largest-remainder rule. Skew grows along the paper's axis uniform, 2, 1,
      0.5, 0.2, 0.1, 0.07, 0.03 (alpha = 1 is not uniform: its weights are uniform on (0, 1]).
    - ``explicit``: ``weights`` (one per instruction, any non-negative scale), rounded the same way.

    An instruction whose count rounds to zero stays in the pool (its id exists and the report counts it) but
    has no training rows, and ``test_seen`` / ``validation`` never use it. ``datagen.json`` reports, for the
    train split, ``distinct_instructions`` (those with at least one example) and ``effective_instructions``
    (exp of the entropy of the count distribution).
    """

    kind: str = "uniform"
    alpha: float = 1.0
    weights: list[float] | None = None


@dataclass
class CipherConfig:
    """A character-level cipher applied to every rule, input and output (the encrypted-rewriting task).

    ``caesar`` shifts each character by ``shift`` places within the alphabet; ``substitution`` maps the
    alphabet onto ``key`` (a permutation of it) or, with no key, onto a permutation drawn from ``seed``.
    """

    kind: str = "none"
    shift: int = 3
    key: str | None = None
    seed: int = 0


@dataclass
class MarkovConfig:
    """Markov algorithms: an ordered list of rules per instruction, some terminal.

    Apply the first rule (in order) whose pattern occurs, at its leftmost occurrence; stop after a terminal
    rule fires, when no rule applies, or after ``max_steps`` applications. Outputs are capped at ``max_len``
    characters (a run that would grow past it stops there and is flagged ``truncated``).
    """

    rules: Range = field(default_factory=lambda: Range(2, 3))
    terminal_fraction: float = 0.25
    max_steps: int = 8
    max_len: int = 200


@dataclass
class TestUnseenConfig:
    """Unseen-instruction test split: ``instructions`` new rules, ``examples`` rows (cycling over the rules).

    No single unseen rule is ever a training rule. ``novel_patterns`` keeps their patterns out of training too:

    - ``none``: training rules may reuse an unseen rule's pattern x (with another replacement);
    - ``test_patterns``: no training rule's x equals any unseen rule's x (the unseen rules are drawn first and
      their patterns excluded from the training draw);
    - ``test_space`` (needs ``test_space``): as ``test_patterns``, and no training pattern lies in the test
      space at all: none has its length and characters and repeats its characters as one of the test space's
      structured classes requires (``aaaabbbb``, repeated k = 4, is also repeated k = 2). The random class
      (k = 1) holds every string of its length, so it is covered by the verbatim rule only.
    """

    instructions: int = 100
    examples: int = 1000
    novel_patterns: str = "none"


@dataclass
class TestSeenConfig:
    """Seen-instruction test split: ``examples`` new rows over the training instructions that have examples,
    visited in a keyed random order (a uniform sample of them when there are more rules than rows), cycling."""

    examples: int = 1000


@dataclass
class ValidationConfig:
    """Held-out rows of the training rules (new inputs) for eval loss, early stopping and model selection:
    ``examples`` rows whose rules are a sample of the training rows' rules (the training mix), with inputs from
    their own random stream; no validation prompt equals a ``test_seen`` prompt (see ``generators.heldout``)."""

    examples: int = 500


@dataclass
class SplitsConfig:
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    test_unseen: TestUnseenConfig = field(default_factory=TestUnseenConfig)
    test_seen: TestSeenConfig = field(default_factory=TestSeenConfig)


@dataclass
class GeneratorConfig:
    """Everything that determines a generated dataset (with the generator version).

    ``occurrences`` (rewrite task): each op input gets a value c from this list (uniformly) and contains x
    exactly c times, counted as match positions (overlapping matches count: ``aaa`` holds ``aa`` twice): the c
    planted, non-overlapping copies and no accidental match, so ``input.count(x) == c`` as well. No-op inputs
    contain x nowhere. Inputs that miss the count are redrawn (then made of characters outside x; a clear
    error if even that cannot work, e.g. a 2-letter alphabet with no room between the copies).
    """

    name: str = "rewrite"
    task: str = "rewrite"
    seed: int = 0
    instructions: int = 100
    examples_per_instruction: int | None = None
    budget: int | None = None
    distribution: DistributionConfig = field(default_factory=DistributionConfig)
    noop_fraction: float = 0.0
    input_len: Range = field(default_factory=lambda: Range(50, 50))
    occurrences: list[int] = field(default_factory=lambda: [1])
    space: SpaceConfig = field(default_factory=SpaceConfig)
    test_space: SpaceConfig | None = None
    splits: SplitsConfig = field(default_factory=SplitsConfig)
    prompt_template: str = "{rule}\n{input}\n"
    cipher: CipherConfig = field(default_factory=CipherConfig)
    markov: MarkovConfig = field(default_factory=MarkovConfig)
    shard_rows: int = 262_144

    # ---- derived quantities -------------------------------------------------------------------------
    @property
    def train_examples(self) -> int:
        """N, the number of training rows (I x S, or the budget)."""
        if self.budget is not None:
            return self.budget
        return self.instructions * (self.examples_per_instruction or 1)

    @property
    def effective_test_space(self) -> SpaceConfig:
        return self.test_space if self.test_space is not None else self.space

    def to_dict(self) -> dict[str, Any]:
        """A plain, YAML-ready dict that :func:`config_from_dict` reads back to an equal config."""
        return _to_plain(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


# ---------------------------------------------------------------------------------------------------------
# Loading


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> GeneratorConfig:
    """Read a YAML config file, apply ``key.path=value`` overrides and validate the result."""
    return config_from_dict(read_yaml_config(path, overrides))


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, field: str, first: int, second: int):
        super().__init__(f"duplicate key {field} (lines {first} and {second})")
        self.field, self.first, self.second = field, first, second


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping, at any depth (plain YAML keeps the last
    value silently). Merge keys (``<<: *base``) may still be overridden: only keys written in the mapping count."""

    def construct_document(self, node):
        self._paths: dict[int, str] = {}
        self._name_paths(node, "")
        return super().construct_document(node)

    def _name_paths(self, node, path: str) -> None:
        if id(node) in self._paths:  # an alias of a node already named
            return
        self._paths[id(node)] = path
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
                self._name_paths(value_node, f"{path}.{key}" if path else str(key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._name_paths(item, f"{path}[{i}]")

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    if key in seen:
                        parent = getattr(self, "_paths", {}).get(id(node), "")
                        raise DuplicateKeyError(f"{parent}.{key}" if parent else str(key), seen[key], line)
                    seen[key] = line
                except TypeError:  # an unhashable key: the base class reports it
                    continue
        return super().construct_mapping(node, deep)


def read_yaml_config(path: str | Path, overrides: list[str] | tuple[str, ...] = (), kind: str = "config") -> dict[str, Any]:
    """The mapping in a YAML file (an empty file is ``{}``) with overrides applied; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(None, f"{kind} file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(None, f"{kind} file {path} cannot be read: {exc}") from None
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506  (a SafeLoader subclass)
    except DuplicateKeyError as exc:
        raise ConfigError(exc.field, f"appears twice in {kind} file {path} (lines {exc.first} and {exc.second}); "
                                     f"keep one") from None
    except yaml.YAMLError as exc:
        raise ConfigError(None, f"{kind} file {path} is not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(None, f"{kind} file {path} must hold a YAML mapping, not {type(data).__name__}")
    return apply_overrides(data, overrides)


def apply_overrides(data: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides to a nested dict in place (values parsed as YAML)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(None, f"override {item!r} must look like key=value (e.g. space.x_len=10)")
        key, raw = item.split("=", 1)
        key = key.strip()
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(key, f"override value {raw!r} is not valid YAML: {exc}") from None
        parts = key.split(".")
        node = data
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(".".join(parts[: depth + 1]), "is not a mapping, cannot set a sub-field")
            node = child
        node[parts[-1]] = value
    return data


def config_from_dict(data: dict[str, Any]) -> GeneratorConfig:
    cfg = _build(GeneratorConfig, data, "")
    validate(cfg)
    return cfg


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(prefix or None, f"must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        where = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ConfigError(where, f"unknown field (known fields here: {', '.join(sorted(known))})")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f"{prefix}.{name}" if prefix else name)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, where)
    if tp is Range:
        return _range(value, where)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(where, f"must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(where, f"must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(where, f"must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(where, f"must be a string, got {value!r}")
        return value
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            value = [value]
        return [_coerce(item_tp, v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"unsupported config type {tp!r} at {where}")  # a bug in this module, not user input


def _range(value: Any, where: str) -> Range:
    if isinstance(value, bool):
        raise ConfigError(where, f"must be an integer or [min, max], got {value!r}")
    if isinstance(value, int):
        lo = hi = value
    elif isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        lo, hi = value
    elif isinstance(value, dict) and set(value) == {"min", "max"} and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value.values()
    ):
        lo, hi = value["min"], value["max"]
    else:
        raise ConfigError(where, f"must be an integer or [min, max], got {value!r}")
    if lo > hi:
        raise ConfigError(where, f"min {lo} is larger than max {hi}")
    return Range(int(lo), int(hi))


def _to_plain(obj: Any) -> Any:
    if isinstance(obj, Range):
        return obj.to_yaml()
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list):
        return [_to_plain(v) for v in obj]
    return obj


# ---------------------------------------------------------------------------------------------------------
# Validation: everything a user can get wrong, checked before anything is written.


def check_name(name: str, where: str) -> None:
    """Names become folder and repository names: non-empty, no slashes or whitespace."""
    if not name or any(c in name for c in "/\\ \t\n"):
        raise ConfigError(where, f"must be a non-empty name without slashes or spaces, got {name!r}")


def check_seed(seed: int) -> None:
    if seed < 0:
        raise ConfigError("seed", f"must be >= 0, got {seed}")


def validate(cfg: GeneratorConfig) -> None:
    if cfg.task not in TASKS:
        raise ConfigError("task", f"unknown task {cfg.task!r} (choose from {', '.join(TASKS)})")
    check_name(cfg.name, "name")
    check_seed(cfg.seed)
    if cfg.instructions < 1:
        raise ConfigError("instructions", f"must be >= 1, got {cfg.instructions}")
    if cfg.examples_per_instruction is not None and cfg.budget is not None:
        if cfg.examples_per_instruction * cfg.instructions != cfg.budget:
            raise ConfigError(
                "budget",
                f"give examples_per_instruction or budget, not both that disagree "
                f"({cfg.instructions} x {cfg.examples_per_instruction} != {cfg.budget})",
            )
    if cfg.examples_per_instruction is not None and cfg.examples_per_instruction < 1:
        raise ConfigError("examples_per_instruction", f"must be >= 1, got {cfg.examples_per_instruction}")
    if cfg.budget is not None and cfg.budget < 1:
        raise ConfigError("budget", f"must be >= 1, got {cfg.budget}")
    if cfg.budget is not None and cfg.distribution.kind == "uniform" and cfg.budget < cfg.instructions:
        raise ConfigError(
            "budget", f"{cfg.budget} examples cannot cover {cfg.instructions} instructions at least once each"
        )
    _validate_distribution(cfg)
    if not (0.0 <= cfg.noop_fraction <= 1.0) or math.isnan(cfg.noop_fraction):
        raise ConfigError("noop_fraction", f"must be within [0, 1], got {cfg.noop_fraction}")
    if cfg.input_len.min < 1:
        raise ConfigError("input_len", f"must be >= 1, got {cfg.input_len.to_yaml()}")
    if not cfg.occurrences or any(o < 1 for o in cfg.occurrences):
        raise ConfigError("occurrences", f"must be a non-empty list of integers >= 1, got {cfg.occurrences}")
    if cfg.task == "markov" and cfg.occurrences != [1]:
        raise ConfigError("occurrences", "is a rewrite-task setting: Markov inputs get one planted pattern")
    _validate_space(cfg.space, "space")
    if cfg.test_space is not None:
        _validate_space(cfg.test_space, "test_space")
    for sp, where in ((cfg.space, "space"), (cfg.effective_test_space, "test_space")):
        need = max(cfg.occurrences) * sp.x_len.max
        if cfg.task == "rewrite" and need > cfg.input_len.min:
            raise ConfigError(
                "input_len",
                f"inputs of {cfg.input_len.min} characters cannot hold {max(cfg.occurrences)} occurrence(s) "
                f"of a {sp.x_len.max}-character pattern ({where}.x_len); raise input_len or lower "
                f"occurrences / x_len",
            )
        if cfg.task == "markov" and sp.x_len.max > cfg.input_len.min:
            raise ConfigError(
                "input_len", f"inputs of {cfg.input_len.min} characters cannot hold a {sp.x_len.max}-character pattern"
            )
        if cfg.noop_fraction > 0 and len(set(sp.alphabet)) < 2:
            raise ConfigError(f"{where}.alphabet", "no-op inputs (without the pattern) need at least 2 characters")
    tu = cfg.splits.test_unseen
    if tu.instructions < 0 or tu.examples < 0:
        raise ConfigError("splits.test_unseen", "instructions and examples must be >= 0")
    if tu.examples > 0 and tu.instructions == 0:
        raise ConfigError("splits.test_unseen.instructions", "must be >= 1 when the split has examples")
    if cfg.splits.test_seen.examples < 0:
        raise ConfigError("splits.test_seen.examples", "must be >= 0")
    if cfg.splits.validation.examples < 0:
        raise ConfigError("splits.validation.examples", "must be >= 0")
    for name in ("validation", "test_seen"):
        if getattr(cfg.splits, name).examples > HELDOUT_LIMIT:
            raise ConfigError(
                f"splits.{name}.examples",
                f"at most {HELDOUT_LIMIT:,} rows (held-out rows are kept in memory to keep validation and test_seen apart)",
            )
    if tu.novel_patterns not in NOVEL_PATTERNS:
        raise ConfigError(
            "splits.test_unseen.novel_patterns", f"must be one of {', '.join(NOVEL_PATTERNS)}, got {tu.novel_patterns!r}"
        )
    if tu.novel_patterns == "test_space" and cfg.test_space is None:
        raise ConfigError(
            "splits.test_unseen.novel_patterns",
            "test_space keeps training patterns out of a separate test space: give test_space (or use test_patterns)",
        )
    _validate_template(cfg.prompt_template)
    _validate_cipher(cfg)
    if cfg.task == "markov":
        mk = cfg.markov
        if mk.rules.min < 1:
            raise ConfigError("markov.rules", f"must be >= 1, got {mk.rules.to_yaml()}")
        if not 0.0 <= mk.terminal_fraction <= 1.0:
            raise ConfigError("markov.terminal_fraction", f"must be within [0, 1], got {mk.terminal_fraction}")
        if mk.max_steps < 1:
            raise ConfigError("markov.max_steps", f"must be >= 1, got {mk.max_steps}")
        if mk.max_len < cfg.input_len.max:
            raise ConfigError("markov.max_len", f"must be >= input_len ({cfg.input_len.max}), got {mk.max_len}")
    if cfg.shard_rows < 1:
        raise ConfigError("shard_rows", f"must be >= 1, got {cfg.shard_rows}")


def _validate_distribution(cfg: GeneratorConfig) -> None:
    d = cfg.distribution
    if d.kind not in DISTRIBUTIONS:
        raise ConfigError("distribution.kind", f"unknown distribution {d.kind!r} (choose from {', '.join(DISTRIBUTIONS)})")
    if d.kind == "power_law" and not (d.alpha > 0 and math.isfinite(d.alpha)):
        raise ConfigError("distribution.alpha", f"must be a positive number, got {d.alpha}")
    if d.kind == "explicit":
        if d.weights is None or len(d.weights) != cfg.instructions:
            got = "none" if d.weights is None else str(len(d.weights))
            raise ConfigError("distribution.weights", f"needs one weight per instruction ({cfg.instructions}), got {got}")
        if any(not (w >= 0 and math.isfinite(w)) for w in d.weights) or sum(d.weights) <= 0:
            raise ConfigError("distribution.weights", "weights must be finite, >= 0, and not all zero")


def _validate_space(sp: SpaceConfig, where: str) -> None:
    if not sp.alphabet:
        raise ConfigError(f"{where}.alphabet", "must not be empty")
    if len(set(sp.alphabet)) != len(sp.alphabet):
        raise ConfigError(f"{where}.alphabet", f"has repeated characters: {sp.alphabet!r}")
    if any(ord(c) > 127 or not c.isprintable() for c in sp.alphabet):
        raise ConfigError(f"{where}.alphabet", "must hold printable ASCII characters only")
    if sp.x_alphabet is not None:
        if not sp.x_alphabet or len(set(sp.x_alphabet)) != len(sp.x_alphabet):
            raise ConfigError(f"{where}.x_alphabet", f"must be non-empty without repeats, got {sp.x_alphabet!r}")
        extra = sorted(set(sp.x_alphabet) - set(sp.alphabet))
        if extra:
            raise ConfigError(f"{where}.x_alphabet", f"characters {''.join(extra)!r} are not in the alphabet")
    if sp.x_len.min < 1:
        raise ConfigError(f"{where}.x_len", f"patterns need at least 1 character, got {sp.x_len.to_yaml()}")
    if sp.y_len.min < 0:
        raise ConfigError(f"{where}.y_len", f"must be >= 0, got {sp.y_len.to_yaml()}")
    if not sp.structures:
        raise ConfigError(f"{where}.structures", "must name at least one structure")
    for s in sp.structures:
        if s not in STRUCTURES:
            raise ConfigError(f"{where}.structures", f"unknown structure {s!r} (choose from {', '.join(STRUCTURES)})")
    if sp.k.min < 1:
        raise ConfigError(f"{where}.k", f"must be >= 1, got {sp.k.to_yaml()}")
    if sp.k.max > sp.x_len.max and sp.structures != ["random"]:
        raise ConfigError(f"{where}.k", f"k up to {sp.k.max} exceeds the pattern length {sp.x_len.max}")


TEMPLATE_FIELDS = ("rule", "x", "y", "input")


def parse_template(template: str) -> list[tuple[str, str]]:
    """Split a prompt template into ``("lit", text)`` and ``("field", name)`` parts."""
    import string

    parts: list[tuple[str, str]] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError("prompt_template", f"is not a valid template: {exc}") from None
    for literal, name, spec, conv in parsed:
        if literal:
            parts.append(("lit", literal))
        if name is not None:
            if name not in TEMPLATE_FIELDS or spec or conv:
                raise ConfigError(
                    "prompt_template", f"unknown placeholder {{{name}}} (use {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)})"
                )
            parts.append(("field", name))
    return parts


def _validate_template(template: str) -> None:
    parts = parse_template(template)
    names = {n for k, n in parts if k == "field"}
    if "input" not in names:
        raise ConfigError("prompt_template", "must contain {input}")
    if not ({"rule"} & names or {"x", "y"} <= names):
        raise ConfigError("prompt_template", "must contain {rule} (or both {x} and {y})")
    if any(ord(c) > 127 for k, t in parts if k == "lit" for c in t):
        raise ConfigError("prompt_template", "must be ASCII")


def _validate_cipher(cfg: GeneratorConfig) -> None:
    c = cfg.cipher
    if c.kind not in CIPHERS:
        raise ConfigError("cipher.kind", f"unknown cipher {c.kind!r} (choose from {', '.join(CIPHERS)})")
    if c.kind == "substitution" and c.key is not None:
        alph = cfg.space.alphabet
        if sorted(c.key) != sorted(alph):
            raise ConfigError("cipher.key", "must be a permutation of the alphabet (same characters, each once)")
    if c.kind != "none":
        alphabets = {cfg.space.alphabet, cfg.effective_test_space.alphabet}
        if len(alphabets) != 1:
            raise ConfigError("cipher", "a cipher needs space and test_space to share one alphabet")
