"""Every Hub call bounded in time and retried a bounded number of times; every failure one line.

- **Timeout.** huggingface_hub 2.x sends its calls through one shared ``httpx2`` client, made by a factory that sets
  no timeout (``timeout=None``): a server that accepts a commit and never answers blocks forever. :func:`install`
  sets, through the library's own ``set_client_factory``, a client built by the library's default factory with a
  timeout of ``DATAGEN_HUB_TIMEOUT`` seconds (default 60) for connecting, each read and each write (not for a
  whole transfer: a large upload that keeps moving is never cut), also for the many calls that pass
  ``timeout=None`` (a request hook fills in what a call leaves unlimited). Calls that pass their own timeout
  (file downloads: ``HF_HUB_ETAG_TIMEOUT``, ``HF_HUB_DOWNLOAD_TIMEOUT``, 10 s each) keep it.
- **Retry.** huggingface_hub already retries LFS transfers, pre-uploads and downloads (5 times, 1 to 8 s apart);
  :func:`with_retries` retries one of our whole operations (a publish, a listing, a download) ``DATAGEN_HUB_RETRIES``
  times more (default 2, 1 s then 2 s apart) when it failed for a reason that may pass: no answer in time, a lost
  connection, a 5xx or 429 answer, or 412 (the branch moved under a commit). Every operation is idempotent (a
  repeated commit of the same files is skipped, see :meth:`publishing.targets.HubTarget.upload`).
- **One line.** :func:`failure_reason` turns what the client raises (its HTTP error, an ``httpx2`` transport error,
  the ``RuntimeError`` it wraps a failed LFS upload in, an ``OSError``) into one line for the CLIs.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import httpx2
from huggingface_hub import set_client_factory
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import _http

from core.errors import ConfigError

TIMEOUT_ENV = "DATAGEN_HUB_TIMEOUT"
RETRIES_ENV = "DATAGEN_HUB_RETRIES"
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_RETRIES = 2
RETRY_STATUS = (408, 412, 429, 500, 502, 503, 504)

T = TypeVar("T")
_lock = threading.Lock()
_installed: float | None = None


def timeout_s() -> float:
    """Seconds a Hub call may wait to connect, or for each read or write (``DATAGEN_HUB_TIMEOUT``)."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (0 < value < 86400):
        raise ConfigError(TIMEOUT_ENV, f"must be a number of seconds between 0 and 86400, got {raw!r}")
    return value


def retries() -> int:
    """How many times a failed Hub operation is tried again (``DATAGEN_HUB_RETRIES``)."""
    raw = os.environ.get(RETRIES_ENV, "").strip()
    if not raw:
        return DEFAULT_RETRIES
    if not raw.isdigit() or int(raw) > 20:
        raise ConfigError(RETRIES_ENV, f"must be a whole number from 0 to 20, got {raw!r}")
    return int(raw)


def install() -> float:
    """Give huggingface_hub's shared HTTP client the timeout (once per value; cheap to call again)."""
    global _installed
    seconds = timeout_s()
    with _lock:
        if _installed == seconds:
            return seconds

        def bound(request) -> None:
            """Fill in the limits a call left open: many pass ``timeout=None`` explicitly, which httpx reads as
            "no limit" rather than "the client's default"."""
            limits = dict(request.extensions.get("timeout") or {})
            for key in ("connect", "read", "write", "pool"):
                if limits.get(key) is None:
                    limits[key] = seconds
            request.extensions["timeout"] = limits

        def factory():
            client = _http.default_client_factory()  # the library's own client: its request hooks, redirects
            client.timeout = httpx2.Timeout(seconds)
            hooks = client.event_hooks
            hooks["request"] = [*hooks.get("request", []), bound]
            client.event_hooks = hooks
            return client

        set_client_factory(factory)
        _installed = seconds
    return seconds


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ if exc.__cause__ is not None else None if exc.__suppress_context__ else exc.__context__


def _status(exc: BaseException) -> int | None:
    for e in _chain(exc):
        if isinstance(e, HfHubHTTPError) and e.response is not None:
            return e.response.status_code
    return None


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of the Hub's answer behind ``exc`` (None when there was no answer)."""
    return _status(exc)


def transient(exc: BaseException) -> bool:
    """Whether trying again may succeed: no answer in time, a lost connection, a 5xx/429/412 answer."""
    if isinstance(exc, ConfigError):
        return False
    if any(isinstance(e, (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError)) for e in _chain(exc)):
        return True
    return _status(exc) in RETRY_STATUS


def with_retries(call: Callable[[], T], sleep: Callable[[float], None] = time.sleep) -> T:
    """``call()``, tried again up to :func:`retries` times when it fails for a :func:`transient` reason."""
    install()
    n = retries()
    for attempt in range(n + 1):
        try:
            return call()
        except Exception as exc:
            if attempt == n or not transient(exc):
                raise
            sleep(min(2.0**attempt, 8.0))
    raise AssertionError("unreachable")  # pragma: no cover


def failure_reason(exc: BaseException, include_os: bool = False) -> str | None:
    """One line saying why a Hub call failed, or None when ``exc`` is no Hub or transport failure (an
    ``OSError`` counts only with ``include_os``: while publishing, a full disk is a failure of the upload too)."""
    chain = list(_chain(exc))
    if isinstance(exc, ConfigError):
        return None
    for e in chain:
        if isinstance(e, httpx2.TimeoutException):
            return f"no answer from the Hub within {timeout_s():g} s ({TIMEOUT_ENV})"
        if isinstance(e, httpx2.ConnectError):
            return f"cannot reach the Hub (HF_ENDPOINT, network): {_first_line(e)}"
    prefix = ""
    if isinstance(exc, RuntimeError) and any(isinstance(e, (HfHubHTTPError, httpx2.HTTPError, OSError)) for e in chain[1:]):
        prefix = _first_line(exc).rstrip(".") + ": "  # "Error while uploading 'data/x.parquet' to the Hub"
        chain = chain[1:]
    for e in chain:
        if isinstance(e, HfHubHTTPError):
            detail = getattr(e, "server_message", None) or ""
            status = e.response.status_code if e.response is not None else "?"
            text = f"HTTP {status}" + (f": {detail.strip().splitlines()[0]}" if detail.strip() else "")
            return prefix + text
        if isinstance(e, httpx2.HTTPError) or (isinstance(e, OSError) and (include_os or prefix)):
            return prefix + _first_line(e)
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
