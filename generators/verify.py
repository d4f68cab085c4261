"""Prove that a dataset folder (generated, pulled or published) holds exactly the data its metadata claims.

Two independent checks, per split:

1. the parquet files themselves: each file's SHA-256 is compared with the one ``datagen.json`` records (every
   byte, footer and row-group statistics included), their rows are re-fingerprinted and compared with
   ``datagen.json`` (and the ``data/<split>-*`` glob that ``load_dataset`` uses must match exactly the listed
   shards, so nothing extra is loaded); a listed file that is a symlink is refused, never followed. A folder
   written before datagen recorded file hashes has only its rows checked (a note says so);
2. a fresh re-make: the recorded config is generated again with the recorded generator version's behaviour (a
   version this code keeps, :data:`generators.version.REMAKEABLE_VERSIONS`) and its fingerprints are compared
   with the recorded ones. A pool is re-made from its recorded cluster assignment (an extra file whose SHA-256
   ``datagen.json`` records, checked like the data files), and a note says how far re-embedding here agrees with
   that record.

The card's ``datagen.fingerprint`` (when there is a card) must agree with ``datagen.json`` too.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from huggingface_hub import DatasetCard

from core.errors import ConfigError
from core.metadata import read_metadata
from core.safeio import read_bytes_inside, read_hashed, scan
from generators.fingerprint import dataset_fingerprint, split_fingerprint_of_files
from generators.make import current_version, remake, remakeable, remakeable_versions

TEMPORARY = "datagen-verify-"  # the prefix of the private temporary folders a verification reads and re-makes in


@dataclass
class SplitCheck:
    name: str
    rows: int  # as recorded in datagen.json
    files: str = "not checked"  # "ok" or what differs
    remade: str = "not checked"


@dataclass
class Verification:
    fingerprint: str  # as recorded in datagen.json
    splits: list[SplitCheck]
    problems: list[str] = field(default_factory=list)  # one sentence each, naming the split or file at fault
    notes: list[str] = field(default_factory=list)  # what could not be checked, though nothing is wrong

    @property
    def ok(self) -> bool:
        return not self.problems


def _short(fp: str) -> str:
    return fp[:16]


def check_files(folder: Path, meta: dict, result: Verification, *, private: bool) -> dict[str, dict]:
    """Check the shards of every split: each listed file is a regular file in the folder (a symlink is not
    followed), its SHA-256 is the recorded one (when datagen.json records hashes), no unlisted file matches the
    split's ``data/<split>-*`` glob, and its rows re-fingerprint to the recorded ones.

    Files are read once through :func:`core.safeio.read_hashed` into a private temporary copy, and the
    rows are fingerprinted from that copy, so a file swapped for a link meanwhile is never read through; with
    ``private`` (a folder this process staged itself) they are read in place. Returns the recomputed
    ``{split: {rows, fingerprint}}``."""
    recomputed: dict[str, dict] = {}
    checks = {c.name: c for c in result.splits}
    entries = {e.rel: e for e in scan(folder)}
    if any(s.get("sha256") is None for s in meta["splits"].values()):
        result.notes.append(
            "datagen.json records no SHA-256 of its data files (written before datagen recorded them): the rows "
            "were checked, the file bytes could not be"
        )
    for name, s in meta["splits"].items():
        check = checks[name]
        prefix = f"data/{name}-"
        missing = [f for f in s["files"] if f not in entries]
        links = [f for f in s["files"] if f in entries and entries[f].kind != "file"]
        extra = sorted(r for r, e in entries.items() if r.startswith(prefix) and "/" not in r[5:] and r not in s["files"])
        if missing or links or extra:
            what = "; ".join(filter(None, (
                missing and f"missing {', '.join(missing)}",
                links and f"not a regular file (not read) {', '.join(links)}",
                extra and f"unlisted {', '.join(extra)}",
            )))
            check.files = f"shards differ ({what})"
            result.problems.append(f"split {name!r}: the published shards differ from datagen.json: {what}")
            continue
        with tempfile.TemporaryDirectory(prefix=TEMPORARY) as tmp:
            try:
                hashed = _read_split(folder, s["files"], None if private else Path(tmp))
            except (ConfigError, OSError) as exc:  # swapped for a link or removed since the scan
                check.files = "unreadable"
                result.problems.append(f"split {name!r}: {exc}")
                continue
            bad = [f for f in s["files"] if s.get("sha256") and hashed[f][0] != s["sha256"][f]]
            for f in bad:
                result.problems.append(
                    f"{f}: its SHA-256 {_short(hashed[f][0])} differs from the {_short(s['sha256'][f])} datagen.json "
                    f"records (the file's bytes changed)"
                )
            try:
                rows, fp = split_fingerprint_of_files([hashed[f][1] for f in s["files"]])
            except (ValueError, KeyError) as exc:  # an unreadable shard, or one without the dataset's columns
                check.files = "unreadable" + (" (sha256 differs)" if bad else "")
                result.problems.append(f"split {name!r}: its published files cannot be fingerprinted: {_named(exc, hashed)}")
                continue
        recomputed[name] = {"rows": rows, "fingerprint": fp}
        if rows != s["rows"] or fp != s["fingerprint"]:
            check.files = f"rows/fingerprint {rows}/{_short(fp)} != {s['rows']}/{_short(s['fingerprint'])}"
            result.problems.append(
                f"split {name!r}: the published parquet files hold {rows} rows with fingerprint {_short(fp)}, "
                f"datagen.json records {s['rows']} rows with fingerprint {_short(s['fingerprint'])}"
            )
        elif bad:
            check.files = "sha256 differs"
        else:
            check.files = "ok"
    check_extra_files(folder, meta, result, entries)
    if len(recomputed) == len(meta["splits"]) and dataset_fingerprint(recomputed) != meta["fingerprint"]:
        result.problems.append(
            f"the dataset fingerprint of the published files ({_short(dataset_fingerprint(recomputed))}) differs "
            f"from the recorded one ({_short(meta['fingerprint'])})"
        )
    return recomputed


def check_extra_files(folder: Path, meta: dict, result: Verification, entries: dict) -> None:
    """The extra files ``datagen.json`` lists (a pool's recorded clusters): each a regular file in the folder
    (a symlink is not followed) whose SHA-256 is the recorded one."""
    for f, recorded in (meta.get("extra_files") or {}).items():
        if f not in entries:
            result.problems.append(f"{f}: missing (datagen.json lists it with its SHA-256)")
        elif entries[f].kind != "file":
            result.problems.append(f"{f}: not a regular file (not read)")
        else:
            try:
                sha, _ = read_hashed(folder, f)
            except (ConfigError, OSError) as exc:
                result.problems.append(f"{f}: {exc}")
                continue
            if sha != recorded:
                result.problems.append(f"{f}: its SHA-256 {_short(sha)} differs from the {_short(recorded)} "
                                       f"datagen.json records (the file's bytes changed)")


def _read_split(folder: Path, files: list[str], copy_into: Path | None) -> dict[str, tuple[str, Path]]:
    """``{file: (sha256, path to read the rows from)}``: a copy under ``copy_into``, or the file in place."""
    out = {}
    for i, f in enumerate(files):
        dest = None if copy_into is None else copy_into / f"{i:05d}" / Path(f).name
        sha, _ = read_hashed(folder, f, dest)
        out[f] = (sha, dest if dest is not None else folder / f)
    return out


def _named(exc: Exception, hashed: dict[str, tuple[str, Path]]) -> str:
    """The error of a copied shard, naming the file as datagen.json lists it."""
    text = str(exc)
    for f, (_, path) in hashed.items():
        text = text.replace(f"{path.parent.name}/{path.name}", f)
    return text


def check_card(folder: Path, meta: dict, result: Verification) -> None:
    if not os.path.lexists(folder / "README.md"):
        return

    try:
        text = read_bytes_inside(folder, "README.md").decode("utf-8")
        claimed = (DatasetCard(text).data.to_dict().get("datagen") or {}).get("fingerprint")
    except (ValueError, yaml.YAMLError, OSError, AttributeError, RecursionError) as exc:
        result.problems.append(f"README.md (the card) cannot be read: {str(exc).strip().splitlines()[0]}")
        return
    if claimed != meta["fingerprint"]:
        result.problems.append(
            f"README.md (the card) names fingerprint {claimed!r}, datagen.json records {_short(meta['fingerprint'])}"
        )


def check_remake(meta: dict, result: Verification, *, workers: int, progress: bool, folder: Path) -> None:
    """Generate the recorded config again, with the behaviour of the recorded generator version, and compare
    fingerprints (a pool re-makes its rows from the cluster assignment recorded in ``folder``, and notes how far
    re-embedding here agrees with it)."""
    if not remakeable(meta):
        for c in result.splits:
            c.remade = "not re-made (generator version)"
        package = meta.get("package_version")  # absent in records older than the field
        made = meta["generator_version"] if package is None else f"{meta['generator_version']} (package {package})"
        install = "the release that made it" if package is None else f"instruction-diversity=={package}"
        result.problems.append(
            f"the data was made by generator version {made} but this datagen has generator version "
            f"{current_version(meta)} and re-makes only {', '.join(remakeable_versions(meta))}: install {install} to "
            f"re-make it"
        )
        return
    with tempfile.TemporaryDirectory(prefix=TEMPORARY) as tmp:
        try:
            again = remake(meta, Path(tmp) / "remade", workers=workers, progress=progress, folder=folder)
        except ConfigError as exc:
            if not meta.get("extra_files"):  # only a pool's rows are re-made from a recorded file
                raise
            for c in result.splits:
                c.remade = "not re-made"
            result.problems.append(f"the data cannot be re-made: {exc.message}")
            return
    agreement = again.get("reembedding")
    if agreement is not None:
        result.notes.append(
            f"re-embedding here: {agreement['agree']} of {agreement['sample']} sampled pool rows are nearest to the "
            f"centroid of their recorded cluster ({agreement['model']}); the rows were re-made from the recorded "
            f"clusters" if "share" in agreement
            else f"re-embedding here: {agreement['skipped']}")
    checks = {c.name: c for c in result.splits}
    for name, s in meta["splits"].items():
        new = again["splits"].get(name)
        if new is None:
            checks[name].remade = "split not re-made"
            result.problems.append(f"split {name!r}: the re-made dataset has no such split")
        elif new["rows"] != s["rows"] or new["fingerprint"] != s["fingerprint"]:
            checks[name].remade = (
                f"rows/fingerprint {new['rows']}/{_short(new['fingerprint'])} != {s['rows']}/{_short(s['fingerprint'])}"
            )
            result.problems.append(
                f"split {name!r}: re-making it gives {new['rows']} rows with fingerprint {_short(new['fingerprint'])}, "
                f"the published data records {s['rows']} rows with fingerprint {_short(s['fingerprint'])}"
            )
        else:
            checks[name].remade = "ok"
    for name in again["splits"]:
        if name not in meta["splits"]:
            result.problems.append(f"split {name!r}: re-made but not in the published data")
    if again["fingerprint"] != meta["fingerprint"]:
        result.problems.append(
            f"re-making the dataset gives fingerprint {_short(again['fingerprint'])}, "
            f"the published data records {_short(meta['fingerprint'])}"
        )


def verify_folder(
    folder: str | Path, *, remake: bool = True, workers: int = 1, progress: bool = True, private: bool = False
) -> Verification:
    """Check a dataset folder's files, card and (with ``remake``) a fresh re-make against its ``datagen.json``.

    ``private``: the folder is a staging copy this process made (files are then read in place, see
    :func:`check_files`)."""
    folder = Path(folder)
    meta = read_metadata(folder)
    result = Verification(meta["fingerprint"], [SplitCheck(n, s["rows"]) for n, s in meta["splits"].items()])
    if dataset_fingerprint(meta["splits"]) != meta["fingerprint"]:
        result.problems.append("datagen.json is inconsistent: its splits do not combine to its dataset fingerprint")
    check_card(folder, meta, result)
    check_files(folder, meta, result, private=private)
    if remake:
        check_remake(meta, result, workers=workers, progress=progress, folder=folder)
    return result
