"""The host's side of the sandboxed workers (:mod:`eval.code.sandbox_worker`): start them, talk to them through
their pipes only, and never wait on them past a deadline.

Each worker runs in a sandbox of its own (its own uid when root starts it, PID namespace, private ``/tmp``, and a
fresh work folder made here and removed afterwards: nothing it writes outlives it or is read back). The host
reads only the worker's stdout and stderr pipes, with every descriptor non-blocking and one ``select`` loop per
worker that also feeds its stdin: a worker that stops, floods its output or dies cannot block the host. Each
message is a kind byte and a frame of bounded size; stderr is kept as a short tail for error messages.

- :func:`expected_outputs`: the ground truth's run (one worker, mode ``expected``).
- :class:`Pool`: ``parallel`` workers (mode ``serve``) that take the samples' test sets one at a time; a worker
  that dies, or does not finish a test set within evalplus's process timeout plus a grace period (stopped with
  SIGSTOP, for one), is killed, the test set's status is what the records so far decide (``timeout`` when they
  decide nothing, as evalplus says of a process that never set its status), and a fresh worker takes the next
  one.
- :class:`Deadline`: the whole scoring's; when it passes every worker is killed and :class:`ScoringTimeout`
  says so.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from eval.code.oracle import Judge
from eval.code.sandbox import Sandbox
from eval.code.wire import FrameReader, WireError, frame

HERE = Path(__file__).resolve().parent
WORKER = HERE / "sandbox_worker.py"
WIRE = HERE / "wire.py"
FILES = [WORKER, WIRE]
KIND = struct.Struct(">cI")
MESSAGE_LIMIT = 1 << 30  # one message of a worker (a problem's expected outputs, or 64 KiB of a sample's records)
LOG_TAIL = 4000  # bytes of a worker's stderr kept for error messages
STARTUP_SECONDS = 120.0  # a worker's start (the interpreter, numpy, evalplus) on a loaded machine
ABORT = b'"abort"'


class ScoringError(RuntimeError):
    """Scoring could not be completed (the message says why, in one line)."""


class ScoringTimeout(ScoringError):
    """The scoring's deadline passed."""


class WorkerGone(Exception):
    """The worker ended (or was killed) before saying what it was asked."""


class Deadline:
    """A point in time (monotonic) that the whole scoring must end by."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


class Worker:
    """One sandboxed worker and its pipes (see the module docstring)."""

    def __init__(self, sandbox: Sandbox, mode: str, env: dict[str, str]) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="idiv-code-work-"))  # the prefix the worker checks before emptying
        self._started = sandbox.start([sys.executable, "-I", str(WORKER), mode], self.tmp, env, readable=FILES,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            self.proc = self._started.__enter__()
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            os.set_blocking(stream.fileno(), False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.proc.stdout, selectors.EVENT_READ, "out")
        self._sel.register(self.proc.stderr, selectors.EVENT_READ, "err")
        self._buf = bytearray()
        self._outbox = bytearray()
        self._log = bytearray()
        self._writing = False

    def send(self, payload: bytes) -> None:
        self._outbox += frame(payload)

    def receive(self, until: float, stop: threading.Event | None = None) -> tuple[bytes, bytes] | None:
        """The next message (kind, payload), or None once ``until`` (monotonic) passed or ``stop`` was set;
        :class:`WorkerGone` if the worker ended first."""
        while True:
            message = self._message()
            if message is not None:
                return message
            if self.proc.stdout is None or self.proc.stdout.closed:
                raise WorkerGone(self.log_tail())
            left = until - time.monotonic()
            if left <= 0 or (stop is not None and stop.is_set()):
                return None
            self._want_write(bool(self._outbox))
            for key, _ in self._sel.select(min(left, 0.25)):
                if key.data == "in":
                    self._write()
                else:
                    self._read(key.data)

    def log_tail(self) -> str:
        text = self._log.decode("utf-8", "replace").strip()
        return " / ".join(text.splitlines()[-4:])[-600:] or "no output"

    def close(self) -> None:
        try:
            self._sel.close()
            self._started.__exit__(None, None, None)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _message(self) -> tuple[bytes, bytes] | None:
        if len(self._buf) < KIND.size:
            return None
        kind, size = KIND.unpack_from(self._buf)
        if size > MESSAGE_LIMIT:
            raise WorkerGone(f"a message of {size} bytes")
        if len(self._buf) < KIND.size + size:
            return None
        payload = bytes(self._buf[KIND.size : KIND.size + size])
        del self._buf[: KIND.size + size]
        return kind, payload

    def _want_write(self, want: bool) -> None:
        if want != self._writing and self.proc.stdin is not None:
            if want:
                self._sel.register(self.proc.stdin, selectors.EVENT_WRITE, "in")
            else:
                self._sel.unregister(self.proc.stdin)
            self._writing = want

    def _write(self) -> None:
        try:
            n = os.write(self.proc.stdin.fileno(), self._outbox[: 1 << 20])
        except BlockingIOError:
            return
        except OSError:  # the worker is gone; its stdout says the rest
            self._outbox.clear()
            return
        del self._outbox[:n]

    def _read(self, which: str) -> None:
        stream = self.proc.stdout if which == "out" else self.proc.stderr
        try:
            data = os.read(stream.fileno(), 1 << 20)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._sel.unregister(stream)
            if which == "out":
                stream.close()
            return
        if which == "out":
            self._buf += data
        else:
            self._log = (self._log + data)[-LOG_TAIL:]


def _start(sandbox: Sandbox, mode: str, env: dict[str, str], deadline: Deadline) -> Worker:
    worker = Worker(sandbox, mode, env)
    if mode == "expected":
        return worker
    try:
        message = worker.receive(time.monotonic() + min(STARTUP_SECONDS, max(0.0, deadline.left())))
    except WorkerGone:
        message = None
    if message != (b"R", b""):
        tail = worker.log_tail()
        worker.close()
        if deadline.left() <= 0:
            raise ScoringTimeout("a sandboxed worker did not start before the deadline")
        raise ScoringError(f"a sandboxed worker did not start: {tail}")
    return worker


def expected_outputs(sandbox: Sandbox, job: dict, env: dict[str, str], deadline: Deadline) -> dict[str, dict]:
    """Run the ground truth's job (see :mod:`eval.code.sandbox_worker`); {task_id: raw record}."""
    worker = _start(sandbox, "expected", env, deadline)
    out: dict[str, dict] = {}
    try:
        worker.send(json.dumps(job).encode())
        while True:
            try:
                message = worker.receive(deadline.end)
            except WorkerGone as exc:
                raise ScoringError(f"the ground truth's run ended early: {exc}") from None
            if message is None:
                raise ScoringTimeout(f"the expected outputs were not computed within {deadline.seconds:.0f} s")
            kind, payload = message
            if kind == b"X":
                return out
            try:
                record = json.loads(payload)
                task_id = record["task_id"]
            except (ValueError, KeyError, TypeError, RecursionError):
                raise ScoringError("the ground truth's run sent a malformed record") from None
            if "error" in record:
                raise ScoringError(f"the canonical solution of {task_id} failed: {record['error']}")
            out[task_id] = record
    finally:
        worker.close()


class Pool:
    """``parallel`` serving workers that judge test sets (see the module docstring)."""

    def __init__(self, sandbox: Sandbox, env: dict[str, str], parallel: int, deadline: Deadline,
                 grace: float) -> None:
        self.sandbox, self.env, self.parallel = sandbox, env, parallel
        self.deadline, self.grace = deadline, grace
        self.stop = threading.Event()

    def run(self, tasks: list, judge_task: Callable[[object, Callable], object]) -> dict:
        """``judge_task(task, run_set)`` for every task, on ``parallel`` threads each holding a worker;
        ``run_set(job, judge)`` runs one test set on that thread's worker. {task: what judge_task returned}."""
        results: dict = {}
        errors: list[BaseException] = []
        todo = list(reversed(tasks))
        lock = threading.Lock()

        def loop() -> None:
            holder: list[Worker | None] = [None]
            try:
                while not self.stop.is_set():
                    with lock:
                        if not todo:
                            return
                        task = todo.pop()
                    results[task] = judge_task(task, lambda job, judge: self._run_set(holder, job, judge))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                errors.append(exc)
                self.stop.set()
            finally:
                if holder[0] is not None:
                    holder[0].close()

        threads = [threading.Thread(target=loop, daemon=True) for _ in range(min(self.parallel, len(tasks)))]
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.25)
                    if self.deadline.left() <= 0:
                        self.stop.set()
        except BaseException:
            self.stop.set()
            for t in threads:
                t.join()
            raise
        if errors:
            raise errors[0]
        if len(results) < len(tasks):
            raise ScoringTimeout(f"scoring did not finish within {self.deadline.seconds:.0f} s")
        return results

    def _run_set(self, holder: list, job: dict, judge: Judge) -> tuple[str, list[bool]]:
        if holder[0] is None:
            holder[0] = _start(self.sandbox, "serve", self.env, self.deadline)
        worker = holder[0]
        stream = FrameReader(job["cap"] + (1 << 16))
        healthy, aborted = False, False
        worker.send(json.dumps(job).encode())
        until = time.monotonic() + job["join"] + self.grace
        try:
            while True:
                message = worker.receive(min(until, self.deadline.end), self.stop)
                if message is None:
                    if self.deadline.left() <= 0 or self.stop.is_set():
                        raise ScoringTimeout(f"scoring did not finish within {self.deadline.seconds:.0f} s")
                    break  # stopped or stuck: killed below, the records so far decide
                kind, payload = message
                if kind == b"D" and not judge.decided:
                    try:
                        for record in stream.feed(payload):
                            judge.feed(json.loads(record))
                    except (WireError, ValueError, RecursionError):
                        judge.fail()
                elif kind == b"X":
                    try:
                        info = json.loads(payload)
                    except ValueError:
                        info = {"error": "malformed"}
                    if isinstance(info, dict) and info.get("stopped") == "cap":
                        judge.fail()
                    healthy = isinstance(info, dict) and "error" not in info
                    break
                elif kind != b"D":
                    break
                if judge.decided and not aborted:
                    worker.send(ABORT)
                    aborted = True
        except WorkerGone:
            pass
        finally:
            if not healthy:
                holder[0] = None
                worker.close()
        return judge.result()
