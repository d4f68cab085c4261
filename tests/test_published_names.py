"""A published version holds exactly the files its datagen.json lists: a listed name that a copy or the Hub would
drop or change (a hidden ``data/.x.parquet``, which the publishers left out while tagging the version; odd
Unicode; two names equal but for letter case; a name the card's ``data/<split>-*`` pattern does not load) is
refused before anything is published, in one line naming the file, on the local hub and on the Hub."""

from __future__ import annotations

import json
import shutil
import unicodedata

import pytest
from click.testing import CliRunner
from hub_server import serve

from core.errors import ConfigError
from publishing.cli import main
from publishing.localhub import LocalHub
from publishing.targets import LocalTarget, publish_folder


@pytest.fixture
def hub(monkeypatch, tmp_path):
    yield from serve(monkeypatch, tmp_path)


def listing(tiny_dataset, tmp_path, *names: str):
    """A copy of the tiny dataset whose first train shard is published under ``names`` (the same bytes under
    each), its datagen.json listing them with their SHA-256: a folder whose files match its record."""
    folder = tmp_path / "ds"
    shutil.copytree(tiny_dataset, folder)
    meta = json.loads((folder / "datagen.json").read_text())
    split = meta["splits"]["train"]
    shard = split["files"][0]
    data = (folder / shard).read_bytes()
    (folder / shard).unlink()
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    sha = split["sha256"].pop(shard)
    split["files"] = list(names) + split["files"][1:]
    split["sha256"].update({name: sha for name in names})
    (folder / "datagen.json").write_text(json.dumps(meta, indent=2))
    return folder


def refused(res, name: str) -> None:
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "Traceback" not in res.output, res.output
    assert repr(name) in res.output, res.output


def test_a_hidden_shard_is_refused_and_no_local_version_is_made(tiny_dataset, tmp_path):
    folder = listing(tiny_dataset, tmp_path, "data/.x.parquet")
    res = CliRunner().invoke(main, ["push", "--from-folder", str(folder), "--local-name", "tiny"])
    refused(res, "data/.x.parquet")
    assert "(a hidden name" in res.output
    assert not LocalHub.default().exists("local/tiny")


def test_a_hidden_shard_is_refused_and_nothing_is_sent_to_the_hub(hub, tiny_dataset, tmp_path):
    folder = listing(tiny_dataset, tmp_path, "data/.x.parquet")
    res = CliRunner().invoke(main, ["push", "--from-folder", str(folder), "--repo-id", "org/tiny"])
    refused(res, "data/.x.parquet")
    assert not hub.repos and "commit" not in hub.endpoints() and "tag" not in hub.endpoints()


@pytest.mark.parametrize("names, why", [
    (["data/train-" + unicodedata.normalize("NFD", "ä") + ".parquet"], "NFC"),
    (["data/train-\u200bx.parquet"], "invisible"),
    (["data/train-A.parquet", "data/train-a.parquet"], "letter case"),
    (["data/train-é.parquet"], "ASCII"),
    (["data/sub/train-0.parquet"], "data/train-<name>.parquet"),
    (["data/test_seen-0.parquet"], "data/train-*.parquet"),
    (["data/train-x.parquet."], "ends with '.'"),
], ids=["nfd", "zero-width", "case", "non-ascii", "sub-folder", "other-split", "trailing-dot"])
def test_names_a_copy_or_the_hub_would_change_are_refused(tiny_dataset, tmp_path, names, why):
    folder = listing(tiny_dataset, tmp_path, *names)
    res = CliRunner().invoke(main, ["push", "--from-folder", str(folder), "--local-name", "tiny"])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and why in res.output, res.output
    assert not LocalHub.default().exists("local/tiny")


def test_pulling_a_repo_that_lists_a_hidden_shard_is_refused(hub, tiny_dataset, tmp_path):
    """A version made elsewhere (before this check, or by other tools) is refused on the way in too."""
    folder = listing(tiny_dataset, tmp_path, "data/train-0.parquet")
    assert CliRunner().invoke(main, ["push", "--from-folder", str(folder), "--repo-id", "org/tiny"]).exit_code == 0
    meta = json.loads((folder / "datagen.json").read_text())
    meta["splits"]["train"]["files"][0] = "data/.x.parquet"
    meta["splits"]["train"]["sha256"] = {"data/.x.parquet": meta["splits"]["train"]["sha256"]["data/train-0.parquet"]}
    hub.add_entry("org/tiny", "data/.x.parquet", (folder / "data/train-0.parquet").read_bytes())
    hub.add_entry("org/tiny", "datagen.json", json.dumps(meta).encode())
    res = CliRunner().invoke(main, ["pull", "org/tiny", "-o", str(tmp_path / "pulled")])
    refused(res, "data/.x.parquet")
    assert not (tmp_path / "pulled").exists()


def test_any_folder_is_published_whole_or_not_at_all(tmp_path):
    """A model folder holding a hidden file: refused, naming it (it used to be left out silently)."""
    model = tmp_path / "model"
    (model / "notes").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "notes" / ".plan.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"notes/\.plan\.txt' \(a hidden name"):
        publish_folder(model, "local/m", target=LocalTarget(), repo_type="model")
    assert not LocalHub.default().exists("local/m", "model")
