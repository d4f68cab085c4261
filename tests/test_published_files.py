"""What a publish writes and what a pull accepts, file by file.

- The local hub is laid out like Hub repos, one folder per repository: adding a version writes inside that
  repository's folder only, never the same version twice, never a removed version's number, and a leftover of
  an older run in ``versions/`` is neither followed nor in the way.
- A dataset folder publishes exactly the files its ``datagen.json`` lists, at any depth; anything else refuses the
  push with every stray thing named once (a folder once, not each of its files).
- On the Hub, the content of a version is what could have been published: a hidden file (which no publish sends)
  is not part of it; and the SHA-256 the Hub lists for each file ``datagen.json`` records (data or extra file)
  must agree with the record.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hub_server import serve

from core.errors import ConfigError
from publishing.cli import main, stage_dataset
from publishing.localhub import LocalHub
from publishing.targets import HubTarget, publish_folder


@pytest.fixture
def hub(monkeypatch, tmp_path):
    yield from serve(monkeypatch, tmp_path)


def run(*args, ok: bool = True):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def some_files(dest: Path, note: str) -> Path:
    (dest / "data").mkdir(parents=True)
    (dest / "config.json").write_text(json.dumps({"note": note}))
    (dest / "data" / "weights.bin").write_bytes(note.encode() * 10)
    return dest


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- the local hub --------------------------------------------------------------------------------------------------


def test_a_version_is_written_inside_its_own_repository_only(tmp_path):
    """One folder per repository, per kind (datasets/ and models/, as on the Hub): adding a model's version makes
    no dataset repository, and adding a dataset's makes no other one."""
    hub = LocalHub(tmp_path / "hub")
    hub.add_version(some_files(tmp_path / "m", "model"), "org/m", "v0.1.0", "model")
    hub.add_version(some_files(tmp_path / "d", "dataset"), "org/d", "v1.0.0")
    assert hub.repos("model") == ["org/m"] and hub.repos("dataset") == ["org/d"]
    tops = {p.relative_to(hub.root).parts[:3] for p in hub.root.rglob("*") if len(p.relative_to(hub.root).parts) >= 3}
    assert tops == {("models", "org", "m"), ("datasets", "org", "d")}
    assert tree(hub.path("org/m", "v0.1.0", "model")) == tree(tmp_path / "m")


@pytest.mark.parametrize("repo_type", ["dataset", "model"])
def test_a_version_number_names_one_content_for_good(tmp_path, repo_type):
    """Adding a version that exists, or one that was removed, is refused naming the version (the field at fault):
    a version number is never given to other content."""
    hub = LocalHub(tmp_path / "hub")
    hub.add_version(some_files(tmp_path / "one", "one"), "org/x", "v1.0.0", repo_type)
    with pytest.raises(ConfigError) as err:
        hub.add_version(some_files(tmp_path / "two", "two"), "org/x", "v1.0.0", repo_type)
    assert err.value.field == "version" and "already has version v1.0.0" in str(err.value)
    hub.remove_version("org/x", "v1.0.0", repo_type)
    with pytest.raises(ConfigError) as err:
        hub.add_version(some_files(tmp_path / "three", "three"), "org/x", "v1.0.0", repo_type)
    assert err.value.field == "version" and "v1.0.0 was removed" in str(err.value)
    assert hub.versions("org/x", repo_type) == []
    assert hub.add_version(tmp_path / "three", "org/x", "v1.1.0", repo_type).name == "v1.1.0"


def test_a_leftover_temporary_that_is_a_link_is_neither_followed_nor_in_the_way(tmp_path):
    """Clearing an older run's temporaries in versions/ never deletes through a link planted there, and a leftover
    it cannot clear does not stop the publish."""
    hub = LocalHub(tmp_path / "hub")
    versions = hub.repo_dir("org/d") / "versions"
    versions.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    (versions / ".tmp-v1.0.0-old").symlink_to(outside, target_is_directory=True)
    hub.add_version(some_files(tmp_path / "d", "d"), "org/d", "v1.0.0")
    assert hub.versions("org/d") == ["v1.0.0"] and (outside / "keep.txt").read_text() == "mine"


# -- a dataset folder: exactly what datagen.json lists ----------------------------------------------------------------


def test_stray_things_are_each_named_once_and_nothing_is_published(tiny_dataset, tmp_path):
    """An unlisted folder is named once (not each file in it), and strays that come after it are named too."""
    folder = tmp_path / "ds"
    shutil.copytree(tiny_dataset, folder)
    (folder / "aa_notes").mkdir()
    (folder / "aa_notes" / "one.txt").write_text("1")
    (folder / "aa_notes" / "two.txt").write_text("2")
    (folder / "zz.txt").write_text("z")
    res = run("push", "--from-folder", folder, "--local-name", "tiny", ok=False)
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert "unlisted aa_notes/" in res.output and "unlisted zz.txt" in res.output
    assert "one.txt" not in res.output and "two.txt" not in res.output
    assert not LocalHub.default().exists("local/tiny")


def with_extra_file(tiny_dataset: Path, dest: Path, rel: str, data: bytes) -> Path:
    """A copy of the tiny dataset whose datagen.json also lists the extra file ``rel`` with its SHA-256."""
    shutil.copytree(tiny_dataset, dest)
    (dest / rel).parent.mkdir(parents=True, exist_ok=True)
    (dest / rel).write_bytes(data)
    meta = json.loads((dest / "datagen.json").read_text())
    meta["extra_files"] = {rel: hashlib.sha256(data).hexdigest()}
    (dest / "datagen.json").write_text(json.dumps(meta, indent=2))
    return dest


def test_a_listed_file_in_a_nested_folder_is_published(tiny_dataset, tmp_path):
    """datagen.json may list an extra file at any depth: the push publishes it, and exactly the listed files."""
    folder = with_extra_file(tiny_dataset, tmp_path / "ds", "notes/2024/about.txt", b"how this was made\n")
    run("push", "--from-folder", folder, "--local-name", "tiny", "--quiet")
    published = LocalHub.default().path("local/tiny")
    meta = json.loads((folder / "datagen.json").read_text())
    listed = [f for s in meta["splits"].values() for f in s["files"]] + ["notes/2024/about.txt"]
    assert sorted(tree(published)) == sorted(["README.md", "datagen.json", *listed])
    assert tree(published)["notes/2024/about.txt"] == b"how this was made\n"


# -- the Hub --------------------------------------------------------------------------------------------------------


def test_a_hidden_file_in_a_hub_version_is_not_content(hub, tmp_path):
    """No publish sends a hidden file, so one that other tools put into a tagged version (a .gitignore) does not
    make the same model folder "other content": publishing it again is the no-op, not a new version."""
    model = some_files(tmp_path / "model", "weights")
    first = publish_folder(model, "org/m", target=HubTarget(), repo_type="model")
    repo = hub.repo("org/m", "model")
    repo.tags[first.version] = hub.add_entry("org/m", ".gitignore", b"*.tmp\n", repo_type="model")
    again = publish_folder(model, "org/m", target=HubTarget(), repo_type="model")
    assert (again.version, again.created) == (first.version, False)
    assert list(repo.tags) == [first.version]


def test_pull_compares_the_hubs_listing_of_every_recorded_file_with_the_record(hub, tiny_dataset, tmp_path):
    """A data file and an extra file (as a pool's recorded clusters) whose bytes on the Hub are not the recorded
    ones: the pull names, for each, the SHA-256 the Hub lists for it against datagen.json's, and writes nothing."""
    rel = "clusters/assignment.parquet"
    folder = with_extra_file(tiny_dataset, tmp_path / "ds", rel, b"the recorded clusters")
    (folder / rel).write_bytes(b"other clusters")  # after the record was made
    data = json.loads((folder / "datagen.json").read_text())["splits"]["train"]["files"][0]
    changed = bytearray((folder / data).read_bytes())
    changed[0] ^= 1
    (folder / data).write_bytes(bytes(changed))
    HubTarget().upload(folder, "org/tiny", "v1.0.0", "dataset", False, "damaged files")
    out = tmp_path / "pulled"
    res = run("pull", "org/tiny", "--revision", "v1.0.0", "-o", out, ok=False)
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1, res.output
    for f in (rel, data):
        assert f"{f}: the Hub lists SHA-256 {hashlib.sha256((folder / f).read_bytes()).hexdigest()[:16]}" in res.output
    assert not out.exists()


def test_a_pull_takes_files_at_any_depth_and_names_the_repository_it_refuses(hub, tmp_path):
    """A model whose files sit two folders deep (a TensorBoard run's event files) pulls whole; a repository
    listing a name that could land outside the folder is refused in one line naming the repository and the
    name, and nothing is written."""
    model = some_files(tmp_path / "model", "weights")
    (model / "runs" / "Dec01" / "events.out.tfevents.1.host").parent.mkdir(parents=True)
    (model / "runs" / "Dec01" / "events.out.tfevents.1.host").write_bytes(b"tb")
    publish_folder(model, "org/m", target=HubTarget(), repo_type="model")
    out = tmp_path / "pulled"
    run("pull", "org/m", "--repo-type", "model", "-o", out)
    assert {p: b for p, b in tree(out).items() if p != ".gitattributes"} == tree(model)

    hub.add_entry("org/m", "../escape.txt", b"x", repo_type="model")
    res = run("pull", "org/m", "--repo-type", "model", "-o", tmp_path / "again", ok=False)
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1
    assert "org/m" in res.output and "'../escape.txt'" in res.output
    assert not (tmp_path / "again").exists() and not (tmp_path / "escape.txt").exists()


@pytest.mark.parametrize("name", [".git", ".cache"])
def test_a_git_or_cache_entry_at_the_top_is_refused(hub, tmp_path, name):
    """A ``.git`` file (git follows one to another repository) or ``.cache`` at the top of a repository: refused
    in one line naming it, as anything under those folders is, and nothing is written."""
    publish_folder(some_files(tmp_path / "model", "weights"), "org/m", target=HubTarget(), repo_type="model")
    hub.add_entry("org/m", name, b"gitdir: /elsewhere\n", repo_type="model")
    res = run("pull", "org/m", "--repo-type", "model", "-o", tmp_path / "pulled", ok=False)
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
    assert f"{name!r}" in res.output and "refused" in res.output
    assert not (tmp_path / "pulled").exists()


def test_a_commit_on_a_branch_that_moved_meanwhile_is_made_again_from_a_fresh_listing(hub, tmp_path):
    """Another writer commits between our listing of the branch and our commit: ours, made on top of the head we
    listed, is refused by the Hub (and retried from a fresh listing), so the new version holds exactly the
    folder's files, none of the other writer's."""
    publish_folder(some_files(tmp_path / "one", "one"), "org/m", target=HubTarget(), repo_type="model")
    target = HubTarget()
    real, moved = target.api.list_repo_files, []

    def listing_then_another_commit(*args, **kwargs):
        out = real(*args, **kwargs)
        if not moved:
            moved.append(hub.add_entry("org/m", "theirs.txt", b"another writer", repo_type="model"))
        return out

    target.api.list_repo_files = listing_then_another_commit
    two = some_files(tmp_path / "two", "two")
    done = publish_folder(two, "org/m", target=target, repo_type="model")
    assert moved and done.version == "v1.1.0"
    assert set(hub.files("org/m", done.version, "model")) == set(tree(two)) | {".gitattributes"}


def test_a_damaged_newest_version_does_not_block_the_next(tiny_dataset, tmp_path):
    """The newest local version's datagen.json damaged after it was published (a split's row count gone): it is
    not this folder's content, so the push publishes the next version instead of stopping at the damage."""
    hub = LocalHub.default()
    run("push", "--from-folder", tiny_dataset, "--local-name", "tiny", "--quiet")
    ident = hub.path("local/tiny", "v1.0.0") / "datagen.json"
    meta = json.loads(ident.read_text())
    del meta["splits"]["train"]["rows"]
    ident.write_text(json.dumps(meta))
    other = some_files(tmp_path / "new", "new")
    assert publish_folder(other, "local/tiny").version == "v1.1.0"
    assert tree(hub.path("local/tiny", "v1.1.0")) == tree(other)


@pytest.mark.parametrize("repo_type", ["dataset", "model"])
def test_the_next_version_follows_the_bump_and_skips_removed_numbers(tmp_path, repo_type):
    """Without --version: the next minor version, or major / patch as asked, after the newest version that exists
    or was removed (a removed number named other content once); an existing version with other content is
    refused naming the version."""
    def publish(note: str, **kwargs):
        return publish_folder(some_files(tmp_path / note, note), "local/x", repo_type=repo_type, **kwargs).version

    assert publish("one") == "v1.0.0"
    assert publish("two", bump="patch") == "v1.0.1"
    assert publish("three", bump="major") == "v2.0.0"
    LocalHub.default().remove_version("local/x", "v2.0.0", repo_type)
    assert publish("four") == "v2.1.0"
    with pytest.raises(ConfigError) as err:
        publish("five", version="v1.0.1")
    assert err.value.field == "version" and "v1.0.1 already exists with other content" in str(err.value)


def test_publish_folder_refuses_a_link_and_a_special_file_whatever_the_caller(tmp_path):
    """publish_folder's own promise, for any caller (not only `datagen push`, which stages first): a symlink or a
    special file in the folder is refused and named, never followed or silently left out; nothing is published."""
    model = some_files(tmp_path / "model", "weights")
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    (model / "vocab.json").symlink_to(outside)
    os.mkfifo(model / "pipe")
    with pytest.raises(ConfigError) as err:
        publish_folder(model, "local/m", repo_type="model")
    assert "vocab.json" in str(err.value) and "pipe" in str(err.value)
    assert not LocalHub.default().exists("local/m", "model")


def test_a_listed_file_that_is_missing_refuses_the_push(tiny_dataset, tmp_path):
    folder = tmp_path / "ds"
    shutil.copytree(tiny_dataset, folder)
    gone = json.loads((folder / "datagen.json").read_text())["splits"]["test_seen"]["files"][0]
    (folder / gone).unlink()
    res = run("push", "--from-folder", folder, "--local-name", "tiny", ok=False)
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1 and gone in res.output, res.output
    assert "lacks" in res.output and not LocalHub.default().exists("local/tiny")


def test_a_dataset_is_staged_into_a_new_folder_at_any_depth(tiny_dataset, tmp_path):
    """A release stages each config's dataset in its own folder under one staging folder made for it: the
    folders are made, and they hold exactly datagen.json (as read) and the listed files."""
    dest = tmp_path / "stage" / "I8"
    stage_dataset(tiny_dataset, dest)
    meta = json.loads((tiny_dataset / "datagen.json").read_text())
    listed = [f for s in meta["splits"].values() for f in s["files"]]
    assert tree(dest) == {f: (tiny_dataset / f).read_bytes() for f in ["datagen.json", *listed]}


def test_names_equal_but_for_letter_case_are_each_named(tmp_path):
    model = some_files(tmp_path / "model", "weights")
    (model / "Config.json").write_text("{}")
    with pytest.raises(ConfigError) as err:
        publish_folder(model, "local/m", repo_type="model")
    assert "Config.json" in str(err.value) and "config.json" in str(err.value) and "letter case" in str(err.value)
