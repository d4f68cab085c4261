"""Prove that a dataset folder (generated, pulled or published) holds exactly the data its metadata claims.

Two independent checks, per split:

1. the parquet files themselves: their rows are re-fingerprinted and compared with ``datagen.json`` (and the
   ``data/<split>-*`` glob that ``load_dataset`` uses must match exactly the listed shards, so nothing extra
   is loaded);
2. a fresh re-make: the recorded config is generated again (same generator version required) and its
   fingerprints are compared with the recorded ones.

The card's ``datagen.fingerprint`` (when there is a card) must agree with ``datagen.json`` too.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from generators.build import read_metadata
from generators.fingerprint import dataset_fingerprint, split_fingerprint_of_files


@dataclass
class SplitCheck:
    name: str
    rows: int  # as recorded in datagen.json
    files: str = "not checked"  # "ok" or what differs
    remade: str = "not checked"

    @property
    def ok(self) -> bool:
        return self.files == "ok" and self.remade == "ok"


@dataclass
class Verification:
    name: str
    fingerprint: str
    splits: list[SplitCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one sentence each, naming the split or file at fault

    @property
    def ok(self) -> bool:
        return not self.problems


def _short(fp: str) -> str:
    return fp[:16]


def check_files(folder: Path, meta: dict, result: Verification) -> dict[str, dict]:
    """Re-fingerprint the parquet shards of every split; returns the recomputed ``{split: {rows, fingerprint}}``."""
    recomputed: dict[str, dict] = {}
    checks = {c.name: c for c in result.splits}
    for name, s in meta["splits"].items():
        check = checks[name]
        listed = [folder / f for f in s["files"]]
        missing = [f for f in s["files"] if not (folder / f).is_file()]
        on_disk = sorted(p.relative_to(folder).as_posix() for p in (folder / "data").glob(f"{name}-*"))
        extra = sorted(set(on_disk) - set(s["files"]))
        if missing or extra:
            what = f"missing {', '.join(missing)}" if missing else f"unlisted {', '.join(extra)}"
            check.files = f"shards differ ({what})"
            result.problems.append(f"split {name!r}: the published shards differ from datagen.json: {what}")
            continue
        try:
            rows, fp = split_fingerprint_of_files(listed)
        except (ValueError, KeyError) as exc:  # an unreadable shard, or one without the dataset's columns
            check.files = "unreadable"
            result.problems.append(f"split {name!r}: its published files cannot be fingerprinted: {exc}")
            continue
        recomputed[name] = {"rows": rows, "fingerprint": fp}
        if rows != s["rows"] or fp != s["fingerprint"]:
            check.files = f"rows/fingerprint {rows}/{_short(fp)} != {s['rows']}/{_short(s['fingerprint'])}"
            result.problems.append(
                f"split {name!r}: the published parquet files hold {rows} rows with fingerprint {_short(fp)}, "
                f"datagen.json records {s['rows']} rows with fingerprint {_short(s['fingerprint'])}"
            )
        else:
            check.files = "ok"
    if len(recomputed) == len(meta["splits"]) and dataset_fingerprint(recomputed) != meta["fingerprint"]:
        result.problems.append(
            f"the dataset fingerprint of the published files ({_short(dataset_fingerprint(recomputed))}) differs "
            f"from the recorded one ({_short(meta['fingerprint'])})"
        )
    return recomputed


def check_card(folder: Path, meta: dict, result: Verification) -> None:
    card = folder / "README.md"
    if not card.exists():
        return
    import yaml
    from huggingface_hub import DatasetCard

    try:
        claimed = (DatasetCard.load(card).data.to_dict().get("datagen") or {}).get("fingerprint")
    except (ValueError, yaml.YAMLError, OSError, AttributeError) as exc:
        result.problems.append(f"README.md (the card) cannot be read: {str(exc).strip().splitlines()[0]}")
        return
    if claimed != meta["fingerprint"]:
        result.problems.append(
            f"README.md (the card) names fingerprint {claimed!r}, datagen.json records {_short(meta['fingerprint'])}"
        )


def check_remake(meta: dict, result: Verification, workers: int = 1, progress: bool = True) -> None:
    """Generate the recorded config again and compare fingerprints."""
    from generators.make import current_version, remake

    if meta["generator_version"] != current_version(meta):
        for c in result.splits:
            c.remade = "not re-made (generator version)"
        result.problems.append(
            f"the data was made by generator version {meta['generator_version']} (package "
            f"{meta.get('package_version', '?')}) but this datagen has generator version {current_version(meta)}: "
            f"install instruction-diversity=={meta.get('package_version', '?')} to re-make it"
        )
        return
    with tempfile.TemporaryDirectory(prefix="datagen-verify-") as tmp:
        again = remake(meta, Path(tmp) / "remade", workers=workers, progress=progress)
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


def verify_folder(folder: str | Path, *, remake: bool = True, workers: int = 1, progress: bool = True) -> Verification:
    """Check a dataset folder's files, card and (with ``remake``) a fresh re-make against its ``datagen.json``."""
    folder = Path(folder)
    meta = read_metadata(folder)
    result = Verification(meta["name"], meta["fingerprint"], [SplitCheck(n, s["rows"]) for n, s in meta["splits"].items()])
    if dataset_fingerprint(meta["splits"]) != meta["fingerprint"]:
        result.problems.append("datagen.json is inconsistent: its splits do not combine to its dataset fingerprint")
    check_card(folder, meta, result)
    check_files(folder, meta, result)
    if remake:
        check_remake(meta, result, workers=workers, progress=progress)
    return result
