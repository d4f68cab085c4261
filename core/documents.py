"""Reading JSON documents someone else may have written (``datagen.json``, results files, run records), and
showing any value in an error without building an unbounded text.

- :func:`read_regular`: the bytes of a regular file of bounded size (a FIFO or a device at the name is refused
  without blocking);
- :func:`parse_json` / :func:`read_json`: the document, or one :class:`~core.errors.ConfigError` naming the
  file for anything that is not a readable document of bounded shape: invalid JSON or UTF-8, an integer longer
  than Python converts (4,300 digits), nesting deeper than :data:`MAX_DEPTH` levels (the parser's own limit
  is a ``RecursionError``, and every reader that walks the document recursively would meet one too);
- :func:`shown`: a value as an error message may show it, at most ``width`` characters, computed without walking
  more of the value than it shows (a YAML alias bomb expands to 10^9 items when ``repr`` walks it).

The YAML side (the same depth limit, and a budget for what aliases expand to) is :mod:`core.config`'s loader.
Imports nothing of ours but the error type (core layer).
"""

from __future__ import annotations

import json
import os
import reprlib
import stat
import sys
from pathlib import Path
from typing import Any

from core.errors import ConfigError

#: The deepest nesting of lists and mappings a document may have (ours go about 6 levels deep).
MAX_DEPTH = 100

_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxdict, _repr.maxlist, _repr.maxtuple, _repr.maxset = 3, 6, 6, 6, 6
_repr.maxstring, _repr.maxother, _repr.maxlong = 60, 60, 40


def shown(value: Any, width: int = 80) -> str:
    """``repr(value)`` for an error message: nested and long values abbreviated (``...``), at most ``width``
    characters; it reads only what it shows, so any value is shown in bounded time."""
    text = _repr.repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether lists and mappings nest deeper than ``limit`` levels in ``value`` (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def parse_json(raw: bytes | str, path: str | Path) -> Any:
    """The JSON document in ``raw`` read from ``path`` (named in errors); ConfigError for anything unreadable
    (see the module docstring)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(text)
    except UnicodeDecodeError as exc:
        raise ConfigError(None, f"{path} cannot be read: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(None, f"{path} cannot be read: not valid JSON ({exc.msg}, line {exc.lineno}, column "
                                f"{exc.colno})") from None
    except RecursionError:
        raise ConfigError(None, f"{path} cannot be read: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # json's only other refusal: an integer too long to convert
        raise ConfigError(None, f"{path} cannot be read: an integer of more than "
                                f"{sys.get_int_max_str_digits()} digits") from None
    if too_deep(data):
        raise ConfigError(None, f"{path} cannot be read: nested deeper than {MAX_DEPTH} levels")
    return data


def read_regular(path: str | Path, limit: int = 256 << 20) -> bytes:
    """The bytes of the regular file ``path`` (at most ``limit``); ConfigError naming the file for a file that is
    missing, not a regular file (a FIFO never blocks the open, ``/dev/zero`` is never read) or too large."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(None, f"{path} does not exist") from None
    except OSError as exc:
        raise ConfigError(None, f"{path} cannot be read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(None, f"{path} cannot be read: not a regular file")
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise ConfigError(None, f"{path} cannot be read: larger than {limit} bytes")
    return raw


def read_json(path: str | Path, limit: int = 256 << 20) -> Any:
    """The JSON document in the file ``path`` (at most ``limit`` bytes, see :func:`read_regular`); ConfigError
    naming the file for anything :func:`read_regular` or :func:`parse_json` refuses."""
    return parse_json(read_regular(path, limit), path)
