"""Downloading files of a Hub repository: never more bytes than its listing gives, and within the deadline.

huggingface_hub's ``hf_hub_download`` / ``snapshot_download`` take a file's size from the server's answer for
that very file (a HEAD), write whatever body arrives, and compare sizes only at the end: a 3 GiB body for a 6 KB
``datagen.json`` is written in full before the check fails. So each file is fetched here, one after the other,
with huggingface_hub's own URL (``hf_hub_url``), headers (``build_hf_headers``: token, user agent; ``httpx2``
drops the token on a redirect to another host, such as a CDN) and shared client (``get_session``: the timeouts,
and the deadline checked as each piece of a body arrives, of :mod:`publishing.hubclient`). The body is streamed
into a new file that never grows past the size the repository's listing gives (a tree or paths-info entry); a
body larger or smaller than listed, or whose SHA-256 differs from the listed LFS one, refuses the file, naming
it, and the partial file is removed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import HfApi, RepoFile, hf_hub_url
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

from core.errors import ConfigError
from publishing.hubclient import with_retries

CHUNK = 1 << 20
#: The largest metadata file (``datagen.json``, a card) read from a repository, whatever its listing says.
METADATA_LIMIT = 64 << 20


@dataclass(frozen=True)
class Listed:
    """A file as the repository lists it: its path, size in bytes and, for LFS files, SHA-256."""

    path: str
    size: int
    sha256: str | None = None

    @classmethod
    def of(cls, entry: RepoFile) -> Listed:
        if entry.lfs is not None:
            return cls(entry.path, int(entry.lfs.size), entry.lfs.sha256)
        return cls(entry.path, int(entry.size))


def listed(api: HfApi, repo_id: str, path: str, *, repo_type: str, revision: str | None) -> Listed | None:
    """``path`` as the repository lists it at ``revision`` (paths-info), or None when it holds no such file."""
    found = with_retries(lambda: api.get_paths_info(repo_id, [path], repo_type=repo_type, revision=revision))
    for entry in found:
        if isinstance(entry, RepoFile) and entry.path == path:
            return Listed.of(entry)
    return None


def fetch(api: HfApi, repo_id: str, item: Listed, dest: Path, *, repo_type: str, revision: str | None,
          limit: int | None = None) -> str:
    """Download ``item`` of ``repo_id`` at ``revision`` into the new file ``dest``; its SHA-256.

    At most ``item.size`` bytes are accepted (and at most ``limit``, when given, whatever the listing says);
    ConfigError naming the file for a body of another size or SHA-256 (nothing is left at ``dest``). Retried as
    a whole on transient failures (:func:`publishing.hubclient.with_retries`)."""
    if item.size < 0 or (limit is not None and item.size > limit):
        raise ConfigError(None, f"{repo_id} lists {item.path} with {item.size} bytes, more than the {limit} bytes "
                                f"such a file may hold: not downloaded")
    url = hf_hub_url(repo_id, item.path, repo_type=repo_type, revision=revision, endpoint=api.endpoint)
    headers = build_hf_headers(token=api.token, library_name=api.library_name, library_version=api.library_version,
                               user_agent=api.user_agent, headers=api.headers)
    dest.parent.mkdir(parents=True, exist_ok=True)
    return with_retries(lambda: _fetch_once(url, headers, repo_id, item, dest))


def _fetch_once(url: str, headers: dict, repo_id: str, item: Listed, dest: Path) -> str:
    def refuse(what: str) -> ConfigError:
        return ConfigError(None, f"{repo_id}: the Hub sent {what} for {item.path}, refused: nothing was written")

    sha = hashlib.sha256()
    got = 0
    try:
        with get_session().stream("GET", url, headers=headers, follow_redirects=True) as response:
            hf_raise_for_status(response)
            announced = response.headers.get("Content-Length")
            identity = response.headers.get("Content-Encoding", "identity").lower() == "identity"
            if identity and announced is not None and announced.isdigit() and int(announced) > item.size:
                raise refuse(f"a body of {announced} bytes (its listing gives {item.size})")
            with open(dest, "xb") as out:
                for chunk in response.iter_bytes(CHUNK):
                    got += len(chunk)
                    if got > item.size:
                        raise refuse(f"more than the {item.size} bytes its listing gives")
                    sha.update(chunk)
                    out.write(chunk)
        if got != item.size:
            raise refuse(f"{got} bytes (its listing gives {item.size})")
        if item.sha256 is not None and sha.hexdigest() != item.sha256:
            raise refuse(f"bytes with SHA-256 {sha.hexdigest()[:16]} (its listing gives {item.sha256[:16]})")
    except BaseException:
        try:
            os.unlink(dest)
        except FileNotFoundError:
            pass
        raise
    return sha.hexdigest()


def fetch_small(api: HfApi, repo_id: str, path: str, *, repo_type: str, revision: str | None,
                into: Path) -> Path | None:
    """A metadata file (``datagen.json``, a card) of ``repo_id`` at ``revision``, downloaded into the folder
    ``into`` (at most :data:`METADATA_LIMIT` bytes); None when the repository lists no such file."""
    item = listed(api, repo_id, path, repo_type=repo_type, revision=revision)
    if item is None:
        return None
    dest = Path(into) / Path(path).name
    fetch(api, repo_id, item, dest, repo_type=repo_type, revision=revision, limit=METADATA_LIMIT)
    return dest
