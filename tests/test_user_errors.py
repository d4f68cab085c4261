"""One-line errors instead of tracebacks (issue 11, defect 7: the generator, training and evaluation parts).

Duplicate YAML keys, ``generate --overwrite`` on a folder holding other files, an empty parquet file in training
or ``diveval rewrite``, batch size 0 or a NaN learning rate, an unreachable Hub id in training, and ``diveval plot``
on binary, incomplete or non-numeric results files.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from core.errors import ConfigError
from publishing.cli import main as datagen

ROOT = Path(__file__).resolve().parents[1]
TINY_RECIPE = ROOT / "training" / "recipes" / "tiny-cpu.yaml"
CONFIG = """name: dup
instructions: 8
examples_per_instruction: 4
input_len: 12
space:
  alphabet: abcdef
  x_len: 2
  y_len: 2
splits:
  test_unseen: {instructions: 4, examples: 8}
  test_seen: {examples: 8}
"""


def one_line_error(output: str, *needles: str) -> None:
    assert "Traceback" not in output, output
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, output
    for needle in needles:
        assert needle in lines[0], output


# ---- duplicate keys -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field", "lines"),
    [
        (CONFIG + "instructions: 9\n", "instructions", "lines 2 and 12"),
        (CONFIG.replace("  x_len: 2\n", "  x_len: 2\n  x_len: 3\n"), "space.x_len", "lines 7 and 8"),
        (CONFIG.replace("{examples: 8}\n", "{examples: 8, examples: 9}\n"), "splits.test_seen.examples", "lines 11 and 11"),
    ],
)
def test_a_key_given_twice_is_an_error_naming_it(tmp_path, text, field, lines):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    res = CliRunner().invoke(datagen, ["generate", str(path), "-o", str(tmp_path / "out"), "--quiet"])
    assert res.exit_code == 2
    one_line_error(res.output, f"Error: {field}: appears twice", str(path), lines)
    assert not (tmp_path / "out").exists()


def test_merge_keys_may_still_be_overridden(tmp_path):
    from core.config import read_yaml_config

    path = tmp_path / "m.yaml"
    path.write_text("base: &b {x_len: 2, y_len: 2}\nspace:\n  <<: *b\n  x_len: 3\n")
    assert read_yaml_config(path)["space"] == {"x_len": 3, "y_len": 2}


def test_duplicate_keys_in_mixture_sweep_and_recipe_files(tmp_path):
    from generators.real.mixture_config import load_mixture_config
    from sweeps.config import load_sweep

    mix = tmp_path / "mix.yaml"
    mix.write_text("task: mixture\nname: m\nsize: 10\nsize: 20\nsources: []\n")
    with pytest.raises(ConfigError) as err:
        load_mixture_config(mix)
    assert err.value.field == "size"
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("name: s\nbase_config: tiny\nrecipe: r.yaml\naxes:\n  instructions: [1, 2]\n  instructions: [3]\n")
    with pytest.raises(ConfigError) as err:
        load_sweep(sweep)
    assert err.value.field == "axes.instructions"
    pytest.importorskip("trl")
    from training.sft import parse_recipe

    recipe = tmp_path / "r.yaml"
    recipe.write_text(TINY_RECIPE.read_text() + "\nlearning_rate: 0.5\n")
    with pytest.raises(ConfigError) as err:
        parse_recipe(["--config", str(recipe)])
    assert err.value.field == "learning_rate"


# ---- --overwrite --------------------------------------------------------------------------------------------


def listing(folder: Path) -> list[str]:
    """Every entry under ``folder`` (symbolic links listed, never followed)."""
    return sorted(os.path.relpath(os.path.join(d, n), folder) for d, dirs, files in os.walk(folder) for n in dirs + files)


def generated(tmp_path: Path) -> Path:
    out = tmp_path / "ds"
    assert CliRunner().invoke(datagen, ["generate", "tiny", "-o", str(out), "--quiet"]).exit_code == 0
    return out


@pytest.mark.parametrize("extra", ["notes.txt", "data/mine.csv", "data/sub/x.parquet", "link", ".git/config"])
def test_overwrite_refuses_a_dataset_folder_holding_other_files(tmp_path, extra):
    out = generated(tmp_path)
    target = out / extra
    target.parent.mkdir(parents=True, exist_ok=True)
    if extra == "link":
        target.symlink_to(tmp_path)
    else:
        target.write_text("keep me")
    before = listing(out)
    res = CliRunner().invoke(datagen, ["generate", "tiny", "-o", str(out), "--quiet", "--overwrite"])
    assert res.exit_code == 2
    one_line_error(res.output, "--overwrite would delete them", extra.split("/sub")[0].split("/config")[0])
    assert listing(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_overwrite_replaces_what_generate_wrote(tmp_path):
    out = generated(tmp_path)
    res = CliRunner().invoke(datagen, ["generate", "tiny", "-o", str(out), "--quiet", "--overwrite", "--set", "seed=4"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "datagen.json").read_text())["seed"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_files_added_while_generating_are_never_deleted(tmp_path, monkeypatch):
    from generators import build
    from generators.config import load_config

    out = generated(tmp_path)
    real = build._write_all

    def meanwhile(*args, **kwargs):
        (out / "added-meanwhile.txt").write_text("mine")
        return real(*args, **kwargs)

    monkeypatch.setattr(build, "_write_all", meanwhile)
    with pytest.raises(ConfigError, match="added-meanwhile.txt"):
        build.generate(load_config(ROOT / "generators" / "configs" / "tiny.yaml"), out, overwrite=True, progress=False)
    assert (out / "added-meanwhile.txt").read_text() == "mine" and (out / "datagen.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


# ---- empty parquet in training and diveval rewrite ----------------------------------------------------------


@pytest.fixture
def empty_train(tmp_path) -> Path:
    """A dataset folder whose train split is a parquet file with the right columns and no rows."""
    folder = tmp_path / "empty-train"
    (folder / "data").mkdir(parents=True)
    schema = pa.schema([("prompt", pa.string()), ("completion", pa.string())])
    pq.write_table(schema.empty_table(), folder / "data" / "train-00000-of-00001.parquet")
    rows = pa.table({"prompt": ["ab -> c\nabab\n"] * 4, "completion": ["cab"] * 4}, schema=schema)
    for split in ("test_seen", "test_unseen"):
        pq.write_table(rows, folder / "data" / f"{split}-00000-of-00001.parquet")
    return folder


def test_empty_parquet_in_training_names_the_file(empty_train, tmp_path):
    pytest.importorskip("trl")
    from training.sft import main

    with pytest.raises(ConfigError) as err:
        main(["--config", str(TINY_RECIPE), "--dataset", str(empty_train), "--output_dir", str(tmp_path / "o")])
    assert err.value.field == "dataset" and "data/train-00000-of-00001.parquet holds no rows" in str(err.value)


def test_empty_parquet_with_python_and_divtrain(empty_train, tmp_path):
    """The worker finds the empty file (a check only the data allows): one line, exit status 2, with python alone
    and under `accelerate launch` (divtrain), which adds nothing to the worker's line."""
    pytest.importorskip("trl")
    args = ["--config", str(TINY_RECIPE), "--dataset", str(empty_train), "--output_dir", str(tmp_path / "o")]
    for launcher in ([sys.executable], [sys.executable, "-m", "training.launch", "--config_file",
                                        str(ROOT / "training" / "accelerate" / "cpu.yaml")]):
        proc = subprocess.run([*launcher, str(ROOT / "training" / "sft.py"), *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 2, proc.stderr
        one_line_error(proc.stdout + proc.stderr, "error: dataset: cannot load", "holds no rows")


def test_empty_parquet_in_diveval_rewrite(empty_train, tmp_path):
    from eval.cli import main as diveval

    (empty_train / "data" / "test_unseen-00000-of-00001.parquet").unlink()
    pq.write_table(pa.schema([("prompt", pa.string()), ("completion", pa.string())]).empty_table(),
                   empty_train / "data" / "test_unseen-00000-of-00001.parquet")
    model = tmp_path / "model"  # a model folder: the data is loaded (and refused) before the model's weights
    model.mkdir()
    res = CliRunner().invoke(diveval, ["rewrite", str(model), "--dataset", str(empty_train)])
    assert res.exit_code == 2
    one_line_error(res.output, "dataset: cannot load", "test_unseen-00000-of-00001.parquet holds no rows")


# ---- batch size, learning rate ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (["--per_device_train_batch_size", "0"], "per_device_train_batch_size"),
        (["--per_device_eval_batch_size", "0"], "per_device_eval_batch_size"),
        (["--gradient_accumulation_steps", "0"], "gradient_accumulation_steps"),
        (["--learning_rate", "nan"], "learning_rate"),
        (["--learning_rate", "inf"], "learning_rate"),
        (["--learning_rate", "-0.001"], "learning_rate"),
        (["--learning_rate", "0"], "learning_rate"),
        (["--weight_decay", "nan"], "weight_decay"),
        (["--max_steps", "0"], "max_steps"),
        (["--max_steps", "-5"], "max_steps"),  # issue 21.3: it trained by epochs (189 steps)
        (["--max-steps", "-2"], "max_steps"),
        (["--num_train_epochs", "0"], "num_train_epochs"),
        (["--logging_steps", "0"], "logging_steps"),
        (["--eval_steps", "-1"], "eval_steps"),
        (["--save_total_limit", "-1"], "save_total_limit"),
        (["--seed", "-1"], "seed"),
        (["--max_length", "0"], "max_length"),
        (["--n_layer", "0"], "n_layer"),
        (["--n_head", "3"], "n_head"),  # 64 wide: not divisible
        (["--dropout", "1"], "dropout"),
        (["--lora_r", "0"], "lora_r"),
        (["--lora_alpha", "0"], "lora_alpha"),
        (["--save_steps", "0"], "save_steps"),
        (["--lora_dropout", "-0.1"], "lora_dropout"),
        (["--adam_beta2", "1"], "adam_beta2"),
        (["--warmup_steps", "-1"], "warmup_steps"),
        (["--max_train_samples", "0"], "max_train_samples"),
        (["--early_stopping_patience", "0"], "early_stopping_patience"),
        (["--max_steps", "abc"], "max_steps"),  # argparse's own refusal, as one error
        (["--lr_scheduler_type", "linaer"], "lr_scheduler_type"),
    ],
)
def test_values_that_cannot_be_meant_are_refused_while_reading_the_recipe(extra, field):
    pytest.importorskip("trl")
    from training.sft import parse_recipe

    with pytest.raises(ConfigError) as err:
        parse_recipe(["--config", str(TINY_RECIPE), *extra])
    assert err.value.field == field
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("extra", [["--max_steps", "-1"], ["--max_steps", "1"], ["--save_total_limit", "0"],
                                   ["--seed", "0"], ["--dropout", "0"], ["--warmup_steps", "0.1"]])
def test_the_edges_of_each_range_are_accepted(extra):
    pytest.importorskip("trl")
    from training.sft import parse_recipe, validate

    validate(parse_recipe(["--config", str(TINY_RECIPE), *extra, "--dataset", str(ROOT)]), data=False)


def test_a_value_in_the_recipe_file_is_named_with_the_file(tmp_path):
    pytest.importorskip("trl")
    from training.sft import parse_recipe

    recipe = tmp_path / "r.yaml"
    recipe.write_text(TINY_RECIPE.read_text().replace("learning_rate: 3.0e-3", "learning_rate: .nan"))
    with pytest.raises(ConfigError, match=rf"^learning_rate: must be a finite number, got nan \(recipe {recipe}\)$"):
        parse_recipe(["--config", str(recipe)])
    with pytest.raises(ConfigError, match=r"^learning_rate: must be positive, got 0.0 \(on the command line\)$"):
        parse_recipe(["--config", str(recipe), "--learning_rate", "0"])


# ---- an unreachable Hub -------------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_hub():
    """A server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    t.join()
    for c in held:
        c.close()
    server.close()


@pytest.mark.parametrize("hub", ["closed", "silent"])
@pytest.mark.parametrize(("extra", "field"), [
    (["--dataset", "org/nosuch"], "dataset"),
    (["--model_name_or_path", "org/nosuch"], "model_name_or_path"),
])
def test_an_unreachable_hub_id_is_one_error_naming_the_field(hub, extra, field, monkeypatch, request):
    pytest.importorskip("trl")
    from huggingface_hub import constants

    from publishing import loading as data
    from training.sft import parse_recipe, validate

    endpoint = f"http://127.0.0.1:{closed_port()}" if hub == "closed" else request.getfixturevalue("silent_hub")
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(data, "HUB_PROBE_TIMEOUT_S", 0.5)
    r = parse_recipe(["--config", str(TINY_RECIPE), "--dataset", str(ROOT), *extra])  # the dataset: a folder here
    with pytest.raises(ConfigError) as err:
        validate(r)
    assert err.value.field == field and endpoint in str(err.value) and "HF_HUB_OFFLINE" in str(err.value)


def test_local_sources_never_probe_the_hub(tiny_dataset, monkeypatch):
    from publishing import loading as data

    def probe(*args, **kwargs):
        raise AssertionError("probed the Hub for a local source")

    monkeypatch.setattr("huggingface_hub.utils.get_session", probe)
    for source in (str(tiny_dataset), "local/x", "local:org/x", "name-only", "./rel/x", "a/b/c", None):
        data.check_hub_reachable(source, "dataset")
    assert data.may_use_hub("org/x") and data.may_use_hub("hub:org/x") and not data.may_use_hub(str(tiny_dataset))
    monkeypatch.chdir(ROOT)
    assert not data.may_use_hub("training/nosuch")  # its parent is a folder here: a missing folder, not a Hub id


# ---- diveval plot -------------------------------------------------------------------------------------------


def results_file(path: Path, **changes) -> Path:
    doc = {
        "schema": "diveval/rewrite/1", "model": {"name": "m"},
        "dataset": {"name": "d", "diversity": {"instructions": 100, "examples_per_instruction": 10, "alpha": 1.0}},
        "splits": {"test_unseen": {"n": 10, "accuracy": 0.5, "ci_low": 0.2, "ci_high": 0.8}},
    }
    for dotted, value in changes.items():
        node = doc
        *parents, last = dotted.split("__")
        for p in parents:
            node = node[p]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"), "binary data at byte 0"),
        (lambda p: p.write_text(results_file(p).read_text()[:60]), "is not valid JSON (cut short?)"),
        (lambda p: results_file(p, splits__test_unseen__ci_low=KeyError), "splits.test_unseen.ci_low is missing"),
        (lambda p: results_file(p, model=KeyError), "'model' is missing"),
        (lambda p: results_file(p, splits__test_unseen__accuracy="high"), "'accuracy' must be a finite number"),
        (lambda p: results_file(p, dataset__diversity__instructions="many"), "'I' must be a finite number"),
        (lambda p: p.write_text('[{"I": 10, "S": 1, "accuracy": NaN}]'), "'accuracy' must be a finite number"),
        (lambda p: p.write_text('[{"I": 10, "S": 1, "accuracy": 1.5}]'), "'accuracy' must be >= 0 and <= 1"),
        (lambda p: p.write_text('[{"I": 0, "S": 1, "accuracy": 0.5}]'), "'I' must be > 0"),
        (lambda p: p.write_text('{"rows": [{"I": true, "accuracy": 0.5}]}'), "'I' must be a finite number"),
    ],
)
def test_plot_names_the_file_and_what_is_wrong(tmp_path, make, needle):
    from eval.cli import main as diveval

    good = results_file(tmp_path / "good.json")
    bad = tmp_path / "bad.json"
    make(bad)
    res = CliRunner().invoke(diveval, ["plot", str(good), str(bad), "-o", str(tmp_path / "plots")])
    assert res.exit_code == 2
    one_line_error(res.output, str(bad), needle)
    assert not (tmp_path / "plots").exists()


def test_plot_still_draws_good_files(tmp_path):
    from eval.cli import main as diveval

    files = [results_file(tmp_path / f"r{i}.json", dataset__diversity__instructions=i) for i in (10, 100, 1000)]
    res = CliRunner().invoke(diveval, ["plot", *map(str, files), "-o", str(tmp_path / "plots")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "plots" / "phase_transition.png").stat().st_size > 0


def test_no_traceback_reaches_the_user_from_python_m_eval(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(bytes(range(256)))
    proc = subprocess.run([sys.executable, "-m", "eval", "plot", str(bad)], cwd=ROOT, capture_output=True, text=True,
                          env=os.environ.copy(), timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and str(bad) in proc.stderr, proc.stderr
