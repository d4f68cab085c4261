"""The diveval CLI: a full evaluation through folders and the local hub, card pushes, plots, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from evalkit import char_tokenizer, copy_model, save_model
from huggingface_hub import ModelCard

from cards.localhub import LocalHub
from cards.targets import publish_folder
from eval.cli import main
from eval.results import read_results

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def copy_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("models") / "copy-model"
    tok = char_tokenizer("abcdef -> \n")
    save_model(copy_model(tok), tok, folder)
    return folder


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_rewrite_on_folders_writes_results(copy_folder, tiny_dataset, tmp_path):
    out, preds = tmp_path / "res" / "results.json", tmp_path / "preds.jsonl"
    r = run("rewrite", copy_folder, "--dataset", tiny_dataset, "-o", out, "--predictions", preds, "--quiet", "--batch-size", "7")
    assert r.exit_code == 0, r.output
    results = read_results(out)
    unseen = results["splits"]["test_unseen"]
    assert unseen["by_kind"]["noop"]["accuracy"] == 1.0 and unseen["by_kind"]["op"]["accuracy"] <= 0.05
    assert results["model"] == {"name": "copy-model", "source": "folder", "repo_id": None, "revision": None, "folder_name": "copy-model"}
    assert results["decode"]["batch_size"] == 7 and results["decode"]["device"] == "cpu"
    assert str(tmp_path) not in out.read_text()
    lines = [json.loads(x) for x in preds.read_text().splitlines()]
    assert len(lines) == unseen["n"] + results["splits"]["test_seen"]["n"]
    assert sum(x["correct"] for x in lines if x["split"] == "test_unseen") == unseen["correct"]
    assert "test_unseen" in r.output and r.output.strip().splitlines()[-1].startswith("evaluated 64 examples")


def test_local_hub_model_and_dataset_push_twice(copy_folder, tiny_dataset, tmp_path):
    publish_folder(tiny_dataset, "org/tiny")
    publish_folder(copy_folder, "org/copy", repo_type="model")
    for _ in range(2):
        r = run("rewrite", "org/copy", "--dataset", "org/tiny", "--revision", "v1.0.0", "--push", "--quiet", "--splits", "test_unseen")
        assert r.exit_code == 0, r.output
    assert "card of local hub model org/copy v1.0.0" in r.output
    card = ModelCard.load(LocalHub.default().path("org/copy", None, "model") / "README.md")
    (result,) = card.data.eval_results
    assert (result.dataset_type, result.dataset_revision, result.dataset_split) == ("org/tiny", "v1.0.0", "test_unseen")
    assert card.data.model_name == "org/copy"


def test_plot_from_results_files(copy_folder, tiny_dataset, tmp_path):
    files = []
    for limit in (8, 16):
        out = tmp_path / f"r{limit}.json"
        assert run("rewrite", copy_folder, "--dataset", tiny_dataset, "--limit", limit, "-o", out, "--quiet").exit_code == 0
        files.append(out)
    r = run("plot", *files, "-o", tmp_path / "plots", "--kind", "phase", "--kind", "heatmap", "--kind", "power-law")
    assert r.exit_code == 0, r.output
    for name in ("phase", "heatmap", "power-law"):
        assert (tmp_path / "plots" / f"{name}.png").stat().st_size > 1000
    assert "plotted 2 rows" in r.output
    # by default only what the rows can fill: both results come from one dataset (one I), so nothing
    r = run("plot", *files, "-o", tmp_path / "auto")
    assert r.exit_code != 0 and "nothing to plot" in r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--splits", "test_unseen,nosuchsplit"], "split: dataset .* has no split 'nosuchsplit'"),
        (["--batch-size", "0"], "batch_size: must be at least 1"),
        (["--splits", " , "], "splits: give at least one split"),
        (["--device", "cuda"], "device: cuda requested but CUDA is not available"),
    ],
)
def test_user_errors(copy_folder, tiny_dataset, args, message):
    r = CliRunner().invoke(main, ["rewrite", str(copy_folder), "--dataset", str(tiny_dataset), *args])
    assert r.exit_code != 0
    assert r.exception is None or isinstance(r.exception, SystemExit)  # no traceback
    import re

    assert re.search(message, r.output), r.output


def test_model_errors(tiny_dataset, tmp_path):
    r = CliRunner().invoke(main, ["rewrite", str(tmp_path / "nope"), "--dataset", str(tiny_dataset)])
    assert r.exit_code != 0 and "does not exist" in r.output and "Traceback" not in r.output
    empty = tmp_path / "empty"
    empty.mkdir()
    r = CliRunner().invoke(main, ["rewrite", str(empty), "--dataset", str(tiny_dataset)])
    assert "model: empty: not a model folder (no config.json or adapter_config.json)" in r.output
    narrow = tmp_path / "narrow"
    tok = char_tokenizer("abc -> \n")
    save_model(copy_model(tok), tok, narrow)
    r = CliRunner().invoke(main, ["rewrite", str(narrow), "--dataset", str(tiny_dataset)])
    assert r.exit_code != 0
    assert "tokenizer: cannot encode 3 character(s) of the dataset (they map to '<unk>'): 'd', 'e', 'f'" in r.output
    (narrow / "config.json").write_text('{"model_type": "no-such-architecture"}')
    r = CliRunner().invoke(main, ["rewrite", str(narrow), "--dataset", str(tiny_dataset)])
    assert r.exit_code != 0 and "model: cannot load" in r.output and "Traceback" not in r.output


def test_plot_errors(tmp_path):
    bad = tmp_path / "rows.json"
    bad.write_text(json.dumps([{"I": 10, "accuracy": 0.5}]))
    r = CliRunner().invoke(main, ["plot", str(bad), "--kind", "heatmap", "-o", str(tmp_path)])
    assert r.exit_code != 0 and "row 0" in r.output and "'S'" in r.output
    r = CliRunner().invoke(main, ["plot", str(tmp_path / "missing.json")])
    assert "does not exist" in r.output


def test_help_and_light_import():
    for args in ([], ["rewrite"], ["plot"]):
        r = CliRunner().invoke(main, [*args, "--help"])
        assert r.exit_code == 0 and "Usage" in r.output
    code = "import sys, eval.cli; print(sorted(m for m in ('torch', 'transformers', 'matplotlib', 'datasets') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    out = subprocess.run([sys.executable, "-m", "eval", "--help"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "rewrite" in out.stdout and "plot" in out.stdout


def test_plot_a_sweep_table_by_split(tmp_path):
    """A sweep's results.json carries every split: --split picks which accuracy is plotted, and the default
    series keeps the compared settings (here alpha) apart instead of averaging them."""
    from eval.cli import load_rows

    def r(i, alpha, unseen, seen):
        return {"run": f"I={i}_alpha={alpha}", "I": i, "S": 100 / i, "alpha": alpha,
                "test_unseen_accuracy": unseen, "test_unseen_ci_low": unseen / 2, "test_unseen_ci_high": unseen,
                "test_seen_accuracy": seen, "test_seen_ci_low": seen / 2, "test_seen_ci_high": seen,
                "accuracy": unseen, "ci_low": unseen / 2, "ci_high": unseen}

    table = tmp_path / "results.json"
    table.write_text(json.dumps({"sweep": "s", "rows": [r(10, 1.0, 0.2, 0.9), r(10, 0.1, 0.0, 0.8), r(50, 1.0, 0.6, 0.7)]}))
    seen = load_rows((str(table),), "test_seen")
    assert [x["accuracy"] for x in seen] == [0.9, 0.8, 0.7] and seen[0]["ci_low"] == 0.45
    assert [x["accuracy"] for x in load_rows((str(table),), "test_unseen")] == [0.2, 0.0, 0.6]
    res = CliRunner().invoke(main, ["plot", str(table), "--split", "test_seen", "-o", str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "p" / "phase.png").stat().st_size > 1000 and (tmp_path / "p" / "power-law.png").exists()
    res = CliRunner().invoke(main, ["plot", str(table), "--split", "validation", "-o", str(tmp_path / "p")])
    assert res.exit_code != 0 and "--split" in res.output and "no accuracy for split 'validation'" in res.output
    assert "test_seen, test_unseen" in res.output
