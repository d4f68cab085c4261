"""The sandbox holds when the caller is root (CI runs as root): hostile samples fail inside it while the other
samples in the same run still score, its start-up probe refuses weakened sandboxes (each of its checks, by a
sandbox weakened in only that way), limits hold, two runs at once do not share a process budget, and what a
run leaves in a work folder is handed back with safe modes.

The hostile samples attack around evalplus's reliability_guard (``io.open``, ``os.open``, ``ctypes``) and answer
correctly only when their attack failed, so a "pass" is the sample's own report that it got nothing; the host
checks the rest (no file written outside, no secret bytes anywhere it can see). The control runs the same
samples in a weakened sandbox (bubblewrap as the project used it before: root keeps its capabilities, ``/`` is
bound read-only, the host's environment passes through): there each attack works, so these tests can fail.
The attacks on the scores themselves (forged results, ground truth, stopped workers) are in
test_code_forgery.py.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import eval.code.sandbox as sb
from core.errors import ConfigError
from eval.code.data import read_problems_file
from eval.code.sandbox import Limits, Sandbox, SandboxRefused, find_sandbox
from eval.code.score import score_samples

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="shows what happens when root starts bubblewrap")


def problems_file(tmp_path: Path, n: int) -> Path:
    records = [{"task_id": f"Sbx/{i}", "prompt": f'def f{i}(x):\n    """Return twice x."""\n', "entry_point": f"f{i}",
                "canonical_solution": "    return 2 * x\n", "base_input": [[1], [3]], "plus_input": [[-4], [10]],
                "atol": 0, "contract": ""} for i in range(n)]
    path = tmp_path / "SandboxProblems.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def problems(tmp_path: Path, n: int):
    return read_problems_file("humaneval", problems_file(tmp_path, n), "test")


@pytest.fixture
def host(tmp_path, monkeypatch):
    """Secrets on the host, outside the work folder: a file beside it and one in /var/tmp (outside /tmp, which
    even the weakened sandbox hides), HF tokens at $HF_HOME/token and ~/.cache/huggingface/token (HOME and
    HF_HOME are temporary folders: the real /root is never touched), and secret environment variables. ``loot``
    is a folder any uid may write: the hostile samples copy there whatever they get (the real sandbox does not
    show it; the weakened one binds it)."""
    base = Path(tempfile.mkdtemp(prefix="idiv-sandbox-test-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None))
    base.chmod(0o755)  # readable by any uid, as many home folders are: the sandbox, not the mode, must stop it
    s = {name: f"{name}-{secrets.token_hex(12)}" for name in ("outside", "beside", "hf_home", "home", "env")}
    (base / "outside.txt").write_text(s["outside"])
    (tmp_path / "beside.txt").write_text(s["beside"])
    (base / "hf").mkdir()
    (base / "hf" / "token").write_text(s["hf_home"])
    (base / "home" / ".cache" / "huggingface").mkdir(parents=True)
    (base / "home" / ".cache" / "huggingface" / "token").write_text(s["home"])
    (base / "loot").mkdir()
    (base / "loot").chmod(0o777)
    monkeypatch.setenv("HOME", str(base / "home"))
    monkeypatch.setenv("HF_HOME", str(base / "hf"))
    monkeypatch.setenv("HF_TOKEN", s["env"])
    monkeypatch.setenv("OPENAI_API_KEY", s["env"] + "-key")
    paths = {"outside": base / "outside.txt", "beside": tmp_path / "beside.txt", "hf_home": base / "hf" / "token",
             "home": base / "home" / ".cache" / "huggingface" / "token", "marker": base / "host-marker",
             "work": tmp_path / "work", "loot": base / "loot", "base": base}
    yield {"secrets": s, "paths": paths}
    shutil.rmtree(base, ignore_errors=True)


PRELUDE = '''import ctypes, io, os, sys
_libc = ctypes.CDLL(None, use_errno=True)
LOOT = {loot!r}
def _loot(data):  # copy what was got where the host can find it (the weakened sandbox binds LOOT)
    fd = os.open(LOOT + "/loot-{name}", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(fd, data + b"\\n")
    os.close(fd)
'''

ATTACKS = {
    # (a) hold or gain a capability: CapEff, capset(CAP_SYS_ADMIN), setuid(0), unshare of mount / user namespaces
    "capability": '''def _escaped():
    got = []
    status = io.open("/proc/self/status").read()
    if any(l.startswith("CapEff:") and int(l.split()[1], 16) for l in status.splitlines()):
        got.append("CapEff")
    header, data = (ctypes.c_uint32 * 2)(0x20080522, 0), (ctypes.c_uint32 * 6)(1 << 21, 1 << 21, 0, 0, 0, 0)
    if _libc.capset(header, data) == 0:
        got.append("capset")
    if _libc.setuid(0) == 0:
        got.append("setuid")
    if _libc.unshare(0x00020000) == 0:
        got.append("unshare(CLONE_NEWNS)")
    if _libc.unshare(0x10000000 | 0x00020000) == 0:
        got.append("unshare(CLONE_NEWUSER|CLONE_NEWNS)")
    if got:
        _loot(" ".join(got).encode())
    return bool(got)
''',
    # (b) umount2("/tmp"), remount "/" (and the bound interpreter, /usr) read-write, then write a file on the host
    "remount": '''def _escaped():
    _libc.umount2(b"/tmp", 2)
    for target in (b"/", sys.prefix.encode(), b"/usr"):
        _libc.mount(None, target, None, 32 | 4096, None)  # MS_REMOUNT | MS_BIND: read-write again
    for path in ({marker!r}, sys.prefix + "/idiv-marker-{nonce}"):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        except OSError:
            continue
        os.write(fd, b"written from inside the sandbox")
        os.close(fd)
        return True
    return False
''',
    # (c) read files outside the work folder and copy them out
    "read": '''def _escaped():
    got = False
    for path in ({outside!r}, {beside!r}):
        try:
            _loot(io.open(path, "rb").read())
            got = True
        except OSError:
            pass
    return got
''',
    # (d) read the Hugging Face tokens
    "token": '''def _escaped():
    got = False
    for path in ({hf_home!r}, {home!r}):
        try:
            fd = os.open(path, os.O_RDONLY)
            _loot(os.read(fd, 4096))
            os.close(fd)
            got = True
        except OSError:
            pass
    return got
''',
    # (e) read secret environment variables, its own and its parents'
    "environment": '''def _escaped():
    seen = dict(os.environ)
    for pid in ("self", "1", str(os.getppid())):
        try:
            for item in io.open("/proc/%s/environ" % pid, "rb").read().split(b"\\0"):
                k, _, v = item.decode("utf-8", "replace").partition("=")
                seen.setdefault(k, v)
        except OSError:
            pass
    got = [seen[k] for k in ("HF_TOKEN", "OPENAI_API_KEY") if k in seen]
    for value in got:
        _loot(value.encode())
    return bool(got)
''',
}


def hostile(name: str, index: int, host: dict) -> str:
    p = {k: str(v) for k, v in host["paths"].items()}
    code = PRELUDE.format(loot=p["loot"], name=name) + ATTACKS[name].format(nonce=host["nonce"], **p)
    return code + f"ESCAPED = _escaped()\ndef f{index}(x):\n    return -1 if ESCAPED else 2 * x\n"


def samples(host: dict) -> list[dict]:
    out = [{"task_id": f"Sbx/{i}", "solution": hostile(name, i, host)} for i, name in enumerate(ATTACKS)]
    n = len(out)
    out.append({"task_id": f"Sbx/{n}", "solution": f"def f{n}(x):\n    return 2 * x\n"})  # honest, right
    out.append({"task_id": f"Sbx/{n + 1}", "solution": f"def f{n + 1}(x):\n    return x + 1\n"})  # honest, wrong
    return out


def everything_written(*folders: Path) -> bytes:
    return b"".join(p.read_bytes() for f in folders for p in f.rglob("*") if p.is_file() and not p.is_symlink())


def interpreter_markers(host: dict) -> list[Path]:
    return [Path(p) / f"idiv-marker-{host['nonce']}" for p in sb.interpreter_paths()]


def test_hostile_samples_fail_inside_the_sandbox_while_the_others_score(tmp_path, host, sandbox):
    host["nonce"] = secrets.token_hex(6)
    res = score_samples(problems(tmp_path, len(ATTACKS) + 2), samples(host), host["paths"]["work"], sandbox,
                        parallel=2)
    per = res["per_task"]
    # every hostile sample ran to its answer and reports that its attack got nothing...
    assert [per[f"Sbx/{i}"]["base"] for i in range(len(ATTACKS))] == ["pass"] * len(ATTACKS), per
    # ...and the honest samples of the same run are scored as usual
    n = len(ATTACKS)
    assert per[f"Sbx/{n}"] == {"base": "pass", "plus": "pass"} and per[f"Sbx/{n + 1}"]["base"] == "fail"
    assert res["passed"] == {"base": n + 1, "plus": n + 1}
    # the host's view: no file written outside, no secret anywhere it can see or in the results
    assert not host["paths"]["marker"].exists() and not any(m.exists() for m in interpreter_markers(host))
    written = everything_written(host["paths"]["work"], host["paths"]["loot"]) + json.dumps(res).encode()
    for name, value in host["secrets"].items():
        assert value.encode() not in written, name
    assert res["sandbox"]["kind"] == "bubblewrap" and res["sandbox"]["probe"]["passed"] is True
    assert set(res["sandbox"]["probe"]["checks"]) >= {"capabilities", "gain", "mounts", "writes", "reads",
                                                      "environment", "network", "limits", "keyrings", "ptrace"}


class WeakSandbox(Sandbox):
    """bubblewrap as the project ran it before issue 11 (root keeps every capability, ``--ro-bind / /``), and
    passing the host's environment through: the control. ``loot`` is bound writable."""

    as_root = False  # its code runs as root: no uid of its own, no work folder to hand over
    loot: Path | None = None

    def command(self, argv, workdir, env, readable=(), uid=None):
        cmd = [self.executable, "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", "/", "/",
               "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        for p in [*sb.interpreter_paths(), sb.LAUNCHER, sb.PROBE, *readable]:  # what a private /tmp would hide
            real = os.path.realpath(p)
            if real.startswith("/tmp/"):
                cmd += ["--ro-bind", real, real]
        cmd += ["--bind", str(workdir), str(workdir), "--chdir", str(workdir)]
        if self.loot is not None:
            cmd += ["--bind", str(self.loot), str(self.loot)]
        for key, value in {**os.environ, **env}.items():
            cmd += ["--setenv", key, value]
        return cmd + ["--", *argv]


def weak(loot: Path | None = None) -> WeakSandbox:
    real = find_sandbox()
    out = WeakSandbox("bubblewrap", real.executable, real.version, real.limits)
    out.loot = loot
    return out


@needs_root
def test_the_same_samples_escape_a_weakened_sandbox(tmp_path, host, monkeypatch, sandbox):
    """The control: the probe refuses the weakened sandbox; forced to run anyway, every attack works."""
    if Path("/tmp") in host["paths"]["base"].parents:
        pytest.skip("no /var/tmp here: the weakened sandbox hides /tmp, so its attacks would find nothing")
    host["nonce"] = secrets.token_hex(6)
    (tmp_path / "probe-work").mkdir()
    with pytest.raises(SandboxRefused, match="capabilities.*refusing to run generated code"):
        weak().verify(tmp_path / "probe-work")
    monkeypatch.setattr(WeakSandbox, "verify", lambda self, workdir, readable=(): {"passed": False})
    rows, n = samples(host), len(ATTACKS)
    remount = list(ATTACKS).index("remount")
    try:
        # there the remount sample's umount2("/tmp") pulls /tmp from under its worker (and the samples after it
        # in that worker, the honest ones included), so it runs on its own
        for run in ([r for i, r in enumerate(rows) if i != remount], [rows[remount], *rows[n:]]):
            ids = [r["task_id"] for r in run]
            probs = problems(tmp_path, n + 2)
            probs = type(probs)(probs.benchmark, {t: probs.records[t] for t in ids}, probs.plus, probs.origin)
            res = score_samples(probs, run, host["paths"]["work"], weak(host["paths"]["loot"]), parallel=2)
            hostile_ids = [t for t in ids if int(t.split("/")[1]) < n]
            assert [res["per_task"][t]["base"] for t in hostile_ids] == ["fail"] * len(hostile_ids), res["per_task"]
            if rows[remount] not in run:
                assert res["per_task"][f"Sbx/{n}"]["base"] == "pass"
        assert host["paths"]["marker"].read_bytes() == b"written from inside the sandbox"
        written = everything_written(host["paths"]["loot"])
        for name, value in host["secrets"].items():  # all but the file beside the work folder, in the hidden /tmp
            assert (value.encode() in written) is (name != "beside"), name
    finally:
        for marker in interpreter_markers(host):  # only if the marker in /var/tmp could not be written
            marker.unlink(missing_ok=True)


# -- the probe refuses weakened sandboxes: each of its checks, by a sandbox weakened in only that way ---------------


def _extra_mounts(monkeypatch, option, path):
    real = sb._mounts

    def mounts(workdir, files, tmp_bytes):
        out = real(workdir, files, tmp_bytes)
        target = path(workdir)
        parents = [a for p in reversed(target.parents) if p != Path("/") for a in ("--perms", "0755", "--dir", str(p))]
        return out[:-2] + parents + [option, str(target), str(target)] + out[-2:]  # before the final --remount-ro /

    monkeypatch.setattr(sb, "_mounts", mounts)


def _bound_home(monkeypatch, host):
    """$HOME holds nothing secret (no canary, no token: only the listing can give it away), and is bound."""
    home = host["paths"]["base"] / "plain-home"
    home.mkdir()
    (home / "notes.txt").write_text("nothing secret")
    monkeypatch.setenv("HOME", str(home))
    _extra_mounts(monkeypatch, "--ro-bind", lambda w: home)


def _launcher_with(monkeypatch, folder: Path, *edits: tuple[str, str]) -> None:
    """Run a copy of the launcher with ``edits`` (old text, new text) made, each of which must apply."""
    text = sb.LAUNCHER.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    copy = folder / f"sandbox_launch_{secrets.token_hex(4)}.py"
    copy.write_text(text)
    monkeypatch.setattr(sb, "LAUNCHER", copy)


NO_SELF_CHECK = ("    problems = check(config)\n", "    problems = []\n")  # the launcher's own check would refuse first


def _without_deny(*names: str) -> list[tuple[str, str]]:
    """Edits that drop system calls from the launcher's seccomp refusals."""
    text = sb.LAUNCHER.read_text()
    lines = [line for line in text.splitlines(keepends=True) if any(line.strip().startswith(f'"{n}":') for n in names)]
    assert len(lines) == len(names), names
    return [(line, "") for line in lines]


WEAKENINGS = {
    "home bound": ("reads", lambda mp, host: _extra_mounts(mp, "--ro-bind", lambda w: host["paths"]["base"])),
    "home listed": ("reads", _bound_home),
    "work folder's parent writable": ("writes", lambda mp, host: _extra_mounts(mp, "--bind", lambda w: w.parent)),
    "host environment passed": ("environment", lambda mp, host: mp.setattr(
        sb, "sandbox_env", lambda extra, workdir, kind, host_env=None: {**(host_env or {}), **extra})),
    "network shared": ("network", lambda mp, host: mp.setattr(
        Sandbox, "command", _without("--unshare-net", Sandbox.command))),
    "soft limits only": ("limits", lambda mp, host: _launcher_with(mp, host["paths"]["base"], NO_SELF_CHECK, (
        "resource.setrlimit(getattr(resource, name), (value, value))",
        "resource.setrlimit(getattr(resource, name), (value, resource.getrlimit(getattr(resource, name))[1]))"))),
    "key system calls allowed": ("keyrings", lambda mp, host: _launcher_with(
        mp, host["paths"]["base"], *_without_deny("add_key", "request_key", "keyctl"))),
    "caller's session keyring kept": ("keyrings", lambda mp, host: _launcher_with(
        mp, host["paths"]["base"], ("        _own_session_keyring(libc)\n", ""), *_without_deny("keyctl"))),
    "ptrace allowed": ("ptrace", lambda mp, host: _launcher_with(
        mp, host["paths"]["base"], *_without_deny("ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd"))),
    "old command line": ("capabilities", None),
}
ROOT_WEAKENINGS = {
    # a user namespace as root maps the code to host uid 0, which RLIMIT_NPROC does not bind
    "user namespace as root": ("limits", lambda mp, host: mp.setattr(sb, "_fresh_uid", lambda: None)),
    # without the seccomp filter, root's unprivileged uid could still make a user namespace of its own
    "no seccomp filter": ("namespaces", lambda mp, host: mp.setattr(sb, "SEAL_ARCHES", ())),
    # the capabilities dropped but root's uid kept
    "no uid change": ("identity", lambda mp, host: _launcher_with(mp, host["paths"]["base"], NO_SELF_CHECK, (
        "    os.setresgid(gid, gid, gid)\n    os.setresuid(uid, uid, uid)", ""))),
}


def _without(option, command):
    def cmd(self, *args, **kwargs):
        return [c for c in command(self, *args, **kwargs) if c != option]

    return cmd


@pytest.mark.parametrize("weakening", [*WEAKENINGS, *(ROOT_WEAKENINGS if ROOT else [])])
def test_the_probe_refuses_a_weakened_sandbox(tmp_path, host, monkeypatch, weakening, sandbox):
    check, weaken = {**WEAKENINGS, **ROOT_WEAKENINGS}[weakening]
    tested = weak() if weaken is None else sandbox
    if weaken is not None:
        weaken(monkeypatch, host)
    work = tmp_path / "work"
    work.mkdir()
    tmp_path.chmod(0o777)  # so that a bind of it is writable by the sandbox's uid: only the sandbox may stop it
    before = set(os.listdir(tmp_path))
    with pytest.raises(SandboxRefused, match=f"probe got through \\(.*{check}") as refused:
        tested.verify(work)
    for value in host["secrets"].values():  # the refusal names what got through, never what it read
        assert value not in str(refused.value)
    assert set(os.listdir(tmp_path)) == before and os.listdir(work) == []  # the probe cleaned up after itself


def test_the_cli_refuses_to_score_with_one_line(tmp_path, host, monkeypatch, sandbox):
    from eval.code.cli import main

    WEAKENINGS["host environment passed"][1](monkeypatch, host)
    he = problems_file(tmp_path, 1)
    rows = tmp_path / "samples.jsonl"
    rows.write_text(json.dumps({"task_id": "Sbx/0", "solution": "def f0(x):\n    return 2 * x\n"}) + "\n")
    out = tmp_path / "scores"
    result = CliRunner().invoke(main, ["code-score", str(rows), "-b", "humaneval", "--humaneval-file", str(he),
                                       "-o", str(out)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: sandbox: the sandbox's start-up probe got through (environment")
    assert len(result.output.strip().splitlines()) == 1 and not (out / "code_eval.json").exists()


def test_a_missing_bwrap_skips_saying_so_and_a_broken_sandbox_fails(monkeypatch):
    """tests/sandboxkit.py: only a machine without bubblewrap skips the sandboxed tests; where it is installed
    and the sandbox does not hold, they fail with the probe's finding."""
    import sandboxkit

    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.skip.Exception, match="bwrap \\(bubblewrap\\) is not installed"):
        sandboxkit.sandbox_or_skip()
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/bwrap")

    def broken(unsafe=False):
        raise ConfigError("sandbox", "the sandbox's start-up probe got through (network: connected)")

    monkeypatch.setattr(sandboxkit, "find_sandbox", broken)
    with pytest.raises(pytest.fail.Exception, match="bwrap is installed but .*probe got through \\(network"):
        sandboxkit.sandbox_or_skip()


def test_unsafe_mode_says_plainly_that_no_sandbox_was_used(tmp_path, monkeypatch):
    from eval.code.cli import main

    monkeypatch.setattr(shutil, "which", lambda name: None)
    he = problems_file(tmp_path, 1)
    rows = tmp_path / "samples.jsonl"
    rows.write_text(json.dumps({"task_id": "Sbx/0", "solution": "def f0(x):\n    return 2 * x\n"}) + "\n")
    with pytest.warns(UserWarning, match="WITHOUT an OS sandbox"):
        result = CliRunner().invoke(main, ["code-score", str(rows), "-b", "humaneval", "--humaneval-file", str(he),
                                           "--unsafe-no-sandbox", "-o", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "o" / "code_eval.json").read_text())
    assert doc["settings"]["sandbox"].startswith("NO SANDBOX (--unsafe-no-sandbox)")
    assert doc["settings"]["sandbox_limits"] is None and doc["benchmarks"]["humaneval"]["sandbox"]["kind"] == "none"
    assert doc["benchmarks"]["humaneval"]["passed"]["base"] == 1


# -- limits, concurrency, what a run leaves ------------------------------------------------------------------------

LIMITS_PROGRAM = '''import json, os, sys, time
out = {}
try:
    bytearray(300 << 20)
    out["memory"] = "allocated"
except MemoryError:
    out["memory"] = "refused"
try:
    with open("big", "wb") as f:
        f.write(b"x" * (2 << 20))
    out["file"] = "written"
except OSError as exc:
    out["file"] = "refused"
n = 0
try:
    for _ in range(64):
        if os.fork() == 0:
            time.sleep(5)
            os._exit(0)
        n += 1
except OSError:
    pass
out["forks"] = n
try:
    for i in range(8):
        with open("/tmp/fill-%d" % i, "wb") as f:
            f.write(b"x" * ((1 << 20) - 1))
    out["tmp"] = "filled"
except OSError:
    out["tmp"] = "full"
print(json.dumps(out), flush=True)
while True:  # until RLIMIT_CPU stops it
    pass
'''


def test_limits_hold_inside(tmp_path, sandbox):
    limits = Limits(memory_bytes=256 << 20, scorer_memory_bytes=256 << 20, processes=16, file_bytes=1 << 20,
                    cpu_seconds=1, tmp_bytes=4 << 20)
    limited = Sandbox("bubblewrap", sandbox.executable, "test", limits)
    prog = tmp_path / "limits.py"
    prog.write_text(LIMITS_PROGRAM)
    work = tmp_path / "work"
    work.mkdir()
    run = limited.run([sys.executable, "-I", str(prog)], work, {}, readable=[prog], timeout=120)
    report = json.loads(run.stdout.decode().strip().splitlines()[-1])
    assert report["memory"] == "refused" and report["file"] == "refused" and report["tmp"] == "full"
    assert 0 < report["forks"] < 16
    assert run.returncode != 0  # killed by RLIMIT_CPU (SIGXCPU), not left spinning
    assert (work / "big").stat().st_size <= 1 << 20


HOG = '''import os, sys, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
except OSError:
    pass
with open("ready", "w") as f:
    f.write(str(n))
for _ in range(1200):
    if os.path.exists("done"):
        break
    time.sleep(0.05)
'''
WORKER = '''import os, time
pids = []
for _ in range(6):
    pid = os.fork()
    if pid == 0:
        time.sleep(1)
        os._exit(0)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)
print("forked", len(pids))
'''


def _two_at_once(tmp_path: Path, executable: str) -> tuple[int, subprocess.CompletedProcess]:
    limited = Sandbox("bubblewrap", executable, "test", Limits(processes=24))
    hog, worker = tmp_path / "hog.py", tmp_path / "worker.py"
    hog.write_text(HOG)
    worker.write_text(WORKER)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    thread = threading.Thread(target=limited.run, args=([sys.executable, "-I", str(hog)], tmp_path / "a", {}),
                              kwargs={"readable": [hog], "timeout": 120})
    thread.start()
    try:
        for _ in range(1200):
            if (tmp_path / "a" / "ready").exists():
                break
            time.sleep(0.05)
        held = int((tmp_path / "a" / "ready").read_text())
        other = limited.run([sys.executable, "-I", str(worker)], tmp_path / "b", {}, readable=[worker], timeout=120)
    finally:
        (tmp_path / "a" / "done").write_text("")
        thread.join()
    return held, other


def test_two_sandboxes_at_once_do_not_share_a_process_budget(tmp_path, sandbox):
    held, other = _two_at_once(tmp_path, sandbox.executable)
    assert 10 < held < 24  # the first one holds all the processes it may have...
    assert other.returncode == 0 and b"forked 6" in other.stdout, other  # ...and the second still forks


@needs_root
def test_two_sandboxes_with_one_uid_would_share_it(tmp_path, monkeypatch, sandbox):
    """The control: were both runs given the same host uid, the second could not start its processes."""
    monkeypatch.setattr(sb, "_fresh_uid", lambda: sb.ROOT_UID_BASE + 7)
    held, other = _two_at_once(tmp_path, sandbox.executable)
    assert held > 10 and other.returncode != 0


LEAVE_BEHIND = '''import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
os.mkdir("sub")
os.mkdir("sub/locked")
for path, mode in ((".", 0o2777), ("sub", 0o2777), ("sub/locked", 0o000)):
    os.chmod(path, mode)
for name, mode in (("open.txt", 0o666), ("sub/suid", 0o4755), ("sub/sgid", 0o2775)):
    fd = os.open(name, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(name, mode)
os.symlink("/etc/passwd", "link")
libc.mkfifo(b"fifo", 0o666)
os.chmod("fifo", 0o666)
print("left", flush=True)
'''


def test_a_work_folder_is_handed_back_with_safe_modes(tmp_path, sandbox):
    """What code leaves in its work folder (a 2777 folder, 0666 / setuid / setgid files, a FIFO, a folder
    locked at 000) is handed back to its owner with no setuid/setgid/sticky bit and nothing group- or
    world-writable; links are not followed (the target keeps its mode)."""
    prog = tmp_path / "leave.py"
    prog.write_text(LEAVE_BEHIND)
    work = tmp_path / "work"
    work.mkdir()
    target_mode = os.stat("/etc/passwd").st_mode
    run = sandbox.run([sys.executable, "-I", str(prog)], work, {}, readable=[prog], timeout=120)
    assert run.stdout.strip() == b"left", run.stderr
    seen = {}
    for folder, dirs, files in os.walk(work):
        for name in [*dirs, *files, "."]:
            info = os.lstat(os.path.join(folder, name))
            seen[os.path.relpath(os.path.join(folder, name), work)] = info
    assert {"open.txt", "sub", "sub/suid", "sub/sgid", "sub/locked", "fifo", "link"} <= set(seen)
    bad = {name: oct(stat.S_IMODE(i.st_mode)) for name, i in seen.items() if not stat.S_ISLNK(i.st_mode)
           and stat.S_IMODE(i.st_mode) & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | stat.S_IWGRP | stat.S_IWOTH)}
    assert bad == {}
    assert all(i.st_uid == os.getuid() for i in seen.values())  # back to its owner
    assert os.stat("/etc/passwd").st_mode == target_mode


def _line(description: str) -> tuple[str, list[str]]:
    """(what ran the code, the claims after it): the line is ``WHAT: claim, claim; claim, ...``."""
    head, _, rest = description.partition(": ")
    return head, [c.strip() for c in re.split(r"[,;]", rest)]


# What README's "The sandbox" promises of every sandboxed run (and the results' line repeats, one claim each)
PROTECTIONS = ["no capabilities", "no network", "no host files but the read-only interpreter and libraries",
               "only a fresh work folder writable", "rlimits", "seccomp", "start-up probe passed",
               "verdicts decided outside it", "from plain data"]


@pytest.mark.parametrize("euid", [0, 1000])
def test_the_results_line_says_what_the_code_ran_under(monkeypatch, euid):
    """``settings.sandbox`` in code_eval.json (and the model card) is one line: bubblewrap and its version, as
    whom the code ran (root's sandboxes: a fresh unprivileged host uid; an ordinary user's: uid 65534 in a user
    namespace), then each protection, and nothing else; without a sandbox it says NO SANDBOX first, and that
    evalplus's guard is no security boundary."""
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    head, claims = _line(Sandbox("bubblewrap", "/usr/bin/bwrap", "0.8.0").describe())
    who = "a fresh unprivileged host uid (bubblewrap started by root)" if euid == 0 else \
        f"uid {sb.SANDBOX_UID} in a user namespace"
    assert head == "bubblewrap 0.8.0" and claims == [f"as {who}", *PROTECTIONS]
    head, claims = _line(Sandbox("none").describe())
    assert head == "NO SANDBOX (--unsafe-no-sandbox)"
    assert claims == ["generated code ran with the caller's privileges", "files and network",
                      "under evalplus's reliability_guard only", "which is not a security boundary"]


def test_secret_looking_variables_are_refused_and_nothing_comes_from_the_host(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    env = sb.sandbox_env({"XDG_CACHE_HOME": "/w/cache"}, Path("/w"), "bubblewrap", host_env=dict(os.environ))
    assert "HF_TOKEN" not in env and env["HOME"] == "/tmp" and env["XDG_CACHE_HOME"] == "/w/cache"
    for name in ("HF_TOKEN", "GITHUB_TOKEN", "OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "HF_HOME"):
        with pytest.raises(ValueError, match=name):
            sb.sandbox_env({name: "x"}, Path("/w"), "bubblewrap")


def test_binds_that_would_hold_the_home_folder_or_tokens_are_refused(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".cache" / "huggingface").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(home / ".cache" / "huggingface"))
    protected = sb.protected_paths()
    secret_dirs = [Path(os.path.realpath(p)) for p in sb.secret_paths()]
    for source in (home, tmp_path, Path("/"), Path("/etc"), home / ".cache", home / ".cache" / "huggingface" / "hub"):
        with pytest.raises(ConfigError, match="refusing to bind"):
            sb._check_bind(Path(os.path.realpath(source)), protected, secret_dirs)
    sb._check_bind(Path(os.path.realpath(home / "venv")), protected, secret_dirs)  # inside home: fine
    with pytest.raises(ConfigError, match="refusing to bind"):
        sb._mounts(home, [], 1 << 20)  # the home folder as work folder


NON_ROOT_PROBE = '''import json, sys
sys.path.insert(0, {root!r})
from pathlib import Path
from eval.code.sandbox import Sandbox
print(json.dumps(Sandbox("bubblewrap", {bwrap!r}, "test").verify(Path({work!r}))))
'''


@needs_root
def test_the_sandbox_holds_for_an_ordinary_user_too(tmp_path, sandbox):
    """Started by a non-root uid, bubblewrap makes a user namespace (uid 65534 inside): the probe passes too.
    Run with the system's Python and this checkout, where uid 65534 can read them."""
    python, repo = "/usr/bin/python3", str(Path(__file__).resolve().parents[1])
    check = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", python, "-c",
             f"import sys; sys.path.insert(0, {repo!r}); import eval.code.sandbox"]
    if not shutil.which("setpriv") or not os.path.exists(python) or subprocess.run(check, capture_output=True).returncode:
        pytest.skip("setpriv, /usr/bin/python3 or this checkout is not usable by uid 65534 here")
    base = Path(tempfile.mkdtemp(prefix="idiv-nonroot-", dir="/tmp"))
    try:
        (base / "work").mkdir()
        os.chown(base, 65534, 65534)
        os.chown(base / "work", 65534, 65534)
        code = NON_ROOT_PROBE.format(root=repo, bwrap=sandbox.executable, work=str(base / "work"))
        run = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", python, "-I", "-c",
                              code], capture_output=True, text=True, timeout=300,
                             env={"PATH": "/usr/bin:/bin", "HOME": str(base / "home"), "TMPDIR": str(base)})
        if run.returncode != 0 and "does not start here" in run.stderr:  # e.g. user namespaces disabled
            pytest.skip(f"bubblewrap cannot run for an ordinary user here: {run.stderr.strip().splitlines()[-1]}")
        assert run.returncode == 0, run.stderr
        report = json.loads(run.stdout.strip().splitlines()[-1])
        assert report["passed"] and report["checks"]["identity"].startswith("uid 65534")
    finally:
        shutil.rmtree(base, ignore_errors=True)
