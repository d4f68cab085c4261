"""A name that looks like a path is never sent to the Hub: a typo'd folder is a missing folder, at once.

The stand-in Hub records every request it gets; these tests assert it got none.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from hub_server import serve

from core.errors import ConfigError
from publishing.resolve import resolve


@pytest.fixture
def hub(monkeypatch, tmp_path):
    yield from serve(monkeypatch, tmp_path)


@pytest.mark.parametrize("source", ["runs/nosuch", "./nosuch", "../nosuch", "/nosuch/model", "a/b/c", "~/nosuch",
                                    "nosuch/", "runs\\nosuch"])
@pytest.mark.parametrize("repo_type", ["model", "dataset"])
def test_a_missing_local_folder_is_named_without_any_hub_call(hub, tmp_path, monkeypatch, source, repo_type):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()  # the parent of runs/nosuch exists: it is a folder path
    with pytest.raises(ConfigError, match="does not exist") as err:
        resolve(source, repo_type=repo_type)
    assert source in str(err.value)
    assert hub.calls == []


def test_a_file_is_not_taken_for_a_folder(hub, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        resolve("model.safetensors", repo_type="model")
    assert hub.calls == []


def test_an_id_whose_namespace_is_a_folder_here_needs_the_hub_prefix(hub, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "org").mkdir()
    with pytest.raises(ConfigError, match="write hub:org/model"):
        resolve("org/model", repo_type="model")
    assert hub.calls == []
    assert resolve("hub:org/model", repo_type="model").kind == "hub"  # models: nothing fetched until loaded


@pytest.mark.parametrize("source", ["org/x.git", "org/a--b", "org/" + "x" * 97, "hub:/abs/x", "hub:org/x/y"])
def test_an_invalid_hub_id_is_refused_before_any_call(hub, source):
    with pytest.raises(ConfigError, match="not a Hub repository id|org/name|is a path"):
        resolve(source, repo_type="model")
    assert hub.calls == []


def test_diveval_rewrite_of_a_typo_folder_fails_at_once(hub, tiny_dataset, tmp_path, monkeypatch):
    from eval.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    res = CliRunner().invoke(main, ["rewrite", "runs/nosuch", "--dataset", str(tiny_dataset), "--quiet"])
    assert res.exit_code == 2 and "folder runs/nosuch does not exist" in res.output and "Traceback" not in res.output
    assert hub.calls == []


def test_datagen_verify_of_a_typo_folder_fails_at_once(hub, tmp_path, monkeypatch):
    from publishing.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    res = CliRunner().invoke(main, ["verify", "data/nosuch"])
    assert res.exit_code == 2 and "folder data/nosuch does not exist" in res.output
    assert hub.calls == []
