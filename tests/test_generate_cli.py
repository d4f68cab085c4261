"""The datagen CLI: generate, inspect, presets, and every shipped preset's config being valid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.errors import ConfigError
from generators.cli import PRESETS, main
from generators.config import load_config
from generators.plan import make_plan


def test_generate_and_inspect(tmp_path):
    out = tmp_path / "ds"
    runner = CliRunner()
    res = runner.invoke(main, ["generate", "tiny", "-o", str(out), "--set", "seed=5", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "rows" in res.output and "fingerprint" in res.output
    meta = json.loads((out / "datagen.json").read_text())
    assert meta["seed"] == 5 and meta["config"]["seed"] == 5
    res = runner.invoke(main, ["inspect", str(out)])
    assert res.exit_code == 0, res.output
    assert "test_unseen" in res.output and meta["fingerprint"] in res.output
    res = runner.invoke(main, ["inspect", str(out), "--json"])
    assert json.loads(res.output)["train"]["distinct_instructions"] == meta["config"]["instructions"]


def test_generate_makes_an_earlier_generator_versions_rows_on_request(tmp_path):
    """`--generator-version 2.0` re-makes what generator 2.0 made (tiny differs in 2.1 by its unseen-test ids
    only); a version this code does not keep is refused by click, and the option is a synthetic-task one."""
    runner = CliRunner()
    for version in ("2.0", "2.1"):
        res = runner.invoke(main, ["generate", "tiny", "-o", str(tmp_path / version), "--generator-version", version,
                                   "--quiet"])
        assert res.exit_code == 0, res.output
    old, new = (json.loads((tmp_path / v / "datagen.json").read_text()) for v in ("2.0", "2.1"))
    assert (old["generator_version"], new["generator_version"]) == ("2.0", "2.1")
    assert old["splits"]["train"]["fingerprint"] == new["splits"]["train"]["fingerprint"]
    assert old["splits"]["test_unseen"]["fingerprint"] != new["splits"]["test_unseen"]["fingerprint"]
    assert old["test_unseen_first_id"] == old["config"]["instructions"] and new["test_unseen_first_id"] == 10**12
    res = runner.invoke(main, ["generate", "tiny", "-o", str(tmp_path / "x"), "--generator-version", "1.0"])
    assert res.exit_code == 2 and "2.0" in res.output and "2.1" in res.output
    res = runner.invoke(main, ["generate", "mix_oss_alpaca_5", "-o", str(tmp_path / "m"), "--generator-version", "2.0"])
    assert res.exit_code == 2 and "generator_version" in res.output and "synthetic" in res.output


def test_existing_output_needs_overwrite(tmp_path):
    out = tmp_path / "ds"
    runner = CliRunner()
    assert runner.invoke(main, ["generate", "tiny", "-o", str(out), "--quiet"]).exit_code == 0
    res = runner.invoke(main, ["generate", "tiny", "-o", str(out), "--quiet"])
    assert res.exit_code != 0 and "--overwrite" in res.output
    assert runner.invoke(main, ["generate", "tiny", "-o", str(out), "--quiet", "--overwrite"]).exit_code == 0


def test_help_everywhere():
    runner = CliRunner()
    for args in (["--help"], ["generate", "--help"], ["inspect", "--help"], ["presets", "--help"]):
        res = runner.invoke(main, args)
        assert res.exit_code == 0 and "Usage" in res.output


def test_unknown_preset_lists_the_presets():
    res = CliRunner().invoke(main, ["generate", "no-such-preset", "-o", "x"])
    assert res.exit_code != 0 and "tiny" in res.output


@pytest.mark.parametrize("preset", sorted(p.name for p in Path(PRESETS).glob("*.yaml")))
def test_every_preset_is_a_valid_request(preset):
    from generators.real.mixture_config import is_mixture_config, load_mixture_config
    from generators.real.pool_config import is_pool_config, load_pool_config

    if is_mixture_config(Path(PRESETS) / preset):
        cfg = load_mixture_config(Path(PRESETS) / preset)
        assert cfg.size > 0 and all(s.hub for s in cfg.sources), "the paper's mixes name Hub datasets"
        return
    if is_pool_config(Path(PRESETS) / preset):
        assert load_pool_config(Path(PRESETS) / preset).train_examples > 0  # tests/test_pool_sweep.py checks more
        return
    cfg = load_config(Path(PRESETS) / preset)
    # The instruction pools of the paper-scale presets are drawn too: a preset must never ask for the impossible.
    if cfg.instructions + cfg.splits.test_unseen.instructions <= 20_000:
        make_plan(cfg)


def test_overwrite_replaces_only_a_dataset_folder(tmp_path):
    """--overwrite never deletes a folder of other files; odd output paths are one-line errors (status 2)."""
    runner = CliRunner()
    notes = tmp_path / "important"
    notes.mkdir()
    (notes / "notes.txt").write_text("keep me")
    res = runner.invoke(main, ["generate", "tiny", "-o", str(notes), "--quiet", "--overwrite"])
    assert res.exit_code == 2 and "not a dataset folder" in res.output
    assert (notes / "notes.txt").read_text() == "keep me"
    res = runner.invoke(main, ["generate", "tiny", "-o", str(notes / "notes.txt" / "sub"), "--quiet"])
    assert res.exit_code == 2 and "Traceback" not in res.output and "notes.txt" in res.output, res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    assert runner.invoke(main, ["generate", "tiny", "-o", str(empty), "--quiet", "--overwrite"]).exit_code == 0


def test_a_folder_named_like_a_preset_does_not_hide_it(tmp_path, monkeypatch):
    from generators.cli import PRESETS, resolve_config_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny").mkdir()  # e.g. `datagen generate tiny -o tiny`
    assert resolve_config_path("tiny") == PRESETS / "tiny.yaml"
    (tmp_path / "mine").mkdir()
    with pytest.raises(ConfigError, match="mine is a folder, not a config file"):
        resolve_config_path("mine")


def test_atomic_file_keeps_the_old_file_when_a_write_fails(tmp_path):
    from core.atomic import atomic_file, write_text_atomic

    target = tmp_path / "results.json"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_file(target) as tmp:
        assert tmp.suffix == ".json" and tmp.parent == tmp_path  # same folder and suffix: a rename, format kept
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["results.json"]
    assert write_text_atomic(target, "new").read_text() == "new"


def _comment_block(text: str) -> str:
    """A YAML file's leading comment lines, as one line of words (read independently of the code under test)."""
    block = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        block.append(line.lstrip("#").strip())
    return " ".join(" ".join(block).split())


def test_presets_show_whole_first_sentences():
    """Issue 15: descriptions were cut at the end of the first comment line (mid-sentence), and the _50/_75
    mixtures read '(50% general-domain instructions (beyond ...))'."""
    from generators.cli import first_sentence

    assert first_sentence("# One (a. b) two,\n# e.g. three. Four.\nname: x\n# not this. \n") == \
        "One (a. b) two, e.g. three."
    assert first_sentence("# f on (0, 1], then g. Next.\n") == "f on (0, 1], then g."
    assert first_sentence("name: x\n") == ""
    res = CliRunner().invoke(main, ["presets"])
    assert res.exit_code == 0
    shown = {line.split()[0]: line for line in res.output.splitlines()}
    assert set(shown) == {p.stem for p in Path(PRESETS).glob("*.yaml")}
    for name, line in shown.items():
        block = _comment_block((Path(PRESETS) / f"{name}.yaml").read_text())
        summary = line.split(None, 2)[2]
        assert block.startswith(summary) and summary.endswith("."), (name, summary)
        rest = block[len(summary):].strip()
        assert not rest[:1].islower() or rest.startswith("arXiv"), (name, rest[:40])  # the next sentence starts
        assert summary.count("(") == summary.count(")") + summary.count("]") - summary.count("["), name
        assert "((" not in summary and ") (" not in summary.replace("(s)", ""), name
    assert shown["reduced_rewrite"].endswith("a budget of 2 x 10^5 rows.")
    assert shown["mix_oss_alpaca_50"].endswith("10,000 Alpaca instructions (beyond the paper's grid, which stops at "
                                               "15K:5K).")
    assert len({line.index(line.split()[2]) for line in shown.values()}) == 1  # the descriptions line up
