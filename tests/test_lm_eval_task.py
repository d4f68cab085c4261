"""The lm-evaluation-harness task group (eval/lm_eval_tasks) scores our test splits as `diveval rewrite` does.

Each model here is built in the test and saved to a folder that lm-eval loads with ``model="hf"``,
``pretrained=<folder>``; the same folder and dataset go through ``diveval rewrite``. The scores, and every row's
correctness, must agree with each other and with the answers known from how the model was built.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is not installed: pip install -e '.[lmeval]'")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import torch  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from evalkit import CopyConfig, CopyModel, char_tokenizer, copy_model, save_model, tiny_gpt2  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402
from transformers import AutoConfig, AutoModelForCausalLM  # noqa: E402

from eval.cli import main as diveval  # noqa: E402
from eval.lm_eval_tasks import GROUP, TASKS, TASKS_DIR  # noqa: E402

SPLIT_OF = {"instruction_diversity_unseen": "test_unseen", "instruction_diversity_seen": "test_seen"}
CHARS = "abcdef -> \n|\x00"


# ---------------------------------------------------------------- a model whose answers are known


class ScriptConfig(CopyConfig):
    model_type = "lmeval-test-script"

    def __init__(self, bar_id: int = 4, **kw):
        self.bar_id = bar_id
        super().__init__(**kw)


class ScriptModel(CopyModel):
    """Greedy output = the prompt's first line with every ``|`` written as a newline, then EOS."""

    config_class = ScriptConfig

    def _next(self, seq: list[int]) -> int:
        seq = [t for t in seq if t >= 0]
        nl = self.config.newline_id
        if nl not in seq:
            return self.config.eos_token_id
        end = seq.index(nl)  # the prompt's first line is seq[:end]; what follows it was written so far
        done = len(seq) - end - 1
        if done >= end:
            return self.config.eos_token_id
        return nl if seq[done] == self.config.bar_id else seq[done]


AutoConfig.register(ScriptConfig.model_type, ScriptConfig, exist_ok=True)
AutoModelForCausalLM.register(ScriptConfig, ScriptModel, exist_ok=True)


def script_answer(prompt: str) -> str:
    """What ScriptModel writes for ``prompt`` (from its definition)."""
    return prompt.split("\n")[0].replace("|", "\n")


# ---------------------------------------------------------------- helpers


def write_dataset(folder: Path, splits: dict[str, list[dict]]) -> Path:
    """A dataset folder as the Hub lays one out (``data/<split>-00000-of-00001.parquet``)."""
    (folder / "data").mkdir(parents=True)
    for split, rows in splits.items():
        pq.write_table(pa.Table.from_pylist(rows), folder / "data" / f"{split}-00000-of-00001.parquet")
    return folder


def read_split(folder: Path, split: str) -> list[dict]:
    return pq.read_table(next((folder / "data").glob(f"{split}-*.parquet"))).to_pylist()


def run_lm_eval(model: Path, metadata: dict, tasks=(GROUP,), **kwargs) -> tuple[dict, dict[str, list[bool]]]:
    """lm-eval's Python API on CPU: (accuracy per split, each row's correctness in row order per split)."""
    manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False, metadata=metadata)
    out = lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={model},device=cpu,dtype=float32", tasks=list(tasks),
        task_manager=manager, log_samples=True, batch_size=8, **kwargs,
    )
    scores = {SPLIT_OF[t]: r["exact_match,none"] for t, r in out["results"].items() if t in SPLIT_OF}
    rows = {}
    for task, samples in out["samples"].items():
        samples = sorted(samples, key=lambda s: s["doc_id"])
        assert [s["doc_id"] for s in samples] == list(range(len(samples)))
        rows[SPLIT_OF[task]] = [s["exact_match"] == 1.0 for s in samples]
    return scores, rows


def run_diveval(model: Path, dataset: Path, tmp_path: Path) -> tuple[dict, dict[str, list[bool]]]:
    """`diveval rewrite` on the same folders: (accuracy per split, each row's correctness in row order)."""
    out, preds = tmp_path / "diveval" / "results.json", tmp_path / "diveval" / "preds.jsonl"
    r = CliRunner().invoke(
        diveval, ["rewrite", str(model), "--dataset", str(dataset), "-o", str(out), "--predictions", str(preds), "--quiet"],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    results = json.loads(out.read_text())
    scores = {s: results["splits"][s]["accuracy"] for s in SPLIT_OF.values()}
    rows: dict[str, list[bool]] = {s: [] for s in SPLIT_OF.values()}
    for line in preds.read_text().splitlines():
        record = json.loads(line)
        rows[record["split"]].append(record["correct"])
    return scores, rows


# ---------------------------------------------------------------- tests


def test_group_and_tasks_are_found_in_the_shipped_folder():
    manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False)
    assert GROUP in manager.all_groups
    assert set(TASKS) <= set(manager.all_subtasks)


def test_copy_model_scores_as_diveval_on_a_generated_dataset(tmp_path, tiny_dataset):
    """Known answers: the copy model writes the input back, so exactly the rows whose completion is the input
    (the no-ops) are right."""
    tok = char_tokenizer(CHARS)
    model = tmp_path / "copy-model"
    save_model(copy_model(tok), tok, model)
    expected = {s: [r["completion"] == r["prompt"].split("\n")[1] for r in read_split(tiny_dataset, s)] for s in SPLIT_OF.values()}
    assert all(0 < sum(v) < len(v) for v in expected.values())  # some right, some wrong

    lm_scores, lm_rows = run_lm_eval(model, {"dataset": str(tiny_dataset)})
    dv_scores, dv_rows = run_diveval(model, tiny_dataset, tmp_path)
    assert lm_rows == dv_rows == expected
    assert lm_scores == pytest.approx(dv_scores, abs=1e-12)
    assert lm_scores["test_unseen"] == pytest.approx(sum(expected["test_unseen"]) / len(expected["test_unseen"]))


def test_a_model_that_does_not_stop_is_wrong_in_both(tmp_path, tiny_dataset):
    """The commonest failure of a real model: it writes the answer and goes on (here: the input, then its last
    character again, never EOS). Each tool cuts it at its token limit, past the longest answer, so every row,
    the no-ops whose answer it did write included, is wrong in both."""
    tok = char_tokenizer(CHARS)
    model = tmp_path / "endless-model"
    save_model(copy_model(tok, stops=False), tok, model)
    rows = read_split(tiny_dataset, "test_unseen")
    assert any(r["completion"] == r["prompt"].split("\n")[1] for r in rows)  # rows whose answer it writes first

    lm_scores, lm_rows = run_lm_eval(model, {"dataset": str(tiny_dataset)}, tasks=["instruction_diversity_unseen"])
    dv_scores, dv_rows = run_diveval(model, tiny_dataset, tmp_path)
    assert lm_rows["test_unseen"] == dv_rows["test_unseen"] == [False] * len(rows)
    assert lm_scores["test_unseen"] == dv_scores["test_unseen"] == 0.0


SCRIPT_ROWS = [  # (prompt, completion): ScriptModel writes script_answer(prompt)
    ("abc\n", "abc"),  # right
    ("ab|cd\n", "ab"),  # the answer, a newline and more: wrong (a stop at "\n" would call it right)
    ("ab|cd\n", "ab\ncd"),  # a completion holding a newline, written in full: right
    ("abc\n", "ab"),  # one character too many: wrong
    ("ab\n", "abc"),  # one too few: wrong
    ("abc \n", "abc"),  # a trailing space is a difference: wrong
    ("abc\n", "abc "),  # so is a missing one: wrong
    ("a" * 300 + "\n", "a" * 300),  # longer than lm-eval's default 256 new tokens: right
    ("f|\n", "f\n"),  # an answer that ends with a newline: right
    ("ab\x00\n", "ab"),  # a trailing NUL is a difference too: wrong (numpy's string equality ignores it)
]


@pytest.fixture(scope="module")
def script_case(tmp_path_factory):
    root = tmp_path_factory.mktemp("script")
    tok = char_tokenizer(CHARS)
    model = root / "script-model"
    cfg = ScriptConfig(
        vocab_size=len(tok), newline_id=tok.convert_tokens_to_ids("\n"), bar_id=tok.convert_tokens_to_ids("|"),
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    save_model(ScriptModel(cfg).eval(), tok, model)
    rows = [{"prompt": p, "completion": c, "is_noop": False} for p, c in SCRIPT_ROWS]
    dataset = write_dataset(root / "script-data", {"test_unseen": rows, "test_seen": rows[::-1]})
    return model, dataset


def test_known_answers_newlines_whitespace_and_long_answers(script_case, tmp_path):
    model, dataset = script_case
    expected = {s: [script_answer(r["prompt"]) == r["completion"] for r in read_split(dataset, s)] for s in SPLIT_OF.values()}
    assert expected["test_unseen"] == [True, False, True, False, False, False, False, True, True, False]  # as commented

    lm_scores, lm_rows = run_lm_eval(model, {"dataset": str(dataset)})
    dv_scores, dv_rows = run_diveval(model, dataset, tmp_path)
    assert lm_rows == dv_rows == expected
    assert lm_scores == pytest.approx(dv_scores, abs=1e-12)


def test_a_token_limit_given_on_the_command_line_wins(script_case):
    """--gen_kwargs max_gen_toks=N replaces the per-row budget: every answer is cut after N tokens, so a cap
    shorter than an answer + EOS scores the cut text (here "abc \\n" cut to "abc" becomes right)."""
    model, dataset = script_case
    _, rows = run_lm_eval(model, {"dataset": str(dataset)}, tasks=["instruction_diversity_unseen"], gen_kwargs="max_gen_toks=3")
    expected = [script_answer(p)[:3] == c for p, c in SCRIPT_ROWS]
    assert rows["test_unseen"] == expected == [True, False, False, False, False, True, False, False, True, False]


def reference_greedy(model, tok, prompt: str, steps: int) -> tuple[list[int], bool]:
    """Greedy decoding from its definition: one prompt, the whole sequence each step, argmax, until EOS.

    Returns the tokens before EOS and whether EOS came within ``steps``."""
    ids, out = tok(prompt)["input_ids"], []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: more threads only contend
    try:
        with torch.no_grad():
            for _ in range(steps):
                nxt = int(model(torch.tensor([ids + out])).logits[0, -1].argmax())
                if nxt == tok.eos_token_id:
                    return out, True
                out.append(nxt)
        return out, False
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def gpt2_case(tmp_path_factory, tiny_dataset):
    """A seeded random GPT-2 with 128 positions (fewer than lm-eval's default 256 new tokens) and 12 rows per
    split of the tiny dataset, two in three with the completion replaced by the model's own greedy answer where
    that answer ends with EOS (no special tokens inside): those rows must be right, the others wrong."""
    root = tmp_path_factory.mktemp("gpt2")
    tok = char_tokenizer(CHARS)
    gpt = tiny_gpt2(tok, seed=0, n_positions=128, init_std=0.3)
    with torch.no_grad():  # nudged to end its answers, and never to write pad / unk
        emb = gpt.transformer.wte.weight  # tied to the output layer
        emb[tok.eos_token_id] *= 1.5
        emb[tok.pad_token_id] = emb[tok.unk_token_id] = 0
    model = root / "gpt2"
    save_model(gpt, tok, model)
    specials = set(tok.all_special_ids)
    dataset = root / "data"
    shutil.copytree(tiny_dataset, dataset)
    expected = {}
    for split in SPLIT_OF.values():
        rows = read_split(tiny_dataset, split)[:12]
        answers = [reference_greedy(gpt, tok, row["prompt"], steps=20) for row in rows]
        for i, (row, (ids, ended)) in enumerate(zip(rows, answers)):
            if i % 3 and ended and not specials & set(ids):  # every third row keeps its true completion
                row["completion"] = tok.decode(ids)
        expected[split] = [ended and ids == tok(r["completion"])["input_ids"] for r, (ids, ended) in zip(rows, answers)]
        pq.write_table(pa.Table.from_pylist(rows), next((dataset / "data").glob(f"{split}-*.parquet")))  # same file
    assert all(sum(v) >= 4 and not all(v) for v in expected.values()), "the seeded model no longer fits this test"
    return model, dataset, expected


def test_gpt2_with_a_short_context_scores_as_diveval(gpt2_case, tmp_path):
    """A real transformer, batched and left-padded in both tools."""
    model, dataset, expected = gpt2_case
    lm_scores, lm_rows = run_lm_eval(model, {"dataset": str(dataset)})
    dv_scores, dv_rows = run_diveval(model, dataset, tmp_path)
    assert lm_rows == dv_rows == expected
    assert lm_scores == pytest.approx(dv_scores, abs=1e-12)


def test_dataset_by_local_hub_name_and_revision(tiny_dataset):
    from publishing.cli import main as datagen

    r = CliRunner().invoke(datagen, ["push", "--from-folder", str(tiny_dataset), "--local-name", "org/tiny",
                                     "--version", "v1.0.0", "--quiet"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    from eval.lm_eval_tasks.utils import load_test_seen, load_test_unseen

    for load, split in ((load_test_unseen, "test_unseen"), (load_test_seen, "test_seen")):
        got = load(dataset="org/tiny", dataset_revision="v1.0.0", pretrained="ignored", version=1.0)
        assert list(got) == [split]
        assert got[split].to_list() == read_split(tiny_dataset, split)


def test_dataset_config_of_a_multi_config_folder(tmp_path, tiny_dataset):
    """A released sweep: one config per run, `<config>/data/<split>-*.parquet`, listed in the card."""
    root = tmp_path / "release"
    card = ["---", "configs:"]
    for config in ("I8", "I24"):
        (root / config / "data").mkdir(parents=True)
        card.append(f"- config_name: {config}\n  data_files:")
        for split in ("test_unseen", "test_seen"):
            rows = read_split(tiny_dataset, split)[: 4 if config == "I8" else 6]
            pq.write_table(pa.Table.from_pylist(rows), root / config / "data" / f"{split}-00000-of-00001.parquet")
            card.append(f"  - split: {split}\n    path: {config}/data/{split}-*.parquet")
    (root / "README.md").write_text("\n".join([*card, "---", ""]))
    from eval.lm_eval_tasks.utils import load_test_unseen

    assert len(load_test_unseen(dataset=str(root), dataset_config="I8")["test_unseen"]) == 4
    assert len(load_test_unseen(dataset=str(root), dataset_config="I24")["test_unseen"]) == 6
    with pytest.raises(ValueError, match=r"^dataset: cannot load config 'I99'"):
        load_test_unseen(dataset=str(root), dataset_config="I99")


def test_clear_errors_for_a_dataset_that_cannot_be_scored(tmp_path, caplog):
    from eval.lm_eval_tasks.utils import load_test_unseen

    with pytest.raises(ValueError, match=r"^dataset: name the dataset to score with --metadata"):
        load_test_unseen(pretrained="some/model")
    with pytest.raises(ValueError, match=r"^dataset_revision: must be a string"):
        load_test_unseen(dataset="org/x", dataset_revision=1)
    no_completion = write_dataset(tmp_path / "a", {"test_unseen": [{"prompt": "ab\n", "answer": "ab"}]})
    with pytest.raises(ValueError, match=r"has no column 'completion'"):
        load_test_unseen(dataset=str(no_completion))
    nulls = write_dataset(tmp_path / "b", {"test_unseen": [{"prompt": "ab\n", "completion": "ab"}, {"prompt": "c\n", "completion": None}]})
    with pytest.raises(ValueError, match=r"row 1: completion is None"):
        load_test_unseen(dataset=str(nulls))
    with pytest.raises(ValueError, match="no split 'test_unseen'"):
        load_test_unseen(dataset=str(write_dataset(tmp_path / "c", {"test_seen": [{"prompt": "a\n", "completion": "a"}]})))
    ok = write_dataset(tmp_path / "d", {"test_unseen": [{"prompt": "a\n", "completion": "a"}]})
    load_test_unseen(dataset=str(ok), revision="v2.0.0")  # the model's revision (from --model_args): said, not used
    assert "dataset_revision" in caplog.text


def test_the_command_a_user_types(gpt2_case, tmp_path, monkeypatch):
    """`lm_eval --model hf ... --include_path ... --tasks instruction_diversity --metadata ...`, run by lm-eval's
    own command-line entry point (in this process: a fresh one spends most of its time importing)."""
    from lm_eval._cli import HarnessCLI

    model, dataset, expected = gpt2_case
    out = tmp_path / "lm-eval-out"
    monkeypatch.setattr(sys, "argv", [
        "lm_eval", "--model", "hf", "--model_args", f"pretrained={model},dtype=float32", "--device", "cpu",
        "--include_path", str(TASKS_DIR), "--tasks", GROUP,
        "--metadata", json.dumps({"dataset": str(dataset)}), "--output_path", str(out), "--batch_size", "8",
    ])
    index = TaskManager.__init__  # lm-eval indexes its ~13,000 built-in task files first: a minute here, skipped
    monkeypatch.setattr(TaskManager, "__init__",
                        lambda self, *a, **kw: index(self, *a, **{**kw, "include_defaults": False}))
    cli = HarnessCLI()
    cli.execute(cli.parse_args())
    results = json.loads(next(out.rglob("results_*.json")).read_text())["results"]
    got = {SPLIT_OF[t]: results[t]["exact_match,none"] for t in SPLIT_OF}
    assert got == pytest.approx({s: sum(v) / len(v) for s, v in expected.items()}, abs=1e-12)
