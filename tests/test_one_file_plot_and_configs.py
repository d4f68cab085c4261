"""Two small gaps of issue 21, item 9: `diveval plot` of one results file draws what it holds (accuracy per split
with its intervals), and `load_splits(config=)` reads one config of a multi-config dataset (a released study)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.errors import ConfigError

SPLITS = {
    "test_unseen": {"n": 200, "correct": 50, "accuracy": 0.25, "ci_low": 0.195, "ci_high": 0.314,
                    "by_kind": {"op": {"n": 160, "correct": 10, "accuracy": 0.0625, "ci_low": 0.034, "ci_high": 0.111},
                                "noop": {"n": 40, "correct": 40, "accuracy": 1.0, "ci_low": 0.912, "ci_high": 1.0}}},
    "test_seen": {"n": 100, "correct": 90, "accuracy": 0.9, "ci_low": 0.826, "ci_high": 0.945,
                  "by_kind": {"op": {"n": 100, "correct": 90, "accuracy": 0.9, "ci_low": 0.826, "ci_high": 0.945},
                              "noop": {"n": 0, "correct": 0, "accuracy": None, "ci_low": None, "ci_high": None}}},
}


def results(path: Path, splits=SPLITS) -> Path:
    path.write_text(json.dumps({"schema": "diveval/rewrite/1", "model": {"name": "tiny-cpu"},
                                "dataset": {"name": "local/rewrite-tiny"}, "splits": splits}))
    return path


def test_one_results_file_is_drawn_split_by_split(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from eval import cli, plots
    from eval.cli import main as diveval

    drawn = {}
    real = plots.plot_splits

    def spy(data, path, where="results"):
        drawn.update(real(data, path, where))
        return drawn

    monkeypatch.setattr(cli, "plot_splits", spy)
    res = CliRunner().invoke(diveval, ["plot", str(results(tmp_path / "r.json")), "-o", str(tmp_path / "plots")])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == f"plotted 2 splits of {tmp_path / 'r.json'}: wrote {tmp_path / 'plots' / 'splits.png'}"
    assert (tmp_path / "plots" / "splits.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert drawn["groups"] == {  # every number as the file records it; the empty no-op group of test_seen left out
        "test_unseen": {"all": (0.25, 0.195, 0.314, 200), "rewrites": (0.0625, 0.034, 0.111, 160),
                        "no-ops": (1.0, 0.912, 1.0, 40)},
        "test_seen": {"all": (0.9, 0.826, 0.945, 100), "rewrites": (0.9, 0.826, 0.945, 100)},
    }


def test_a_bad_single_results_file_is_one_line_naming_it(tmp_path):
    pytest.importorskip("matplotlib")
    from eval.cli import main as diveval

    for splits, needle in [({}, "no scored splits to plot"), ({"test_unseen": 3}, "splits.test_unseen is not a mapping"),
                           ({"test_unseen": {**SPLITS["test_unseen"], "accuracy": "high"}},
                            "splits.test_unseen.all: 'accuracy' must be a finite number")]:
        bad = results(tmp_path / "bad.json", splits)
        res = CliRunner().invoke(diveval, ["plot", str(bad), "-o", str(tmp_path / "plots")])
        assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
        assert str(bad) in res.output and needle in res.output, res.output
    assert not (tmp_path / "plots").exists()


@pytest.fixture
def study(tiny_dataset, tmp_path) -> Path:
    """A released study's layout: one dataset folder per config (``I8/``, ``I24/``), as `sweeps release` writes."""
    root = tmp_path / "study"
    for config in ("I8", "I24"):
        shutil.copytree(tiny_dataset, root / config)
    return root


def test_one_config_of_a_multi_config_folder_and_local_hub_version(study, tiny_dataset):
    from publishing.loading import load_splits, resolve_splits
    from publishing.localhub import LocalHub

    expected = json.loads((tiny_dataset / "datagen.json").read_text())
    dd, where = resolve_splits(str(study), config="I24")
    assert sorted(dd) == sorted(expected["splits"]) and len(dd["train"]) == expected["splits"]["train"]["rows"]
    assert where.fingerprint == expected["fingerprint"] and where.path == study / "I24"
    LocalHub.default().add_version(study, "org/study", "v1.0.0")
    dd = load_splits("org/study", "v1.0.0", splits=["test_unseen"], config="I8")
    assert list(dd) == ["test_unseen"] and len(dd["test_unseen"]) == expected["splits"]["test_unseen"]["rows"]


def test_a_config_that_is_not_there_names_the_configs(study):
    from publishing.loading import load_splits

    with pytest.raises(ConfigError, match=r"^config: .* has no config 'I9' \(configs: I24, I8\)$"):
        load_splits(str(study), config="I9")
    for bad in ("../study", "I8/../I24", ""):
        with pytest.raises(ConfigError, match=r"^config: .* is not a config name"):
            load_splits(str(study), config=bad)
