"""The one config mechanism for generator, mixture and sweep files: YAML, dotted overrides, typed models.

- :func:`read_yaml_config` reads a YAML mapping; a key given twice in one mapping is an error naming it and both
  lines (plain YAML keeps the last value silently), as are an unreadable file and a document that is not a
  mapping; :func:`apply_overrides` applies ``--set a.b.c=value`` (values parsed as YAML).
- A document is refused, in one line naming the file and line, before anything walks it, when it nests deeper than
  :data:`~core.documents.MAX_DEPTH` levels, when its anchors and aliases expand to more than
  :data:`ALIAS_BUDGET` values beyond those written (1 KB of "billion laughs" anchors is 10^9 values to anything
  that walks the result: validation, an error's ``repr``, the ``datagen.json`` it is copied into), when an alias
  refers to a node that contains it, or when it holds an integer too long to convert. Errors show values through
  :func:`~core.documents.shown` (bounded).
- :class:`ConfigModel` is a pydantic v2 model with ``extra="forbid"``; :func:`build` validates a mapping into one
  and turns pydantic's errors into one :class:`~core.errors.ConfigError` naming the dotted field
  (``sources[0].columns.completion``), with the known fields listed for an unknown key. The first error is the
  one a reader meets first: at each mapping its unknown keys, then its fields in the order written.
- Field types are strict where YAML is ambiguous: :data:`Int` takes ``3`` and ``3.0``, never ``"3"`` or ``true``;
  :data:`Float` takes numbers, not booleans; :data:`Str` and :data:`Bool` take only their own kind;
  :func:`ScalarList` also takes a single value for a one-element list (``occurrences: 1``).

Nothing is written by a loader: every check runs before any work starts.
"""

from __future__ import annotations

import functools
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainValidator, ValidationError
from pydantic_core import PydanticCustomError

from core.documents import MAX_DEPTH, read_regular, shown
from core.errors import ConfigError

# ---- YAML ------------------------------------------------------------------------------------------------------


#: How many values a document's aliases may add to it, beyond the values written out (see the module docstring).
ALIAS_BUDGET = 100_000
#: The largest config file read (ours are a few KB; YAML parses about 1.5 MB a second).
CONFIG_LIMIT = 16 << 20


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, field: str, first: int, second: int):
        super().__init__(f"duplicate key {field} (lines {first} and {second})")
        self.field, self.first, self.second = field, first, second


class DocumentLimitError(yaml.YAMLError):
    """A document too deep, too large once its aliases are expanded, or holding an unconvertible integer."""


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping, at any depth (plain YAML keeps the last
    value silently), and documents beyond the limits of the module docstring. Merge keys (``<<: *base``) may
    still be overridden: only keys written in the mapping count."""

    def compose_node(self, parent, index):
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                line = self.peek_event().start_mark.line + 1
                raise DocumentLimitError(f"nested deeper than {MAX_DEPTH} levels (line {line})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_document(self, node):
        self._check_expansion(node)
        self._paths: dict[int, str] = {}
        self._name_paths(node, "")
        return super().construct_document(node)

    def _check_expansion(self, root) -> None:
        """How many values the document holds once every alias is expanded (each distinct node counted once per
        place it appears), against the values written out; an alias inside the node it refers to is refused."""
        sizes: dict[int, int | None] = {}

        def size(node) -> int:
            key = id(node)
            if key in sizes:
                if sizes[key] is None:
                    raise DocumentLimitError(f"an alias refers to a node that contains it (line "
                                             f"{node.start_mark.line + 1})")
                return sizes[key]
            sizes[key] = None
            if isinstance(node, yaml.MappingNode):
                total = 1 + sum(size(k) + size(v) for k, v in node.value)
            elif isinstance(node, yaml.SequenceNode):
                total = 1 + sum(size(item) for item in node.value)
            else:
                total = 1
            sizes[key] = total
            return total

        if size(root) - len(sizes) > ALIAS_BUDGET:
            raise DocumentLimitError(f"its anchors and aliases expand to more than {ALIAS_BUDGET} values beyond the "
                                     f"{len(sizes)} written (refused: nothing could read it in bounded time)")

    def construct_yaml_int(self, node):
        """An int of at most ``sys.get_int_max_str_digits()`` decimal digits, whatever base it is written in (a
        hex or binary one would make the first error message that shows it fail; a sexagesimal ``1:59:59...``
        converts in time quadratic in its length)."""
        digits = sys.get_int_max_str_digits()
        value = None
        if not digits or len(node.value.lstrip("+-").replace("_", "")) <= digits:
            try:
                value = super().construct_yaml_int(node)
            except ValueError:
                if node.value.lstrip("+-").isdigit():
                    value = None  # decimal, longer than Python converts
                else:
                    raise  # malformed: construct_object says so
        if value is None or (digits and abs(value) >= _power_of_ten(digits)):
            raise DocumentLimitError(f"an integer of more than {digits} digits (line {node.start_mark.line + 1})")
        return value

    def construct_object(self, node, deep=False):
        """A value whose constructor fails (a date ``2001-13-01``, ``!!float abc``, ``!!bool maybe``) is a YAML
        error naming its line, never the constructor's own exception."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, KeyError, AttributeError, ArithmeticError) as exc:
            if isinstance(exc, yaml.YAMLError):
                raise
            value = node.value if isinstance(node, yaml.ScalarNode) else "?"
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {shown(value, 60)} as {node.tag.rsplit(':', 1)[-1]} "
                f"({type(exc).__name__}: {shown(str(exc), 80)})", node.start_mark) from None

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


UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", UniqueKeyLoader.construct_yaml_int)


@functools.cache
def _power_of_ten(digits: int) -> int:
    return 10**digits


class DocumentRefused(ConfigError):
    """A YAML document refused for its shape (:class:`DocumentLimitError`), not its content."""


def load_yaml(text: str, path: str | Path, kind: str = "config") -> Any:
    """The document in ``text`` (read from ``path``, named in errors); a duplicate key, invalid YAML or a
    document beyond the limits (:class:`DocumentRefused`) is a one-line ConfigError."""
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506  (a SafeLoader subclass)
    except DuplicateKeyError as exc:
        raise ConfigError(exc.field, f"appears twice in {kind} file {path} (lines {exc.first} and {exc.second}); "
                                     f"keep one") from None
    except DocumentLimitError as exc:
        raise DocumentRefused(None, f"{kind} file {path} cannot be read: {exc}") from None
    except RecursionError:  # a parser's own recursion, should a document reach it first
        raise DocumentRefused(None, f"{kind} file {path} cannot be read: nested too deeply") from None
    except yaml.YAMLError as exc:
        raise ConfigError(None, f"{kind} file {path} is not valid YAML: {_yaml_reason(exc)}") from None


def _yaml_reason(exc: yaml.YAMLError) -> str:
    """One line: what is wrong, and where."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        what = " ".join(filter(None, (exc.context, exc.problem))) or "malformed"
        return f"{what} (line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1})"
    return " ".join(str(exc).split())


def read_yaml_config(path: str | Path, overrides: list[str] | tuple[str, ...] = (), kind: str = "config") -> dict[str, Any]:
    """The mapping in a YAML file (an empty file is ``{}``) with overrides applied; errors name the file."""
    path = Path(path)
    try:
        raw = read_regular(path, CONFIG_LIMIT)  # a FIFO or /dev/zero at the name is refused, never read
    except ConfigError as exc:
        raise ConfigError(None, f"{kind} file {exc.message}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(None, f"{kind} file {path} cannot be read: not UTF-8 text (byte {exc.start})") from None
    data = load_yaml(text, path, kind)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(None, f"{kind} file {path} must hold a YAML mapping, not {type(data).__name__}")
    return apply_overrides(data, overrides)


def apply_overrides(data: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides to a nested dict in place (values parsed as YAML)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(None, f"override {shown(item)} must look like key=value (e.g. space.x_len=10)")
        key, raw = item.split("=", 1)
        key = key.strip()
        try:
            value = load_yaml(raw, f"--set {key}", kind="override") if raw.strip() else ""
        except ConfigError as exc:
            raise ConfigError(key, f"override value {shown(raw)} is refused: {exc.message}") from None
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


# ---- field types -----------------------------------------------------------------------------------------------


def invalid(message: str) -> PydanticCustomError:
    """The error a field validator raises: ``message`` becomes the ConfigError's message as written."""
    return PydanticCustomError("config", "{message}", {"message": message})


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise invalid(f"must be an integer, got {shown(value)}")
    return value


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(f"must be a number, got {shown(value)}")
    return float(value)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise invalid(f"must be a string, got {shown(value)}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise invalid(f"must be true or false, got {shown(value)}")
    return value


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


Int = Annotated[int, PlainValidator(_int)]
Float = Annotated[float, PlainValidator(_float)]
Str = Annotated[str, PlainValidator(_str)]
Bool = Annotated[bool, PlainValidator(_bool)]
OptInt = Annotated[int | None, PlainValidator(_optional(_int))]
OptFloat = Annotated[float | None, PlainValidator(_optional(_float))]
OptStr = Annotated[str | None, PlainValidator(_optional(_str))]


def ScalarList(item: Any) -> Any:  # noqa: N802  (a type constructor)
    """``list[item]`` that also takes one value for a one-element list."""
    return Annotated[list[item], BeforeValidator(_as_list)]


# ---- models ----------------------------------------------------------------------------------------------------


class ConfigModel(BaseModel):
    """A config section: unknown keys are errors; ``to_dict`` is the plain, YAML-ready mapping it reads back from."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="python")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


M = typing.TypeVar("M", bound=BaseModel)


def build(model: type[M], data: Any, prefix: str = "") -> M:
    """``data`` (a mapping) validated into ``model``; ConfigError naming the dotted field (under ``prefix``)."""
    if not isinstance(data, dict):
        raise ConfigError(prefix or None, f"must be a mapping, got {shown(data)}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, model, data, prefix) from None


def dotted(loc: tuple, prefix: str = "") -> str:
    """``("sources", 0, "columns", "prompt")`` -> ``sources[0].columns.prompt`` (under ``prefix``)."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def config_error(exc: ValidationError, model: type[BaseModel], data: Any, prefix: str = "") -> ConfigError:
    """The ConfigError of the first of pydantic's errors a reader meets (see the module docstring)."""
    errors = exc.errors(include_url=False)
    first = min(errors, key=lambda e: _reading_order(e, data))
    loc = tuple(first["loc"])
    where = dotted(loc, prefix) or None
    kind = first["type"]
    if kind == "config":
        message = first["ctx"]["message"]
    elif kind == "extra_forbidden":
        known = _fields_at(model, loc[:-1])
        message = f"unknown field (known fields here: {', '.join(sorted(known))})"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        message = f"must be a mapping, got {shown(first.get('input'))}"
    elif kind == "missing":
        message = "is required"
    else:
        message = first["msg"]
    return ConfigError(where, message)


def _reading_order(error: dict, data: Any) -> tuple:
    """At each mapping: unknown keys first, then the fields in the order the file writes them."""
    order, node = [], data
    loc = tuple(error["loc"])
    for depth, part in enumerate(loc):
        last = depth == len(loc) - 1
        if isinstance(node, dict):
            keys = list(node)
            index = keys.index(part) if part in keys else len(keys)
            order.append((0 if last and error["type"] == "extra_forbidden" else 1, index))
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int):
            order.append((1, part))
            node = node[part] if part < len(node) else None
        else:
            order.append((1, 0))
            node = None
    return tuple(order)


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """The field names of the model found at ``loc`` inside ``model`` (descending through fields and lists)."""
    tp: Any = model
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(part, int):
            args = typing.get_args(tp)
            tp = args[0] if args else Any
        elif isinstance(tp, type) and issubclass(tp, BaseModel) and part in tp.model_fields:
            tp = tp.model_fields[part].annotation
        else:
            return []
    tp = _unwrap(tp)
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def _unwrap(tp: Any) -> Any:
    """``Annotated[X, ...]`` -> X; ``X | None`` -> X."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0] if len(args) == 1 else tp
            if len(args) != 1:
                return tp
        else:
            return tp
