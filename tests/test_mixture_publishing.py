"""Mixture configs go through the same commands as synthetic ones: generate, inspect, push, verify."""

from __future__ import annotations

import json

import datasets
import yaml
from click.testing import CliRunner
from huggingface_hub import DatasetCard
from test_mixture import config, rows_of

from publishing.cli import main
from publishing.localhub import LocalHub


def test_mixture_generate_inspect_push_verify(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # sources are recorded by file name: verify finds them beside the user
    cfg = config(tmp_path, size=60)
    for src in cfg["sources"]:
        src["path"] = src["path"].rsplit("/", 1)[-1]
    (tmp_path / "mix.yaml").write_text(yaml.safe_dump(cfg))
    runner = CliRunner()
    res = runner.invoke(main, ["generate", "mix.yaml", "-o", "out", "--quiet"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["inspect", "out"])
    assert res.exit_code == 0 and "general" in res.output and "code" in res.output, res.output
    res = runner.invoke(main, ["push", "mix.yaml", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "published local/test-mix v1.0.0" in res.output
    res = runner.invoke(main, ["verify", "local/test-mix", "--revision", "v1.0.0"])
    assert res.exit_code == 0, res.output
    # the same data again is a no-op, not a new version
    res = runner.invoke(main, ["push", "mix.yaml", "--quiet"])
    assert res.exit_code == 0 and "nothing to publish" in res.output


def test_local_mixture_card_loads_its_own_rows(tmp_path, monkeypatch):
    """Two local hub mixtures share the folder name ``v1.0.0``: each card's config names its content, so
    ``datasets`` does not serve one mixture's cached rows for the other."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for name, seed in (("mix-a", 3), ("mix-b", 4)):
        cfg = config(tmp_path, size=60, name=name, seed=seed)
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
        res = runner.invoke(main, ["push", f"{name}.yaml", "--quiet"])
        assert res.exit_code == 0 and f"published local/{name} v1.0.0" in res.output, res.output
    loaded = {}
    for name in ("mix-a", "mix-b"):
        folder = LocalHub.default().path(f"local/{name}", "v1.0.0")
        fingerprint = json.loads((folder / "datagen.json").read_text())["fingerprint"]
        card = DatasetCard.load(folder / "README.md")
        (cfg,) = card.data.to_dict()["configs"]
        assert fingerprint in cfg["description"] and name in cfg["description"]
        assert card.data.to_dict()["datagen"]["version"] == "v1.0.0"
        # the "Load it" section points into the local hub, not at a Hub id
        assert f"datagen pull local/{name} --revision v1.0.0 -o DIR" in card.text
        assert f'load_dataset("local/{name}"' not in card.text
        loaded[name] = datasets.load_dataset(str(folder), split="train").to_list()
        assert loaded[name] == rows_of(folder)
    assert loaded["mix-a"] != loaded["mix-b"]


def test_unpublished_mixture_card_has_no_version(tmp_path):
    (tmp_path / "mix.yaml").write_text(yaml.safe_dump(config(tmp_path, size=60)))
    res = CliRunner().invoke(main, ["generate", str(tmp_path / "mix.yaml"), "-o", str(tmp_path / "out"), "--quiet"])
    assert res.exit_code == 0, res.output
    card = DatasetCard.load(tmp_path / "out" / "README.md")
    assert "version" not in card.data.to_dict()["datagen"]
    assert 'load_dataset("path/to/this/folder")' in card.text
