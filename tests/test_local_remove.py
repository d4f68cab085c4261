"""`datagen remove`: local-hub versions of datasets and models go, the Hub's never (issue 21, item 7).

A removal asks first (and refuses where no one can answer), names what it removes, moves LATEST to the newest
version left, never gives a removed version's number to other content, and an interrupted removal leaves the
version whole or gone.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.errors import ConfigError
from publishing import localhub
from publishing.cli import main as datagen
from publishing.localhub import LocalHub
from publishing.targets import LocalTarget, publish_folder


def variant(dest: Path, note: str) -> Path:
    """A folder of files (no datagen.json: its content is its files), different for each ``note``."""
    (dest / "data").mkdir(parents=True)
    (dest / "config.json").write_text(f'{{"note": "{note}"}}\n')
    (dest / "data" / "weights.bin").write_bytes(note.encode() * 100)
    return dest


@pytest.fixture
def two_versions(tmp_path):
    for i in range(2):
        publish_folder(variant(tmp_path / f"v{i}", f"content {i}"), "local/x", target=LocalTarget())
    hub = LocalHub.default()
    assert hub.versions("local/x") == ["v1.0.0", "v1.1.0"]
    return hub


def remove(*args: str, stdin: str | None = None):
    return CliRunner().invoke(datagen, ["remove", *args], input=stdin)


def test_a_version_goes_latest_moves_and_its_number_is_not_reused(two_versions, tmp_path):
    hub = two_versions
    res = remove("x", "--version", "v1.1.0", "--yes")
    assert res.exit_code == 0, res.output
    assert res.output.strip() == "removed dataset x v1.1.0 from the local hub; left: v1.0.0 (latest v1.0.0)"
    assert hub.versions("local/x") == ["v1.0.0"] and hub.latest("local/x") == "v1.0.0"
    assert (hub.repo_dir("local/x") / "LATEST").read_text().strip() == "v1.0.0"
    assert not list((hub.repo_dir("local/x") / "versions").glob(".removed-*"))
    # the next publish of other content takes v1.2.0: v1.1.0 named other content once
    again = publish_folder(variant(tmp_path / "v2", "content 2"), "local/x", target=LocalTarget())
    assert again.version == "v1.2.0"
    with pytest.raises(ConfigError, match="v1.1.0 was removed"):
        publish_folder(variant(tmp_path / "v3", "content 3"), "local/x", target=LocalTarget(),
                       version="v1.1.0")


def test_it_asks_and_refuses_where_no_one_can_answer(two_versions, monkeypatch):
    hub = two_versions
    res = remove("x", "--version", "v1.0.0")  # stdin is no terminal here
    assert res.exit_code == 2 and "needs a confirmation" in res.output and "--yes" in res.output
    assert len(res.output.strip().splitlines()) == 1
    monkeypatch.setattr("publishing.remove.can_ask", lambda: True)
    res = remove("x", "--version", "v1.0.0", stdin="n\n")
    assert res.exit_code == 1 and "Remove dataset x v1.0.0 (" in res.output and "Aborted" in res.output
    assert hub.versions("local/x") == ["v1.0.0", "v1.1.0"]
    res = remove("x", "--version", "v1.0.0", stdin="y\n")
    assert res.exit_code == 0 and hub.versions("local/x") == ["v1.1.0"] and hub.latest("local/x") == "v1.1.0"


def test_dry_run_and_refusals_change_nothing(two_versions):
    hub = two_versions
    before = sorted(p.relative_to(hub.root) for p in hub.root.rglob("*"))
    res = remove("local/x", "--version", "v1.0.0", "--dry-run")
    assert res.exit_code == 0 and res.output.startswith("would remove dataset local/x v1.0.0 (")
    for args, needle in [
        (["x", "--version", "v9.0.0", "--yes"], "has no version v9.0.0 in the local hub (have: v1.0.0, v1.1.0)"),
        (["x", "--yes"], "name the versions to remove"),
        (["x", "--all", "--version", "v1.0.0", "--yes"], "name the versions to remove"),
        (["org/elsewhere", "--all", "--yes"], "the Hub's versions are not removed by datagen"),
        (["hub:org/x", "--all", "--yes"], "removes local-hub versions only"),
        (["x", "--version", "one", "--yes"], "is not a semantic version"),
        (["x", "--all", "--repo-type", "model", "--yes"], "no model 'x' in the local hub"),
    ]:
        res = remove(*args)
        assert res.exit_code == 2, (args, res.output)
        assert len(res.output.strip().splitlines()) == 1 and needle in res.output, (args, res.output)
    assert sorted(p.relative_to(hub.root) for p in hub.root.rglob("*")) == before


def test_every_version_of_a_model_and_the_listing(tmp_path):
    hub = LocalHub.default()
    for i in range(2):
        hub.add_version(variant(tmp_path / f"m{i}", f"model {i}"), "local/run", f"v1.{i}.0", "model")
    res = remove("run", "--repo-type", "model", "--all", "--yes")
    assert res.exit_code == 0 and "removed model run v1.0.0, v1.1.0 from the local hub; no version left" in res.output
    assert hub.versions("local/run", "model") == [] and not (hub.repo_dir("local/run", "model") / "LATEST").exists()
    assert "local/run" not in CliRunner().invoke(datagen, ["list"]).output


def test_links_inside_a_version_are_removed_not_followed(two_versions, tmp_path):
    hub = two_versions
    outside = tmp_path / "precious.txt"
    outside.write_text("keep")
    (hub.path("local/x", "v1.1.0") / "link").symlink_to(outside)
    (hub.path("local/x", "v1.1.0") / "dirlink").symlink_to(tmp_path, target_is_directory=True)
    assert remove("x", "--version", "v1.1.0", "--yes").exit_code == 0
    assert outside.read_text() == "keep" and (tmp_path / "v0").is_dir()


def test_an_interrupted_removal_leaves_the_version_gone_and_is_cleaned_later(two_versions, monkeypatch):
    hub = two_versions
    real = shutil.rmtree

    def killed(path, *args, **kwargs):
        raise KeyboardInterrupt  # killed while deleting the renamed folder

    monkeypatch.setattr(localhub.shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        hub.remove_version("local/x", "v1.1.0")
    assert hub.versions("local/x") == ["v1.0.0"] and hub.latest("local/x") == "v1.0.0"
    assert hub.removed("local/x") == ["v1.1.0"]
    left = list((hub.repo_dir("local/x") / "versions").glob(".removed-*"))
    assert len(left) == 1
    monkeypatch.setattr(localhub.shutil, "rmtree", real)
    hub.remove_version("local/x", "v1.0.0")
    assert not list((hub.repo_dir("local/x") / "versions").glob(".removed-*"))
    assert hub.removed("local/x") == ["v1.0.0", "v1.1.0"] and hub.latest("local/x") is None
