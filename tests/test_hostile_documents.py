"""Hostile YAML and JSON documents end in one line naming the file, at once: a 1 KB "billion laughs" config
(anchors and aliases that expand to 10^9 values), documents nested thousands of levels deep, integers of 5,000
digits, and values too long to show in an error.

The alias bomb would make anything that walks it (validation, an error message's ``repr``) take hours and
gigabytes, so it runs in a subprocess with a time and memory limit: a hang or a blow-up fails the test instead
of the machine.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from test_code_forgery import bounded

from core.config import ALIAS_BUDGET, read_yaml_config
from core.documents import MAX_DEPTH, read_json, shown
from core.errors import ConfigError
from eval.cli import main as diveval
from eval.code.cli import main as code_cli
from eval.results import read_results
from generators.config import load_config
from publishing.cli import main as datagen

ROOT = Path(__file__).resolve().parent.parent


def billion_laughs() -> str:
    """Nine levels of ten aliases each: 1 KB of YAML, 10^9 values once expanded."""
    text = "lol0: &lol0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for i in range(1, 10):
        text += f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 10)}]\n"
    return text + "instructions: *lol9\n"


def _limits() -> None:  # the child's memory: the bomb, walked, would take tens of GB
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def test_a_billion_laughs_config_is_refused_at_once_in_one_line(tmp_path):
    config = tmp_path / "lol.yaml"
    config.write_text(billion_laughs())
    assert len(config.read_bytes()) < 1100
    proc = subprocess.run([sys.executable, "-m", "publishing.cli", "generate", str(config), "-o", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=60, preexec_fn=_limits, cwd=ROOT)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()
    assert f"config file {config} cannot be read" in line and "anchors and aliases expand to more than" in line
    assert not (tmp_path / "o").exists()


def test_aliases_within_the_budget_still_load(tmp_path):
    """Merge keys and a thousand expanded values are ordinary YAML; the budget is far above them."""
    config = tmp_path / "ok.yaml"
    config.write_text("base: &b {alphabet: ab, x_len: 2}\nspace: {<<: *b, y_len: 1}\n"
                      "l0: &l0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nl1: &l1 [*l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0]\n"
                      "l2: [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]\n")
    data = read_yaml_config(config)
    assert data["space"] == {"alphabet": "ab", "x_len": 2, "y_len": 1} and len(data["l2"]) == 10
    assert ALIAS_BUDGET >= 1000


def test_a_self_referring_alias_is_refused(tmp_path):
    config = tmp_path / "loop.yaml"
    config.write_text("a: &a [1, *a]\n")
    with pytest.raises(ConfigError, match="an alias refers to a node that contains it"):
        read_yaml_config(config)


def test_a_value_too_long_to_show_is_shown_abbreviated(tmp_path):
    """A 3,000-item list where a number is expected: the error names the field, shows the value's start."""
    config = tmp_path / "long.yaml"
    config.write_text(yaml.safe_dump({"name": "x", "instructions": list(range(3_000))}))
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert err.value.field == "instructions" and "[0, 1, 2, 3, 4, 5, ...]" in err.value.message
    assert len(str(err.value)) < 200
    x: list = []
    for _ in range(9):
        x = [x] * 10
    assert len(shown(x)) <= 80  # bounded, without walking the 10^9 leaves


DEEP_JSON = "[" * 5000 + "]" * 5000
SHALLOW_BUT_TOO_DEEP = "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)  # parses; the depth check refuses it
BIG_INT = "9" * 5000


@pytest.mark.parametrize("body, reason", [
    (f'{{"name": {DEEP_JSON}}}', f"nested deeper than {MAX_DEPTH} levels"),
    (f'{{"name": {SHALLOW_BUT_TOO_DEEP}}}', f"nested deeper than {MAX_DEPTH} levels"),
    (f'{{"name": "x", "rows": {BIG_INT}}}', "an integer of more than 4300 digits"),
], ids=["deep", "past-the-limit", "big-int"])
def test_a_hostile_datagen_json_is_one_line_naming_it(tmp_path, body, reason):
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "datagen.json").write_text(body)
    for args in (["verify", str(folder), "--no-remake"], ["push", "--from-folder", str(folder)]):
        res = CliRunner().invoke(datagen, args)
        assert res.exit_code == 2 and res.output.count("\n") == 1, res.output
        assert f"{folder / 'datagen.json'} cannot be read: {reason}" in res.output, res.output


@pytest.mark.parametrize("body, reason", [
    ("name: x\ninstructions: " + "[" * 5000 + "]" * 5000 + "\n", f"nested deeper than {MAX_DEPTH} levels (line 2)"),
    (f"name: x\ninstructions: {BIG_INT}\n", "an integer of more than 4300 digits (line 2)"),
], ids=["deep", "big-int"])
def test_a_hostile_config_is_one_line_naming_it(tmp_path, body, reason):
    config = tmp_path / "bad.yaml"
    config.write_text(body)
    res = CliRunner().invoke(datagen, ["generate", str(config), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and res.output.count("\n") == 1, res.output
    assert f"config file {config} cannot be read: {reason}" in res.output
    res = CliRunner().invoke(datagen, ["generate", "tiny", "-o", str(tmp_path / "o"), "--set",
                                       "instructions=" + "[" * 3000 + "]" * 3000])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "instructions" in res.output, res.output


def test_hostile_results_files_are_one_line_naming_them(tmp_path):
    for name, body in (("deep.json", DEEP_JSON), ("big.json", f'{{"rows": [{{"I": {BIG_INT}}}]}}')):
        path = tmp_path / name
        path.write_text(body)
        with pytest.raises(ConfigError, match=f"{path} cannot be read"):
            read_results(path)
        res = CliRunner().invoke(diveval, ["plot", str(path), "-o", str(tmp_path / "p")])
        assert res.exit_code == 2 and res.output.count("\n") == 1, res.output
        assert f"{path} cannot be read" in res.output


def test_read_json_refuses_what_is_not_a_bounded_document(tmp_path):
    path = tmp_path / "ok.json"
    path.write_text(json.dumps({"a": [[[1]]]}))
    assert read_json(path) == {"a": [[[1]]]}
    with pytest.raises(ConfigError, match=f"{tmp_path / 'missing.json'} does not exist"):
        read_json(tmp_path / "missing.json")
    path.write_bytes(b"\xff{}")
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_json(path)
    path.write_text("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert read_json(path) is not None  # exactly the limit is fine


def test_an_error_message_is_one_bounded_line_whatever_is_put_in_it():
    err = ConfigError("field", "start\n" + "x" * 10_000 + "\nEND")
    assert "\n" not in str(err) and len(err.message) <= 2000
    assert err.message.startswith("start x") and err.message.endswith("x END") and "characters left out" in err.message


SEXAGESIMAL = "1" + ":59" * 3000  # an int in base 60: 18,000 bits (and quadratic to convert in its length)


@pytest.mark.parametrize("line, reason", [
    ("seed: 0x" + "f" * 4000, "cannot be read: an integer of more than 4300 digits (line"),  # 4,817 digits
    ("seed: 0b" + "1" * 4300 * 4, "cannot be read: an integer of more than 4300 digits (line"),
    (f"seed: {SEXAGESIMAL}", "cannot be read: an integer of more than 4300 digits (line"),
    (f"noop_fraction: {SEXAGESIMAL}.5", "is not valid YAML: cannot read '1:59:59"),  # overflows a float
    ("seed: 2001-13-01", "is not valid YAML: cannot read '2001-13-01' as timestamp"),  # a date, month 13
    ("seed: !!bool maybe", "is not valid YAML: cannot read 'maybe' as bool"),
    ("seed: !!float x", "is not valid YAML: cannot read 'x' as float"),
    ("seed: !!int 12x", "is not valid YAML: cannot read '12x' as int"),  # not "more than 4300 digits"
], ids=["hex", "binary", "sexagesimal", "sexagesimal-float", "date", "bool", "float", "int"])
def test_numbers_and_dates_yaml_cannot_build_are_one_line_naming_the_file(tmp_path, line, reason):
    """YAML 1.1 writes ints in hex, binary and base 60, and reads 2001-13-01 as a date: each, as a value no
    Python object can hold (or one whose first error message could not show it), is one line naming the file
    (they were tracebacks: int-to-str's limit, OverflowError, ValueError, KeyError from the constructors)."""
    config = tmp_path / "bad.yaml"
    config.write_text(f"name: x\n{line}\n")
    res = CliRunner().invoke(datagen, ["generate", str(config), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and res.output.count("\n") == 1, res.output
    assert f"config file {config} {reason}" in res.output, res.output
    for written, value in (("0x1f", 31), ("1:30", 90), ("0x" + "f" * 3000, 16**3000 - 1)):  # 3,613 digits: fine
        config.write_text(f"name: x\nseed: {written}\n")
        assert load_config(config).seed == value


def test_a_config_at_a_fifo_or_a_device_is_refused_without_reading_it(tmp_path):
    """Config files are read as JSON documents are: only a regular file (a FIFO blocked the read forever)."""
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/null")):
        got: list = []
        reader = threading.Thread(target=lambda p=path, out=got: out.append(_refusal(p)), daemon=True)
        reader.start()
        reader.join(30)
        assert got == [f"config file {path} cannot be read: not a regular file"], (path, got)


def _refusal(path: Path) -> str | None:
    try:
        read_yaml_config(path)
    except ConfigError as exc:
        return exc.message
    return None


PROBLEM = {"task_id": "T/0", "prompt": "def f(x):\n", "entry_point": "f", "canonical_solution": "    return 2 * x\n",
           "base_input": [[1]], "plus_input": [], "atol": 0, "contract": ""}


@pytest.mark.parametrize("problems, samples, reason", [
    ("[1]", None, "problem ? lacks task_id"),
    (json.dumps({**PROBLEM, "task_id": [1]}), None, "has task_id of the wrong type"),
    (json.dumps({**PROBLEM, "prompt": 5}), None, "has prompt of the wrong type"),
    (json.dumps({**PROBLEM, "base_input": [5]}), None, "has base_input of the wrong type"),
    (json.dumps({**PROBLEM, "atol": "x"}), None, "has atol of the wrong type"),  # was scored, silently
    (DEEP_JSON, None, "line 1 cannot be read: nested deeper than"),
    (None, "[1]", "every line must be an object {task_id, solution}"),
    (None, json.dumps({"task_id": [1], "solution": ""}), "every line must be an object {task_id, solution}"),
    (None, DEEP_JSON, "line 1 cannot be read: nested deeper than"),
    ("FIFO", None, "cannot be read: not a regular file"),
    (None, "FIFO", "cannot be read: not a regular file"),
], ids=["not-an-object", "task-id", "prompt", "inputs", "atol", "deep", "sample-not-an-object", "sample-task-id",
        "sample-deep", "problems-fifo", "samples-fifo"])
def test_malformed_code_score_files_are_one_line_naming_them(tmp_path, problems, samples, reason):
    """``diveval code-score``'s problems and samples files: a line that is not a record of the right types, or
    a file that is a FIFO, is one line naming it (they were tracebacks, a silent score, or a read that never
    ended), before any sandbox is started."""
    files = {}
    for name, body, good in (("problems", problems, json.dumps(PROBLEM)),
                             ("samples", samples, json.dumps({"task_id": "T/0", "solution": "def f(x): return 2*x"}))):
        files[name] = tmp_path / f"{name}.jsonl"
        if body == "FIFO":
            os.mkfifo(files[name])
        else:
            files[name].write_text((body or good) + "\n")
    res = bounded(lambda: CliRunner().invoke(code_cli, ["code-score", str(files["samples"]), "-b", "humaneval",
                                                        "--humaneval-file", str(files["problems"]),
                                                        "--unsafe-no-sandbox", "-o", str(tmp_path / "o")]), 30)
    assert res.exit_code != 0 and res.output.count("\n") == 1 and "Traceback" not in res.output, res.output
    named = files["problems"] if problems is not None else files["samples"]
    assert f"{named.name}" in res.output and reason in res.output, res.output
    assert not (tmp_path / "o").exists()
