"""Publishing targets behind one small interface: the Hugging Face Hub (``HfApi``) and the local hub.

``publish_folder`` publishes a finished folder (a dataset or a model) as an immutable version:

- a version that already exists with the same content is a no-op; with other content it is refused;
- ``version=None`` reuses the newest version when it holds the same content, else publishes the next one
  (``v1.0.0`` first), see :func:`choose_version`;
- the version becomes visible last (the local hub renames a complete folder into place; on the Hub the tag is
  created after the single commit that holds every file), so a failed publish leaves no version pointing at
  partial data and a retry completes it (on the Hub, already uploaded LFS files are not sent again).

Content identity: a dataset is identified by the fingerprint in its ``datagen.json``; any other folder by the
names and sha256 of its files, which the Hub lists for LFS files, so weights are never downloaded to compare
(see :func:`content_id`).

What is read: the folder handed to ``publish_folder`` is a staging copy the caller made of exactly what may be
published (``datagen push``: the files its ``datagen.json`` lists; training: the final model's files); a symlink
or special file in it is refused, never followed. Choosing the version and adding it happen under the local
hub's lock, so two pushes of the same data at once give one version and one no-op; on the Hub the second push
sees the commit (its own commit of the same files is skipped) and the tag (a 409 on a tag that holds the same
content is the no-op). Hub calls are bounded in time and retried a bounded number of times (:mod:`publishing.hubclient`).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, RepoFile, get_token
from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

from core.documents import shown
from core.errors import ConfigError
from core.metadata import METADATA_FILE, read_metadata
from core.safeio import case_collisions, check_relpath, copy_tree, name_problem, read_hashed, scan
from publishing.download import Listed, fetch, fetch_small
from publishing.hubclient import install as install_timeouts
from publishing.hubclient import status_of, with_retries
from publishing.localhub import LocalHub, next_version, normalize_version, parse_version

NOT_CONTENT = ("README.md", ".gitattributes")  # re-rendered per version / added by the Hub


@dataclass
class Published:
    target: str  # "local" or "hub"
    repo_id: str
    version: str
    location: str  # a folder (local) or a URL (hub)
    created: bool  # False when the same content was already published under this version


def publishable_files(folder: str | Path) -> dict[str, Path]:
    """The files a publish uploads, by path in the repo (POSIX, sorted): every file of the folder, each published
    under its own name. So a symlink or special file (FIFO, device, socket) is refused, never followed, and so is
    a name a copy or the Hub would drop or change (:func:`core.safeio.name_problem`: a hidden file, odd Unicode,
    ...) or two names equal but for letter case: a version without one of its files would be immutable and
    broken. Every one is named; nothing is published."""
    folder = Path(folder)
    entries = scan(folder)
    bad = [f"{e.kind} {e.rel}" for e in entries if e.kind in ("symlink", "other")]
    if bad:
        raise ConfigError(None, f"{folder} holds links or special files, so nothing was published: {', '.join(bad)}")
    files = [e.rel for e in entries if e.kind == "file"]
    odd = [f"{shown(rel)} ({problem})" for rel in files if (problem := name_problem(rel))]
    odd += [f"{shown(rel)} (another name differs only in letter case)" for rel in case_collisions(files)]
    if odd:
        raise ConfigError(None, f"{folder} holds files that a copy or the Hub would drop or rename, so nothing was "
                                f"published: {', '.join(odd)}")
    return {rel: folder / rel for rel in files}


def content_id(folder: str | Path, only_identity: bool = False) -> str | None:
    """What makes two publishes "the same content": the dataset fingerprint in ``datagen.json``, else the names
    and sha256 of all files except the card (which is re-rendered per version) and ``.gitattributes``.
    With ``only_identity``, None when the folder has no fingerprint."""
    folder = Path(folder)
    meta = read_metadata(folder, check=False, missing_ok=True)
    if isinstance(meta, dict) and meta.get("fingerprint"):
        return f"fingerprint:{meta['fingerprint']}"
    if only_identity:
        return None
    return _files_id((rel, read_hashed(folder, rel)[0]) for rel in publishable_files(folder) if rel not in NOT_CONTENT)


def _files_id(pairs) -> str:
    h = hashlib.sha256()
    for rel, sha in sorted(pairs):
        h.update(f"{rel}\x00{sha}\n".encode())
    return f"files:{h.hexdigest()}"


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


class Target(Protocol):
    kind: str

    def versions(self, repo_id: str, repo_type: str = "dataset") -> list[str]: ...

    def removed(self, repo_id: str, repo_type: str = "dataset") -> list[str]: ...

    def published_id(self, repo_id: str, version: str, repo_type: str = "dataset") -> str | None: ...

    def lock(self, repo_id: str, repo_type: str = "dataset") -> AbstractContextManager: ...

    def upload(self, folder: Path, repo_id: str, version: str, repo_type: str, private: bool, message: str) -> bool: ...

    def commit(self, folder: Path, repo_id: str, repo_type: str, private: bool, message: str) -> str | None: ...

    def tag(self, folder: Path, repo_id: str, version: str, commit: str | None, repo_type: str, message: str) -> bool: ...

    def download(self, repo_id: str, revision: str | None, repo_type: str, dest: Path | None) -> Path: ...

    def location(self, repo_id: str, version: str, repo_type: str = "dataset") -> str: ...


class LocalTarget:
    kind = "local"

    def __init__(self, hub: LocalHub | None = None):
        self.hub = hub or LocalHub.default()

    def versions(self, repo_id: str, repo_type: str = "dataset") -> list[str]:
        return self.hub.versions(repo_id, repo_type)

    def removed(self, repo_id: str, repo_type: str = "dataset") -> list[str]:
        return self.hub.removed(repo_id, repo_type)

    def published_id(self, repo_id: str, version: str, repo_type: str = "dataset") -> str | None:
        if version not in self.versions(repo_id, repo_type):
            return None
        return content_id(self.hub.path(repo_id, version, repo_type))

    def lock(self, repo_id: str, repo_type: str = "dataset") -> AbstractContextManager:
        """The repository's file lock: held while a publish chooses its version and adds it."""
        return self.hub.lock(repo_id, repo_type)

    def upload(self, folder: Path, repo_id: str, version: str, repo_type: str, private: bool, message: str) -> bool:
        publishable_files(folder)  # no link is copied into the local hub
        self.hub.add_version(folder, repo_id, version, repo_type)
        return True

    def commit(self, folder: Path, repo_id: str, repo_type: str, private: bool, message: str) -> str | None:
        """Nothing to send ahead: a local version appears whole when :meth:`tag` copies it in."""
        publishable_files(folder)
        return None

    def tag(self, folder: Path, repo_id: str, version: str, commit: str | None, repo_type: str, message: str) -> bool:
        return self.upload(folder, repo_id, version, repo_type, False, message)

    def location(self, repo_id: str, version: str, repo_type: str = "dataset") -> str:
        return str(self.hub.path(repo_id, version, repo_type))

    def download(self, repo_id: str, revision: str | None, repo_type: str, dest: Path | None) -> Path:
        src = self.hub.path(repo_id, revision, repo_type)
        if dest is None:
            return src
        copy_tree(src, dest)  # regular files only: a link planted in the local hub is refused, not followed
        return dest


class HubTarget:
    """The Hugging Face Hub (or any server at ``HF_ENDPOINT``), through ``huggingface_hub.HfApi``.

    Every call has a timeout and every operation a bounded retry (:mod:`publishing.hubclient`)."""

    kind = "hub"

    def __init__(self, token: str | bool | None = None, endpoint: str | None = None):
        """``token``: None for huggingface_hub's default (``HF_TOKEN``, then ``hf auth login``), False for none."""
        install_timeouts()
        self.api = HfApi(token=token, endpoint=endpoint)
        self.last_lfs: dict[str, str] = {}  # path -> LFS sha256 the Hub lists, for the last download

    def lock(self, repo_id: str, repo_type: str = "dataset") -> AbstractContextManager:
        return nullcontext()  # the Hub's own checks (parent commit, existing tag) settle races, see upload

    def versions(self, repo_id: str, repo_type: str = "dataset") -> list[str]:
        return with_retries(lambda: self._versions(repo_id, repo_type))

    def removed(self, repo_id: str, repo_type: str = "dataset") -> list[str]:
        """None recorded: a tag deleted on the Hub is the Hub's own business."""
        return []

    def _versions(self, repo_id: str, repo_type: str) -> list[str]:
        try:
            refs = self.api.list_repo_refs(repo_id, repo_type=repo_type)
        except RepositoryNotFoundError:
            return []
        tags = []
        for t in refs.tags:
            try:
                parse_version(t.name)
            except ConfigError:
                continue
            tags.append(t.name)
        return sorted(tags, key=parse_version)

    def published_id(self, repo_id: str, version: str, repo_type: str = "dataset") -> str | None:
        """The content id of a published version, downloading only small files (LFS files carry their sha256)."""
        return with_retries(lambda: self._published_id(repo_id, version, repo_type))

    def _published_id(self, repo_id: str, version: str, repo_type: str) -> str | None:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                meta = fetch_small(self.api, repo_id, METADATA_FILE, repo_type=repo_type, revision=version, into=Path(tmp))
            except RevisionNotFoundError:
                return None
            return (meta is not None and content_id(tmp, only_identity=True)) or self._files_id(repo_id, version,
                                                                                                 repo_type, tmp)

    def _files_id(self, repo_id: str, version: str, repo_type: str, tmp: str) -> str:
        pairs = []
        for f in self.api.list_repo_tree(repo_id, recursive=True, revision=version, repo_type=repo_type):
            if not isinstance(f, RepoFile) or f.path in NOT_CONTENT or _hidden(Path(f.path)):
                continue
            if f.lfs is not None:
                pairs.append((f.path, f.lfs.sha256))
            else:
                _check_name(f.path, repo_id)
                dest = Path(tmp) / "files" / f.path
                pairs.append((f.path, fetch(self.api, repo_id, Listed.of(f), dest, repo_type=repo_type, revision=version)))
        return _files_id(pairs)

    def upload(self, folder: Path, repo_id: str, version: str, repo_type: str, private: bool, message: str) -> bool:
        """Create the repo if needed, commit exactly the folder's files in one commit, then tag that commit.

        Retried as a whole on transient failures: a repeated commit of files the branch already holds is skipped
        by huggingface_hub (no empty commit), so a commit that landed but was never answered is not made twice.
        False when the tag exists meanwhile (a 409) and holds the same content: someone else's identical publish,
        the documented no-op. Another content under it is refused."""
        return with_retries(lambda: self._upload(folder, repo_id, version, repo_type, private, message))

    def _upload(self, folder: Path, repo_id: str, version: str, repo_type: str, private: bool, message: str) -> bool:
        oid = self._commit(folder, repo_id, repo_type, private, message)
        return self._tag(folder, repo_id, version, oid, repo_type, message)

    def commit(self, folder: Path, repo_id: str, repo_type: str, private: bool, message: str) -> str | None:
        """The first half of :meth:`upload`: the one commit holding exactly the folder's files (none when the
        branch already holds them), no tag; its id."""
        return with_retries(lambda: self._commit(folder, repo_id, repo_type, private, message))

    def tag(self, folder: Path, repo_id: str, version: str, commit: str | None, repo_type: str, message: str) -> bool:
        """The second half of :meth:`upload`: tag ``commit`` as ``version`` (False: the tag exists with the same
        content)."""
        return with_retries(lambda: self._tag(folder, repo_id, version, commit, repo_type, message))

    def _commit(self, folder: Path, repo_id: str, repo_type: str, private: bool, message: str) -> str:
        self.api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        head = self.api.repo_info(repo_id, repo_type=repo_type, revision="main").sha
        remote = set(self.api.list_repo_files(repo_id, repo_type=repo_type, revision=head))
        local = publishable_files(folder)
        operations: list = [CommitOperationDelete(p) for p in sorted(remote - set(local)) if p != ".gitattributes"]
        operations += [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(path)) for rel, path in local.items()]
        # One commit holding exactly this folder (no stale shards), made on top of the head we listed; it is
        # a no-op when a previous, interrupted publish already committed the same files.
        info = self.api.create_commit(
            repo_id, operations, commit_message=message, repo_type=repo_type, parent_commit=head
        )
        return info.oid

    def _tag(self, folder: Path, repo_id: str, version: str, oid: str | None, repo_type: str, message: str) -> bool:
        try:
            self.api.create_tag(repo_id, tag=version, revision=oid, repo_type=repo_type, tag_message=message)
        except Exception as exc:
            if status_of(exc) != 409:
                raise
            theirs, mine = self._published_id(repo_id, version, repo_type), content_id(folder)
            if theirs != mine:
                raise ConfigError(
                    "version", f"{repo_id} {version} was published meanwhile with other content; run the same "
                               f"command again to publish the next version"
                ) from None
            return False
        return True

    def location(self, repo_id: str, version: str, repo_type: str = "dataset") -> str:
        prefix = "datasets/" if repo_type == "dataset" else ""
        return f"{self.api.endpoint}/{prefix}{repo_id}/tree/{version}"

    def download(self, repo_id: str, revision: str | None, repo_type: str, dest: Path | None) -> Path:
        """Into the folder ``dest`` (required here: nothing goes to the shared cache).

        The revision is pinned to its commit, whose tree is listed and checked first: a name that could land
        outside ``dest`` (absolute, ``..``, backslashes, ...), an entry that is neither a file nor a folder, or one
        under ``.cache/`` or ``.git/`` refuses the whole download before any file is written. Each file is then
        fetched by :func:`publishing.download.fetch`: never more bytes than the tree lists for it, its LFS SHA-256
        checked. ``last_lfs`` then holds the sha256 the Hub lists for LFS files."""
        if dest is None:
            raise ValueError("HubTarget.download needs a destination folder")
        commit = with_retries(lambda: self.api.repo_info(repo_id, repo_type=repo_type, revision=revision).sha)
        tree = with_retries(lambda: list(self.api.list_repo_tree(repo_id, recursive=True, revision=commit, repo_type=repo_type)))
        files = checked_tree(tree, repo_id)
        for item in files.values():
            fetch(self.api, repo_id, item, Path(dest) / item.path, repo_type=repo_type, revision=commit)
        self.last_lfs = {p: item.sha256 for p, item in files.items() if item.sha256}
        return Path(dest)


def _check_name(path: str, repo_id: str) -> list[str]:
    try:
        parts = check_relpath(path)
    except ValueError as exc:
        raise ConfigError(None, f"{repo_id} lists the file {path!r}, refused ({exc}): nothing was written") from None
    if parts[0] in (".cache", ".git"):  # huggingface_hub's download records; a git config runs commands
        raise ConfigError(None, f"{repo_id} lists the file {path!r}, refused ({parts[0]}/ is not data): "
                                f"nothing was written")
    return parts


def checked_tree(entries, repo_id: str) -> dict[str, Listed]:
    """``{path: Listed}`` (size, LFS sha256) of the files in a recursive tree listing, after checking every name.

    In a recursive listing every folder holds a file (git has no empty folders): a "folder" with nothing under
    it is an entry of another kind (huggingface_hub makes a folder of anything that is not a file, a symlink
    included) and is refused, as is a name that is both a file and a folder."""
    files: dict[str, Listed] = {}
    folders: set[str] = set()
    entries = sorted(entries, key=lambda e: not isinstance(e, RepoFile))  # a bad file name is named first
    for e in entries:
        _check_name(e.path, repo_id)
        if isinstance(e, RepoFile):
            files[e.path] = Listed.of(e)
        else:
            folders.add(e.path)
    parents = {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}
    odd = sorted((folders - parents) | (set(files) & parents))
    if odd:
        raise ConfigError(None, f"{repo_id} lists entries that are neither a plain file nor a folder of files, "
                                f"refused: {', '.join(odd)}: nothing was written")
    return files


def get_target(hub: bool, token: str | None = None, endpoint: str | None = None) -> Target:
    """The Hub (token and endpoint default to huggingface_hub's: ``HF_TOKEN`` / ``hf auth login``, ``HF_ENDPOINT``)
    or the local hub."""
    return HubTarget(token=token, endpoint=endpoint) if hub else LocalTarget()


def choose_version(
    target: Target,
    repo_id: str,
    folder: str | Path,
    version: str | None,
    repo_type: str,
    bump: str,
) -> tuple[str, bool]:
    """The version to publish ``folder`` as, and whether that version already holds the same content (the
    defaults of ``version``, ``repo_type`` and ``bump`` are :func:`publish_folder`'s).

    An explicit ``version`` that exists with other content is refused (ConfigError). With no version, the
    newest version is reused when it holds the same content (publishing twice is a no-op), else the next
    version after the newest one (``bump``: major, minor or patch; ``v1.0.0`` first).
    """
    existing = target.versions(repo_id, repo_type)
    mine = content_id(folder)
    if version is None:
        if existing and target.published_id(repo_id, existing[-1], repo_type) == mine:
            return existing[-1], True
        return next_version(existing + target.removed(repo_id, repo_type), bump), False  # removed: not reused
    version = normalize_version(version)
    if version not in existing:
        return version, False
    theirs = target.published_id(repo_id, version, repo_type)
    if theirs != mine:
        raise ConfigError(
            "version",
            f"{repo_type} {repo_id} {version} already exists with other content ({theirs}, this folder: {mine}); "
            f"versions are immutable: publish a new version instead",
        )
    return version, True


def publish_folder(
    folder: str | Path,
    repo_id: str,
    *,
    target: Target | None = None,
    version: str | None = None,
    repo_type: str = "dataset",
    private: bool = False,
    message: str | Callable[[str], str] | None = None,
    bump: str = "minor",
    prepare: Callable[[Path, str], None] | None = None,
) -> Published:
    """Publish ``folder`` as an immutable version of ``repo_id`` on ``target`` (the local hub by default).

    See :func:`choose_version` for which version; publishing content that is already there is a no-op.
    ``prepare(folder, version)`` runs once the version is chosen, before the upload (e.g. to render the card
    for that version); ``message`` may be a function of the version. On the local hub the choice and the
    upload hold the repository's lock, so a concurrent publish of the same content sees this one's version.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(None, f"{folder} is not a folder")
    target = target or LocalTarget()
    with target.lock(repo_id, repo_type):
        version, exists = choose_version(target, repo_id, folder, version, repo_type, bump)
        if not exists:
            if prepare is not None:
                prepare(folder, version)
            text = message(version) if callable(message) else message or f"Publish {version}"
            exists = not target.upload(folder, repo_id, version, repo_type, private, text)
    return Published(target.kind, repo_id, version, target.location(repo_id, version, repo_type), created=not exists)


@dataclass
class Staged:
    """A version chosen and committed but not yet visible (see :func:`stage_version`)."""

    folder: Path
    repo_id: str
    repo_type: str
    version: str
    exists: bool  # the version already holds this content: nothing to do
    commit: str | None = None
    message: str = ""


def stage_version(
    folder: str | Path,
    repo_id: str,
    *,
    target: Target,
    repo_type: str = "dataset",
    private: bool = False,
    message: str | Callable[[str], str] | None = None,
    bump: str = "minor",
    prepare: Callable[[Path, str], None] | None = None,
) -> Staged:
    """The first half of :func:`publish_folder`, for releases of several repos whose versions all appear last:
    choose the version (:func:`choose_version`), ``prepare`` the folder for it and send its one commit (Hub; the
    local hub copies nothing yet). :func:`finish_version` then makes the version visible. Interrupted in between,
    no version points at the content; run again, the same version is chosen and the commit is not made twice.
    On the local hub the caller holds ``target.lock(repo_id, repo_type)`` across both halves."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(None, f"{folder} is not a folder")
    version, exists = choose_version(target, repo_id, folder, None, repo_type, bump)
    if exists:
        return Staged(folder, repo_id, repo_type, version, True)
    if prepare is not None:
        prepare(folder, version)
    text = message(version) if callable(message) else message or f"Publish {version}"
    return Staged(folder, repo_id, repo_type, version, False, target.commit(folder, repo_id, repo_type, private, text), text)


def finish_version(staged: Staged, target: Target) -> Published:
    """The second half of :func:`stage_version`: the tag (Hub) or the version folder (local hub)."""
    created = False
    if not staged.exists:
        created = target.tag(staged.folder, staged.repo_id, staged.version, staged.commit, staged.repo_type,
                             staged.message)
    loc = target.location(staged.repo_id, staged.version, staged.repo_type)
    return Published(target.kind, staged.repo_id, staged.version, loc, created=created)


def default_token() -> str | None:
    """The token huggingface_hub would use (``HF_TOKEN``, then ``hf auth login``); never logged."""
    return get_token()
