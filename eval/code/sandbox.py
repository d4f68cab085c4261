"""The OS sandbox that generated code runs in: bubblewrap (``bwrap``), or nothing only when asked explicitly.

evalplus runs each solution in a child process under its ``reliability_guard``, which by its own account is not
a security boundary (``io.open``, ``os.open``, ``ctypes`` and sockets still work). So every process that runs
generated code (the workers of :mod:`eval.code.workers`, each in a sandbox of its own) runs inside bubblewrap,
built to hold when the caller is root (CI, containers) as well:

- **No capabilities, no root.** Started by an ordinary user, bubblewrap runs the code as uid 65534 in a new user
  namespace (``--unshare-user --uid 65534 --gid 65534 --disable-userns --cap-drop ALL``). Started by root, a user
  namespace would map the code to host uid 0, which the kernel exempts from ``RLIMIT_NPROC``; so bubblewrap runs
  without one, keeps only CAP_SETUID/SETGID/SETPCAP, and :mod:`eval.code.sandbox_launch` empties the bounding set
  and switches for good to an unprivileged host uid that no other sandbox of this process holds at the time
  (2,000,300,000 + 32 x pid + n, no groups); the work folder's directories are handed to that uid for the run.
  Either way every capability set is empty, ``no_new_privs`` is set, and a seccomp filter makes ``unshare``/
  ``clone`` of a user namespace fail (no capability can be gained in a nested one either) and refuses the
  kernel's key store (``add_key``, ``request_key``, ``keyctl``: nothing is left behind under the uid) and every
  way into another process (``ptrace``, ``process_vm_readv``/``writev``, ``pidfd_getfd``).
- **Nothing of a run outlives it.** When a run ends or is stopped, bubblewrap's init and every process below it
  are killed and gone (:func:`kill_tree`) before the work folder is handed back (:func:`hand_back`): to its
  owner, with no setuid/setgid/sticky bit and nothing group- or world-writable left, links never followed.
- **The host's files are not there.** The root is an empty read-only tmpfs; bound read-only are only ``/usr``
  (with ``/bin``, ``/sbin``, ``/lib*`` or their links), the dynamic loader's ``/etc`` files, the interpreter's
  prefixes, the site-packages folders that hold evalplus and its dependencies, and this package's launcher,
  probe, worker and codec files. Never ``$HOME``, ``~/.cache``, ``$HF_HOME``, a token file, ``/etc`` or ``/``: a bind that
  would contain one, or lie inside a token folder, is refused. The work folder is the one writable host folder;
  ``/tmp`` and ``/dev/shm`` are private tmpfs of bounded size; stdin is ``/dev/null``.
- **Nothing secret in the environment.** ``--clearenv``, then a fixed list (``PATH``, ``LANG``, ``HOME=/tmp``,
  ``TMPDIR``, evalplus's memory variable); a name that looks like a secret (``*TOKEN*``,
  ``*KEY*``, ``*SECRET*``, ``*PASSW*``, ``HF_*``...) is refused. bubblewrap itself gets only ``PATH``.
- **No network**: a network namespace with only its own loopback. PID, IPC and UTS namespaces are private too;
  ``--die-with-parent`` and ``--new-session``: nothing outlives the run or reaches the terminal.
- **Limits**, set by the launcher before evalplus starts, soft = hard (:class:`Limits`): address space per
  process (lowered further by evalplus for each solution), processes and threads of the sandbox's uid, file
  size, CPU seconds per process, open files, no cores.

Before scoring, :meth:`Sandbox.verify` runs :mod:`eval.code.sandbox_probe` through the same command line and
refuses to score (:class:`SandboxRefused`, one line) when any attack works: reading canary files planted outside
the work folder, the token paths or a secret variable planted in the caller's environment; holding or gaining a
capability (capset, setuid(0), unshare, mount, umount2, remounting a bound folder read-write); writing outside
the work folder (checked on the host); connecting to a port the host listens on; limits not set or
``RLIMIT_NPROC`` not enforced; sharing the caller's session keyring or adding a key; reaching a sibling process
(ptrace, process_vm_readv, pidfd_getfd). Its report goes into the results.

Not protected against: kernel exploits (the code shares the host's kernel) and side channels; reading the bound
files (interpreter, libraries, ``/usr``) and everything in the work folder (keep nothing else there); filling
the disk through the work folder with many files under the size limit; total memory, which the per-process
limits bound only as processes x address space (use a cgroup, e.g. ``systemd-run --scope -p MemoryMax=...``, for
a hard cap); a sample exhausting its worker's process or memory budget (that sample fails, the host does not).
No verdict is read from the sandbox (see :mod:`eval.code.score`). When bubblewrap is missing or cannot build the
sandbox here (no user namespaces for an ordinary user, no CAP_SYS_ADMIN for root in a container), scoring refuses unless the caller passes ``unsafe=True``
(``--unsafe-no-sandbox``): then generated code runs as the caller, with its files and network (only the
environment is still the fixed list), under evalplus's guard only, and the results say so.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ConfigError
from eval.code.sandbox_worker import descendants

HERE = Path(__file__).resolve().parent
LAUNCHER = HERE / "sandbox_launch.py"
PROBE = HERE / "sandbox_probe.py"
INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap) so generated "
    "code runs without capabilities, network or host files, or pass --unsafe-no-sandbox to run it under "
    "evalplus's own guard only (not a security boundary)"
)
SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSW|CREDENTIAL|AUTH|COOKIE|^HF_|HUGGING", re.IGNORECASE)
SANDBOX_UID = 65534  # inside a user namespace (bubblewrap started by an ordinary user)
# Host uids for code started by root: base + 8 x pid + n (pid < 2**22), below 2**31 and above the ranges that
# systemd (containers: up to 1,879,048,191) and SSSD (ID mapping: up to 2,000,200,000) hand out by default.
ROOT_UID_BASE = 2_000_300_000
UID_SLOTS = 32  # sandboxes at once per process: base + 32 x pid (pid < 2**22) + slot stays below 2**31
SEAL_ARCHES = ("x86_64", "aarch64")  # where the launcher has a seccomp filter
SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")
# Paths whose contents are (or hold) the machine's or the user's secrets: never bound, nor anything above them.
PROTECTED = ("/", "/root", "/home", "/etc", "/var", "/tmp", "/run", "/proc", "/sys", "/dev", "/boot", "/mnt",
             "/media", "/srv")
_uid_lock = threading.Lock()
_uids_in_use: set[int] = set()


@dataclass(frozen=True)
class Limits:
    """Resource limits in the sandbox, soft = hard (code cannot raise them). The launcher sets them for every
    process; evalplus then lowers the address space of each solution's process to ``memory_bytes`` (a hard
    limit too), so that its own processes, which hold all the problems and expected outputs, keep more."""

    memory_bytes: int = 4 << 30  # each solution's RLIMIT_AS (and DATA, STACK): EVALPLUS_MAX_MEMORY_BYTES
    scorer_memory_bytes: int = 16 << 30  # RLIMIT_AS of every process (at least memory_bytes)
    processes: int = field(default_factory=lambda: max(512, 8 * (os.cpu_count() or 1)))  # RLIMIT_NPROC (+ threads)
    file_bytes: int = 1 << 30  # RLIMIT_FSIZE: the largest file it can write
    cpu_seconds: int = 3600  # RLIMIT_CPU per process
    open_files: int = 1024  # RLIMIT_NOFILE
    tmp_bytes: int = 512 << 20  # size of the private /tmp and of /dev/shm

    def rlimits(self) -> dict[str, int]:
        return {"RLIMIT_AS": max(self.memory_bytes, self.scorer_memory_bytes), "RLIMIT_NPROC": self.processes,
                "RLIMIT_FSIZE": self.file_bytes, "RLIMIT_CPU": self.cpu_seconds, "RLIMIT_NOFILE": self.open_files,
                "RLIMIT_CORE": 0}

    @classmethod
    def from_env(cls) -> Limits:
        """The defaults, with the memory limit from ``EVALPLUS_MAX_MEMORY_BYTES`` when that is set."""
        raw = os.environ.get("EVALPLUS_MAX_MEMORY_BYTES")
        if not raw:
            return cls()
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 64 << 20:
            raise ConfigError("EVALPLUS_MAX_MEMORY_BYTES", f"must be a number of bytes >= {64 << 20}, not {raw!r}")
        return cls(memory_bytes=value)


class SandboxRefused(ConfigError):
    """An attack of the start-up probe worked: nothing is scored."""


class SandboxUnavailable(ConfigError):
    """The sandbox cannot be built here (bubblewrap fails, the launcher refuses to start)."""


@dataclass(frozen=True)
class Sandbox:
    kind: str  # "bubblewrap" or "none"
    executable: str | None = None
    version: str | None = None
    limits: Limits = field(default_factory=Limits)

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    def describe(self) -> str:
        """One line for the results and the model card: what the sandbox is (the probe's report is beside it)."""
        if self.kind == "bubblewrap":
            who = "a fresh unprivileged host uid (bubblewrap started by root)" if self.as_root else \
                f"uid {SANDBOX_UID} in a user namespace"
            return (f"bubblewrap {self.version}: as {who}, no capabilities, no network, no host files but the "
                    "read-only interpreter and libraries, only a fresh work folder writable, rlimits, seccomp; "
                    "start-up probe passed; verdicts decided outside it, from plain data")
        return ("NO SANDBOX (--unsafe-no-sandbox): generated code ran with the caller's privileges, files and "
                "network, under evalplus's reliability_guard only, which is not a security boundary")

    # -- running ---------------------------------------------------------------------------------------------

    def run(self, argv: list[str], workdir: Path, env: dict[str, str], *, readable=(), stdout=None,
            timeout: float | None = None, host_env: dict | None = None) -> subprocess.CompletedProcess:
        """Run the Python program ``argv`` (``[sys.executable, "-I", file, ...]``) on ``workdir`` (writable),
        with ``env`` (checked by :func:`sandbox_env`) and ``readable`` files bound read-only; afterwards nothing
        of it runs any more and the work folder is handed back (:func:`hand_back`)."""
        output = {"stdout": stdout, "stderr": subprocess.STDOUT} if stdout is not None else \
            {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        with self.start(argv, workdir, env, readable=readable, host_env=host_env, **output) as proc:
            try:
                out, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                kill_tree(proc)
                raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    @contextmanager
    def start(self, argv: list[str], workdir: Path, env: dict[str, str], *, readable=(),
              host_env: dict | None = None, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
              stderr=subprocess.PIPE) -> Iterator[subprocess.Popen]:
        """Start ``argv`` as :meth:`run` does and yield the process (stdin is ``/dev/null`` unless given: never
        the caller's terminal). On leaving, every process of the sandbox is killed and gone before the work folder
        is handed back, so nothing of it can write there any more."""
        workdir = Path(workdir).resolve()
        env = sandbox_env(env, workdir, self.kind, host_env)
        pipes = {"stdin": stdin, "stdout": stdout, "stderr": stderr}
        if self.kind == "none":
            with _owned(workdir, None):
                proc = subprocess.Popen(argv, env=env, cwd=workdir, start_new_session=True, **pipes)
                try:
                    yield proc
                finally:
                    kill_tree(proc)
            return
        uid = _fresh_uid() if self.as_root else None
        try:
            cmd = self.command(argv, workdir, env, readable=readable, uid=uid)
            with _owned(workdir, uid):
                # bubblewrap itself gets no environment to speak of (its /proc/1/environ is visible inside)
                proc = subprocess.Popen(cmd, env={"PATH": "/usr/bin:/bin"}, cwd=workdir, **pipes)
                try:
                    yield proc
                finally:
                    kill_tree(proc)
        finally:
            if uid is not None:
                _release_uid(uid)

    def command(self, argv: list[str], workdir: Path, env: dict[str, str], readable=(), uid: int | None = None
                ) -> list[str]:
        """The bubblewrap command line that runs ``argv`` through the launcher (see the module docstring)."""
        if self.kind != "bubblewrap":
            raise ValueError("no sandbox to build a command for")
        namespaces = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
        if uid is not None:  # root: no user namespace, the launcher drops to `uid`
            cmd = [self.executable, *namespaces, "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add",
                   "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
        else:
            cmd = [self.executable, "--unshare-user", *namespaces, "--uid", str(SANDBOX_UID), "--gid",
                   str(SANDBOX_UID), *(["--disable-userns"] if _supports(self.executable, "--disable-userns") else []),
                   "--cap-drop", "ALL"]
        cmd += ["--die-with-parent", "--new-session", "--clearenv"]
        for key, value in env.items():
            cmd += ["--setenv", key, value]
        cmd += _mounts(workdir, [LAUNCHER, PROBE, *readable], self.limits.tmp_bytes)
        config = {"uid": uid, "gid": uid, "limits": self.limits.rlimits(), "cwd": str(workdir),
                  "seccomp": platform.machine() in SEAL_ARCHES}
        return cmd + ["--", sys.executable, "-I", "-S", str(LAUNCHER), json.dumps(config), "--", *argv]

    # -- the start-up probe ----------------------------------------------------------------------------------

    def verify(self, workdir: Path, readable=()) -> dict:
        """Attack the sandbox from inside (see the module docstring); the report, or :class:`SandboxRefused`."""
        if self.kind != "bubblewrap":
            return {"passed": None, "checks": {}, "note": "no sandbox: nothing was probed"}
        workdir = Path(workdir).resolve()
        return _probe_report(self, workdir, list(readable))


def sandbox_env(extra: dict[str, str], workdir: Path, kind: str, host_env: dict | None = None) -> dict[str, str]:
    """The whole environment of sandboxed code: a fixed list plus ``extra``; nothing is taken from the host's
    environment (``host_env`` is accepted so that the probe can plant a secret there and see it stay out)."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "HOME": "/tmp" if kind == "bubblewrap" else str(workdir),
           "TMPDIR": "/tmp" if kind == "bubblewrap" else tempfile.gettempdir(),
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for key, value in extra.items():
        if SECRET_NAME.search(key):
            raise ValueError(f"refusing to pass {key} into the sandbox (it looks like a secret)")
        env[key] = str(value)
    return env


def _fresh_uid() -> int:
    """A host uid no other sandbox of this process holds now (see ``ROOT_UID_BASE``)."""
    base = ROOT_UID_BASE + UID_SLOTS * (os.getpid() % (1 << 22))
    with _uid_lock:
        for n in range(UID_SLOTS):
            if base + n not in _uids_in_use:
                _uids_in_use.add(base + n)
                return base + n
    raise SandboxUnavailable("sandbox", f"more than {UID_SLOTS} sandboxes at once in one process")


def _release_uid(uid: int) -> None:
    with _uid_lock:
        _uids_in_use.discard(uid)


def kill_tree(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Kill ``proc`` and every process below it, and wait until they are gone (bubblewrap's init first: the
    kernel then kills the rest of its PID namespace and lets it end only once all of them are gone)."""
    if proc.poll() is None:
        tree = descendants(proc.pid)
        try:  # without bubblewrap (unsafe mode) the program leads a session and process group of its own
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        for pid in [proc.pid, *tree]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        proc.wait()
        deadline = time.monotonic() + grace
        while any(_alive(pid) for pid in tree) and time.monotonic() < deadline:
            time.sleep(0.01)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


@contextmanager
def _owned(workdir: Path, uid: int | None) -> Iterator[None]:
    """The work folder's directories belong to ``uid`` inside the block (root's sandboxes), and afterwards are
    handed back to their owner with safe modes (:func:`hand_back`)."""
    owner = workdir.stat()
    if uid is not None:
        try:
            _chown_dirs(workdir, uid)
        except OSError as exc:
            raise SandboxUnavailable("sandbox", f"cannot hand {workdir} to the sandbox's uid ({exc}); use an "
                                                "output folder on a local disk") from None
    try:
        yield
    finally:
        hand_back(workdir, uid, owner.st_uid, owner.st_gid)


def _chown_dirs(workdir: Path, uid: int) -> None:
    """Make the work folder's directories (not its files, not through links) the sandbox uid's, so that it can
    create files there; files stay the caller's (readable, not writable, by the sandbox)."""
    for folder, _dirs, _files in os.walk(workdir):  # os.walk does not enter linked folders
        os.chown(folder, uid, uid, follow_symlinks=False)


def hand_back(workdir: Path, uid: int | None, to_uid: int, to_gid: int) -> None:
    """After a run (nothing of it runs any more): everything the sandbox uid owns in the work folder goes back
    to its owner, and no entry keeps a setuid, setgid or sticky bit or is writable by group or others (folders
    get their owner's rwx back, so that they can be read and removed). Links are never followed."""
    stack = [str(workdir)]
    while stack:
        folder = stack.pop()
        _settle(folder, uid, to_uid, to_gid, is_dir=True)
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                stack.append(entry.path)
            else:
                _settle(entry.path, uid, to_uid, to_gid, is_dir=False)


_UNSAFE_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | stat.S_IWGRP | stat.S_IWOTH


def _settle(path: str, uid: int | None, to_uid: int, to_gid: int, is_dir: bool) -> None:
    try:
        info = os.lstat(path)
        if uid is not None and info.st_uid == uid:
            os.chown(path, to_uid, to_gid, follow_symlinks=False)  # a link itself, never its target
        if stat.S_ISLNK(info.st_mode):
            return
        mode = stat.S_IMODE(info.st_mode)
        safe = (mode & ~_UNSAFE_BITS) | (stat.S_IRWXU if is_dir else 0)
        if safe != mode or (uid is not None and info.st_uid == uid):  # chown may clear setuid; set it again
            os.chmod(path, safe)  # not a link (checked above), and nothing changes the folder any more
    except OSError:
        pass


@functools.cache
def _supports(executable: str, option: str) -> bool:
    try:
        return option in subprocess.run([executable, "--help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False


# -- what is bound ---------------------------------------------------------------------------------------------

_DISCOVER = """
import json, site, sys
try:
    import evalplus.evaluate, evalplus.eval  # noqa: F401
except Exception:
    pass
files = sorted({getattr(m, "__file__", None) or "" for m in list(sys.modules.values())} - {""})
print(json.dumps({"path": sys.path, "files": files, "site": site.getsitepackages(), "executable": sys.executable,
                  "prefixes": [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]}))
"""


@functools.cache
def interpreter_paths(executable: str = sys.executable) -> tuple[str, ...]:
    """The folders ``executable -I`` needs to run evalplus: its prefixes (and the real one, if the executable is
    a link), its site folders, and the ``sys.path`` entries that hold the modules evalplus imports."""
    try:
        run = subprocess.run([executable, "-I", "-c", _DISCOVER], capture_output=True, text=True, timeout=300,
                             env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, stdin=subprocess.DEVNULL)
        info = json.loads(run.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        detail = exc if not isinstance(exc, (ValueError, IndexError)) else run.stderr.strip()[-300:]
        raise ConfigError("sandbox", f"cannot inspect the interpreter {executable}: {detail}") from None
    needed = list(info["prefixes"]) + list(info["site"])
    needed.append(str(Path(os.path.realpath(info["executable"])).parent.parent))
    for entry in info["path"]:
        if any(f.startswith(entry.rstrip("/") + "/") for f in info["files"]):
            needed.append(entry)
    return tuple(dict.fromkeys(p for p in needed if p and os.path.exists(p)))


def _hf_home(home: Path) -> Path:
    return Path(os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "huggingface")


def protected_paths() -> list[Path]:
    """Host paths that no bind may equal or contain: system folders, the home folder, caches, configuration."""
    home = Path(os.path.expanduser("~"))
    paths = [Path(p) for p in PROTECTED] + [home, home / ".cache", home / ".ssh", home / ".config", _hf_home(home)]
    for var in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "HF_TOKEN_PATH"):
        if os.environ.get(var):
            paths.append(Path(os.environ[var]))
    return [Path(os.path.realpath(p)) for p in paths]


def secret_paths() -> list[str]:
    """Files and folders that hold tokens and keys (whether or not they exist here): no bind may lie inside
    them, and the probe must not see them."""
    home = Path(os.path.expanduser("~"))
    cache = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache")
    hf_home = _hf_home(home)
    paths = [hf_home, hf_home / "token", hf_home / "stored_tokens", cache / "huggingface" / "token",
             home / ".cache" / "huggingface" / "token", home / ".huggingface" / "token", home / ".ssh",
             home / ".netrc", home / ".git-credentials", home / ".aws", home / ".config" / "gh", Path("/etc/shadow")]
    if os.environ.get("HF_TOKEN_PATH"):
        paths.append(Path(os.environ["HF_TOKEN_PATH"]))
    return list(dict.fromkeys(str(p) for p in paths))


def _check_bind(source: Path, protected: list[Path], secret_dirs: list[Path]) -> None:
    for p in protected:
        if source == p or source in p.parents:
            raise ConfigError("sandbox", f"refusing to bind {source} into the sandbox: it holds {p} (install the "
                                         "interpreter, its packages and the work folder elsewhere)")
    for s in secret_dirs:
        if source == s or s in source.parents:
            raise ConfigError("sandbox", f"refusing to bind {source} into the sandbox: it is inside {s}")


def _mounts(workdir: Path, files: list[Path], tmp_bytes: int) -> list[str]:
    protected = protected_paths()
    secret_dirs = [Path(os.path.realpath(p)) for p in secret_paths()]
    out = ["--ro-bind", "/usr", "/usr"]
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            out += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            out += ["--ro-bind", d, d]
    for f in SYSTEM_FILES:
        out += ["--ro-bind-try", f, f]
    out += ["--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", "/tmp",
            "--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", "/dev/shm"]
    bound: list[Path] = [Path("/usr")]
    made: set[Path] = set()

    def covered(p: Path) -> bool:
        return any(p == b or b in p.parents for b in bound)

    def bind(source: Path, dest: Path, option: str) -> None:
        for parent in reversed(dest.parents):  # parents bubblewrap would make 0700: make them 0755
            if parent != Path("/") and parent not in made and not covered(parent) and parent != Path("/tmp"):
                out.extend(["--perms", "0755", "--dir", str(parent)])
                made.add(parent)
        out.extend([option, str(source), str(dest)])
        bound.append(dest)

    # Each folder at its real path; a path with a link in it also as itself, unless a bound folder holds it (then
    # the link is there inside too, and its target is bound at its real path).
    paths = [Path(p) for p in interpreter_paths()]
    for p in sorted({Path(os.path.realpath(p)) for p in paths} | set(paths), key=lambda p: len(p.parts)):
        if not covered(p):
            real = Path(os.path.realpath(p))
            _check_bind(real, protected, secret_dirs)
            bind(real, p, "--ro-bind")
    for f in files:
        real = Path(os.path.realpath(f))
        if not covered(real):
            _check_bind(real, protected, secret_dirs)
            bind(real, real, "--ro-bind")
    _check_bind(workdir, protected, secret_dirs)
    bind(workdir, workdir, "--bind")
    return out + ["--remount-ro", "/"]


# -- finding and probing -----------------------------------------------------------------------------------------


class _Listener:
    """A TCP listener on the host's loopback that counts who connects (the probe must not)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def _probe_report(sandbox: Sandbox, workdir: Path, readable: list) -> dict:
    nonce = secrets.token_hex(8)
    canary_value = f"idiv-canary-{secrets.token_hex(16)}"
    canary_dir = Path(tempfile.mkdtemp(prefix="idiv-sandbox-canary-"))
    beside = workdir.parent / f".idiv-sandbox-canary-{nonce}"
    canaries = [canary_dir / "canary.txt"]
    canaries[0].write_text(canary_value)
    try:
        beside.write_text(canary_value)
        canaries.append(beside)
    except OSError:
        pass
    secret_env = f"IDIV_PROBE_SECRET_{nonce.upper()}"
    loot = workdir / f".idiv-sandbox-loot-{nonce}"
    mounts = _mounts(workdir, [LAUNCHER, PROBE, *readable], sandbox.limits.tmp_bytes)
    binds = [mounts[i + 2] for i, m in enumerate(mounts) if m == "--ro-bind" and mounts[i + 2] != "/usr"]
    # Where a write must not land on the host: the read-only binds, the work folder's parent, the canary folder.
    unwritable = list(dict.fromkeys(["/usr", *[b for b in binds if os.path.isdir(b)], str(workdir.parent),
                                     str(canary_dir)]))
    home = os.path.realpath(os.path.expanduser("~"))
    home_allowed = sorted({Path(b).relative_to(home).parts[0] for b in [*binds, str(workdir)]
                           if Path(home) in Path(b).parents})
    spec = {"unreadable": [str(c) for c in canaries] + [str(canary_dir)] + secret_paths(), "unwritable": unwritable,
            "home": home, "home_allowed": home_allowed, "secret_env": secret_env, "limits": sandbox.limits.rlimits(),
            "workdir": str(workdir), "loot": str(loot), "nonce_name": f".idiv-sandbox-probe-{nonce}",
            "session_keyring": _session_keyring()}
    listener = _Listener()
    spec["port"] = listener.port
    try:
        run = sandbox.run([sys.executable, "-I", str(PROBE), json.dumps(spec)], workdir, {}, readable=readable,
                          timeout=120, host_env={**os.environ, secret_env: canary_value})
        out = (run.stdout or b"").decode("utf-8", "replace")
        err = (run.stderr or b"").decode("utf-8", "replace")
        checks, problems = _verdict(run.returncode, out, err)
        if listener.connections:
            problems.append(f"network: the host's listener got {listener.connections} connection(s)")
        for folder in unwritable:
            written = Path(folder) / spec["nonce_name"]
            if os.path.lexists(written):
                problems.append(f"writes: the probe wrote {written} on the host")
                written.unlink()
        if canary_value in out + err or _holds(loot, canary_value):
            problems.append("reads: a canary's contents reached the probe's output or the work folder")
    except subprocess.TimeoutExpired:
        checks, problems = {}, ["the probe did not finish within 120 s"]
    finally:
        listener.close()
        shutil.rmtree(canary_dir, ignore_errors=True)
        if os.path.lexists(beside):
            beside.unlink()
        shutil.rmtree(loot, ignore_errors=True)
    if not checks:
        raise SandboxUnavailable("sandbox", "; ".join(problems))
    if problems:
        raise SandboxRefused("sandbox", f"the sandbox's start-up probe got through ({'; '.join(problems)}): "
                                        "refusing to run generated code")
    return {"passed": True, "checks": {name: detail for name, (_ok, detail) in checks.items()}}


def _session_keyring() -> int | None:
    """This process's session keyring (the probe must have another), via the probe's own helper."""
    spec = importlib.util.spec_from_file_location("_idiv_sandbox_probe", PROBE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.session_keyring()


def _verdict(returncode: int, out: str, err: str) -> tuple[dict, list[str]]:
    lines = [line for line in out.splitlines() if line.startswith('{"checks"')]
    if returncode != 0 or not lines:
        tail = " / ".join((err or out).strip().splitlines()[-3:])[-400:]
        return {}, [f"the sandbox does not start here (exit {returncode}): {tail}"]
    checks = json.loads(lines[-1])["checks"]
    return checks, [f"{name}: {detail}" for name, (ok, detail) in checks.items() if not ok]


def _holds(folder: Path, canary: str) -> bool:
    if not folder.is_dir():
        return False
    return any(p.is_file() and not p.is_symlink() and canary.encode() in p.read_bytes() for p in folder.rglob("*"))


@functools.cache
def _working(executable: str, euid: int) -> str:
    """bwrap's version if it builds the sandbox here and the probe passes (else SandboxUnavailable/Refused)."""
    try:
        out = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=30).stdout.split()
    except (OSError, subprocess.SubprocessError) as exc:
        raise SandboxUnavailable("sandbox", f"{executable} does not run: {exc}") from None
    sandbox = Sandbox("bubblewrap", executable, out[-1] if out else "?", Limits.from_env())
    with tempfile.TemporaryDirectory(prefix="idiv-sandbox-check-") as tmp:
        sandbox.verify(Path(tmp))
    return sandbox.version


def find_sandbox(unsafe: bool = False) -> Sandbox:
    """bubblewrap when it builds the sandbox here and the start-up probe passes; else the unsandboxed mode if
    ``unsafe``; else a clear error."""
    exe = shutil.which("bwrap")
    limits = Limits.from_env()
    if exe is None:
        problem = "bwrap (bubblewrap) is not installed"
    else:
        try:
            return Sandbox("bubblewrap", exe, _working(exe, os.geteuid()), limits)
        except SandboxRefused as exc:
            if not unsafe:
                raise
            problem = exc.message
        except ConfigError as exc:
            problem = f"bwrap ({exe}) cannot build the sandbox here: {exc.message}"
    if not unsafe:
        raise ConfigError("sandbox", f"{problem}: refusing to run generated code; {INSTALL_HINT}")
    warnings.warn(f"{problem}: running generated code WITHOUT an OS sandbox (--unsafe-no-sandbox)", stacklevel=2)
    return Sandbox("none", limits=limits)
