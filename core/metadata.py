"""``datagen.json``: the metadata of a dataset folder (what was generated, its fingerprints and file hashes).

The one place that names the file and reads, checks and writes it. Reads never follow a symlink (a pulled or
published folder may hold one in its place); a damaged file (invalid JSON, nested too deep, an endless integer,
a missing field, a data file name that a copy or the Hub would drop or change) is a
:class:`~core.errors.ConfigError` naming it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from core.documents import parse_json, shown
from core.errors import ConfigError
from core.safeio import case_collisions, name_problem, read_bytes_inside

METADATA_FILE = "datagen.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def has_metadata(folder: str | Path) -> bool:
    """Whether ``folder`` holds a ``datagen.json`` entry (a link counts: reading it is then refused)."""
    return os.path.lexists(Path(folder) / METADATA_FILE)


def parse_metadata(raw: bytes, path: str | Path, check: bool = True) -> dict:
    """The metadata in the bytes ``raw`` read from ``path`` (named in errors); with ``check`` the fields every
    reader relies on are checked (:func:`check_metadata`)."""
    meta = parse_json(raw, path)  # one line naming the file: invalid JSON, too deep, an endless integer
    if check:
        check_metadata(meta, Path(path))
    return meta


def _read_raw(folder: str | Path, missing_ok: bool) -> bytes | None:
    path = Path(folder) / METADATA_FILE
    if not os.path.lexists(path):
        if missing_ok:
            return None
        raise ConfigError(None, f"{folder} is not a datagen dataset folder ({METADATA_FILE} is missing)")
    try:
        return read_bytes_inside(folder, METADATA_FILE)
    except (OSError, ConfigError) as exc:
        raise ConfigError(None, f"{path} cannot be read: {exc}") from None


def read_metadata(folder: str | Path, *, check: bool = True, missing_ok: bool = False) -> dict:
    """The ``datagen.json`` of a generated (or pulled) dataset folder.

    ``missing_ok``: ``{}`` for a folder without one (a model folder, data made by other tools); ``check=False``
    skips the field checks (for readers that only look up a field or two)."""
    raw = _read_raw(folder, missing_ok)
    return {} if raw is None else parse_metadata(raw, Path(folder) / METADATA_FILE, check)


def read_metadata_bytes(folder: str | Path) -> tuple[dict, bytes]:
    """(checked metadata, the bytes as read) of a dataset folder's ``datagen.json`` (to copy it unchanged)."""
    raw = _read_raw(folder, False)
    return parse_metadata(raw, Path(folder) / METADATA_FILE), raw


def metadata_text(meta: dict) -> str:
    """The text ``datagen.json`` holds for ``meta``."""
    return json.dumps(meta, indent=2) + "\n"


def write_metadata(folder: str | Path, meta: dict) -> Path:
    """Write ``meta`` as the ``datagen.json`` of ``folder`` (a folder being made: atomic folders make the whole
    dataset appear at once); returns its path."""
    path = Path(folder) / METADATA_FILE
    path.write_text(metadata_text(meta), encoding="utf-8")
    return path


_DATA_FILE = re.compile(r"data/(?P<split>[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)-[A-Za-z0-9][A-Za-z0-9_.-]*\.parquet")


def data_file_problem(split: str, rel: str) -> str | None:
    """Why ``rel`` cannot be a data file of ``split`` (None when it can): data files are
    ``data/<split>-<name>.parquet`` in plain ASCII letters, digits, ``_``, ``.`` and ``-``, which is what the card's
    ``data/<split>-*`` pattern loads and what no copy, publisher or file system drops or renames (see
    :func:`core.safeio.name_problem`: a hidden ``data/.x.parquet`` would be published without its rows)."""
    problem = name_problem(rel)
    if problem:
        return problem
    m = _DATA_FILE.fullmatch(rel)
    if m is None:
        return (f"data files are data/{split}-<name>.parquet, the name made of ASCII letters, digits, '_', '.' and "
                f"'-'")
    if m["split"] != split:
        return f"data files of split {split!r} are named data/{split}-*.parquet, which the card's pattern loads"
    return None


def check_metadata(meta, path: Path) -> None:
    """The fields every reader of ``datagen.json`` relies on, so a damaged file is named instead of crashing."""

    def bad(where: str, what: str):
        raise ConfigError(None, f"{path} is damaged: {where} {what}")

    if not isinstance(meta, dict):
        bad("the file", "is not a JSON object")
    for key in ("name", "fingerprint"):
        if not isinstance(meta.get(key), str):
            bad(f"{key!r}", "is missing or not text")
    if not isinstance(meta.get("splits"), dict) or not meta["splits"]:
        bad("'splits'", "is missing or empty")
    for name, s in meta["splits"].items():
        if not isinstance(s, dict):
            bad(f"split {shown(name)}", "is not an object")
        if not isinstance(s.get("rows"), int) or not isinstance(s.get("fingerprint"), str):
            bad(f"split {shown(name)}", "lacks its rows or fingerprint")
        if not isinstance(s.get("files"), list) or not all(isinstance(f, str) for f in s["files"]):
            bad(f"split {shown(name)}", "lacks its list of files")
        for f in s["files"]:
            problem = data_file_problem(str(name), f)
            if problem:
                bad(f"split {shown(name)}", f"lists the file {shown(f)} ({problem})")
        collide = case_collisions(s["files"])
        if collide:
            bad(f"split {shown(name)}", f"lists files that differ only in letter case ({', '.join(map(shown, collide))}), "
                                      f"one of which a case-insensitive file system loses")
        sha = s.get("sha256")  # absent in folders written before datagen recorded file hashes
        if sha is not None and (not isinstance(sha, dict) or set(sha) != set(s["files"])
                                or not all(isinstance(v, str) and _SHA256.fullmatch(v) for v in sha.values())):
            bad(f"split {shown(name)}", "has a sha256 record that does not give one SHA-256 per listed file")
    extra = meta.get("extra_files", {})
    if not isinstance(extra, dict) or not all(isinstance(v, str) and _SHA256.fullmatch(v) for v in extra.values()):
        bad("'extra_files'", "does not map each file to its SHA-256")
    for f in extra:  # the published-name rules of data files (core.safeio.name_problem), outside data/
        problem = name_problem(f) or (
            "data/, datagen.json and the card are not extra files"
            if f.startswith("data/") or f in (METADATA_FILE, "README.md", ".gitattributes") else None)
        if problem:
            bad("'extra_files'", f"lists the file {shown(f)} ({problem})")
    collide = case_collisions(listed_files(meta))
    if collide:
        bad("the listed files", f"include names that differ only in letter case ({', '.join(map(shown, collide))}), "
                                f"one of which a case-insensitive file system loses")


def listed_files(meta: dict) -> list[str]:
    """Every file a dataset's ``datagen.json`` lists: its splits' data files, then its extra files (a pool's
    recorded clusters), in order."""
    return [f for s in meta["splits"].values() for f in s["files"]] + list(meta.get("extra_files") or {})
