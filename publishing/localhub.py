"""The embedded local hub: a folder laid out file for file like Hub repos, one immutable folder per version.

Layout (``$DATAGEN_HOME/hub``, default ``~/.cache/datagen/hub``)::

    datasets/<namespace>/<name>/versions/v1.0.0/README.md, data/<split>-*.parquet, datagen.json
    datasets/<namespace>/<name>/LATEST          (text: the newest complete version)
    datasets/<namespace>/<name>/REMOVED         (text: versions removed with `datagen remove`, one a line)
    models/<namespace>/<name>/versions/v0.1.0/...

A version folder is copied in under a temporary name (:func:`core.atomic.atomic_folder`) and renamed into place
only once complete, then LATEST
is replaced atomically: an interrupted publish leaves no version and no pointer at partial data, and a retry
completes it. A removed version's number is recorded and never published again (a version names one content
for good), and the folder is renamed out of ``versions/`` before it is deleted, so an interrupted removal leaves
the version either whole or gone. ``datasets.load_dataset(<version folder>)`` loads a dataset version (it ignores ``revision=``
for local folders, hence one folder per version).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from core.atomic import atomic_folder, write_text_atomic
from core.errors import ConfigError

REPO_TYPES = ("dataset", "model")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9_])?$")
MAX_NAME = 96


def hub_root() -> Path:
    """The local hub folder: ``$DATAGEN_HUB`` if set, else ``$DATAGEN_HOME/hub`` (default ``~/.cache/datagen``)."""
    if os.environ.get("DATAGEN_HUB"):
        return Path(os.environ["DATAGEN_HUB"]).expanduser()
    home = os.environ.get("DATAGEN_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "datagen")
    return Path(home) / "hub"


def parse_version(text: str) -> tuple[int, int, int]:
    m = _VERSION.match(text.strip())
    if not m:
        raise ConfigError("version", f"{text!r} is not a semantic version like v1.2.0")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def format_version(v: tuple[int, int, int]) -> str:
    return f"v{v[0]}.{v[1]}.{v[2]}"


def normalize_version(text: str) -> str:
    return format_version(parse_version(text))


def next_version(existing: list[str], bump: str = "minor") -> str:
    """The version after the newest of ``existing`` (``v1.0.0`` when there is none)."""
    if not existing:
        return "v1.0.0"
    major, minor, patch = max(parse_version(v) for v in existing)
    if bump == "major":
        return format_version((major + 1, 0, 0))
    if bump == "patch":
        return format_version((major, minor, patch + 1))
    return format_version((major, minor + 1, 0))


def split_repo_id(repo_id: str) -> tuple[str, str]:
    """``"org/name"`` -> (org, name); a bare ``"name"`` lives in the ``local`` namespace."""
    parts = repo_id.split("/") if isinstance(repo_id, str) else []
    if len(parts) == 1:
        parts = ["local", parts[0]]
    if len(parts) != 2 or not all(_NAME.match(p) and len(p) <= MAX_NAME for p in parts) or ".." in repo_id \
            or "--" in repo_id or repo_id.endswith(".git"):
        raise ConfigError("repo_id", f"{repo_id!r} is not a repository name like org/name")
    return parts[0], parts[1]


def check_local_name(name: str, field: str = "local-name") -> str:
    """A local hub name (``name`` or ``org/name``), checked: never empty, never a path."""
    if not name:
        raise ConfigError(field, "is empty: give a name such as my-data or org/my-data")
    if name.startswith(("/", ".", "~")) or "\\" in name:
        raise ConfigError(field, f"{name!r} is a path: give a name such as my-data or org/my-data")
    try:
        split_repo_id(name)
    except ConfigError:
        raise ConfigError(field, f"{name!r} is not a name like my-data or org/my-data (letters, digits, '-', "
                                 f"'_', '.'; at most one '/'; no '..' or '--'; at most {MAX_NAME} characters "
                                 f"a part)") from None
    return name


def check_hub_repo_id(repo_id: str, field: str = "repo-id") -> str:
    """A Hub repository id ``org/name``, checked before anything is made or sent: huggingface_hub's own rules
    (``validate_repo_id``: characters, no ``--``/``..``, no ``.git`` ending, at most 96 characters a part) plus
    ours: a namespace is required and a path is not an id."""
    if not repo_id:
        raise ConfigError(field, "is empty: give the Hub repository as org/name")
    if repo_id.startswith(("/", ".", "~")) or "\\" in repo_id:
        raise ConfigError(field, f"{repo_id!r} is a path, not a Hub repository id org/name")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise ConfigError(field, f"{repo_id!r} is not a Hub repository id: {str(exc).splitlines()[0]}") from None
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ConfigError(field, f"{repo_id!r} must look like org/name")
    return repo_id


@dataclass
class LocalHub:
    root: Path

    @classmethod
    def default(cls) -> LocalHub:
        return cls(hub_root())

    def repo_dir(self, repo_id: str, repo_type: str = "dataset") -> Path:
        if repo_type not in REPO_TYPES:
            raise ConfigError("repo_type", f"must be one of {REPO_TYPES}, got {repo_type!r}")
        ns, name = split_repo_id(repo_id)
        return self.root / f"{repo_type}s" / ns / name

    def exists(self, repo_id: str, repo_type: str = "dataset") -> bool:
        try:
            return bool(self.versions(repo_id, repo_type))
        except ConfigError:
            return False

    def versions(self, repo_id: str, repo_type: str = "dataset") -> list[str]:
        """Complete versions, oldest first."""
        vdir = self.repo_dir(repo_id, repo_type) / "versions"
        if not vdir.is_dir():
            return []
        found = [p.name for p in vdir.iterdir() if p.is_dir() and _VERSION.match(p.name)]
        return sorted(found, key=parse_version)

    def latest(self, repo_id: str, repo_type: str = "dataset") -> str | None:
        pointer = self.repo_dir(repo_id, repo_type) / "LATEST"
        if pointer.exists():
            v = pointer.read_text(encoding="utf-8").strip()
            if (self.repo_dir(repo_id, repo_type) / "versions" / v).is_dir():
                return v
        versions = self.versions(repo_id, repo_type)
        return versions[-1] if versions else None

    def path(self, repo_id: str, revision: str | None = None, repo_type: str = "dataset") -> Path:
        """The folder of a version (the latest when ``revision`` is None)."""
        version = normalize_version(revision) if revision else self.latest(repo_id, repo_type)
        if version is None:
            raise ConfigError(None, f"no {repo_type} {repo_id!r} in the local hub at {self.root}")
        path = self.repo_dir(repo_id, repo_type) / "versions" / version
        if not path.is_dir():
            have = ", ".join(self.versions(repo_id, repo_type)) or "none"
            raise ConfigError("revision", f"{repo_type} {repo_id!r} has no version {version} in the local hub (have: {have})")
        return path

    def lock(self, repo_id: str, repo_type: str = "dataset"):
        """The repository's exclusive lock (a ``flock`` on its ``.lock`` file, re-entrant within a thread): a
        publish holds it while it chooses a version and adds it."""
        repo = self.repo_dir(repo_id, repo_type)
        repo.mkdir(parents=True, exist_ok=True)
        return _locked(repo / ".lock")

    def add_version(self, folder: Path, repo_id: str, version: str, repo_type: str = "dataset") -> Path:
        """Copy ``folder`` in as ``version`` (atomically) and point LATEST at the newest version."""
        version = normalize_version(version)
        vdir = self.repo_dir(repo_id, repo_type) / "versions"
        vdir.mkdir(parents=True, exist_ok=True)
        with self.lock(repo_id, repo_type):
            for stale in vdir.glob(".tmp-*"):  # older datagen's temporaries; under the lock no live publish owns one
                shutil.rmtree(stale, ignore_errors=True)
            final = vdir / version
            if final.exists():
                raise ConfigError("version", f"{repo_type} {repo_id!r} already has version {version}")
            if version in self.removed(repo_id, repo_type):
                raise ConfigError("version", f"{repo_type} {repo_id!r} {version} was removed, and a version number "
                                             f"is never given to other content: publish another version")
            with atomic_folder(final, data=False) as tmp:  # renamed into place once complete
                # copytree makes the folder, with exactly the given folder's files (LocalTarget.upload refused a
                # hidden name or a link first: a version is published whole or not at all)
                tmp.rmdir()
                shutil.copytree(folder, tmp)
            self._point_latest(repo_id, repo_type)
        return final

    def _point_latest(self, repo_id: str, repo_type: str) -> None:
        versions = self.versions(repo_id, repo_type)
        pointer = self.repo_dir(repo_id, repo_type) / "LATEST"
        if versions:
            write_text_atomic(pointer, versions[-1] + "\n")
        else:
            pointer.unlink(missing_ok=True)

    def removed(self, repo_id: str, repo_type: str = "dataset") -> list[str]:
        """Versions removed from this repository (their numbers are not published again)."""
        path = self.repo_dir(repo_id, repo_type) / "REMOVED"
        if not path.is_file():
            return []
        return [v for v in path.read_text(encoding="utf-8").split() if _VERSION.match(v)]

    def remove_version(self, repo_id: str, version: str, repo_type: str = "dataset") -> None:
        """Remove one version (under the repository's lock): its number is recorded in ``REMOVED`` first, then the
        folder leaves ``versions/`` by a rename, LATEST points at the newest version left (none: no LATEST), and
        the renamed folder is deleted. Links inside it are removed, never followed."""
        version = normalize_version(version)
        repo = self.repo_dir(repo_id, repo_type)
        with self.lock(repo_id, repo_type):
            folder = repo / "versions" / version
            if folder.is_symlink() or not folder.is_dir():
                have = ", ".join(self.versions(repo_id, repo_type)) or "none"
                raise ConfigError("version", f"{repo_type} {repo_id!r} has no version {version} in the local hub "
                                             f"(have: {have})")
            removed = sorted(set(self.removed(repo_id, repo_type)) | {version}, key=parse_version)
            write_text_atomic(repo / "REMOVED", "\n".join(removed) + "\n")
            doomed = repo / "versions" / f".removed-{version}-{os.getpid()}"
            folder.rename(doomed)
            self._point_latest(repo_id, repo_type)
            for stale in (repo / "versions").glob(".removed-*"):  # this one, and any an interrupted removal left
                shutil.rmtree(stale)

    def repos(self, repo_type: str = "dataset") -> list[str]:
        base = self.root / f"{repo_type}s"
        if not base.is_dir():
            return []
        return sorted(f"{ns.name}/{r.name}" for ns in base.iterdir() if ns.is_dir() for r in ns.iterdir() if r.is_dir())


_held = threading.local()  # the lock files this thread holds (flock is per open file, so not re-entrant)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` for the duration (POSIX ``flock``; no locking where it is unavailable).
    Re-entrant within a thread; other threads and processes wait."""
    key = os.path.realpath(path)
    held = _held.__dict__.setdefault("paths", set())
    if key in held:
        yield
        return
    try:
        import fcntl  # POSIX only: imported where it is used, so the module imports on Windows
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)
            fcntl.flock(f, fcntl.LOCK_UN)
