"""The Hub path (``HfApi``) against an in-memory stand-in for the Hub's HTTP API, without the network.

What this proves: our calls into the real ``huggingface_hub`` / ``datasets`` client code, their order and
payloads (repo creation, card validation, preupload, LFS upload, one NDJSON commit holding exactly the dataset,
the version tag on that commit), and that pull / verify / ``load_dataset(repo, revision=...)`` read it back.
What it does not prove: the real Hub's metadata validation, auth and permissions, rate limits, Xet storage,
multi-part and very large uploads (see tests/hub_server.py).
"""

from __future__ import annotations

import json
import re

import datasets
import pytest
import yaml
from click.testing import CliRunner
from hub_server import HubServer, serve
from huggingface_hub import DatasetCard

from core.errors import ConfigError
from publishing.cli import main
from publishing.loading import resolve_splits
from publishing.resolve import resolve
from publishing.targets import HubTarget, publish_folder

SPLITS = ["train", "validation", "test_unseen", "test_seen"]


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A fresh Hub stand-in; huggingface_hub and datasets are pointed at it and given its token."""
    yield from serve(monkeypatch, tmp_path)


def run(*args, ok: bool = True):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def local_files(folder) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def meta_of(folder) -> dict:
    return json.loads((folder / "datagen.json").read_text())


@pytest.fixture
def other_config(tmp_path):
    from conftest import TINY

    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump({**TINY, "seed": 2}), encoding="utf-8")
    return path


def test_push_commits_the_dataset_and_card_then_tags_the_commit(hub, tiny_dataset):
    out = run("push", "--from-folder", tiny_dataset, "--repo-id", "org/tiny", "--version", "v1.0.0", "--quiet").output
    assert 'load_dataset("org/tiny", revision="v1.0.0")' in out

    repo = hub.repo("org/tiny")
    assert not repo.private
    # the tag points at the one commit the push made, on top of the repo's initial commit
    assert repo.tags == {"v1.0.0": repo.branches["main"]}
    tagged = repo.commits[repo.tags["v1.0.0"]]
    assert repo.commits[tagged.parent].parent is None and "v1.0.0" in tagged.title
    files = hub.files("org/tiny", "v1.0.0")
    mine = local_files(tiny_dataset)
    assert set(files) == set(mine) | {".gitattributes"}
    for path in mine:
        if path != "README.md":  # the card is rendered for the repo and version
            assert files[path] == mine[path], path
    assert all(tagged.files[p].lfs for p in files if p.endswith(".parquet"))  # parquet went through LFS
    assert tagged.files["README.md"].lfs is None and tagged.files["datagen.json"].lfs is None

    # the card's YAML, parsed back
    card = DatasetCard(files["README.md"].decode())
    data = card.data.to_dict()
    assert data["license"] == "cc-by-4.0" and "instruction-diversity" in data["tags"]
    assert data["configs"][0]["data_files"] == [{"split": s, "path": f"data/{s}-*"} for s in SPLITS]
    meta = meta_of(tiny_dataset)
    assert data["datagen"]["fingerprint"] == meta["fingerprint"] and data["datagen"]["version"] == "v1.0.0"
    assert 'load_dataset("org/tiny", revision="v1.0.0")' in card.text

    # the client's calls, in order: create, validate the card, preupload, LFS batch + uploads, one commit, tag
    calls = hub.endpoints()
    first = calls.index("repos/create")
    writes = [c for c in calls[first:] if c in {"repos/create", "validate-yaml", "preupload", "lfs-batch", "lfs-upload", "commit", "tag"}]
    assert writes == ["repos/create", "validate-yaml", "preupload", "lfs-batch", *["lfs-upload"] * len(SPLITS), "commit", "tag"]


def test_same_data_is_a_noop_and_other_data_is_refused(hub, tiny_dataset, other_config):
    run("push", "--from-folder", tiny_dataset, "--repo-id", "org/tiny", "--quiet")
    commits = len(hub.repo("org/tiny").commits)
    hub.calls.clear()
    again = run("push", "--from-folder", tiny_dataset, "--repo-id", "org/tiny", "--version", "v1.0.0", "--quiet")
    assert "already holds this data" in again.output
    assert len(hub.repo("org/tiny").commits) == commits and "commit" not in hub.endpoints()

    refused = run("push", other_config, "--repo-id", "org/tiny", "--version", "v1.0.0", "--quiet", ok=False)
    assert refused.exit_code == 2 and "already exists with other content" in refused.output
    assert list(hub.repo("org/tiny").tags) == ["v1.0.0"]

    bumped = run("push", other_config, "--repo-id", "org/tiny", "--quiet")
    assert "published org/tiny v1.1.0" in bumped.output
    repo = hub.repo("org/tiny")
    assert repo.tags["v1.1.0"] == repo.branches["main"] != repo.tags["v1.0.0"]
    old, new = hub.files("org/tiny", "v1.0.0"), hub.files("org/tiny", "v1.1.0")
    assert json.loads(old["datagen.json"])["fingerprint"] == meta_of(tiny_dataset)["fingerprint"]
    assert json.loads(new["datagen.json"])["fingerprint"] != meta_of(tiny_dataset)["fingerprint"]
    assert set(old) == set(new)  # no stale shard left next to the new ones


def test_a_new_version_holds_only_its_own_files(hub, tmp_path):
    """One commit holding exactly the folder: files of the previous version that the new folder lacks (a shard
    that is gone, a renamed file) are deleted in that commit, not left beside the new files; the previous
    version keeps its own."""
    one, two = tmp_path / "one", tmp_path / "two"
    (one / "data").mkdir(parents=True)
    (one / "data" / "train-00000-of-00002.parquet").write_bytes(b"first shard")
    (one / "data" / "train-00001-of-00002.parquet").write_bytes(b"second shard")
    (one / "config.json").write_text("{}")
    (two / "data").mkdir(parents=True)
    (two / "data" / "train-00000-of-00001.parquet").write_bytes(b"the only shard")
    (two / "config.json").write_text('{"v": 2}')
    target = HubTarget()
    assert publish_folder(one, "org/m", target=target, repo_type="model").version == "v1.0.0"
    assert publish_folder(two, "org/m", target=target, repo_type="model").version == "v1.1.0"
    files = hub.files("org/m", "v1.1.0", repo_type="model")
    assert set(files) == {"config.json", "data/train-00000-of-00001.parquet", ".gitattributes"}
    assert files["config.json"] == b'{"v": 2}'
    assert set(hub.files("org/m", "v1.0.0", repo_type="model")) == {
        "config.json", "data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet", ".gitattributes"}


def test_interrupted_push_leaves_no_tag_and_a_retry_completes(hub, tiny_dataset, monkeypatch):
    monkeypatch.setenv("DATAGEN_HUB_RETRIES", "0")  # the failure ends this push (see test_hub_failures for retries)
    hub.fail_next("commit")
    failed = run("push", "--from-folder", tiny_dataset, "--repo-id", "org/tiny", "--quiet", ok=False)
    assert failed.exit_code == 1 and "run the same command again" in failed.output
    repo = hub.repo("org/tiny")
    assert repo.tags == {} and set(hub.files("org/tiny", "main")) == {".gitattributes"}
    assert hub.endpoints().count("lfs-upload") == len(SPLITS)  # the shards reached storage, but no commit names them

    hub.calls.clear()
    run("push", "--from-folder", tiny_dataset, "--repo-id", "org/tiny", "--quiet")
    assert "lfs-upload" not in hub.endpoints()  # already uploaded: the retry only commits and tags
    assert repo.tags == {"v1.0.0": repo.branches["main"]} and "README.md" in hub.files("org/tiny", "v1.0.0")

    # a failure between the commit and the tag: the retry tags the same commit instead of making another
    hub.fail_next("tag")
    other = tiny_dataset.parent / "tiny-copy"
    import shutil

    shutil.copytree(tiny_dataset, other)  # another folder, same data: still the same version
    run("push", "--from-folder", other, "--repo-id", "org/tiny", "--version", "v2.0.0", "--quiet", ok=False)
    assert "v2.0.0" not in repo.tags
    head, commits = repo.branches["main"], len(repo.commits)
    run("push", "--from-folder", other, "--repo-id", "org/tiny", "--version", "v2.0.0", "--quiet")
    assert repo.tags["v2.0.0"] == head and len(repo.commits) == commits


def test_unreachable_hub_is_one_clear_line(hub, tiny_dataset, monkeypatch):
    monkeypatch.setenv("DATAGEN_HUB_RETRIES", "0")
    hub.stop()
    result = run("push", "--from-folder", tiny_dataset, "--repo-id", "org/tiny", "--quiet", ok=False)
    assert result.exit_code == 1 and "no version was tagged: run the same command again" in result.output


def test_pull_verify_and_load_from_the_hub(hub, tiny_dataset, tmp_path):
    run("push", "--from-folder", tiny_dataset, "--repo-id", "org/tiny", "--version", "v1.0.0", "--quiet")
    source = datasets.load_dataset(str(tiny_dataset))

    out = tmp_path / "pulled"
    pulled = run("pull", "org/tiny", "--revision", "v1.0.0", "-o", out).output
    assert "from the Hub" in pulled
    assert {p: b for p, b in local_files(out).items() if not p.startswith(".cache/")} == hub.files("org/tiny", "v1.0.0")
    assert datasets.load_dataset(str(out))["train"].to_list() == source["train"].to_list()

    verified = run("verify", "org/tiny", "--revision", "v1.0.0", "--quiet").output
    assert "verified org/tiny v1.0.0" in verified

    remote = datasets.load_dataset("org/tiny", revision="v1.0.0")
    assert {s: remote[s].to_list() for s in SPLITS} == {s: source[s].to_list() for s in SPLITS}
    dd, r = resolve_splits("org/tiny", "v1.0.0", ["test_unseen"])
    assert dd["test_unseen"].to_list() == source["test_unseen"].to_list()
    assert r.describe() == {"source": "hub", "repo_id": "org/tiny", "revision": "v1.0.0",
                            "fingerprint": meta_of(tiny_dataset)["fingerprint"]}
    with pytest.raises(ConfigError, match="no revision 'v9.0.0'"):
        resolve("org/tiny", "v9.0.0")
    missing = run("pull", "org/no-such-model", "--repo-type", "model", "-o", tmp_path / "m", ok=False)
    assert missing.exit_code == 2 and "not found on the Hub" in missing.output, missing.output


def test_verify_from_the_hub_names_the_split_that_differs(hub, tiny_dataset, tmp_path):
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    bad = tmp_path / "bad"
    shutil.copytree(tiny_dataset, bad)
    shard = bad / "data/train-00000-of-00001.parquet"
    table = pq.read_table(shard)
    table = table.set_column(table.schema.get_field_index("input"), "input",
                             pa.array(["z" + s for s in table.column("input").to_pylist()]))
    pq.write_table(table, shard)
    HubTarget().upload(bad, "org/bad", "v1.0.0", "dataset", False, "upload tampered data")
    result = run("verify", "org/bad", "--revision", "v1.0.0", "--quiet", ok=False)
    assert result.exit_code == 1 and "split 'train'" in result.output and "split 'test_seen'" not in result.output


def test_private_repo_and_token_handling(hub, tiny_dataset, monkeypatch):
    run("push", "--from-folder", tiny_dataset, "--repo-id", "org/secret", "--private", "--quiet")
    assert hub.repo("org/secret").private
    assert HubTarget().versions("org/secret") == ["v1.0.0"]
    assert HubTarget(token=False).versions("org/secret") == []  # invisible without the token

    monkeypatch.delenv("HF_TOKEN")
    missing = run("push", "--from-folder", tiny_dataset, "--repo-id", "org/tiny", ok=False)
    assert missing.exit_code == 2 and "set HF_TOKEN or run `hf auth login`" in missing.output
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    rejected = run("push", "--from-folder", tiny_dataset, "--repo-id", "org/tiny", ok=False)
    assert rejected.exit_code == 2 and "the Hub refused the token" in rejected.output
    assert "hf_wrong" not in rejected.output
    assert ("dataset", "org/tiny") not in hub.repos


def test_model_folders_compare_by_file_hashes_without_downloading_weights(hub, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"n_layer": 2}')
    (model / "model.safetensors").write_bytes(b"\x00" + bytes(range(256)) * 64)
    first = publish_folder(model, "org/tiny-gpt2", target=HubTarget(), repo_type="model", version="v0.1.0")
    assert first.created and re.search(r"/org/tiny-gpt2/tree/v0\.1\.0$", first.location)
    assert hub.repo("org/tiny-gpt2", "model").commits[hub.repo("org/tiny-gpt2", "model").tags["v0.1.0"]].files[
        "model.safetensors"].lfs

    hub.calls.clear()
    again = publish_folder(model, "org/tiny-gpt2", target=HubTarget(), repo_type="model")
    assert (again.version, again.created) == ("v0.1.0", False)
    downloaded = [c for c in hub.calls if c == ("GET", "resolve")]
    assert len(downloaded) == 1  # config.json only; the weights are compared by their LFS sha256

    (model / "model.safetensors").write_bytes(b"\x00other")
    with pytest.raises(ConfigError, match="other content"):
        publish_folder(model, "org/tiny-gpt2", target=HubTarget(), repo_type="model", version="v0.1.0")


def test_explicit_endpoint_and_token_need_no_global_configuration(tiny_dataset):
    """HubTarget(endpoint=, token=) reaches that server for every call, with HF_ENDPOINT left pointing elsewhere."""
    with HubServer(token="hf_explicit") as server:
        target = HubTarget(token="hf_explicit", endpoint=server.url)
        first = publish_folder(tiny_dataset, "org/tiny", target=target)
        again = publish_folder(tiny_dataset, "org/tiny", target=target)
        pulled = target.download("org/tiny", "v1.0.0", "dataset", tiny_dataset.parent / "explicit-pull")
    assert first.created and first.location == f"{server.url}/datasets/org/tiny/tree/v1.0.0"
    assert (again.version, again.created) == ("v1.0.0", False)
    assert (pulled / "datagen.json").read_bytes() == (tiny_dataset / "datagen.json").read_bytes()
    pulled = run("pull", "org/tiny", "-o", tiny_dataset.parent / "offline-pull", ok=False)
    assert pulled.exit_code == 1 and "cannot reach the Hub" in pulled.output and "Traceback" not in pulled.output
    assert not (tiny_dataset.parent / "offline-pull").exists()


def test_an_upload_failing_outside_http_is_one_clear_line(hub, tiny_dataset, monkeypatch):
    """Xet storage uploads fail with the built-in ConnectionError, not the HTTP client's error."""
    def xet_down(self, *args, **kwargs):
        raise ConnectionError("Network error while fetching a xet-write-token")

    monkeypatch.setattr(HubTarget, "upload", xet_down)
    result = run("push", "--from-folder", tiny_dataset, "--repo-id", "org/tiny", "--quiet", ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "publishing org/tiny v1.0.0 failed (Network error while fetching a xet-write-token)" in result.output
    assert "run the same command again" in result.output and "tag" not in hub.endpoints()
