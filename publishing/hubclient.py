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
- **Deadline.** Per-read timeouts alone never end a server that trickles a byte every few seconds. Each command's
  work with the Hub runs under :func:`hub_deadline`: ``DATAGEN_HUB_DEADLINE`` seconds (default 3600) in all. The
  shared client's hooks refuse any request once it has passed, cut every connect, read and write timeout to the
  time left, and check it between the chunks of every request body sent and every answer received (in any
  thread: uploads run in huggingface_hub's thread pool); :func:`with_retries` retries nothing after it. So a
  command ends with :class:`DeadlineExceeded` at most one (cut) timeout, or one of huggingface_hub's own retry
  pauses (8 s at most), after its deadline. The same hooks refuse an answer that is not a file's content (API
  JSON, an LFS batch answer, a redirect, an error body) larger than ``ANSWER_LIMIT``, and ask for every answer
  uncompressed, refusing such an answer sent compressed anyway (the cap counts the bytes that arrive; gzip unpacks
  1,000 to 1); file bodies are capped by :mod:`publishing.download`, at the size the listing gives.
- **One line.** :func:`failure_reason` turns what the client raises (its HTTP error, an ``httpx2`` transport error,
  the ``RuntimeError`` it wraps a failed LFS upload in, an ``OSError``, the deadline) into one line for the CLIs.
"""

from __future__ import annotations

import datetime
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import httpx2
from huggingface_hub import set_client_factory
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import _http

from core.errors import ConfigError

TIMEOUT_ENV = "DATAGEN_HUB_TIMEOUT"
RETRIES_ENV = "DATAGEN_HUB_RETRIES"
DEADLINE_ENV = "DATAGEN_HUB_DEADLINE"
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_RETRIES = 2
DEFAULT_DEADLINE_S = 3600.0
#: The largest answer accepted that is not a file's content: API JSON (listings, infos), redirects, errors.
ANSWER_LIMIT = 64 << 20
RETRY_STATUS = (408, 412, 429, 500, 502, 503, 504)
CONTENT = "datagen_file_content"  # a request's extension: it asks for a file's content (see install)

T = TypeVar("T")
_lock = threading.Lock()
_installed: float | None = None
_deadline: tuple[float, float] | None = None  # (monotonic end, seconds given) of the command running now


class DeadlineExceeded(Exception):
    """The command's work with the Hub did not end within its deadline (``DATAGEN_HUB_DEADLINE``)."""

    def __init__(self, seconds: float):
        super().__init__(f"the Hub did not finish within {seconds:g} s ({DEADLINE_ENV})")
        self.seconds = seconds


class AnswerRefused(Exception):
    """An answer of the Hub (not a file's content) that is not read: too large, or compressed."""


class AnswerTooLarge(AnswerRefused):
    """An answer of the Hub (not a file's content) larger than :data:`ANSWER_LIMIT`."""


def _seconds(env: str, default: float, most: float) -> float:
    raw = os.environ.get(env, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (0 < value <= most):
        raise ConfigError(env, f"must be a number of seconds above 0 and at most {most:g}, got {raw[:40]!r}")
    return value


def timeout_s() -> float:
    """Seconds a Hub call may wait to connect, or for each read or write (``DATAGEN_HUB_TIMEOUT``)."""
    return _seconds(TIMEOUT_ENV, DEFAULT_TIMEOUT_S, 86399)


def deadline_s() -> float:
    """Seconds a command's work with the Hub may take in all (``DATAGEN_HUB_DEADLINE``)."""
    return _seconds(DEADLINE_ENV, DEFAULT_DEADLINE_S, 7 * 86400)


@contextmanager
def hub_deadline(seconds: float | None = None) -> Iterator[float]:
    """Every Hub call made inside the block (in any thread) ends by ``seconds`` from now (default
    :func:`deadline_s`), or fails with :class:`DeadlineExceeded`; an enclosing, earlier deadline stays."""
    global _deadline
    seconds = deadline_s() if seconds is None else seconds
    install()
    previous = _deadline
    mine = (time.monotonic() + seconds, seconds)
    _deadline = mine if previous is None or previous[0] > mine[0] else previous
    try:
        yield seconds
    finally:
        _deadline = previous


def time_left() -> float | None:
    """Seconds left before the deadline (None: no deadline); :class:`DeadlineExceeded` once it has passed."""
    current = _deadline
    if current is None:
        return None
    left = current[0] - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded(current[1])
    return left


class _Watched(httpx2.SyncByteStream):
    """A body sent or received chunk by chunk: the deadline is checked between chunks, and at most ``limit`` bytes
    (None: no limit) are accepted."""

    def __init__(self, stream: httpx2.SyncByteStream, limit: int | None, url: str):
        self._stream, self._limit, self._url = stream, limit, url

    def __iter__(self) -> Iterator[bytes]:
        got = 0
        for chunk in self._stream:
            time_left()
            got += len(chunk)
            if self._limit is not None and got > self._limit:
                raise AnswerTooLarge(f"the Hub's answer to {self._url} is larger than {self._limit} bytes, refused")
            yield chunk

    def close(self) -> None:
        self._stream.close()

    @property
    def elapsed(self) -> datetime.timedelta | None:  # what httpx2 reads back for ``response.elapsed``
        return getattr(self._stream, "elapsed", None)


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
            "no limit" rather than "the client's default"; none may outlast the deadline. Ask for answers as they
            are (a compressed one would be capped before it is unpacked), and mark a request for a file's content
            (a ``/resolve/`` URL), which keeps the mark through redirects (to a CDN, whose paths say nothing)."""
            request.headers["Accept-Encoding"] = "identity"
            request.extensions.setdefault(CONTENT, request.method in ("GET", "HEAD") and "/resolve/" in request.url.path)
            left = time_left()
            limits = dict(request.extensions.get("timeout") or {})
            for key in ("connect", "read", "write", "pool"):
                if limits.get(key) is None:
                    limits[key] = seconds
                if left is not None:
                    limits[key] = min(limits[key], left)
            request.extensions["timeout"] = limits
            if left is not None:  # an upload read slowly by the server: checked between the chunks sent
                request.stream = _Watched(request.stream, None, f"{request.url.host}{request.url.path}")

        def watch(response) -> None:
            """Check the deadline while the body arrives; cap what is not a file's content (a file's body is
            capped by its reader, :mod:`publishing.download`, at its listed size), and refuse it compressed (the
            cap counts the bytes that arrive: 64 MiB of gzip unpack to 64 GiB)."""
            path = response.request.url.path
            content = 200 <= response.status_code < 300 and bool(response.request.extensions.get(CONTENT))
            where = f"{response.request.url.host}{path}"  # never the query: a signed URL's signature
            encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
            if not content and encoding not in ("", "identity"):
                response.close()
                raise AnswerRefused(f"the Hub's answer to {where} is compressed ({encoding[:40]}), which was not asked "
                                    "for: refused")
            response.stream = _Watched(response.stream, None if content else ANSWER_LIMIT, where)

        def factory():
            client = _http.default_client_factory()  # the library's own client: its request hooks, redirects
            client.timeout = httpx2.Timeout(seconds)
            hooks = client.event_hooks
            hooks["request"] = [*hooks.get("request", []), bound]
            hooks["response"] = [*hooks.get("response", []), watch]
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
    """Whether trying again may succeed: no answer in time, a lost connection, a 5xx/429/412 answer (never
    once the deadline has passed)."""
    if isinstance(exc, ConfigError) or any(isinstance(e, (DeadlineExceeded, AnswerRefused)) for e in _chain(exc)):
        return False
    if any(isinstance(e, (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError)) for e in _chain(exc)):
        return True
    return _status(exc) in RETRY_STATUS


def with_retries(call: Callable[[], T], sleep: Callable[[float], None] = time.sleep) -> T:
    """``call()``, tried again up to :func:`retries` times when it fails for a :func:`transient` reason."""
    install()
    n = retries()
    for attempt in range(n + 1):
        time_left()
        try:
            return call()
        except Exception as exc:
            if not transient(exc):
                raise
            _raise_if_late(exc)
            if attempt == n:
                raise
            left = time_left()
            sleep(min(2.0**attempt, 8.0, left if left is not None else 8.0))
    raise AssertionError("unreachable")  # pragma: no cover


def _raise_if_late(exc: BaseException) -> None:
    """A failure that would be retried, once the deadline has passed (a timeout it cut short), is the deadline's."""
    current = _deadline
    if current is not None and time.monotonic() >= current[0]:
        raise DeadlineExceeded(current[1]) from exc


def failure_reason(exc: BaseException, include_os: bool = False) -> str | None:
    """One line saying why a Hub call failed, or None when ``exc`` is no Hub or transport failure (an
    ``OSError`` counts only with ``include_os``: while publishing, a full disk is a failure of the upload too)."""
    chain = list(_chain(exc))
    if isinstance(exc, ConfigError):
        return None
    for e in chain:
        if isinstance(e, (DeadlineExceeded, AnswerRefused)):
            return str(e)
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
