"""One resolver for every consumer of published data and models (training, evaluation, verify).

A *source* is any of:

- a folder on disk (a generated dataset folder, a training output folder, any ``save_pretrained`` folder);
- a local hub name, ``org/name`` or ``name`` (with ``revision`` a version such as ``v1.0.0``; latest if None);
  ``local:org/name`` forces the local hub, as does the namespace ``local/`` that ``datagen push`` uses;
- a Hub id ``org/name`` (with ``revision`` a tag, branch or commit); ``hub:org/name`` forces the Hub.

Folders win over local-hub names, and local-hub names over Hub ids, unless a prefix says otherwise. A name that
looks like a path (it starts with ``.``, ``/`` or ``~``, holds a backslash or more than one ``/``, ends with ``/``,
or its parent folder exists here, as ``runs/`` for ``runs/nosuch``) and is no folder is reported as a missing
folder at once: it is never sent to the Hub (``hub:org/name`` forces the Hub for an id that clashes with a
folder). Hub ids are checked with huggingface_hub's ``validate_repo_id`` before any call.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from huggingface_hub import HfApi, constants, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from core.errors import ConfigError
from core.metadata import METADATA_FILE, parse_metadata, read_metadata
from publishing.download import fetch_small
from publishing.hubclient import DeadlineExceeded, hub_deadline, install
from publishing.localhub import LocalHub, check_hub_repo_id


@dataclass
class Resolved:
    kind: str  # "folder" | "local" | "hub"
    source: str  # what the user gave
    repo_id: str | None  # local hub or Hub repository id (None for a plain folder)
    revision: str | None  # version/tag/commit (None for a plain folder)
    path: Path | None  # a folder holding the files (None for a Hub repo not downloaded)
    meta: dict = field(default_factory=dict)  # datagen.json of a dataset, when known
    repo_type: str = "dataset"

    @property
    def load_target(self) -> str:
        """What to hand to ``datasets.load_dataset`` / ``from_pretrained``."""
        return str(self.path) if self.path is not None else str(self.repo_id)

    def local_dir(self) -> Path:
        """A folder holding the files: the folder or local hub version itself, or a Hub snapshot (downloaded once
        into the Hugging Face cache, at ``revision``)."""
        if self.path is None:
            install()
            self.path = Path(snapshot_download(self.repo_id, repo_type=self.repo_type, revision=self.revision))
        return self.path

    @property
    def fingerprint(self) -> str | None:
        return self.meta.get("fingerprint")

    def describe(self) -> dict:
        """Provenance for cards and results: where the thing came from, exactly."""
        out = {"source": self.kind, "repo_id": self.repo_id, "revision": self.revision, "fingerprint": self.fingerprint}
        if self.kind == "folder" and self.path is not None:
            out["folder_name"] = self.path.name  # never the machine's full path
        return out


def resolve(source: str, revision: str | None = None, repo_type: str = "dataset", hub: LocalHub | None = None) -> Resolved:
    """Find ``source`` (see the module docstring). Raises ConfigError naming what could not be found."""
    if not source:
        raise ConfigError("dataset" if repo_type == "dataset" else "model", "no source given")
    hub = hub or LocalHub.default()
    forced = None
    if source.startswith(("local:", "hub:")):
        forced, source = source.split(":", 1)
    path = Path(source).expanduser()
    if forced is None and path.is_dir():
        if revision:
            raise ConfigError("revision", f"{source} is a folder: a revision applies to hub repositories only")
        return Resolved("folder", source, None, None, path, _read_meta(path), repo_type)
    if forced is None and os.path.lexists(path):
        raise ConfigError(None, f"{source} is a file, not a folder (nor a local hub or Hub name)")
    if forced is None and source.startswith("local/"):
        forced = "local"  # the local hub's own namespace: never looked up on the Hub
    if forced is None and _looks_like_a_path(source):
        raise ConfigError(None, f"folder {source} does not exist")
    if forced != "hub" and hub.exists(source, repo_type):
        p = hub.path(source, revision, repo_type)
        return Resolved("local", source, source, p.name, p, _read_meta(p), repo_type)
    if forced == "local":
        raise ConfigError(None, f"no {repo_type} {source!r} in the local hub at {hub.root}")
    if forced is None and (path.parent != Path(".") and path.parent.is_dir()):
        raise ConfigError(None, f"folder {source} does not exist (its parent {path.parent} does; for the Hub "
                                f"repository of that name write hub:{source})")
    if "/" not in source:
        raise ConfigError(
            None,
            f"{source!r} is neither a folder nor a {repo_type} in the local hub ({hub.root}); "
            f"Hub ids look like org/name",
        )

    check_hub_repo_id(source, "dataset" if repo_type == "dataset" else "model")

    install()  # every Hub call from here on (datasets, transformers) has a timeout
    return Resolved("hub", source, source, revision, None, _hub_meta(source, revision, repo_type), repo_type)


def _looks_like_a_path(source: str) -> bool:
    """A name that can only mean a folder on this machine: never sent to the Hub."""
    return source.startswith((".", "/", "~")) or "\\" in source or source.count("/") > 1 or source.endswith("/")


def _read_meta(path: Path) -> dict:
    return read_metadata(path, check=False, missing_ok=True)


def _hub_meta(repo_id: str, revision: str | None, repo_type: str) -> dict:
    """The datagen.json of a Hub dataset, if it has one (empty for other repos or when offline)."""
    if repo_type != "dataset":
        return {}

    if constants.HF_HUB_OFFLINE:
        return {}  # only the cache is read: datasets loads the data from it
    with tempfile.TemporaryDirectory(prefix="datagen-meta-") as tmp, hub_deadline():
        try:  # never more bytes than the repository lists (and 64 MiB at most), within the deadline
            local = fetch_small(HfApi(), repo_id, METADATA_FILE, repo_type="dataset", revision=revision, into=Path(tmp))
        except RepositoryNotFoundError:
            raise ConfigError(None, f"dataset {repo_id!r} not found on the Hub (nor as a folder or in the local hub)") from None
        except RevisionNotFoundError:
            raise ConfigError("revision", f"dataset {repo_id!r} has no revision {revision!r} on the Hub") from None
        except (EntryNotFoundError, HfHubHTTPError, OSError, httpx2.HTTPError, DeadlineExceeded):
            return {}  # unreachable, or no answer in time: what needs the Hub next fails, naming why
        if local is None:
            return {}
        return parse_metadata(local.read_bytes(), f"{repo_id}/{METADATA_FILE}", check=False)
