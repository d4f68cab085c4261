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

from eval.cli import main
from eval.results import read_results
from publishing.localhub import LocalHub
from publishing.targets import publish_folder

ROOT = Path(__file__).resolve().parents[1]


def write_card(model: Path, dataset: str, source: str = "folder", revision: str | None = None,
               fingerprint: str | None = None) -> None:
    """A model card naming the training data as training/sft.py records it (cards.model_card: training_data)."""
    meta = {"dataset": dataset, "source": source, "revision": revision, "fingerprint": fingerprint}
    ModelCard("---\n" + json.dumps({"training_data": meta}) + "\n---\n# model\n").save(model / "README.md")


def fingerprint(folder: Path) -> str:
    return json.loads((folder / "datagen.json").read_text())["fingerprint"]


@pytest.fixture(scope="module")
def copy_folder(tmp_path_factory, tiny_dataset) -> Path:
    folder = tmp_path_factory.mktemp("models") / "copy-model"
    tok = char_tokenizer("abcdef -> \n")
    save_model(copy_model(tok), tok, folder)
    write_card(folder, tiny_dataset.name, fingerprint=fingerprint(tiny_dataset))  # trained on the tiny dataset
    return folder


@pytest.fixture(scope="module")
def other_dataset(tmp_path_factory) -> Path:
    """Another tiny dataset (12 instructions, seed 2): not the copy model's training data."""
    from conftest import TINY

    from generators import config_from_dict
    from generators.build import generate

    out = tmp_path_factory.mktemp("other") / "other"
    generate(config_from_dict({**TINY, "seed": 2, "instructions": 12, "examples_per_instruction": 4}), out, progress=False)
    return out


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
    for name in ("phase_transition", "heatmap", "power_law"):  # the file names a sweep's plots have
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
        (["--dataset_name", "elsewhere"], "dataset_name: 'elsewhere' differs from --dataset"),
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
    assert (tmp_path / "p" / "phase_transition.png").stat().st_size > 1000 and (tmp_path / "p" / "power_law.png").exists()
    res = CliRunner().invoke(main, ["plot", str(table), "--split", "validation", "-o", str(tmp_path / "p")])
    assert res.exit_code != 0 and "--split" in res.output and "no accuracy for split 'validation'" in res.output
    assert "test_seen, test_unseen" in res.output


def test_the_training_data_is_scored_without_dataset(copy_folder, tiny_dataset, tmp_path):
    """No --dataset: the data the card names (a folder, found beside the model by its fingerprint)."""
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(copy_folder, run_dir / "model")
    shutil.copytree(tiny_dataset, run_dir / tiny_dataset.name)
    r = run("rewrite", run_dir / "model", "-o", tmp_path / "res.json", "--quiet")
    assert r.exit_code == 0, r.output
    assert "warning" not in r.output
    res = read_results(tmp_path / "res.json")
    assert res["dataset"]["fingerprint"] == fingerprint(tiny_dataset)
    assert res["training"]["match"] == "same" and res["training"]["warning"] is None
    assert res["training"]["diversity"]["instructions"] == 24
    # a folder of that name with other contents is not taken for it
    shutil.rmtree(run_dir / tiny_dataset.name)
    (run_dir / tiny_dataset.name).mkdir()
    r = run("rewrite", run_dir / "model", "--quiet")
    assert r.exit_code == 2 and "dataset: the training data named in the model card" in r.output and "--dataset" in r.output


def test_the_training_version_of_a_local_hub_dataset(copy_folder, tiny_dataset, other_dataset, tmp_path):
    """A card naming a local hub dataset and version: that version is scored; another version is a warning."""
    import shutil

    first = publish_folder(tiny_dataset, "org/data")
    second = publish_folder(other_dataset, "org/data")
    assert (first.version, second.version) == ("v1.0.0", "v1.1.0")
    model = tmp_path / "model"
    shutil.copytree(copy_folder, model)
    write_card(model, "org/data", "local", "v1.0.0", fingerprint(tiny_dataset))
    r = run("rewrite", model, "-o", tmp_path / "a.json", "--quiet", "--splits", "test_seen")
    assert r.exit_code == 0 and "warning" not in r.output, r.output
    a = read_results(tmp_path / "a.json")
    assert (a["dataset"]["repo_id"], a["dataset"]["revision"], a["training"]["match"]) == ("org/data", "v1.0.0", "same")
    r = run("rewrite", model, "--revision", "v1.1.0", "-o", tmp_path / "b.json", "--quiet", "--splits", "test_seen")
    assert r.exit_code == 0, r.output
    b = read_results(tmp_path / "b.json")
    assert b["dataset"]["revision"] == "v1.1.0" and b["training"]["match"] == "different"
    assert "warning: evaluating on local org/data@v1.1.0" in r.output and b["training"]["warning"] in r.output
    # I, S, alpha are the training version's (24 rules x 8), not those of the version scored (12 x 4)
    assert b["training"]["diversity"]["instructions"] == 24 and b["dataset"]["diversity"]["instructions"] == 12
    assert "NOT the evaluation data" in r.output


def test_other_data_warns_and_keeps_the_training_knobs(copy_folder, tiny_dataset, other_dataset, tmp_path):
    import shutil

    from eval.results import sweep_row

    run_dir = tmp_path / "run"
    shutil.copytree(copy_folder, run_dir / "model")
    shutil.copytree(tiny_dataset, run_dir / tiny_dataset.name)
    r = run("rewrite", run_dir / "model", "--dataset", other_dataset, "-o", tmp_path / "res.json", "--quiet")
    assert r.exit_code == 0, r.output
    res = read_results(tmp_path / "res.json")
    t = res["training"]
    assert t["match"] == "different" and "warning: " + t["warning"] in r.output and "a different dataset" in t["warning"]
    row = sweep_row(res)
    assert (row["I"], row["S"]) == (24, 8)  # the training data's, looked up beside the model
    freq = res["splits"]["test_seen"]["by_train_frequency"]
    assert freq["matched_by"] == "instruction" and freq["rows_not_in_training"] == res["splits"]["test_seen"]["n"]
    # the training data cannot be found: its knobs are unknown, not copied from the evaluation data
    shutil.rmtree(run_dir / tiny_dataset.name)
    r = run("rewrite", run_dir / "model", "--dataset", other_dataset, "-o", tmp_path / "gone.json", "--quiet")
    assert r.exit_code == 0, r.output
    gone = read_results(tmp_path / "gone.json")
    assert gone["training"]["diversity"] is None and "was not found here" in gone["training"]["note"]
    assert sweep_row(gone)["I"] is None and gone["dataset"]["diversity"]["instructions"] == 12
    assert "unavailable" in gone["splits"]["test_seen"]["by_train_frequency"]
    assert "I, S, alpha unknown" in r.output


def test_a_model_without_card_needs_a_dataset_and_has_unknown_knobs(tiny_dataset, tmp_path):
    bare = tmp_path / "bare"
    tok = char_tokenizer("abcdef -> \n")
    save_model(copy_model(tok), tok, bare)
    r = run("rewrite", bare, "--quiet")
    assert r.exit_code == 2 and "has no model card naming its training data" in r.output and "pass --dataset" in r.output
    r = run("rewrite", bare, "--dataset", tiny_dataset, "-o", tmp_path / "res.json", "--quiet")
    assert r.exit_code == 0 and "warning: the model has no card naming its training data" in r.output
    res = read_results(tmp_path / "res.json")
    assert res["training"]["match"] == "unknown" and res["training"]["diversity"] is None


def test_seen_accuracy_by_training_frequency_in_results(copy_folder, tiny_dataset, tmp_path):
    from publishing.loading import load_splits

    r = run("rewrite", copy_folder, "--dataset", tiny_dataset, "-o", tmp_path / "res.json", "--quiet")
    assert r.exit_code == 0, r.output
    res = read_results(tmp_path / "res.json")
    seen = res["splits"]["test_seen"]
    freq = seen["by_train_frequency"]
    dd = load_splits(str(tiny_dataset))
    ids = dd["test_seen"]["instruction_id"]
    assert freq["matched_by"] == "instruction_id" and freq["rules"] == len(set(ids))
    assert sum(freq[t]["n"] for t in ("head", "middle", "tail")) == seen["n"]
    assert sum(freq[t]["correct"] for t in ("head", "middle", "tail")) == seen["correct"]
    # uniform training (8 examples per rule): every count ties, so the head is the third with the smallest ids
    head = sorted(set(ids))[: freq["head"]["rules"]]
    assert freq["head"]["n"] == sum(i in head for i in ids) and freq["head"]["train_examples_max"] == 8
    assert "test_seen by training frequency (" in r.output


def test_legacy_results_files_plot_uniform_as_uniform(tmp_path):
    """Results written before lineage (no "training" key) carried the dataset's knobs, uniform as alpha 1."""
    from eval.results import sweep_row

    legacy = {"schema": "diveval/rewrite/1", "model": {"name": "m"}, "dataset": {"name": "d", "diversity": {
        "instructions": 64, "examples_per_instruction": 10, "train_rows": 640, "distribution": "uniform", "alpha": 1.0,
        "noop_fraction": 0.0}}, "splits": {"test_unseen": {"n": 10, "accuracy": 0.5, "ci_low": 0.2, "ci_high": 0.8}}}
    row = sweep_row(legacy)
    assert (row["I"], row["alpha"], row["distribution"]) == (64, None, "uniform")
