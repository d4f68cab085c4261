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
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cards.localhub import LocalHub, next_version, normalize_version, parse_version
from generators.errors import ConfigError

IDENTITY_FILE = "datagen.json"
NOT_CONTENT = ("README.md", ".gitattributes")  # re-rendered per version / added by the Hub


@dataclass
class Published:
    target: str  # "local" or "hub"
    repo_id: str
    version: str
    location: str  # a folder (local) or a URL (hub)
    created: bool  # False when the same content was already published under this version


def publishable_files(folder: str | Path) -> dict[str, Path]:
    """The files a publish uploads, by path in the repo (POSIX, sorted); hidden files and folders are left out."""
    folder = Path(folder)
    found = (p for p in folder.rglob("*") if p.is_file() and not _hidden(p.relative_to(folder)))
    return {p.relative_to(folder).as_posix(): p for p in sorted(found)}


def content_id(folder: str | Path, only_identity: bool = False) -> str | None:
    """What makes two publishes "the same content": the dataset fingerprint in ``datagen.json``, else the names
    and sha256 of all files except the card (which is re-rendered per version) and ``.gitattributes``.
    With ``only_identity``, None when the folder has no fingerprint."""
    folder = Path(folder)
    ident = folder / IDENTITY_FILE
    if ident.exists():
        try:
            meta = json.loads(ident.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(None, f"{ident} cannot be read: {exc}") from None
        if meta.get("fingerprint"):
            return f"fingerprint:{meta['fingerprint']}"
    if only_identity:
        return None
    return _files_id((rel, _sha256_file(p)) for rel, p in publishable_files(folder).items() if rel not in NOT_CONTENT)


def _files_id(pairs) -> str:
    h = hashlib.sha256()
    for rel, sha in sorted(pairs):
        h.update(f"{rel}\x00{sha}\n".encode())
    return f"files:{h.hexdigest()}"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def stage_files(root: Path, paths, dest: Path) -> None:
    """Put ``paths`` (files under ``root``) at the same relative places under ``dest``, without touching them:
    hard links where the filesystem allows, copies otherwise (a staging folder for a publish)."""
    import shutil

    for path in paths:
        target = dest / Path(path).relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


class Target(Protocol):
    kind: str

    def versions(self, repo_id: str, repo_type: str = "dataset") -> list[str]: ...

    def published_id(self, repo_id: str, version: str, repo_type: str = "dataset") -> str | None: ...

    def upload(self, folder: Path, repo_id: str, version: str, repo_type: str, private: bool, message: str) -> str: ...

    def download(self, repo_id: str, revision: str | None, repo_type: str, dest: Path | None) -> Path: ...

    def location(self, repo_id: str, version: str, repo_type: str = "dataset") -> str: ...


class LocalTarget:
    kind = "local"

    def __init__(self, hub: LocalHub | None = None):
        self.hub = hub or LocalHub.default()

    def versions(self, repo_id: str, repo_type: str = "dataset") -> list[str]:
        return self.hub.versions(repo_id, repo_type)

    def published_id(self, repo_id: str, version: str, repo_type: str = "dataset") -> str | None:
        if version not in self.versions(repo_id, repo_type):
            return None
        return content_id(self.hub.path(repo_id, version, repo_type))

    def upload(self, folder: Path, repo_id: str, version: str, repo_type: str, private: bool, message: str) -> str:
        return str(self.hub.add_version(folder, repo_id, version, repo_type))

    def location(self, repo_id: str, version: str, repo_type: str = "dataset") -> str:
        return str(self.hub.path(repo_id, version, repo_type))

    def download(self, repo_id: str, revision: str | None, repo_type: str, dest: Path | None) -> Path:
        src = self.hub.path(repo_id, revision, repo_type)
        if dest is None:
            return src
        import shutil

        shutil.copytree(src, dest, dirs_exist_ok=True)
        return dest


class HubTarget:
    """The Hugging Face Hub (or any server at ``HF_ENDPOINT``), through ``huggingface_hub.HfApi``."""

    kind = "hub"

    def __init__(self, token: str | bool | None = None, endpoint: str | None = None):
        """``token``: None for huggingface_hub's default (``HF_TOKEN``, then ``hf auth login``), False for none."""
        from huggingface_hub import HfApi

        self.api = HfApi(token=token, endpoint=endpoint)

    def versions(self, repo_id: str, repo_type: str = "dataset") -> list[str]:
        from huggingface_hub.errors import RepositoryNotFoundError

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
        import tempfile

        from huggingface_hub.errors import EntryNotFoundError, RevisionNotFoundError

        with tempfile.TemporaryDirectory() as tmp:
            try:
                identity = self.api.hf_hub_download(repo_id, IDENTITY_FILE, repo_type=repo_type, revision=version, local_dir=tmp)
                return content_id(Path(identity).parent, only_identity=True) or self._files_id(repo_id, version, repo_type, tmp)
            except EntryNotFoundError:
                return self._files_id(repo_id, version, repo_type, tmp)
            except RevisionNotFoundError:
                return None

    def _files_id(self, repo_id: str, version: str, repo_type: str, tmp: str) -> str:
        from huggingface_hub import RepoFile

        pairs = []
        for f in self.api.list_repo_tree(repo_id, recursive=True, revision=version, repo_type=repo_type):
            if not isinstance(f, RepoFile) or f.path in NOT_CONTENT or _hidden(Path(f.path)):
                continue
            if f.lfs is not None:
                pairs.append((f.path, f.lfs.sha256))
            else:
                local = self.api.hf_hub_download(repo_id, f.path, repo_type=repo_type, revision=version, local_dir=tmp)
                pairs.append((f.path, _sha256_file(Path(local))))
        return _files_id(pairs)

    def upload(self, folder: Path, repo_id: str, version: str, repo_type: str, private: bool, message: str) -> str:
        """Create the repo if needed, commit exactly the folder's files in one commit, then tag that commit."""
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete
        from huggingface_hub.errors import HfHubHTTPError

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
        try:
            self.api.create_tag(repo_id, tag=version, revision=info.oid, repo_type=repo_type, tag_message=message)
        except HfHubHTTPError as exc:
            if exc.response is not None and exc.response.status_code == 409:
                raise ConfigError("version", f"{repo_id} {version} was published meanwhile by someone else") from None
            raise
        return self.location(repo_id, version, repo_type)

    def location(self, repo_id: str, version: str, repo_type: str = "dataset") -> str:
        prefix = "datasets/" if repo_type == "dataset" else ""
        return f"{self.api.endpoint}/{prefix}{repo_id}/tree/{version}"

    def download(self, repo_id: str, revision: str | None, repo_type: str, dest: Path | None) -> Path:
        """Into ``dest``, or into the Hugging Face cache when ``dest`` is None."""
        path = self.api.snapshot_download(
            repo_id, repo_type=repo_type, revision=revision, local_dir=str(dest) if dest else None
        )
        return Path(path)


def get_target(hub: bool, token: str | None = None, endpoint: str | None = None) -> Target:
    """The Hub (token and endpoint default to huggingface_hub's: ``HF_TOKEN`` / ``hf auth login``, ``HF_ENDPOINT``)
    or the local hub."""
    return HubTarget(token=token, endpoint=endpoint) if hub else LocalTarget()


def choose_version(
    target: Target,
    repo_id: str,
    folder: str | Path,
    version: str | None = None,
    repo_type: str = "dataset",
    bump: str = "minor",
) -> tuple[str, bool]:
    """The version to publish ``folder`` as, and whether that version already holds the same content.

    An explicit ``version`` that exists with other content is refused (ConfigError). With no version, the
    newest version is reused when it holds the same content (publishing twice is a no-op), else the next
    version after the newest one (``bump``: major, minor or patch; ``v1.0.0`` first).
    """
    existing = target.versions(repo_id, repo_type)
    mine = content_id(folder)
    if version is None:
        if existing and target.published_id(repo_id, existing[-1], repo_type) == mine:
            return existing[-1], True
        return next_version(existing, bump), False
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
    message: str | None = None,
    bump: str = "minor",
) -> Published:
    """Publish ``folder`` as an immutable version of ``repo_id`` on ``target`` (the local hub by default).

    See :func:`choose_version` for which version; publishing content that is already there is a no-op.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(None, f"{folder} is not a folder")
    target = target or LocalTarget()
    version, exists = choose_version(target, repo_id, folder, version, repo_type, bump)
    if exists:
        return Published(target.kind, repo_id, version, target.location(repo_id, version, repo_type), created=False)
    location = target.upload(folder, repo_id, version, repo_type, private, message or f"Publish {version}")
    return Published(target.kind, repo_id, version, location, created=True)


def default_token() -> str | None:
    """The token huggingface_hub would use (``HF_TOKEN``, then ``hf auth login``); never logged."""
    from huggingface_hub import get_token

    return get_token()
