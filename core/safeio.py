"""Reading files inside a folder without ever leaving it: no symlinks, no special files, each byte read once.

Publishing, pulling and verifying read folders that someone else may have written into. Every path is opened
one component at a time relative to the folder (``openat`` with ``O_NOFOLLOW``), so a symlink at any level, also
one swapped in after a check, is refused instead of followed; only regular files are read; the bytes are hashed
as they are read (and copied, when staging), so what is hashed is exactly what is published. Imports nothing of
ours (core layer).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError

CHUNK = 1 << 20
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted under a listed name must not block the open
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_relpath(rel: str) -> list[str]:
    """The components of ``rel``, a POSIX path relative to a folder; ValueError (saying why) for a name that
    could leave the folder or mean something else on another system: absolute, ``..``, ``.``, empty components,
    backslashes, drive letters, control characters."""
    if not isinstance(rel, str) or not rel:
        raise ValueError("an empty name")
    if _CONTROL.search(rel):
        raise ValueError("a control character in the name")
    if "\\" in rel:
        raise ValueError("a backslash in the name")
    if rel.startswith("/"):
        raise ValueError("an absolute path")
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError("an empty, '.' or '..' component")
    if re.match(r"^[A-Za-z]:", parts[0]):
        raise ValueError("a drive letter")
    return parts


_WINDOWS = re.compile(r'[<>:"|?*]')


def name_problem(rel: str) -> str | None:
    """Why a copy or the Hub would drop or change the file name ``rel`` (a POSIX path relative to a folder), or
    None when every copy keeps it as written: besides :func:`check_relpath`'s refusals, a hidden component
    (``.x``: our publishers, ``shutil.copytree(ignore=".*")``, ``datasets``' data-file globs and many sync tools
    leave it out), a name that is not in Unicode NFC form (macOS file systems store another form), an invisible,
    private or unassigned character, a component that ends with a dot or a space or holds ``<>:"|?*`` (Windows
    drops or refuses them)."""
    try:
        parts = check_relpath(rel)
    except ValueError as exc:
        return str(exc)
    if any(part.startswith(".") for part in parts):
        return "a hidden name (starting with '.'), which copies and publishers leave out"
    if unicodedata.normalize("NFC", rel) != rel:
        return "not in Unicode NFC form, which file systems may change"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp") for c in rel):
        return "an invisible, private or unassigned character"
    if any(part.endswith((".", " ")) or _WINDOWS.search(part) for part in parts):
        return "a component that ends with '.' or ' ' or holds one of <>:\"|?*, which some systems change"
    return None


def case_collisions(names) -> list[str]:
    """The names (sorted) that another of ``names`` equals but for letter case: one file of each such group is lost
    on a case-insensitive file system (macOS, Windows)."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(unicodedata.normalize("NFC", name).casefold(), []).append(name)
    return sorted(n for group in groups.values() if len(group) > 1 for n in group)


@dataclass(frozen=True)
class Entry:
    rel: str  # POSIX path relative to the folder
    kind: str  # "file", "dir", "symlink" or "other" (FIFO, socket, device)
    links: int = 1  # hard links of a file


def scan(root: str | Path) -> list[Entry]:
    """Everything under ``root`` (sorted), never following a symlink: a symlinked folder is one entry."""
    out: list[Entry] = []

    def walk(folder: Path, prefix: str) -> None:
        with os.scandir(folder) as it:
            items = sorted(it, key=lambda e: e.name)
        for e in items:
            rel = f"{prefix}{e.name}"
            st = e.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                out.append(Entry(rel, "symlink"))
            elif stat.S_ISDIR(st.st_mode):
                out.append(Entry(rel, "dir"))
                walk(folder / e.name, rel + "/")
            elif stat.S_ISREG(st.st_mode):
                out.append(Entry(rel, "file", st.st_nlink))
            else:
                out.append(Entry(rel, "other"))

    walk(Path(root), "")
    return out


@contextmanager
def open_inside(root: str | Path, rel: str) -> Iterator[int]:
    """A read-only descriptor of the regular file ``rel`` under ``root``, opened without following any symlink
    below ``root``. ConfigError naming ``rel`` for a symlink, a folder, a special file or an unsafe name."""
    try:
        parts = check_relpath(rel)
    except ValueError as exc:
        raise ConfigError(None, f"{rel!r}: refused ({exc})") from None
    fds = [os.open(root, os.O_RDONLY | _DIRECTORY | _CLOEXEC)]
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            flags = os.O_RDONLY | _NOFOLLOW | _CLOEXEC | (_NONBLOCK if last else _DIRECTORY)
            try:
                fds.append(os.open(part, flags, dir_fd=fds[-1]))
            except OSError as exc:
                raise _refusal(fds[-1], part, "/".join(parts[: i + 1]), exc) from None
        st = os.fstat(fds[-1])
        if not stat.S_ISREG(st.st_mode):
            what = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise ConfigError(None, f"{rel}: {what}, not read")
        yield fds[-1]
    finally:
        for fd in reversed(fds):
            os.close(fd)


def _refusal(dir_fd: int, name: str, rel: str, exc: OSError) -> Exception:
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return OSError(exc.errno, exc.strerror, rel)  # e.g. FileNotFoundError, naming the path in the folder
    if stat.S_ISLNK(st.st_mode):
        return ConfigError(None, f"{rel}: a symlink, not followed")
    if not stat.S_ISDIR(st.st_mode) and exc.errno == errno.ENOTDIR:  # a file where a folder was expected
        return ConfigError(None, f"{rel}: not a folder")
    return OSError(exc.errno, exc.strerror, rel)


def read_hashed(root: str | Path, rel: str, copy_to: str | Path | None = None) -> tuple[str, int]:
    """(SHA-256 hex, size) of the file ``rel`` under ``root``, read once through :func:`open_inside`; with
    ``copy_to`` the same bytes are written to that new file (never an existing one), so the copy is what was
    hashed."""
    h = hashlib.sha256()
    size = 0
    with open_inside(root, rel) as fd:
        out = None
        if copy_to is not None:
            Path(copy_to).parent.mkdir(parents=True, exist_ok=True)
            out = os.open(copy_to, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o644)
        try:
            while chunk := os.read(fd, CHUNK):
                h.update(chunk)
                size += len(chunk)
                if out is not None:
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(out, view) :]
        finally:
            if out is not None:
                os.close(out)
    return h.hexdigest(), size


def read_bytes_inside(root: str | Path, rel: str, limit: int = 64 << 20) -> bytes:
    """The content of a small file ``rel`` under ``root`` (see :func:`open_inside`); at most ``limit`` bytes."""
    with open_inside(root, rel) as fd:
        data = bytearray()
        while chunk := os.read(fd, CHUNK):
            data += chunk
            if len(data) > limit:
                raise ConfigError(None, f"{rel}: larger than {limit} bytes, not read")
    return bytes(data)


def copy_tree(src: str | Path, dest: str | Path) -> dict[str, str]:
    """Copy every regular file under ``src`` to the same place under ``dest``; refuses (naming them all) symlinks
    and special files before copying anything. Returns ``{rel: sha256}`` of what was copied."""
    entries = scan(src)
    bad = [f"{e.kind} {e.rel}" for e in entries if e.kind in ("symlink", "other")]
    if bad:
        raise ConfigError(None, f"{src} holds links or special files, not copied: {', '.join(bad)}")
    Path(dest).mkdir(parents=True, exist_ok=True)
    return {e.rel: read_hashed(src, e.rel, Path(dest) / e.rel)[0] for e in entries if e.kind == "file"}
