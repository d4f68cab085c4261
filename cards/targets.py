"""Publishing targets behind one small interface: the Hugging Face Hub (``HfApi``) and the local hub.

``publish_folder`` publishes a finished folder (a dataset or a model) as an immutable version:

- a version that already exists with the same content is a no-op; with other content it is refused;
- ``version=None`` publishes the next minor version after the newest one (``v1.0.0`` first);
- the version becomes visible last (the local hub renames a complete folder into place; on the Hub the tag is
  created after the single commit that uploads every file), so a failed publish leaves no version pointing at
  partial data and a retry completes it.

Content identity: a dataset is identified by the fingerprint in its ``datagen.json``; any other folder by a
hash of its files (names and bytes), see :func:`content_id`.
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


@dataclass
class Published:
    target: str  # "local" or "hub"
    repo_id: str
    version: str
    location: str  # a folder (local) or a URL (hub)
    created: bool  # False when the same content was already published under this version


def content_id(folder: str | Path) -> str:
    """What makes two publishes "the same content": the dataset fingerprint, else a hash of all files."""
    folder = Path(folder)
    ident = folder / IDENTITY_FILE
    if ident.exists():
        meta = json.loads(ident.read_text(encoding="utf-8"))
        if meta.get("fingerprint"):
            return f"fingerprint:{meta['fingerprint']}"
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not _hidden(p.relative_to(folder))):
        if path.name == "README.md":  # the card may be re-rendered (version, links): not content
            continue
        h.update(path.relative_to(folder).as_posix().encode() + b"\x00")
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return f"files:{h.hexdigest()}"


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


class Target(Protocol):
    kind: str

    def versions(self, repo_id: str, repo_type: str = "dataset") -> list[str]: ...

    def published_id(self, repo_id: str, version: str, repo_type: str = "dataset") -> str | None: ...

    def upload(self, folder: Path, repo_id: str, version: str, repo_type: str, private: bool, message: str) -> str: ...

    def download(self, repo_id: str, revision: str | None, repo_type: str, dest: Path | None) -> Path: ...


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

    def __init__(self, token: str | None = None, endpoint: str | None = None):
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
        if version not in self.versions(repo_id, repo_type):
            return None
        import tempfile

        from huggingface_hub import snapshot_download

        with tempfile.TemporaryDirectory() as tmp:
            identity = self._try_download(repo_id, IDENTITY_FILE, version, repo_type, tmp)
            if identity is not None:
                return content_id(Path(identity).parent)
            path = snapshot_download(repo_id, repo_type=repo_type, revision=version, local_dir=tmp)
            return content_id(path)

    def _try_download(self, repo_id, filename, revision, repo_type, local_dir) -> str | None:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError

        try:
            return hf_hub_download(repo_id, filename, repo_type=repo_type, revision=revision, local_dir=local_dir)
        except EntryNotFoundError:
            return None

    def upload(self, folder: Path, repo_id: str, version: str, repo_type: str, private: bool, message: str) -> str:
        self.api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        info = self.api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            repo_type=repo_type,
            commit_message=message,
            ignore_patterns=[".*", "**/.*"],
            delete_patterns=["*", "**/*"],  # the commit holds exactly this folder: no stale shards
        )
        self.api.create_tag(repo_id, tag=version, revision=info.oid, repo_type=repo_type, exist_ok=False)
        prefix = "datasets/" if repo_type == "dataset" else ""
        return f"{self.api.endpoint}/{prefix}{repo_id}/tree/{version}"

    def download(self, repo_id: str, revision: str | None, repo_type: str, dest: Path | None) -> Path:
        from huggingface_hub import snapshot_download

        path = snapshot_download(repo_id, repo_type=repo_type, revision=revision, local_dir=str(dest) if dest else None)
        return Path(path)


def get_target(hub: bool, token: str | None = None) -> Target:
    return HubTarget(token=token) if hub else LocalTarget()


def publish_folder(
    folder: str | Path,
    repo_id: str,
    *,
    target: Target | None = None,
    version: str | None = None,
    repo_type: str = "dataset",
    private: bool = False,
    message: str | None = None,
) -> Published:
    """Publish ``folder`` as an immutable version of ``repo_id`` on ``target`` (the local hub by default)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(None, f"{folder} is not a folder")
    target = target or LocalTarget()
    existing = target.versions(repo_id, repo_type)
    version = normalize_version(version) if version else next_version(existing)
    mine = content_id(folder)
    if version in existing:
        theirs = target.published_id(repo_id, version, repo_type)
        if theirs != mine:
            raise ConfigError(
                "version",
                f"{repo_type} {repo_id} {version} already exists with other content ({theirs}); "
                f"publish a new version instead",
            )
        where = target.download(repo_id, version, repo_type, None) if target.kind == "local" else repo_id
        return Published(target.kind, repo_id, version, str(where), created=False)
    msg = message or f"Publish {version}"
    location = target.upload(folder, repo_id, version, repo_type, private, msg)
    return Published(target.kind, repo_id, version, location, created=True)


def default_token() -> str | None:
    """The token huggingface_hub would use (``HF_TOKEN``, then ``hf auth login``); never logged."""
    from huggingface_hub import get_token

    return os.environ.get("HF_TOKEN") or get_token()
