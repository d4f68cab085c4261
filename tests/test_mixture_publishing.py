"""Mixture configs go through the same commands as synthetic ones: generate, inspect, push, verify."""

from __future__ import annotations

import yaml
from click.testing import CliRunner
from test_mixture import config

from generators.cli import main


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
