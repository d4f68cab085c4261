"""What `verify` proves about a dataset folder, check by check (generators/verify.py's promise): every listed shard
is there, a regular file, with its recorded SHA-256, and no unlisted shard matches a split's ``data/<split>-*``
glob (what ``load_dataset`` reads); the rows re-fingerprint to the record; the card names the recorded
fingerprint; ``datagen.json`` is consistent; and a fresh re-make of the recorded config gives the recorded splits.
Each finding names the split or file at fault, and every split at fault is named, not only the first.

The references are computed here, from the files (``hashlib``, the parquet files, the splits' records), never
by the code under test.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from huggingface_hub import DatasetCard

import generators.verify as verify_module  # monkeypatched: the names check_files / check_remake read through
from core.errors import ConfigError
from generators.fingerprint import dataset_fingerprint
from generators.verify import verify_folder
from publishing.cli import main

SPLITS = ["train", "validation", "test_unseen", "test_seen"]


@pytest.fixture
def folder(tiny_dataset, tmp_path) -> Path:
    out = tmp_path / "ds"
    shutil.copytree(tiny_dataset, out)
    return out


def meta_of(folder: Path) -> dict:
    return json.loads((folder / "datagen.json").read_text())


def write_meta(folder: Path, meta: dict) -> None:
    (folder / "datagen.json").write_text(json.dumps(meta, indent=2))


def shard(folder: Path, split: str) -> str:
    (only,) = meta_of(folder)["splits"][split]["files"]
    return only


def cells(result) -> dict[str, tuple[str, str]]:
    return {c.name: (c.files, c.remade) for c in result.splits}


def about(result, what: str) -> list[str]:
    return [p for p in result.problems if what in p]


def test_an_intact_folder_passes_every_check(folder):
    result = verify_folder(folder, progress=False)
    assert result.ok and result.problems == [] and result.notes == []
    assert cells(result) == {s: ("ok", "ok") for s in SPLITS}
    assert [c.rows for c in result.splits] == [meta_of(folder)["splits"][s]["rows"] for s in SPLITS]


def test_a_missing_and_a_linked_shard_are_named_each_in_its_split(folder, tmp_path):
    """A listed shard that is gone, and one replaced by a link to an intact copy of itself: both are named (the
    link is not read, however good its target), and the other splits are still checked and pass."""
    gone, linked = shard(folder, "test_seen"), shard(folder, "train")
    (folder / gone).unlink()
    elsewhere = tmp_path / "intact.parquet"
    shutil.move(folder / linked, elsewhere)
    (folder / linked).symlink_to(elsewhere)
    result = verify_folder(folder, remake=False, progress=False)
    assert [p for p in result.problems if "split 'test_seen'" in p and f"missing {gone}" in p
            and "not a regular file" not in p and "unlisted" not in p]
    assert [p for p in result.problems if "split 'train'" in p and f"not a regular file (not read) {linked}" in p
            and "missing" not in p and "unlisted" not in p]
    assert len(result.problems) == 2
    files = {name: f for name, (f, _) in cells(result).items()}
    assert files["validation"] == files["test_unseen"] == "ok"
    assert gone in files["test_seen"] and linked in files["train"]


def test_an_unlisted_shard_that_load_dataset_would_read_is_named(folder):
    """``data/train-*`` is the card's pattern for train: an unlisted file matching it would be loaded with the
    rows; a file the pattern does not match is not a train shard."""
    data = (folder / shard(folder, "train")).read_bytes()
    (folder / "data" / "train-99.parquet").write_bytes(data)
    (folder / "data" / "trainer-notes.parquet").write_bytes(data)
    (folder / "data" / "train-sub").mkdir()  # a folder the pattern matches: named once, as a folder
    (folder / "data" / "train-sub" / "x.parquet").write_bytes(data)
    result = verify_folder(folder, remake=False, progress=False)
    assert len(result.problems) == 1, result.problems
    assert "split 'train'" in result.problems[0] and "unlisted data/train-99.parquet" in result.problems[0]
    assert "missing" not in result.problems[0] and "not a regular file" not in result.problems[0]
    assert "trainer-notes" not in result.problems[0] and "train-sub/x.parquet" not in result.problems[0]
    assert cells(result)["train"][0] != "ok" and cells(result)["test_seen"][0] == "ok"


def test_changed_bytes_in_several_splits_are_each_named(folder):
    """Every split's shard is hashed: a changed byte in two splits is two findings, each naming its file, and
    the splits whose rows still fingerprint right say so beside the SHA-256 finding."""
    changed = [shard(folder, "validation"), shard(folder, "test_seen")]
    for rel in changed:
        data = bytearray((folder / rel).read_bytes())
        data[0] ^= 1  # "PAR1" -> "QAR1": readers seek to the footer, the rows do not change
        (folder / rel).write_bytes(bytes(data))
    result = verify_folder(folder, remake=False, progress=False)
    for rel in changed:
        sha = hashlib.sha256((folder / rel).read_bytes()).hexdigest()
        named = about(result, f"{rel}: its SHA-256")
        assert len(named) == 1 and sha[:16] in named[0]
    assert len(result.problems) == 2
    files = {name: f for name, (f, _) in cells(result).items()}
    assert files["validation"] == files["test_seen"] == "sha256 differs"  # the rows fingerprint right
    assert files["train"] == files["test_unseen"] == "ok"


def test_a_split_without_recorded_hashes_is_noted(folder):
    """Only the rows of a split without recorded SHA-256 can be checked: a note says so (even when other splits
    have theirs), and nothing is wrong."""
    meta = meta_of(folder)
    del meta["splits"]["test_seen"]["sha256"]
    write_meta(folder, meta)
    result = verify_folder(folder, remake=False, progress=False)
    (note,) = result.notes
    assert result.ok and "no SHA-256" in note and "rows were checked" in note and "bytes could not be" in note


def test_the_card_must_name_the_recorded_fingerprint(folder, tmp_path):
    original = (folder / "README.md").read_text()
    card = DatasetCard(original)
    assert card.data.datagen["fingerprint"] == meta_of(folder)["fingerprint"]
    card.data.datagen["fingerprint"] = "0" * 64
    (folder / "README.md").write_text(str(card))
    result = verify_folder(folder, remake=False, progress=False)
    assert len(result.problems) == 1 and "README.md (the card)" in result.problems[0]
    assert meta_of(folder)["fingerprint"][:16] in result.problems[0]
    # no card: nothing to compare (a folder may be verified before it is published)
    (folder / "README.md").unlink()
    assert verify_folder(folder, remake=False, progress=False).ok
    # a card that is a link is not read, even to the right card
    good = tmp_path / "card.md"
    good.write_text(original)
    (folder / "README.md").symlink_to(good)
    result = verify_folder(folder, remake=False, progress=False)
    assert len(result.problems) == 1 and "README.md (the card) cannot be read" in result.problems[0]
    assert "symlink" in result.problems[0]


def test_an_inconsistent_datagen_json_is_named(folder):
    """The dataset fingerprint combines the splits' rows and fingerprints; a record that does not is named."""
    meta = meta_of(folder)
    intact = meta["fingerprint"]  # what the (unchanged) files give
    meta["fingerprint"] = dataset_fingerprint({s: {**meta["splits"][s], "rows": 1} for s in meta["splits"]})
    write_meta(folder, meta)
    (folder / "README.md").unlink()  # the card names the old one: not what this test is about
    result = verify_folder(folder, remake=False, progress=False)
    assert [p for p in result.problems if p.startswith("datagen.json is inconsistent")]
    # and what the published files do give, against the record
    (given,) = about(result, "the dataset fingerprint of the published files")
    assert given.index(intact[:16]) < given.index(meta["fingerprint"][:16])
    assert len(result.problems) == 2 and cells(result) == {s: ("ok", "not checked") for s in SPLITS}


def test_a_remake_of_another_config_names_every_split(folder):
    """The recorded config is what is re-made: changed after the data was made, every split's re-made rows
    differ and each split is named, as is the dataset fingerprint; the files themselves are fine."""
    meta = meta_of(folder)
    meta["config"]["seed"] = meta["config"]["seed"] + 1
    write_meta(folder, meta)
    result = verify_folder(folder, progress=False)
    assert {name: f for name, (f, _) in cells(result).items()} == {s: "ok" for s in SPLITS}
    for s in SPLITS:
        assert len(about(result, f"split {s!r}: re-making it gives")) == 1
        recorded = meta["splits"][s]
        assert f"{recorded['rows']}/{recorded['fingerprint'][:16]}" in cells(result)[s][1]
    assert about(result, "re-making the dataset gives fingerprint")


def drop_split(folder: Path, split: str) -> None:
    """datagen.json without ``split`` (and its shard gone), consistent otherwise."""
    meta = meta_of(folder)
    for rel in meta["splits"].pop(split)["files"]:
        (folder / rel).unlink()
    meta["fingerprint"] = dataset_fingerprint(meta["splits"])
    write_meta(folder, meta)
    (folder / "README.md").unlink()


def test_a_remake_with_a_split_the_record_lacks_is_named(folder):
    drop_split(folder, "validation")
    result = verify_folder(folder, progress=False)
    assert cells(result) == {s: ("ok", "ok") for s in SPLITS if s != "validation"}
    assert len(about(result, "split 'validation': re-made but not in the published data")) == 1
    assert about(result, "re-making the dataset gives fingerprint") and len(result.problems) == 2


def test_a_recorded_split_the_remake_lacks_is_named(folder):
    """A split recorded (with intact files) that the recorded config does not make."""
    meta = meta_of(folder)
    rel = shard(folder, "test_seen").replace("test_seen", "extra")
    shutil.copy(folder / shard(folder, "test_seen"), folder / rel)
    meta["splits"]["extra"] = {**meta["splits"]["test_seen"], "files": [rel],
                               "sha256": {rel: meta["splits"]["test_seen"]["sha256"][shard(folder, "test_seen")]}}
    meta["fingerprint"] = dataset_fingerprint(meta["splits"])
    write_meta(folder, meta)
    (folder / "README.md").unlink()
    result = verify_folder(folder, progress=False)
    assert cells(result)["extra"] == ("ok", "split not re-made")
    assert len(about(result, "split 'extra': the re-made dataset has no such split")) == 1
    assert all(cells(result)[s] == ("ok", "ok") for s in SPLITS)


def test_the_rows_checked_are_the_bytes_hashed(folder, tmp_path, monkeypatch):
    """A shard swapped for a link right after it was hashed: the rows are fingerprinted from the copy that was
    hashed, never read through the link."""

    rel = shard(folder, "train")
    target = tmp_path / "not-parquet"
    target.write_bytes(b"not a parquet file")
    real = verify_module.read_hashed

    def read_then_swap(root, f, copy_to=None):
        out = real(root, f, copy_to)
        if f == rel:
            (folder / rel).unlink()
            (folder / rel).symlink_to(target)
        return out

    monkeypatch.setattr(verify_module, "read_hashed", read_then_swap)
    result = verify_folder(folder, remake=False, progress=False)
    assert (folder / rel).is_symlink() and result.ok, result.problems


def test_verify_exits_1_naming_the_split(folder):
    (folder / shard(folder, "test_unseen")).unlink()
    res = CliRunner().invoke(main, ["verify", str(folder), "--no-remake", "--quiet"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "split 'test_unseen'" in res.output and "FAILED (1 problem(s))" in res.output


def test_a_shard_swapped_for_a_link_after_the_listing_is_not_read(folder, tmp_path, monkeypatch):
    """The folder is listed first, then each shard read: one swapped for a link in between is refused when read
    (never followed), named with its split, and the next splits are still checked."""

    rel = shard(folder, "train")
    intact = tmp_path / "intact.parquet"
    real = verify_module.scan

    def scan_then_swap(root):
        out = real(root)
        shutil.move(folder / rel, intact)
        (folder / rel).symlink_to(intact)
        return out

    monkeypatch.setattr(verify_module, "scan", scan_then_swap)
    result = verify_folder(folder, remake=False, progress=False)
    (named,) = result.problems
    assert named.startswith("split 'train'") and rel in named
    assert cells(result)["train"][0] == "unreadable"
    assert all(cells(result)[s][0] == "ok" for s in SPLITS if s != "train")


def test_shards_that_are_no_parquet_are_named_each(folder):
    for split in ("train", "test_seen"):
        (folder / shard(folder, split)).write_bytes(b"not parquet")
    result = verify_folder(folder, remake=False, progress=False)
    for split in ("train", "test_seen"):
        assert about(result, f"split {split!r}: its published files cannot be fingerprinted")
        assert about(result, f"{shard(folder, split)}: its SHA-256")
        assert cells(result)[split][0] == "unreadable (sha256 differs)"
    assert cells(result)["validation"][0] == "ok"
    # a folder without recorded hashes: only the rows say it
    meta = meta_of(folder)
    for s in meta["splits"].values():
        del s["sha256"]
    write_meta(folder, meta)
    result = verify_folder(folder, remake=False, progress=False)
    assert cells(result)["train"][0] == cells(result)["test_seen"][0] == "unreadable"
    assert not about(result, "SHA-256")


def with_extra_file(folder: Path, rel: str, data: bytes) -> None:
    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
    (folder / rel).write_bytes(data)
    meta = meta_of(folder)
    meta["extra_files"] = {rel: hashlib.sha256(data).hexdigest()}
    write_meta(folder, meta)


def test_extra_files_are_checked_like_shards(folder, tmp_path):
    """An extra file datagen.json lists (a pool's recorded clusters): there, a regular file (a link is not
    read), with the recorded SHA-256."""
    rel = "clusters/assignment.parquet"
    with_extra_file(folder, rel, b"recorded clusters")
    assert verify_folder(folder, remake=False, progress=False).ok
    (folder / rel).write_bytes(b"other clusters")
    (named,) = verify_folder(folder, remake=False, progress=False).problems
    assert named.startswith(f"{rel}: its SHA-256 {hashlib.sha256(b'other clusters').hexdigest()[:16]}")
    (folder / rel).unlink()
    (named,) = verify_folder(folder, remake=False, progress=False).problems
    assert named.startswith(f"{rel}: missing")
    elsewhere = tmp_path / "recorded"
    elsewhere.write_bytes(b"recorded clusters")
    (folder / rel).symlink_to(elsewhere)
    (named,) = verify_folder(folder, remake=False, progress=False).problems
    assert named.startswith(f"{rel}: not a regular file")


def test_an_extra_file_swapped_for_a_link_after_the_listing_is_not_read(folder, tmp_path, monkeypatch):

    rel, other = "clusters/assignment.parquet", "clusters/centroids.npy"
    with_extra_file(folder, rel, b"recorded clusters")
    meta = meta_of(folder)
    meta["extra_files"][other] = hashlib.sha256(b"recorded centroids").hexdigest()
    write_meta(folder, meta)
    (folder / other).write_bytes(b"other centroids")  # and the next extra file is still checked
    real = verify_module.scan

    def scan_then_swap(root):
        out = real(root)
        shutil.move(folder / rel, tmp_path / "recorded")
        (folder / rel).symlink_to(tmp_path / "recorded")
        return out

    monkeypatch.setattr(verify_module, "scan", scan_then_swap)
    named, after = verify_folder(folder, remake=False, progress=False).problems
    assert named.startswith(f"{rel}: ") and "SHA-256" not in named and "symlink" in named
    assert after.startswith(f"{other}: its SHA-256")


def recorded_remake(meta: dict, folder: Path, **extra):
    """A stand-in for generators.make.remake that re-makes exactly the recorded splits (plus ``extra`` keys); a
    pool reads its recorded clusters from the folder being verified, so that is the folder it must be given."""
    def remake(*args, **kwargs):
        assert kwargs["folder"] == folder
        return {"splits": {n: dict(s) for n, s in meta["splits"].items()}, "fingerprint": meta["fingerprint"], **extra}
    return remake


def test_a_pool_that_cannot_be_re_made_is_a_finding(folder, monkeypatch):
    """A pool's rows are re-made from its recorded cluster assignment: when that fails (a user error of the
    recorded data, such as a changed assignment), verify names it for every split instead of stopping; a
    dataset without recorded extra files has nothing of that kind, so the error stays the user's error."""

    def cannot(*args, **kwargs):
        raise ConfigError(None, "cluster 3 holds rows of the unseen test clusters")

    monkeypatch.setattr(verify_module, "remake", cannot)
    with pytest.raises(ConfigError, match="cluster 3"):
        verify_folder(folder, progress=False)
    with_extra_file(folder, "clusters/assignment.parquet", b"recorded clusters")
    result = verify_folder(folder, progress=False)
    (named,) = result.problems
    assert named.startswith("the data cannot be re-made") and "cluster 3 holds rows" in named
    assert cells(result) == {s: ("ok", "not re-made") for s in SPLITS}


def test_the_re_embedding_agreement_is_noted(folder, monkeypatch):

    meta = meta_of(folder)
    agreement = {"agree": 7, "sample": 9, "share": 7 / 9, "model": "tiny-embedder"}
    monkeypatch.setattr(verify_module, "remake", recorded_remake(meta, folder, reembedding=agreement))
    result = verify_folder(folder, progress=False)
    assert result.ok and len(result.notes) == 1
    assert "7 of 9" in result.notes[0] and "tiny-embedder" in result.notes[0]
    monkeypatch.setattr(verify_module, "remake", recorded_remake(meta, folder, reembedding={"skipped": "no model here"}))
    result = verify_folder(folder, progress=False)
    assert result.ok and len(result.notes) == 1 and "no model here" in result.notes[0]
    assert "7 of 9" not in result.notes[0]


@pytest.mark.parametrize("package", ["0.9.1", None])
def test_data_of_a_generator_version_this_code_does_not_keep(folder, package):
    """Not re-made (this code keeps other generator versions' behaviour): each split says so, and the finding
    names the generator version and what to install, the recorded package version where there is one."""
    meta = meta_of(folder)
    meta["generator_version"] = "0.9"
    meta.pop("package_version")
    if package:
        meta["package_version"] = package
    write_meta(folder, meta)
    result = verify_folder(folder, progress=False)
    assert cells(result) == {s: ("ok", "not re-made (generator version)") for s in SPLITS}
    (named,) = result.problems
    assert "generator version 0.9" in named
    if package:
        assert f"(package {package})" in named and f"install instruction-diversity=={package} " in named
    else:
        assert "package" not in named and "==" not in named and "install the release that made it" in named
