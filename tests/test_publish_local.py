"""The local hub end to end: datagen push / pull / verify / list, load_dataset, immutability, interrupted pushes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from core.errors import ConfigError
from publishing.cli import main
from publishing.loading import load_splits, resolve_splits
from publishing.localhub import LocalHub
from publishing.resolve import resolve
from publishing.targets import LocalTarget, publish_folder

SPLITS = ["train", "validation", "test_unseen", "test_seen"]


def run(*args: str, ok: bool = True):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def rows(dd: datasets.DatasetDict) -> dict[str, list[dict]]:
    return {s: dd[s].to_list() for s in SPLITS}


def version_dir(name: str, version: str) -> Path:
    return LocalHub.default().repo_dir(name) / "versions" / version


@pytest.fixture
def other_config(tmp_path) -> Path:
    """The conftest's tiny config with another seed: other rows, same shape."""
    from conftest import TINY

    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump({**TINY, "seed": 2}), encoding="utf-8")
    return path


def test_push_tiny_preset_prints_where_and_how_to_load():
    out = run("push", "tiny", "--quiet").output
    folder = version_dir("local/rewrite-tiny", "v1.0.0")
    assert "published local/rewrite-tiny v1.0.0" in out
    assert f'load_dataset("{folder}")' in out
    dd = datasets.load_dataset(str(folder))
    assert {s: dd[s].num_rows for s in SPLITS} == {"train": 1000, "validation": 200, "test_unseen": 200, "test_seen": 200}
    assert (LocalHub.default().repo_dir("local/rewrite-tiny") / "LATEST").read_text().strip() == "v1.0.0"


def test_push_pull_load_verify_list(tiny_dataset, tmp_path):
    run("push", "--from-folder", tiny_dataset, "--local-name", "tiny", "--quiet")
    published = version_dir("local/tiny", "v1.0.0")
    assert sorted(p.relative_to(published).as_posix() for p in published.rglob("*") if p.is_file()) == [
        "README.md", "data/test_seen-00000-of-00001.parquet", "data/test_unseen-00000-of-00001.parquet",
        "data/train-00000-of-00001.parquet", "data/validation-00000-of-00001.parquet", "datagen.json",
    ]
    assert (tiny_dataset / "README.md").read_text() != (published / "README.md").read_text()  # re-rendered copy

    out = tmp_path / "pulled"
    pulled = run("pull", "local/tiny", "--revision", "v1.0.0", "-o", out).output
    assert f'load_dataset("{out}")' in pulled
    source = rows(datasets.load_dataset(str(tiny_dataset)))
    assert rows(datasets.load_dataset(str(out))) == source
    assert rows(datasets.load_dataset(str(published))) == source
    dd, r = resolve_splits("local/tiny", "v1.0.0", ["train"])
    assert list(dd) == ["train"] and dd["train"].to_list() == source["train"]
    assert r.describe() == {"source": "local", "repo_id": "local/tiny", "revision": "v1.0.0",
                            "fingerprint": json.loads((tiny_dataset / "datagen.json").read_text())["fingerprint"]}

    verified = run("verify", "local/tiny", "--revision", "v1.0.0", "--quiet").output
    assert "verified local/tiny v1.0.0" in verified and verified.count(" ok ") == len(SPLITS)

    listed = run("list").output
    assert "local/tiny" in listed and "v1.0.0" in listed
    assert json.loads(run("list", "--json").output)["datasets"][0]["versions"] == ["v1.0.0"]
    # pulling into a non-empty folder is refused
    assert "not empty" in run("pull", "local/tiny", "-o", out, ok=False).output


def _tamper(parquet: Path) -> None:
    table = pq.read_table(parquet)
    outputs = table.column("output").to_pylist()
    outputs[3] = outputs[3] + "x"
    table = table.set_column(table.schema.get_field_index("output"), "output", pa.array(outputs, pa.string()))
    pq.write_table(table, parquet)


def test_verify_detects_a_tampered_shard(tiny_dataset):
    run("push", "--from-folder", tiny_dataset, "--local-name", "tiny", "--quiet")
    _tamper(version_dir("local/tiny", "v1.0.0") / "data/test_unseen-00000-of-00001.parquet")
    result = run("verify", "local/tiny", "--quiet", ok=False)
    assert result.exit_code == 1
    assert "split 'test_unseen': the published parquet files hold" in result.output
    assert "split 'train'" not in result.output  # names the split that differs, only that one
    assert "FAILED" in result.output


def test_verify_says_when_the_generator_version_differs(tiny_dataset, tmp_path):
    folder = tmp_path / "old"
    shutil.copytree(tiny_dataset, folder)
    meta = json.loads((folder / "datagen.json").read_text())
    (folder / "datagen.json").write_text(json.dumps({**meta, "generator_version": "0.9"}))
    result = run("verify", folder, "--quiet", ok=False)
    assert result.exit_code == 1
    assert "generator version 0.9" in result.output and "install instruction-diversity==" in result.output


def test_versions_are_immutable_and_bumped(tiny_dataset, other_config):
    run("push", "--from-folder", tiny_dataset, "--local-name", "tiny", "--quiet")
    again = run("push", "--from-folder", tiny_dataset, "--local-name", "tiny", "--quiet").output
    assert "already holds this data" in again
    explicit = run("push", "--from-folder", tiny_dataset, "--local-name", "tiny", "--version", "1.0.0", "--quiet")
    assert "already holds this data" in explicit.output
    hub = LocalHub.default()
    assert hub.versions("local/tiny") == ["v1.0.0"]

    refused = run("push", other_config, "--local-name", "tiny", "--version", "v1.0.0", "--quiet", ok=False)
    assert refused.exit_code != 0 and "already exists with other content" in refused.output
    assert hub.versions("local/tiny") == ["v1.0.0"]

    bumped = run("push", other_config, "--local-name", "tiny", "--quiet").output
    assert "published local/tiny v1.1.0" in bumped
    assert run("push", other_config, "--local-name", "tiny", "--bump", "major", "--quiet").output.startswith(
        "local/tiny v1.1.0 already holds"
    )
    assert hub.versions("local/tiny") == ["v1.0.0", "v1.1.0"] and hub.latest("local/tiny") == "v1.1.0"
    assert resolve("local/tiny").revision == "v1.1.0"
    # the old version is untouched
    old = json.loads((version_dir("local/tiny", "v1.0.0") / "datagen.json").read_text())
    assert old["fingerprint"] == json.loads((tiny_dataset / "datagen.json").read_text())["fingerprint"]


def test_interrupted_push_leaves_no_version_and_a_retry_completes(tiny_dataset, monkeypatch):
    real_copytree = shutil.copytree
    copied: list[str] = []

    def copy(s, d):
        if len(copied) == 2:
            raise OSError("disk full (simulated)")
        copied.append(s)
        return shutil.copy2(s, d)

    def crash_midway(src, dst, *args, **kwargs):
        if args:  # shutil's own recursion into a sub-folder: copy_function is already ours
            return real_copytree(src, dst, *args, **kwargs)
        return real_copytree(src, dst, copy_function=copy, **kwargs)

    monkeypatch.setattr("publishing.localhub.shutil.copytree", crash_midway)
    with pytest.raises(OSError, match="simulated"):
        publish_folder(tiny_dataset, "local/tiny")
    hub = LocalHub.default()
    repo = hub.repo_dir("local/tiny")
    assert len(copied) == 2 and hub.versions("local/tiny") == [] and not (repo / "LATEST").exists()
    assert [p.name for p in (repo / "versions").iterdir()] == []
    with pytest.raises(ConfigError, match="neither a folder nor"):
        resolve("tiny")

    # a process killed mid-copy leaves a partial temporary folder: it is never a version, and is cleared
    partial = repo / "versions" / ".tmp-v1.0.0-killed"
    (partial / "data").mkdir(parents=True)
    shutil.copy2(tiny_dataset / "datagen.json", partial / "datagen.json")
    assert hub.versions("local/tiny") == [] and hub.latest("local/tiny") is None

    monkeypatch.setattr("publishing.localhub.shutil.copytree", real_copytree)
    done = publish_folder(tiny_dataset, "local/tiny")
    assert (done.version, done.created) == ("v1.0.0", True)
    assert not partial.exists() and (repo / "LATEST").read_text().strip() == "v1.0.0"
    assert run("verify", "local/tiny", "--quiet", "--no-remake").exit_code == 0


def test_interrupted_push_keeps_latest_on_the_previous_version(tiny_dataset, other_config, tmp_path, monkeypatch):
    from generators.build import generate
    from generators.config import load_config

    other = tmp_path / "other"
    generate(load_config(other_config), other, progress=False)
    publish_folder(tiny_dataset, "local/tiny")

    def crash(src, dst, **kwargs):
        Path(dst).mkdir(parents=True)
        raise KeyboardInterrupt

    with monkeypatch.context() as m, pytest.raises(KeyboardInterrupt):
        m.setattr("publishing.localhub.shutil.copytree", crash)
        publish_folder(other, "local/tiny")
    hub = LocalHub.default()
    assert hub.versions("local/tiny") == ["v1.0.0"] and hub.latest("local/tiny") == "v1.0.0"
    assert publish_folder(other, "local/tiny").version == "v1.1.0"
    assert hub.latest("local/tiny") == "v1.1.0"


def test_user_errors_are_one_clear_line(tiny_dataset):
    assert "one of them" in run("push", ok=False).output
    assert "org/name" in run("push", "tiny", "--repo-id", "nameonly", ok=False).output
    assert "not a semantic version" in run("push", "--from-folder", tiny_dataset, "--version", "1.0", ok=False).output
    missing = run("verify", "local/nothing", ok=False)  # the local namespace never falls back to the Hub
    assert missing.exit_code == 2 and "no dataset 'local/nothing' in the local hub" in missing.output


def test_local_target_versions_models_too(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"n_layer": 2}')
    (model / "model.safetensors").write_bytes(b"\x00weights")
    first = publish_folder(model, "local/tiny-gpt2", repo_type="model", version="v0.1.0")
    assert first.created and publish_folder(model, "local/tiny-gpt2", repo_type="model").created is False
    (model / "model.safetensors").write_bytes(b"\x00other weights")
    with pytest.raises(ConfigError, match="other content"):
        publish_folder(model, "local/tiny-gpt2", repo_type="model", version="v0.1.0")
    assert LocalTarget().versions("local/tiny-gpt2", "model") == ["v0.1.0"]
    assert resolve("local/tiny-gpt2", repo_type="model").path == Path(first.location)


def test_adding_a_version_that_exists_never_replaces_it(tmp_path):
    """The local hub's last guard of immutability (a publish that lost a race with another reaches it after
    choosing its version): the existing version keeps its files, however the version is written."""
    hub = LocalHub(tmp_path / "hub")
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, text in ((first, "first"), (second, "second")):  # laid out as datasets: datagen.json, data/
        (folder / "data").mkdir(parents=True)
        (folder / "datagen.json").write_text(json.dumps({"name": text}))
        (folder / "data" / "train-00000-of-00001.parquet").write_text(text)
    hub.add_version(first, "org/d", "v1.0.0")
    for version in ("v1.0.0", "1.0.0"):
        with pytest.raises(ConfigError, match="already has version v1.0.0"):
            hub.add_version(second, "org/d", version)
    kept = hub.path("org/d", "v1.0.0")
    assert {p.relative_to(kept).as_posix(): p.read_text() for p in kept.rglob("*") if p.is_file()} == {
        "datagen.json": '{"name": "first"}', "data/train-00000-of-00001.parquet": "first"}
    assert hub.versions("org/d") == ["v1.0.0"]


def test_same_named_version_folders_do_not_share_a_datasets_cache_entry(tiny_dataset, other_config):
    """datasets keys its cache of a card-configured folder by folder name + config: the card's config names the
    fingerprint so that every local hub folder called v1.0.0 is not served the first one's rows."""
    run("push", "--from-folder", tiny_dataset, "--local-name", "a", "--quiet")
    run("push", other_config, "--local-name", "b", "--quiet")
    a, b = version_dir("local/a", "v1.0.0"), version_dir("local/b", "v1.0.0")
    assert rows(datasets.load_dataset(str(a))) == rows(datasets.load_dataset(str(tiny_dataset)))
    assert rows(datasets.load_dataset(str(b))) != rows(datasets.load_dataset(str(a)))
    assert rows(load_splits("local/b")) == rows(datasets.load_dataset(str(b)))


def test_load_splits_of_a_relative_folder(tiny_dataset, tmp_path, monkeypatch):
    import shutil

    from publishing.loading import resolve_splits

    shutil.copytree(tiny_dataset, tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    dd, resolved = resolve_splits("data", splits=["train", "test_unseen"])
    assert resolved.kind == "folder" and dd["train"].num_rows == 192 and dd["test_unseen"].num_rows == 32


def test_load_splits_returns_what_load_dataset_returns(tiny_dataset):
    """TRL's convention (issue 13.6): load_splits gives a datasets.DatasetDict, as load_dataset does; where the
    data was found comes from resolve_splits beside it."""
    dd = load_splits(str(tiny_dataset))
    reference = datasets.load_dataset(str(tiny_dataset))
    assert isinstance(dd, datasets.DatasetDict) and sorted(dd) == sorted(reference)
    assert all(dd[s].to_list() == reference[s].to_list() for s in reference)
    again, resolved = resolve_splits(str(tiny_dataset), splits=["train"])
    meta = json.loads((tiny_dataset / "datagen.json").read_text())
    assert isinstance(again, datasets.DatasetDict) and list(again) == ["train"]
    assert resolved.kind == "folder" and resolved.fingerprint == meta["fingerprint"]


def test_a_damaged_folder_is_not_published(tiny_dataset, tmp_path):
    """push --from-folder re-fingerprints the files first: a published version can never be fixed later."""
    tampered = tmp_path / "tampered"
    shutil.copytree(tiny_dataset, tampered)
    _tamper(tampered / "data/test_seen-00000-of-00001.parquet")
    res = run("push", "--from-folder", tampered, "--local-name", "tampered", ok=False)
    assert res.exit_code == 2 and "does not hold the data its datagen.json records" in res.output
    assert "split 'test_seen'" in res.output and "Traceback" not in res.output
    stray = tmp_path / "stray"
    shutil.copytree(tiny_dataset, stray)
    (stray / "data/train-99.parquet").write_bytes(b"hi")  # load_dataset's train-* glob would read it
    res = run("push", "--from-folder", stray, "--local-name", "tampered", ok=False)
    assert res.exit_code == 2 and "unlisted data/train-99.parquet" in res.output
    assert LocalHub.default().versions("local/tampered") == []
    run("push", "--from-folder", tiny_dataset, "--local-name", "tampered", "--quiet")  # the intact folder publishes


def test_verify_names_damage_instead_of_crashing(tiny_dataset, tmp_path):
    folder = tmp_path / "garbage"
    shutil.copytree(tiny_dataset, folder)
    (folder / "data/train-00000-of-00001.parquet").write_text("garbage")
    res = run("verify", folder, "--no-remake", "--quiet", ok=False)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "split 'train': its published files cannot be fingerprinted" in res.output
    assert "data/train-00000-of-00001.parquet is not a readable parquet file" in res.output
    (folder / "README.md").write_text("---\n: [unclosed\n---\n")
    assert "README.md (the card) cannot be read" in run("verify", folder, "--no-remake", "--quiet", ok=False).output
    meta = json.loads((folder / "datagen.json").read_text())
    del meta["splits"]["train"]["fingerprint"]
    (folder / "datagen.json").write_text(json.dumps(meta))
    res = run("verify", folder, "--no-remake", "--quiet", ok=False)
    assert res.exit_code == 2 and "datagen.json is damaged: split 'train' lacks its rows or fingerprint" in res.output


def test_an_interrupted_pull_leaves_no_folder(tiny_dataset, tmp_path, monkeypatch):
    run("push", "--from-folder", tiny_dataset, "--local-name", "tiny", "--quiet")
    out = tmp_path / "pulled"

    def fail_half_way(self, repo_id, revision, repo_type, dest):
        (Path(dest) / "data").mkdir(exist_ok=True)
        (Path(dest) / "data" / "train-00000-of-00001.parquet").write_bytes(b"half")
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(LocalTarget, "download", fail_half_way)
        assert run("pull", "local/tiny", "-o", out, ok=False).exit_code != 0  # click: KeyboardInterrupt -> Abort
    assert [p.name for p in tmp_path.iterdir() if "pulled" in p.name] == []  # nothing looking finished, no temporary
    run("pull", "local/tiny", "-o", out)  # so the retry is not refused
    assert rows(datasets.load_dataset(str(out))) == rows(datasets.load_dataset(str(tiny_dataset)))
    assert "is a file" in run("pull", "local/tiny", "-o", out / "datagen.json", ok=False).output


def test_list_names_a_damaged_entry_and_lists_the_rest(tiny_dataset, other_config):
    run("push", "--from-folder", tiny_dataset, "--local-name", "good", "--quiet")
    run("push", other_config, "--local-name", "bad", "--quiet")
    ident = version_dir("local/bad", "v1.0.0") / "datagen.json"
    meta = json.loads(ident.read_text())
    del meta["splits"]["train"]["rows"]
    ident.write_text(json.dumps(meta))
    res = run("list")
    assert "Traceback" not in res.output
    good = next(ln for ln in res.output.splitlines() if "local/good" in ln)
    bad = next(ln for ln in res.output.splitlines() if "local/bad" in ln)
    assert "rows  fingerprint" in good and "DAMAGED" not in good
    assert "DAMAGED" in bad and "datagen.json is damaged: split 'train' lacks its rows" in bad
    listed = json.loads(run("list", "--json").output)["datasets"]
    assert [(d["repo_id"], bool(d["damaged"])) for d in listed] == [("local/bad", True), ("local/good", False)]
    ident.write_text("{ not json")
    assert "cannot be read" in run("list").output


@pytest.mark.parametrize("damage", ["report", "config", "instruction_space"])
def test_inspect_names_a_damaged_datagen_json(tiny_dataset, tmp_path, damage):
    folder = tmp_path / "ds"
    shutil.copytree(tiny_dataset, folder)
    meta = json.loads((folder / "datagen.json").read_text())
    del meta[damage]
    (folder / "datagen.json").write_text(json.dumps(meta))
    for args in ([], ["--json"]):
        needed = damage == "report" or not args  # --json prints only the report
        res = run("inspect", folder, *args, ok=not needed)
        if needed:
            assert res.exit_code == 2 and "Traceback" not in res.output
            assert f"datagen.json is damaged: it lacks its {damage!r} field" in res.output
            assert len(res.output.strip().splitlines()) == 1
