"""The OS sandbox that generated code runs in: bubblewrap (``bwrap``), or nothing only when asked explicitly.

evalplus runs each solution in a child process under its ``reliability_guard``, which by its own account is not
a security boundary (it disables ``os.remove`` and friends, but ``open(path, "w")``, ``ctypes`` or a socket
still work). So the whole scoring process runs inside bubblewrap:

- ``--unshare-all``: new user, PID, IPC, UTS, cgroup and network namespaces (no network at all: only a
  loopback of its own);
- ``--ro-bind / /``: the whole filesystem read-only; ``--dev /dev``, ``--proc /proc``: minimal private ones;
- ``--tmpfs /tmp``: a private, empty, writable /tmp (the host's /tmp is not visible);
- ``--bind WORK WORK``: the one writable folder, holding the problems, the samples and evalplus's results;
- ``--die-with-parent`` and ``--new-session``: nothing outlives the run or reaches the terminal.

Only a minimal environment is passed in (no tokens). The sandbox protects the machine; it cannot protect the
score from code written to forge evalplus's results file in the work folder (model output is not expected to
do that, and the scorer checks that the results name the solutions it submitted).

When ``bwrap`` is missing or cannot create namespaces here, scoring refuses to run unless the caller passes
``unsafe=True`` (the ``--unsafe-no-sandbox`` flag), in which case generated code runs under evalplus's guard
only, and the results record it.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from generators.errors import ConfigError

INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap) so generated "
    "code runs without network and with a read-only filesystem, or pass --unsafe-no-sandbox to run it under "
    "evalplus's own guard only (not a security boundary)"
)


@dataclass(frozen=True)
class Sandbox:
    kind: str  # "bubblewrap" or "none"
    executable: str | None = None
    version: str | None = None

    def describe(self) -> str:
        if self.kind == "bubblewrap":
            return f"bubblewrap {self.version} (no network, read-only filesystem, private /tmp)"
        return "none (--unsafe-no-sandbox): evalplus's reliability_guard only"

    def wrap(self, argv: list[str], writable: list[Path], readable: list[Path] = ()) -> list[str]:
        """The command line that runs ``argv`` in the sandbox, with ``writable`` folders bound read-write and
        ``readable`` paths made visible read-only (needed only for paths under /tmp, which is private)."""
        if self.kind == "none":
            return list(argv)
        cmd = [
            self.executable, "--unshare-all", "--die-with-parent", "--new-session",
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
        ]
        for p in _needed_under_tmp(readable):
            cmd += ["--ro-bind", str(p), str(p)]
        for p in writable:
            p = Path(p).resolve()
            cmd += ["--bind", str(p), str(p)]
        if writable:
            cmd += ["--chdir", str(Path(writable[0]).resolve())]
        return cmd + ["--"] + list(argv)


def _needed_under_tmp(paths) -> list[Path]:
    """The interpreter's own folders and the given paths that a private /tmp would hide."""
    import site
    import sysconfig

    candidates = [Path(sys.prefix), Path(sys.base_prefix), Path(sysconfig.get_paths()["purelib"])]
    candidates += [Path(p) for p in site.getsitepackages()] + [Path(p) for p in paths]
    out = []
    for p in candidates:
        p = p.resolve()
        if (p == Path("/tmp") or Path("/tmp") in p.parents) and p.exists() and p not in out:
            out.append(p)
    return out


@functools.cache
def _probe(executable: str) -> str | None:
    """bwrap's version if it can create the namespaces the sandbox needs here, else None."""
    try:
        # the same command line as a real run (so an interpreter installed under /tmp stays visible)
        cmd = Sandbox("bubblewrap", executable).wrap([sys.executable, "-I", "-c", "pass"], writable=[])
        run = subprocess.run(cmd, capture_output=True, timeout=60)
        if run.returncode != 0:
            return None
        version = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=30).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return version[-1] if version else "?"


def find_sandbox(unsafe: bool = False) -> Sandbox:
    """bubblewrap when it works here; else the unsandboxed mode if ``unsafe``; else a clear error."""
    exe = shutil.which("bwrap")
    if exe is not None:
        version = _probe(exe)
        if version is not None:
            return Sandbox("bubblewrap", exe, version)
        problem = f"bwrap ({exe}) cannot create the namespaces it needs here (user namespaces disabled?)"
    else:
        problem = "bwrap (bubblewrap) is not installed"
    if not unsafe:
        raise ConfigError("sandbox", f"{problem}: refusing to run generated code; {INSTALL_HINT}")
    warnings.warn(f"{problem}: running generated code WITHOUT an OS sandbox (--unsafe-no-sandbox)", stacklevel=2)
    return Sandbox("none")
