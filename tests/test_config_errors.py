"""Bad or impossible requests end with one clear error naming the field, and write nothing."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from core.errors import ConfigError
from generators import config_from_dict
from generators.config import load_config
from publishing.cli import main

OK = {"instructions": 5, "examples_per_instruction": 2, "input_len": 10, "space": {"alphabet": "abcd", "x_len": 2, "y_len": 2}}


def with_(**changes):
    raw = {**OK}
    for key, value in changes.items():
        node = raw
        *path, last = key.split("__")
        for p in path:
            node[p] = dict(node.get(p, {}))
            node = node[p]
        node[last] = value
    return raw


@pytest.mark.parametrize(
    "raw, field",
    [
        (with_(instructions=0), "instructions"),
        (with_(examples_per_instruction=0), "examples_per_instruction"),
        (with_(noop_fraction=1.5), "noop_fraction"),
        (with_(noop_fraction=-0.1), "noop_fraction"),
        (with_(distribution={"kind": "zipf"}), "distribution.kind"),
        (with_(distribution={"kind": "power_law", "alpha": 0}), "distribution.alpha"),
        (with_(distribution={"kind": "explicit", "weights": [1, 2]}), "distribution.weights"),
        (with_(space__x_len=20), "input_len"),
        (with_(space__x_len=[3, 2]), "space.x_len"),
        (with_(space__structures=["spiral"]), "space.structures"),
        (with_(space__x_alphabet="xyz"), "space.x_alphabet"),
        (with_(space__alphabet="aab"), "space.alphabet"),
        (with_(instructions="many"), "instructions"),
        (with_(spaec={"alphabet": "ab"}), "spaec"),
        (with_(space__xlen=3), "space.xlen"),
        (with_(prompt_template="{rule} {nope}"), "prompt_template"),
        (with_(prompt_template="{rule}"), "prompt_template"),
        (with_(cipher={"kind": "substitution", "key": "abc"}), "cipher.key"),
        (with_(budget=7), "budget"),
        (with_(task="sort"), "task"),
        (with_(name="org/name"), "name"),
        (with_(seed=-1), "seed"),
        (with_(splits={"validation": {"examples": -1}}), "splits.validation.examples"),
        (with_(splits={"test_unseen": {"novel_patterns": True}}), "splits.test_unseen.novel_patterns"),
        (with_(splits={"test_unseen": {"novel_patterns": "test_space"}}), "splits.test_unseen.novel_patterns"),
        (with_(task="markov", occurrences=[2]), "occurrences"),
        (with_(splits={"validation": {"examples": 10**12}}), "splits.validation.examples"),
        (with_(splits={"test_seen": {"examples": 10**12}}), "splits.test_seen.examples"),
    ],
)
def test_bad_fields_are_named(raw, field):
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw)
    assert err.value.field == field
    assert str(err.value).startswith(field)


def test_more_instructions_than_the_space_holds_is_refused_before_writing(tmp_path):
    from generators.build import generate

    cfg = config_from_dict(with_(instructions=100, space__x_len=1, space__y_len=1))
    with pytest.raises(ConfigError, match="instructions"):
        generate(cfg, tmp_path / "out", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_unreadable_yaml_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("instructions: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_overrides_are_applied_and_checked(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("instructions: 5\nspace: {alphabet: abcd, x_len: 2, y_len: 2}\ninput_len: 10\n")
    cfg = load_config(f, ["instructions=7", "space.y_len=[1, 3]"])
    assert cfg.instructions == 7 and (cfg.space.y_len.min, cfg.space.y_len.max) == (1, 3)
    with pytest.raises(ConfigError) as err:
        load_config(f, ["space.nope=1"])
    assert err.value.field == "space.nope"
    with pytest.raises(ConfigError, match="key=value"):
        load_config(f, ["instructions"])


def test_cli_prints_one_line_and_writes_nothing(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("instructions: 5\nnoop_fraction: 2\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["generate", str(f), "-o", str(out)])
    assert result.exit_code != 0
    assert "noop_fraction" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_failure_mid_run_leaves_no_half_dataset_and_keeps_the_old_one(tmp_path, monkeypatch):
    from generators import build

    cfg = config_from_dict(OK)
    out = tmp_path / "out"
    build.generate(cfg, out, progress=False)
    before = sorted(p.name for p in (out / "data").iterdir())
    real = build.block_batch

    def crash(plan, split, block):
        if split.name == "test_seen":
            raise KeyboardInterrupt  # an interruption part-way through
        return real(plan, split, block)

    monkeypatch.setattr(build, "block_batch", crash)
    with pytest.raises(KeyboardInterrupt):
        build.generate(cfg, out, overwrite=True, progress=False)
    assert sorted(p.name for p in (out / "data").iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"], "no temporary folder left behind"


def test_impossible_markov_no_ops_and_bad_range_bounds_are_one_line_errors(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("task: markov\ninstructions: 2\nexamples_per_instruction: 4\nnoop_fraction: 1.0\ninput_len: 8\n"
                 "space: {alphabet: abc, x_len: 1, y_len: 1}\nmarkov: {rules: 2}\n"
                 "splits: {test_unseen: {instructions: 0, examples: 0}, test_seen: {examples: 0}}\n")
    res = CliRunner().invoke(main, ["generate", str(f), "-o", str(tmp_path / "out")])
    assert res.exit_code != 0 and "no-op input" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError) as err:
        config_from_dict(with_(input_len={"min": "a", "max": 3}))
    assert err.value.field == "input_len"


def test_an_instruction_count_beyond_memory_is_refused_before_any_work(tmp_path, monkeypatch):
    import os

    from publishing.cli import main

    monkeypatch.setattr(os, "sysconf", lambda name: {"SC_PHYS_PAGES": 2**20, "SC_PAGE_SIZE": 4096}[name])  # 4 GiB
    out = tmp_path / "big"
    res = CliRunner().invoke(main, ["generate", "tiny", "-o", str(out), "--set", "instructions=100000000", "--quiet"])
    assert res.exit_code == 2 and "instructions: 100000020 distinct rules need about" in res.output, res.output
    assert "this machine has 4 GiB" in res.output and not out.exists()
    from generators.plan import check_rule_memory

    check_rule_memory(1_000_000, 40)  # the paper's largest I fits in 4 GiB
