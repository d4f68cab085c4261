"""Write a dataset folder (or one file) atomically: under a temporary name beside the target, renamed into place.

A run that fails or is interrupted leaves no half dataset (the temporary folder is removed), and an existing
folder is only replaced once the new one is complete (and only when asked).

Temporary names carry their owner: ``.NAME.tmp-<pid>-<start>-<host>-<random>``, where ``start`` is the owning
process's start time (Linux: clock ticks since boot, from /proc; ``0`` elsewhere) and ``host`` a short hash of
the host name. A run that is killed outright (``kill -9``, a power cut) cannot clean up after itself, so the next
write to the same place removes the temporaries whose owner is gone: a pid that no longer runs on this host, or
runs but started at another time (the pid was reused). Temporaries of live processes, of other hosts (a shared
network folder) and names not made here are never touched. SIGTERM (and SIGHUP) are turned into a clean exit
while a temporary exists (:func:`sigterm_exits`), so the ``finally`` blocks remove it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import ConfigError
from core.metadata import METADATA_FILE, read_metadata

#: What ``datagen generate`` writes into a dataset folder: ``--overwrite`` replaces nothing else.
DATASET_FILES = (METADATA_FILE, "README.md")
#: Temporaries named before owner tokens (``<pid>-<random>``): removed only when that pid is gone and the entry
#: is older than this many seconds (the pid alone may have been reused).
LEGACY_AGE_S = 3600

_TOKEN = re.compile(r"(\d+)-(\d+)-([0-9a-f]{6})-[0-9a-f]{8}")
_LEGACY = re.compile(r"(\d+)-[0-9a-f]{8}")


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """``(state, start time)`` of process ``pid`` from /proc (Linux); None where /proc cannot tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return fields[0], fields[19]  # fields 3 and 22, counted after the command name
    except (OSError, ValueError, IndexError):
        return None


def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


def owner_token() -> str:
    """``<pid>-<start>-<host>``: who owns a temporary (see the module docstring)."""
    stat = _proc_stat(os.getpid())
    return f"{os.getpid()}-{stat[1] if stat else '0'}-{_host()}"


def temp_name(prefix: str, suffix: str = "") -> str:
    """A fresh temporary name ``<prefix><owner token>-<random><suffix>``."""
    return f"{prefix}{owner_token()}-{uuid.uuid4().hex[:8]}{suffix}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # exists, owned by someone else (or no way to tell: assume alive)
        return True
    return True


def owner_gone(token: str, path: Path | None = None) -> bool:
    """Whether the process that made a temporary named with ``token`` (after its prefix) no longer exists."""
    m = _TOKEN.fullmatch(token)
    if m:
        pid, start, host = int(m[1]), m[2], m[3]
        if host != _host():
            return False  # another machine's (a shared folder): its pids mean nothing here
        if not _alive(pid):
            return True
        stat = _proc_stat(pid)  # None: hidden (hidepid) or no /proc: keep what a live pid may own
        if stat is None:
            return False
        return stat[0] in ("Z", "X") or (start != "0" and stat[1] != start)  # a zombie, or the pid was reused
    m = _LEGACY.fullmatch(token)
    if m and path is not None:
        try:
            old = time.time() - path.lstat().st_mtime > LEGACY_AGE_S
        except OSError:
            return False
        return old and not _alive(int(m[1]))
    return False


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def remove_stale(folder: Path, prefix: str, suffix: str = "") -> list[Path]:
    """Remove the entries ``<prefix><token>-<random><suffix>`` of ``folder`` whose owner is gone; returns them."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not name.startswith(prefix) or not name.endswith(suffix):
            continue
        token = name[len(prefix) : len(name) - len(suffix)]
        if owner_gone(token, Path(entry.path)):
            _remove(Path(entry.path))
            removed.append(Path(entry.path))
    return removed


def clean_stale(out_dir: Path) -> None:
    """Remove what killed runs left beside ``out_dir``: their temporary folders, and the previous dataset a
    killed ``--overwrite`` had set aside (put back when the new one never took its place, else removed)."""
    out_dir = Path(out_dir)
    parent = out_dir.parent
    remove_stale(parent, f".{out_dir.name}.tmp-")
    prefix = f".{out_dir.name}.old-"
    try:
        olds = [p for p in parent.iterdir() if p.name.startswith(prefix) and not p.is_symlink()]
    except OSError:
        return
    stale = [p for p in olds if owner_gone(p.name[len(prefix) :], p)]
    if stale and not out_dir.exists() and not out_dir.is_symlink():
        newest = max(stale, key=lambda p: p.lstat().st_mtime)
        try:
            newest.rename(out_dir)
            stale.remove(newest)
        except OSError:  # another run restored it first
            return
    for p in stale:
        _remove(p)


def unexpected_files(folder: Path) -> list[str]:
    """What a folder holds besides what ``datagen generate`` writes there (``datagen.json``, ``README.md``,
    ``data/*.parquet`` and the extra files its ``datagen.json`` lists, e.g. a pool's ``clusters/``), as relative
    names; symbolic links always count as unexpected."""
    try:
        listed = {f for f in read_metadata(folder, check=False, missing_ok=True).get("extra_files") or {}
                  if isinstance(f, str)}
    except (ConfigError, AttributeError, TypeError):  # a damaged datagen.json lists nothing
        listed = set()
    parents = {f.split("/", 1)[0] for f in listed if "/" in f}
    extra = []
    for p in sorted(folder.iterdir()):
        if p.is_symlink():
            extra.append(p.name)
        elif p.name == "data" and p.is_dir():
            for q in sorted(p.iterdir()):
                if q.is_symlink() or not q.is_file() or q.suffix != ".parquet":
                    extra.append(f"data/{q.name}")
        elif p.name in parents and p.is_dir():
            extra += [q.relative_to(folder).as_posix() for q in sorted(p.rglob("*"))
                      if q.is_symlink() or (q.is_file() and q.relative_to(folder).as_posix() not in listed)]
        elif (p.name not in DATASET_FILES and p.name not in listed) or not p.is_file():
            extra.append(p.name + ("/" if p.is_dir() else ""))
    return extra


def check_replaceable(out_dir: Path) -> None:
    """Refuse to replace anything but an empty folder or one ``datagen generate`` wrote (naming what else is
    there), so ``--overwrite`` never deletes a user's other files."""
    if out_dir.is_symlink():
        raise ConfigError(None, f"output folder {out_dir} is a symbolic link: --overwrite only replaces a dataset folder")
    if not any(out_dir.iterdir()):
        return
    if not (out_dir / METADATA_FILE).is_file():
        raise ConfigError(None, f"output folder {out_dir} holds files but is not a dataset folder (no datagen.json): "
                                f"--overwrite only replaces a dataset; pick another folder")
    extra = unexpected_files(out_dir)
    if extra:
        shown = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        raise ConfigError(None, f"output folder {out_dir} is not a dataset folder as datagen generate writes it: it also "
                                f"holds {shown}; --overwrite would delete them: move them away or pick another folder")


def check_output(out_dir: Path, overwrite: bool) -> None:
    """Refuse an existing output folder unless ``overwrite`` (call before any work is done). Even then only a
    folder that ``datagen generate`` wrote (``datagen.json``, ``README.md``, ``data/*.parquet``, nothing else) or
    an empty one is replaced: never a folder holding other files. Left-overs of killed runs are cleaned first."""
    out_dir = Path(out_dir)
    clean_stale(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(None, f"output folder {out_dir} is a file")
    if not out_dir.exists():
        return
    if not overwrite:
        raise ConfigError(None, f"output folder {out_dir} already exists (pass --overwrite to replace it)")
    check_replaceable(out_dir)


@contextmanager
def sigterm_exits() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP raise ``SystemExit(128 + signal)`` in the main thread, so
    ``finally`` blocks and context managers clean up (a second signal kills as usual). Handlers someone else
    installed, other threads, and platforms without these signals are left alone."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def handler(signum, frame):
        for s, old in previous.items():
            signal.signal(s, old)  # a second signal during the clean-up is not caught
        raise SystemExit(128 + signum)

    for name in ("SIGTERM", "SIGHUP"):
        s = getattr(signal, name, None)
        if s is not None and signal.getsignal(s) is signal.SIG_DFL:
            previous[s] = signal.signal(s, handler)
    try:
        yield
    finally:
        for s, old in previous.items():
            if signal.getsignal(s) is handler:
                signal.signal(s, old)


@contextmanager
def owned_tempdir(prefix: str, folder: str | Path | None = None) -> Iterator[Path]:
    """A private temporary folder ``<TMPDIR>/<prefix><owner token>-<random>``, removed when the block ends (also
    on SIGTERM); the ones that killed processes left behind with the same prefix are removed first."""
    base = Path(folder) if folder is not None else Path(tempfile.gettempdir())
    remove_stale(base, prefix)
    path = base / temp_name(prefix)
    path.mkdir(mode=0o700)
    try:
        with sigterm_exits():
            yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix, so format-by-extension writers work); once the block
    completes it replaces ``path``. Readers (a parallel job, a crash) see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.tmp-"
    remove_stale(path.parent, prefix, path.suffix)
    tmp = path.with_name(temp_name(prefix, path.suffix))
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


@contextmanager
def atomic_folder(out_dir: str | Path, data: bool = True) -> Iterator[Path]:
    """Yield a temporary folder (with ``data/`` made, unless ``data`` is false); on success it becomes ``out_dir``.

    An existing ``out_dir`` is checked again just before it is replaced (files added while the work ran are
    never deleted), set aside, and removed once the new folder is in place."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(out_dir)
    tmp = out_dir.parent / temp_name(f".{out_dir.name}.tmp-")
    (tmp / "data" if data else tmp).mkdir(parents=True)
    try:
        with sigterm_exits():
            yield tmp
            old = None
            if out_dir.exists() or out_dir.is_symlink():  # swapped out first, removed last
                check_replaceable(out_dir)
                old = out_dir.parent / temp_name(f".{out_dir.name}.old-")
                out_dir.rename(old)
            tmp.rename(out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
