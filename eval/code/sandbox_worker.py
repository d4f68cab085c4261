"""The program inside the sandbox that runs code and reports, as plain data, what it returned (no verdicts).

Standalone on purpose (standard library, evalplus and :mod:`eval.code.wire`, loaded by its path): started by
:mod:`eval.code.workers` through :mod:`eval.code.sandbox_launch` as ``python -I sandbox_worker.py MODE``. It
talks to the host over its stdin and stdout only, in frames (:func:`eval.code.wire.frame`); at start it keeps
its stdout for that channel and points descriptor 1 at stderr, which the host drains into a capped log.

``expected`` (the ground truth): one job ``{"problems": [{task_id, code, entry_point, base, plus, not_none}]}``
(inputs in wire form); for each problem in turn evalplus's own ``trusted_exec`` runs the canonical solution on
the base and plus inputs, timing each call, exactly as ``evalplus.evaluate.get_groundtruth`` does, and one
frame ``{task_id, base, base_time, plus, plus_time}`` goes out (outputs in wire form). No sample is present.

``serve`` (the samples): a fork server. It imports evalplus's execution helpers once, makes itself
non-dumpable (a process of the same uid can then neither attach to it nor open its memory or descriptors, and
the seccomp filter refuses ptrace anyway) and a child subreaper, says ``R``, then takes jobs ``{code,
entry_point, inputs, time_limits, join, cap}`` one at a time. For each it forks a child that mirrors
``evalplus.eval.unsafe_execute``: a temporary folder, evalplus's ``reliability_guard`` and memory limit,
``exec`` of the solution, each input under evalplus's per-input ``time_limit`` with output swallowed; the child
holds none of the host channel (descriptors 0-2 are ``/dev/null``), and writes to a pipe of its own one record
per input, ``{"i": k, "ok": value}`` or ``{"i": k, "raised": name}`` (stopping at the first, as evalplus's
fast check does), then ``{"end": true}``; or ``{"exec": name}`` if the solution does not load. The server
relays those bytes as ``D`` frames (at most ``cap`` of them), stops the child when it is done, when the host
sends ``abort`` (it has its verdict) or after ``join`` seconds (evalplus's process timeout), kills everything
the child left running, and only then sends ``X`` with how the child ended. It deletes nothing: if the sample
left anything in ``/tmp``, ``/dev/shm`` or its work folder (their listings differ from the worker's start), the
``X`` says so and the worker ends, and the host starts a fresh one (removing the folder it made): nothing of one
sample is there when the next one starts (without bubblewrap ``/tmp`` is the host's, which other programs change:
there the worker is replaced after every sample). Expected outputs never enter the sandbox; the host compares
(:mod:`eval.code.oracle`).
"""

import ctypes
import importlib.util
import json
import os
import select
import shutil
import signal
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
KIND = struct.Struct(">cI")
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
JOB_LIMIT = 1 << 31  # the host's jobs (inputs of one problem, or of all for the ground truth)
SCRATCH = ("/tmp", "/dev/shm")
ABORT = b'"abort"'  # the host has its verdict: stop the child


def _load_wire():
    spec = importlib.util.spec_from_file_location("idiv_wire", os.path.join(HERE, "wire.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


wire = _load_wire()


class Channel:
    """The host's end: jobs in on descriptor 0, messages (a kind byte and a frame) out on a private descriptor."""

    def __init__(self) -> None:
        self.out = os.dup(1)
        os.dup2(2, 1)  # whatever prints (canonical solutions, warnings) goes to the log, never into the channel
        self.reader = wire.FrameReader(JOB_LIMIT)
        self.frames: list = []

    def send(self, kind: bytes, payload: bytes = b"") -> None:
        view = memoryview(KIND.pack(kind, len(payload)) + payload)
        while view:
            view = view[os.write(self.out, view):]

    def poll(self, timeout) -> bool:
        """Read what the host sent (waiting at most ``timeout`` seconds, None: until something comes); False
        once the host has closed its end."""
        if not select.select([0], [], [], timeout)[0]:
            return True
        data = os.read(0, 1 << 20)
        if not data:
            return False
        self.frames += self.reader.feed(data)
        return True

    def next_job(self):
        """The next job; None once the host has closed its end. An ``abort`` that came after its job had
        ended anyway is dropped."""
        while True:
            while not self.frames:
                if not self.poll(None):
                    return None
            frame = self.frames.pop(0)
            if frame != ABORT:
                return json.loads(frame)


# -- the ground truth -------------------------------------------------------------------------------------------


def expected(channel: Channel) -> None:
    # deferred: evalplus is on the path only inside the sandbox's interpreter, and only this mode needs it
    from evalplus.gen.util import trusted_exec

    job = channel.next_job()
    for problem in job["problems"]:
        out = {"task_id": problem["task_id"]}
        for part in ("base", "plus"):
            inputs = wire.decode(problem[part])
            try:
                values, times = trusted_exec(problem["code"], inputs, problem["entry_point"], record_time=True,
                                             output_not_none=problem["not_none"])
            except BaseException as exc:  # noqa: BLE001 - reported to the host, which stops
                channel.send(b"D", json.dumps({"task_id": problem["task_id"], "error": f"{part}: {exc!r}"[:500]}
                                              ).encode())
                return
            out[part] = [wire.encode(v) for v in values]
            out[part + "_time"] = times
        channel.send(b"D", json.dumps(out).encode())
    channel.send(b"X", b"{}")


# -- the samples ------------------------------------------------------------------------------------------------


def serve(channel: Channel) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    # deferred: as evalplus's workers, import its helpers (and numpy) once; each child is forked from here
    import numpy  # noqa: F401
    from evalplus.eval import query_maximum_memory_bytes
    from evalplus.eval.utils import create_tempdir, reliability_guard, swallow_io, time_limit

    helpers = (create_tempdir, reliability_guard, query_maximum_memory_bytes, swallow_io, time_limit)
    watched = [*SCRATCH, os.getcwd()]
    clean = _listing(watched)
    channel.send(b"R")
    while (job := channel.next_job()) is not None:
        inputs = wire.decode(job["inputs"])
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            _child(job, inputs, w, helpers)
        os.close(w)
        ended = _watch(channel, pid, r, job)
        os.close(r)
        if not sweep():
            channel.send(b"X", json.dumps({**ended, "error": "could not stop what the sample started"}).encode())
            return
        if _listing(watched) != clean:  # the next sample must find what the first one found: a fresh worker
            channel.send(b"X", json.dumps({**ended, "error": "the sample left files behind"}).encode())
            return
        channel.send(b"X", json.dumps(ended).encode())


def _watch(channel: Channel, pid: int, r: int, job: dict) -> dict:
    """Relay the child's records until it is done, aborted, over its cap or out of time; then kill it."""
    deadline = time.monotonic() + job["join"]
    stopped, sent, open_pipe, status = None, 0, True, None
    while stopped is None:
        left = deadline - time.monotonic()
        if left <= 0:
            stopped = "timeout"
            break
        ready = select.select([r, 0] if open_pipe else [0], [], [], left if open_pipe else min(left, 0.05))[0]
        if r in ready:
            data = os.read(r, 1 << 16)
            if not data:
                open_pipe = False
            elif sent + len(data) > job["cap"]:
                stopped = "cap"
            else:
                sent += len(data)
                channel.send(b"D", data)
        if 0 in ready:
            if not channel.poll(0):
                os.kill(pid, signal.SIGKILL)
                sys.exit(0)  # the host is gone
            if ABORT in channel.frames:
                channel.frames = [f for f in channel.frames if f != ABORT]
                stopped = "abort"
        if not open_pipe:
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                status = code
                break
    if status is None:
        os.kill(pid, signal.SIGKILL)
        status = os.waitpid(pid, 0)[1]
    return {"stopped": stopped, "exit": os.waitstatus_to_exitcode(status)}


def _child(job: dict, inputs: list, w: int, helpers) -> None:
    try:
        os.dup2(w, 3)
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(4, 1 << 16)
        _run_solution(job, inputs, helpers)
    finally:
        os._exit(0)


def _emit(record: dict) -> None:
    data = json.dumps(record).encode()
    view = memoryview(struct.pack(">I", len(data)) + data)
    while view:
        view = view[os.write(3, view):]


def _run_solution(job: dict, inputs: list, helpers) -> None:
    """evalplus 0.3.1's ``unsafe_execute`` (fast check), reporting outputs instead of comparing them."""
    create_tempdir, reliability_guard, query_maximum_memory_bytes, swallow_io, time_limit = helpers
    with create_tempdir():
        rmtree, rmdir, chdir = shutil.rmtree, os.rmdir, os.chdir
        reliability_guard(maximum_memory_bytes=query_maximum_memory_bytes())
        exec_globals: dict = {}
        try:
            with swallow_io():
                exec(job["code"], exec_globals)
                fn = exec_globals[job["entry_point"]]
        except BaseException as exc:  # noqa: BLE001 - as evalplus: anything here fails the solution
            _emit({"exec": type(exc).__name__})
            fn = None
        if fn is not None:
            for i, inp in enumerate(inputs):
                try:
                    with time_limit(job["time_limits"][i]):
                        with swallow_io():
                            out = fn(*inp)
                except BaseException as exc:  # noqa: BLE001 - as evalplus: the input fails, and so the solution
                    _emit({"i": i, "raised": type(exc).__name__})
                    break
                _emit({"i": i, "ok": wire.encode(out, job["cap"])})
            else:
                _emit({"end": True})
        shutil.rmtree, os.rmdir, os.chdir = rmtree, rmdir, chdir


def sweep(seconds: float = 10.0) -> bool:
    """Kill every process below this one (as subreaper, every orphan of a sample is), and reap them; True once
    none is left."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        others = descendants(os.getpid())
        if not others:
            return True
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.005)
    return False


def descendants(root: int) -> list:
    """Every process below ``root`` (from /proc; parents before children). Also the host's (kill_tree)."""
    children: dict = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _listing(folders: list) -> list:
    """What the scratch folders hold (names only: looked at, never changed)."""
    out = []
    for folder in folders:
        try:
            out.append(sorted(os.listdir(folder)))
        except OSError:
            out.append(None)
    return out


def main(argv: list) -> None:
    channel = Channel()
    {"expected": expected, "serve": serve}[argv[0]](channel)


if __name__ == "__main__":
    main(sys.argv[1:])
