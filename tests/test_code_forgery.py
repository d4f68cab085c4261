"""No sample can forge a score, and none can keep `diveval code` from ending (issue 20, items 1-6).

Each hostile sample below attacks the scoring itself, as root, with what evalplus's guard leaves open (``io.open``,
``os.open``, ``ctypes``, frame walking, signals, FIFOs, huge output). A forger answers WRONGLY, so that only a
working forgery would make it pass; a sample that attacks the sandbox answers right only if its attack failed. It
looks for every folder it can write through ``/proc/self/mountinfo`` (the old design gave it the output folder)
and tries each trick there. Run against the code before this design (commit 4c651eb), the forgers passed, the
honest wrong sample passed beside the results-file forger, the modes stayed 2777, add_key worked, and the FIFO,
ptrace, fake-end and stop attacks hung the scoring. The honest
samples of the same run must score as usual, and the run must end in bounded time. The attacks run in one
scoring run (``forged_run``, once per module), and each test below checks its item.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sandboxkit import sandbox_or_skip

from eval.code.data import read_problems_file
from eval.code.sandbox import Sandbox
from eval.code.score import score_samples

# Folders the sample can write to, and the files in them (a few levels down), found as an attacker would.
FIND = '''import ctypes, io, json, os, pickle, signal, sys
_libc = ctypes.CDLL(None, use_errno=True)
def _folders():
    found = {"/tmp", "/dev/shm"}
    try:
        for line in io.open("/proc/self/mountinfo").read().splitlines():
            fields = line.split()
            if "rw" in fields[5].split(","):
                found.add(fields[4])
    except OSError:
        pass
    out = set()
    def walk(d, depth):
        out.add(d)
        if depth < 3:
            try:
                for e in os.scandir(d):
                    if e.is_dir(follow_symlinks=False):
                        walk(e.path, depth + 1)
            except OSError:
                pass
    for d in found:
        if d.startswith(("/proc", "/sys", "/dev/pts", "/dev/mqueue")):
            continue
        walk(d, 0)
    return sorted(out)
def _files(suffix):
    for d in _folders():
        try:
            for e in os.scandir(d):
                if e.name.endswith(suffix):
                    yield e.path
        except OSError:
            pass
def _write(path, data):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        os.write(fd, data)
        os.close(fd)
        return True
    except OSError:
        return False
'''

WRONG = "    return x + 1\n"

ATTACKS = {
    # 1. evalplus reads back <samples>_eval_results.json and never overwrites one: say every sample passed
    "results file": FIND + '''
def _forge():
    for d in _folders():
        solutions = {}
        try:
            for line in io.open(d + "/samples.jsonl"):
                r = json.loads(line)
                solutions[r["task_id"]] = r["solution"]
        except (OSError, ValueError):
            continue
        doc = {"date": "", "hash": "", "eval": {t: [{"task_id": t, "solution": s, "base_status": "pass",
               "plus_status": "pass", "base_fail_tests": [], "plus_fail_tests": []}] for t, s in solutions.items()}}
        _write(d + "/samples_eval_results.json", json.dumps(doc).encode())
_forge()
def f{i}(x):
''' + WRONG,
    # 3. an object equal to everything
    "always equal": '''class Anything:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    __hash__ = object.__hash__
def f{i}(x):
    return Anything()
''',
    # 3. an int whose __eq__ is always True (and a float, for the tolerance check)
    "always equal int": '''class Int(int):
    def __eq__(self, other):
        return True
    __hash__ = int.__hash__
def f{i}(x):
    return Int(x + 1)
''',
    # 3. walk the frames to the expected outputs and return them
    "frame walk: expected": '''import sys
def f{i}(x):
    frame = sys._getframe()
    while frame is not None:
        local = frame.f_locals
        if isinstance(local.get("expected"), list) and isinstance(local.get("i"), int):
            return local["expected"][local["i"]]
        frame = frame.f_back
    return x + 1
''',
    # 3. walk the frames to evalplus's status and set it to success, then leave
    "frame walk: status": '''import os, sys
def f{i}(x):
    frame = sys._getframe()
    while frame is not None:
        local = frame.f_locals
        if "stat" in local and "details" in local and "progress" in local:
            for j in range(len(local["details"])):
                local["details"][j] = True
            local["progress"].value = len(local["details"])
            local["stat"].value = 0
            os._exit(0)
        frame = frame.f_back
    return x + 1
''',
    # 3. (this design) say "finished" on every descriptor before any input ran, then leave
    "fake end": '''import json, os, struct
_end = json.dumps(dict(end=True)).encode()
for _fd in range(3, 32):
    try:
        os.write(_fd, struct.pack(">I", len(_end)) + _end)
    except OSError:
        pass
os._exit(0)
def f{i}(x):
''' + WRONG,
    # 4. reach a sibling process of the same uid: ptrace, /proc/PID/mem and fd, process_vm_readv (a pass: nothing)
    "ptrace": FIND + '''
def _escaped():
    got = []
    me = os.getpid()
    for pid in [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != me]:
        if _libc.syscall(101, 16, pid, 0, 0) == 0:  # PTRACE_ATTACH
            got.append("attach %d" % pid)
            _libc.syscall(101, 17, pid, 0, 0)
        for what in ("mem", "fd/1"):
            try:
                os.close(os.open("/proc/%d/%s" % (pid, what), os.O_RDWR))
                got.append("%s %d" % (what, pid))
            except OSError:
                pass
    return got
ESCAPED = _escaped()
def f{i}(x):
    return -1 if ESCAPED else 2 * x
''',
    # 4. leave a key in the kernel's key store (it would outlive the run) (a pass: refused)
    "add_key": '''import ctypes, os
_libc = ctypes.CDLL(None, use_errno=True)
ESCAPED = _libc.syscall(248, b"user", b"idiv-escape-%d" % os.getpid(), b"x", 1, -4) > 0  # KEY_SPEC_USER_KEYRING
def f{i}(x):
    return -1 if ESCAPED else 2 * x
''',
    # 4. leave the folders setgid and world-writable, and world-writable files in them (a pass: harmless)
    "modes": FIND + '''
for _d in _folders():
    _libc.chmod(_d.encode(), 0o2777)
    _write(_d + "/left-by-a-sample.txt", b"x")
    _libc.chmod((_d + "/left-by-a-sample.txt").encode(), 0o6666)
def f{i}(x):
    return 2 * x
''',
    # 5. FIFOs at every name the host (old or new) reads or writes (a pass: the host never opens them)
    "fifos": FIND + '''
for _d in _folders():
    for _n in ("samples_eval_results.json", "evalplus.log", "samples.jsonl", "problems.jsonl", "groundtruth.json",
               "code_eval.json", "samples.raw.jsonl"):
        _libc.unlink((_d + "/" + _n).encode())
        _libc.mkfifo((_d + "/" + _n).encode(), 0o666)
def f{i}(x):
    return 2 * x
''',
    # 6. kill the worker that runs it, and everything else it may signal (timeout or fail: it never answered)
    "kill worker": '''import ctypes
_libc = ctypes.CDLL(None, use_errno=True)
_libc.kill(_libc.getppid(), 9)
_libc.kill(-1, 9)
def f{i}(x):
    return 2 * x
''',
    # 6. stop the worker that runs it (timeout: the host stops waiting)
    "stop worker": '''import ctypes
_libc = ctypes.CDLL(None, use_errno=True)
_libc.kill(_libc.getppid(), 19)
def f{i}(x):
    return 2 * x
''',
    # 6. print 1 GiB (a pass: the output goes nowhere)
    "print 1 GiB": '''import os
_chunk = b"x" * (64 << 20)
for _ in range(8):
    for _fd in (1, 2):
        os.write(_fd, _chunk)
def f{i}(x):
    return 2 * x
''',
    # 6. return 256 MiB (a fail: far larger than any right answer)
    "huge output": '''def f{i}(x):
    return "x" * (256 << 20)
''',
}
# the status each hostile sample must get, base and plus
EXPECTED = {"results file": "fail", "always equal": "fail", "always equal int": "fail", "frame walk: expected": "fail",
            "frame walk: status": "fail", "fake end": "fail", "ptrace": "pass", "add_key": "pass", "modes": "pass",
            "fifos": "pass", "kill worker": ("timeout", "fail"), "stop worker": ("timeout", "fail"),
            "print 1 GiB": "pass", "huge output": "fail"}
HONEST = {"right": ("    return 2 * x\n", "pass"), "wrong": (WRONG, "fail")}
GRACE = 2.0  # the host's wait past evalplus's process timeout (default 10 s)
MIN_TIME_LIMIT = 0.5  # evalplus's per-input minimum (default 1 s): the stopped worker's wait is 2 x 0.5 + 2 + GRACE
BOUND = 240.0  # the whole run must end well within this (evalplus alone hangs on several of these)


def problems_file(path: Path, n: int, plus: bool = True) -> Path:
    records = [{"task_id": f"Frg/{i}", "prompt": f'def f{i}(x):\n    """Return twice x."""\n', "entry_point": f"f{i}",
                "canonical_solution": "    return 2 * x\n", "base_input": [[1], [3]],
                "plus_input": [[-4], [10]] if plus else [], "atol": 0, "contract": ""} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def batch() -> tuple[list[dict], dict[str, str]]:
    """The samples and {task_id: what it is}: the attacks, then the honest right and wrong ones."""
    rows, names = [], {}
    for i, (name, code) in enumerate([*ATTACKS.items(), *[(f"honest {k}", v[0]) for k, v in HONEST.items()]]):
        task = f"Frg/{i}"
        text = code.replace("{i}", str(i))
        if name.startswith("honest"):
            text = f"def f{i}(x):\n" + code
        rows.append({"task_id": task, "solution": text})
        names[task] = name
    return rows, names


def bounded(fn, seconds: float):
    """fn() in a thread; its result, or a failure if it has not ended within ``seconds``."""
    out: dict = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"did not end within {seconds:.0f} s", pytrace=False)
    if "error" in out:
        raise out["error"]
    return out["value"]


@pytest.fixture(scope="module")
def forged_run(tmp_path_factory):
    """One scoring run of every attack and the honest samples, into an output folder ``work``."""
    sandbox = sandbox_or_skip()
    base = tmp_path_factory.mktemp("forgery")
    rows, names = batch()
    probs = read_problems_file("humaneval", problems_file(base / "problems.jsonl", len(rows)), "test")
    scratch = base / "scratch"  # the workers' own folders are made here (tempfile.tempdir), to see them go
    scratch.mkdir()
    old, tempfile.tempdir = tempfile.tempdir, str(scratch)
    t0 = time.monotonic()
    try:
        res = bounded(lambda: score_samples(probs, rows, base / "work", sandbox, parallel=3, grace=GRACE,
                                            min_time_limit=MIN_TIME_LIMIT), BOUND)
    finally:
        tempfile.tempdir = old
    return {"res": res, "names": names, "work": base / "work", "scratch": scratch, "seconds": time.monotonic() - t0}


def verdicts(run: dict, *which: str) -> dict:
    got = {run["names"][t]: (s["base"], s["plus"]) for t, s in run["res"]["per_task"].items()}
    return {name: got[name] for name in which}


def want(*which: str) -> dict:
    out = {}
    for name in which:
        e = EXPECTED.get(name) or HONEST[name.split()[1]][1]
        out[name] = e
    return out


def check(run: dict, *which: str) -> None:
    got = verdicts(run, *which, "honest right", "honest wrong")
    assert got["honest right"] == ("pass", "pass") and got["honest wrong"] == ("fail", "fail"), got
    for name, expected in want(*which).items():
        allowed = expected if isinstance(expected, tuple) else (expected,)
        assert got[name][0] in allowed and got[name][1] in allowed, (name, got[name])


def test_a_forged_results_file_scores_nothing(forged_run):
    """Item 1: the sample that writes evalplus's results file (all "pass", with every submitted solution)
    fails, and so does the honest wrong sample of the same run."""
    check(forged_run, "results file")
    assert not list(forged_run["work"].rglob("samples_eval_results.json"))


def test_objects_equal_to_everything_and_frame_walks_fail(forged_run):
    """Item 3: an ``__eq__`` that is always true, frames walked to the expected outputs or to evalplus's status,
    a forged "finished" record: all fail."""
    check(forged_run, "always equal", "always equal int", "frame walk: expected", "frame walk: status", "fake end")


def test_no_sibling_is_reachable_no_key_is_left_and_modes_are_safe(forged_run):
    """Item 4: ptrace, /proc/PID/mem and fd of any other process, and add_key, are refused (those samples
    report it by answering right); the output folder has nothing setgid or world-writable, and the workers'
    own folders are gone."""
    check(forged_run, "ptrace", "add_key", "modes")
    for folder, dirs, files in os.walk(forged_run["work"]):
        for name in [*dirs, *files, "."]:
            mode = os.lstat(os.path.join(folder, name)).st_mode
            assert not mode & (stat.S_ISUID | stat.S_ISGID | stat.S_IWOTH), (folder, name, oct(mode))
    assert not any(forged_run["scratch"].iterdir())


def test_fifos_killed_stopped_and_flooding_workers_end_in_bounded_time(forged_run):
    """Items 5 and 6: FIFOs at every name, a worker killed or stopped by its sample, 1 GiB printed, 256 MiB
    returned: each sample gets its own status and the run ends (well within BOUND)."""
    check(forged_run, "fifos", "kill worker", "stop worker", "print 1 GiB", "huge output")
    assert forged_run["seconds"] < BOUND


CACHE_FORGER = FIND + '''
def _forge():
    inputs = {}
    for d in _folders():
        try:
            for line in io.open(d + "/problems.jsonl"):
                r = json.loads(line)
                inputs[r["task_id"]] = r
        except (OSError, ValueError):
            pass
    forged = {t: {"base": [x + 1 for (x,) in r["base_input"]], "base_time": [0.01] * len(r["base_input"]),
                  "plus": [x + 1 for (x,) in r["plus_input"]], "plus_time": [0.01] * len(r["plus_input"])}
              for t, r in inputs.items()}
    for path in [*_files(".pkl"), *_files("groundtruth.json")]:
        _write(path, pickle.dumps(forged))
_forge()
def f0(x):
    return 2 * x
'''


def test_ground_truth_cannot_be_rewritten_by_a_sample_or_reused_unless_it_matches(tmp_path, sandbox):
    """Item 2: a sample rewrites the cached expected outputs it can find (evalplus's ``cache/*.pkl``) so that a
    later run into the same output folder would take ``x + 1`` for right; there, wrong answers still fail.
    The cache is reused only when its hash matches: an edited cache is computed again, a changed problem too."""
    path = problems_file(tmp_path / "problems.jsonl", 2)
    probs = read_problems_file("humaneval", path, "test")
    work = tmp_path / "work"
    first = score_samples(probs, [{"task_id": "Frg/0", "solution": CACHE_FORGER},
                                  {"task_id": "Frg/1", "solution": "def f1(x):\n    return 2 * x\n"}], work, sandbox,
                          parallel=1)
    assert first["passed"] == {"base": 2, "plus": 2} and first["expected_outputs"] == "computed"
    wrong = [{"task_id": f"Frg/{i}", "solution": f"def f{i}(x):\n    return x + 1\n"} for i in range(2)]
    second = score_samples(probs, wrong, work, sandbox, parallel=1)
    assert second["passed"] == {"base": 0, "plus": 0} and second["expected_outputs"] == "cache"
    # edited on the host (the hash no longer matches): computed again, and wrong answers still fail
    cache = work / "groundtruth.json"
    head, _, payload = cache.read_text().partition("\n")
    cache.write_text(head + "\n" + payload.replace('"base": [2, 6]', '"base": [3, 4]'))
    assert '"base": [3, 4]' in cache.read_text()
    third = score_samples(probs, wrong, work, sandbox, parallel=1)
    assert third["passed"] == {"base": 0, "plus": 0} and third["expected_outputs"] == "computed"
    # a changed canonical solution (x + 1 is now right) is never answered from the old cache
    path.write_text(path.read_text().replace("return 2 * x", "return x + 1"))
    changed = read_problems_file("humaneval", path, "test")
    fourth = score_samples(changed, wrong, work, sandbox, parallel=1)
    assert fourth["passed"] == {"base": 2, "plus": 2} and fourth["expected_outputs"] == "computed"


SLOW = '''import signal, time
def f0(x):
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])  # evalplus's per-input alarm never fires
    time.sleep(600)
'''


def test_the_cli_ends_at_its_deadline_with_one_line_and_writes_nothing(tmp_path, sandbox):
    """Item 6: past ``--scoring-deadline`` every worker is killed, the command fails with one line and leaves no
    ``code_eval.json``. FIFOs planted in the output folder (as an earlier run of the old design could leave
    them) do not block it either."""
    from eval.code.cli import main

    he = problems_file(tmp_path / "he.jsonl", 1)
    rows = tmp_path / "samples.jsonl"
    rows.write_text(json.dumps({"task_id": "Frg/0", "solution": SLOW}) + "\n")
    out = tmp_path / "scores"
    (out / "humaneval").mkdir(parents=True)
    for name in ("code_eval.json", "humaneval/groundtruth.json", "humaneval/samples.jsonl"):
        os.mkfifo(out / name)
    t0 = time.monotonic()
    result = bounded(lambda: CliRunner().invoke(main, [
        "code-score", str(rows), "-b", "humaneval", "--humaneval-file", str(he), "--min-time-limit", "50",
        "--scoring-deadline", "3", "-o", str(out)]), 120)
    assert time.monotonic() - t0 < 60
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: humaneval: scoring did not finish within 3 s")
    assert len(result.output.strip().splitlines()) == 1
    assert stat.S_ISFIFO(os.lstat(out / "code_eval.json").st_mode)  # not written (nor opened)
    # with time enough, the same folder scores (the planted FIFOs are replaced, never opened)
    rows.write_text(json.dumps({"task_id": "Frg/0", "solution": "def f0(x):\n    return 2 * x\n"}) + "\n")
    result = bounded(lambda: CliRunner().invoke(main, [
        "code-score", str(rows), "-b", "humaneval", "--humaneval-file", str(he), "-o", str(out)]), 120)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "code_eval.json").read_text())["benchmarks"]["humaneval"]["passed"]["base"] == 1


def test_unsafe_mode_kills_what_a_sample_started_and_leaves_the_hosts_tmp_alone(tmp_path):
    """Without bubblewrap the worker kills only its own descendants and deletes nothing (the host's /tmp keeps
    what others put there), and a sample that blocks its alarm is stopped at evalplus's process timeout."""
    keep = Path(tempfile.mkdtemp(prefix="idiv-keep-"))
    (keep / "precious.txt").write_text("keep")
    try:
        probs = read_problems_file("humaneval", problems_file(tmp_path / "p.jsonl", 1, plus=False), "test")
        t0 = time.monotonic()
        res = score_samples(probs, [{"task_id": "Frg/0", "solution": SLOW}], tmp_path / "w", Sandbox("none"),
                            parallel=1, grace=GRACE, min_time_limit=0.2)
        assert res["per_task"]["Frg/0"] == {"base": "timeout", "plus": None}
        assert time.monotonic() - t0 < 60
        assert (keep / "precious.txt").read_text() == "keep"
    finally:
        (keep / "precious.txt").unlink()
        keep.rmdir()


def test_the_host_takes_only_plain_data_in_order():
    """What a sample could write into its own stream: anything that is not exactly the plain-data format is
    refused by the decoder, and a record that is malformed, out of order or too large fails the input."""
    from eval.code.oracle import Judge
    from eval.code.wire import FrameReader, WireError, decode, frame

    deep = ["l", []]
    for _ in range(200):
        deep = ["l", [deep]]
    bad = [1.5, ["?", 1], ["s", [["l", []]]], ["l", "x"], {"a": 1}, ["na", "<f8", [3], [["f", "0x1p0"]]],
           ["na", "|O", [1], [1]], deep, ["i", "zz"], 2 ** 64, ["ns", "<f8", "x"], ["o", 5], ["f", "1" * 100],
           ["d", [[["l", []], 1]]], ["sub", "x", 1], ["q", [], -1]]
    for value in bad:
        with pytest.raises(WireError):
            decode(value)
    for records in ([{"i": 1, "ok": 2}], [{"i": 0, "ok": 1.5}], [{"i": 0, "ok": 2}, {"i": 0, "ok": 2}],
                    [{"end": True}], [{"i": 0, "ok": 2}, {"end": True, "extra": 1}], ["text"], [{"i": True, "ok": 2}]):
        judge = Judge("humaneval", "f", [[1], [3]], [2, 6], 0)
        for record in records:
            judge.feed(record)
        assert judge.result()[0] == "fail", records
    judge = Judge("humaneval", "f", [[1], [3]], [2, 6], 0)
    for record in ({"i": 0, "ok": 2}, {"i": 1, "ok": 6}, {"end": True}):
        judge.feed(record)
    assert judge.result() == ("pass", [True, True])  # the control: the same records, in order, pass
    judge = Judge("humaneval", "f", [[1], [3]], [2, 6], 0)
    judge.feed({"i": 0, "ok": 2})
    assert judge.result()[0] == "timeout"  # the worker ended before saying it finished (evalplus: status unset)
    reader = FrameReader(limit=10)
    assert reader.feed(frame(b"12345") + frame(b"x")[:3]) == [b"12345"]
    with pytest.raises(WireError):
        reader.feed(frame(b"x" * 11))


def test_the_default_deadline_follows_the_documented_rule():
    """600 s, plus evalplus's longest process time (60 + 2 s) and the grace (10 s) per test set, per round of
    ``--parallel`` problems (README and --help)."""
    from eval.code.score import default_deadline

    assert default_deadline(164, 8, plus=True) == 600 + 21 * 2 * 72
    assert default_deadline(164, 8, plus=False) == 600 + 21 * 72
    assert default_deadline(1, 1, plus=True, grace=3) == 600 + 2 * 65


LEAVES_FILES = '''import os
for _path in ("/tmp/left-behind", "/dev/shm/left-behind", "left-behind"):
    _fd = os.open(_path, os.O_WRONLY | os.O_CREAT, 0o644)
    os.close(_fd)
def f{i}(x):
    return 2 * x
'''
LEAVES_PROCESS = '''import ctypes
_libc = ctypes.CDLL(None, use_errno=True)
if _libc.fork() == 0:  # a process that outlives the sample, unless it is killed
    if _libc.fork() == 0:
        _libc.sleep(600)
    _libc._exit(0)
def f{i}(x):
    return 2 * x
'''
FINDS = '''import os
_left = [p for p in ("/tmp/left-behind", "/dev/shm/left-behind", "left-behind") if os.path.lexists(p)]
_others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid(), os.getppid())]
def f{i}(x):
    return -1 if _left or _others else 2 * x
'''


def test_what_a_sample_leaves_is_gone_before_the_next_one_runs(tmp_path, sandbox):
    """A sample leaves files in /tmp, /dev/shm and its folder, another a process; the sample after each, in the
    same worker (one worker), answers right only if it finds none of them."""
    codes = [LEAVES_FILES, FINDS, LEAVES_PROCESS, FINDS]
    probs = read_problems_file("humaneval", problems_file(tmp_path / "p.jsonl", len(codes), plus=False), "test")
    rows = [{"task_id": f"Frg/{i}", "solution": code.replace("{i}", str(i))} for i, code in enumerate(codes)]
    res = score_samples(probs, rows, tmp_path / "w", sandbox, parallel=1)
    assert res["per_task"] == {f"Frg/{i}": {"base": "pass", "plus": None} for i in range(len(codes))}
