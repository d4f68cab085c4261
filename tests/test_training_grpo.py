"""GRPO on the CPU through the real entry point (issue 24, items 1-2): ``accelerate launch training/grpo.py`` with
the tiny recipe, the saved model reloads, each logged reward is `diveval rewrite`'s verdict on that completion, the
mean reward rises on an easy setting, and a recipe's mistakes are one error naming the field.

The warm start is what the tiny recipe starts from: a GPT-2 trained from scratch by ``training/sft.py`` with
``tiny-cpu.yaml`` (longer, on an easy task: one-letter rules over four letters, inputs of six), so that its
sampled answers are right often enough, and wrong often enough, for a group of completions to differ.
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path
from statistics import mean

import pytest

pytest.importorskip("trl")

import datasets  # noqa: E402
from test_training_sft import _launch  # noqa: E402

import eval.rewrite as rewrite_eval  # noqa: E402
from core.errors import ConfigError  # noqa: E402
from eval.rewrite import DecodeSettings, evaluate_split  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "training" / "recipes" / "tiny-grpo-cpu.yaml"
SFT_RECIPE = ROOT / "training" / "recipes" / "tiny-cpu.yaml"
CPU = ROOT / "training" / "accelerate" / "cpu.yaml"

EASY = {
    "name": "easy-rl",
    "seed": 0,
    "instructions": 6,
    "examples_per_instruction": 64,
    "noop_fraction": 0.0,
    "input_len": 6,
    "space": {"alphabet": "abcd", "x_len": 1, "y_len": 1},
    "splits": {"test_unseen": {"instructions": 2, "examples": 16}, "test_seen": {"examples": 16}},
}


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread while this module trains (tiny models; a shared CPU makes more threads slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def easy(tmp_path_factory) -> Path:
    from generators import config_from_dict
    from generators.build import generate

    out = tmp_path_factory.mktemp("easy") / "easy"
    generate(config_from_dict(EASY), out, progress=False)
    return out


@pytest.fixture(scope="module")
def warm_start(easy, tmp_path_factory, one_thread) -> Path:
    """The SFT warm start: tiny-cpu.yaml's GPT-2 from scratch, 120 steps on the easy task."""
    from training.sft import parse_recipe, train

    out = tmp_path_factory.mktemp("warm") / "sft"
    train(parse_recipe([
        "--config", str(SFT_RECIPE), "--dataset", str(easy), "--output_dir", str(out), "--max_steps", "120",
        "--per_device_train_batch_size", "32", "--max_length", "32", "--eval_split", "", "--eval_strategy", "no",
        "--save_strategy", "no", "--warmup_steps", "0", "--publish", "false", "--report_to", "none",
        "--disable_tqdm", "true",
    ]))  # fmt: skip
    return out


def grpo_args(easy: Path, warm_start: Path, out: Path, *extra: str) -> list[str]:
    return ["--config", str(RECIPE), "--dataset", str(easy), "--model_name_or_path", str(warm_start),
            "--output_dir", str(out), "--reward_partial_credit", "0", "--max_completion_length", "12",
            "--logging_steps", "1", "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true",
            *extra]  # fmt: skip


def expected_reward(model_dir: Path, rows: datasets.Dataset) -> float:
    """The policy's mean reward on ``rows`` at temperature 1, exactly: the exact-match reward is 1 for the answer
    followed by EOS and 0 for anything else, so its expectation is the probability of that one sequence."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    probs = []
    with torch.no_grad():
        for prompt, answer in zip(rows["prompt"], rows["output"], strict=True):
            p = tok(prompt)["input_ids"]
            a = tok(answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            logits = model(torch.tensor([p + a])).logits[0, len(p) - 1 : -1]
            probs.append(torch.log_softmax(logits, -1).gather(1, torch.tensor(a)[:, None]).sum().exp().item())
    return mean(probs)


def split(folder: Path, name: str = "train") -> datasets.Dataset:
    return datasets.load_dataset("parquet", data_files={name: str(folder / "data" / f"{name}-*.parquet")})[name]


@pytest.mark.slow
def test_accelerate_launch_trains_and_each_logged_reward_is_divevals_verdict(easy, warm_start, tmp_path,
                                                                             monkeypatch):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from publishing.localhub import LocalHub

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CPU),
           "--num_cpu_threads_per_process", "1", "training/grpo.py",
           *grpo_args(easy, warm_start, out, "--max_steps", "2", "--log_completions", "true",
                                     "--num_completions_to_print", "1", "--publish", "true")]  # fmt: skip
    res = _launch(cmd, tmp_path / "logs")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "with GRPO: 2 steps" in res.stdout and "published local:run@v1.0.0" in res.stdout, res.stdout[-2000:]

    # the saved model reloads, answers, and is not the warm start any more
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    ids = tok(split(easy)["prompt"][0], return_tensors="pt")
    assert model.generate(**ids, max_new_tokens=8, do_sample=False).shape[1] > ids["input_ids"].shape[1]
    before, after = load_file(warm_start / "model.safetensors"), load_file(out / "model.safetensors")
    assert any(not torch.equal(before[k], after[k]) for k in before)
    card = (out / "README.md").read_text()
    assert "training/grpo.py" in card and "GRPOTrainer" in card and "reinforcement learning (GRPO" in card
    assert "- grpo" in card and "1 when the task's scorer finds the completion right (exact match)" in card
    assert LocalHub.default().versions("run", "model") == ["v1.0.0"]  # published, TRL's completion logs left behind

    # the rewards TRL logged for each step's completions are diveval's verdicts on those completions
    logged = sorted((out / "completions").glob("completions_*.parquet"))
    assert len(logged) == 2
    table = datasets.concatenate_datasets([datasets.Dataset.from_parquet(str(p)) for p in logged])
    assert len(table) == 2 * 64
    rows = {r["prompt"]: r for r in split(easy).to_list()}
    scored = datasets.Dataset.from_list([rows[p] for p in table["prompt"]])
    monkeypatch.setattr(rewrite_eval, "greedy_decode", lambda *a, **k: list(table["completion"]))
    _, records = evaluate_split(None, None, scored, max_new_tokens=1, settings=DecodeSettings())
    verdicts = [r["correct"] for r in records]
    assert list(table["task_reward"]) == [float(v) for v in verdicts]
    assert verdicts == [c == e for c, e in zip(table["completion"], scored["completion"], strict=True)]
    assert 0 < sum(verdicts) < len(verdicts)  # right and wrong answers both occur: the comparison can fail


@pytest.mark.slow
def test_mean_reward_rises_on_an_easy_setting(easy, warm_start, tmp_path, one_thread):
    """40 steps of 8 prompts x 8 completions from the warm start: the policy's expected reward on its prompts rises
    (measured exactly, not sampled), and so do the rewards TRL logged."""
    from training import grpo

    rows = split(easy)
    before = expected_reward(warm_start, rows)
    summary = grpo.main(grpo_args(easy, warm_start, tmp_path / "run", "--max_steps", "40", "--publish", "false"))
    after = expected_reward(tmp_path / "run", rows)
    assert 0.1 < before < 0.9  # a setting where reward can rise, from a start that earns some
    assert after > before + 0.05, (before, after)
    logged = summary["rewards"]
    assert len(logged) == 40 and mean(logged[-10:]) > mean(logged[:10]), logged


@pytest.mark.slow
def test_a_curriculum_feeds_the_easiest_prompts_first(easy, warm_start, tmp_path, one_thread):
    from training import grpo

    out = tmp_path / "run"
    grpo.main(grpo_args(easy, warm_start, out, "--max_steps", "1", "--publish", "false", "--log_completions", "true",
                        "--curriculum", "instruction_id", "--shuffle_dataset", "false"))
    first = datasets.Dataset.from_parquet(str(out / "completions" / "completions_00001.parquet"))
    ids = {r["prompt"]: r["instruction_id"] for r in split(easy).to_list()}
    assert {ids[p] for p in first["prompt"]} == {min(ids.values())}  # the first 8 prompts: the first rule's


def _error(argv, field):
    from training import grpo

    with pytest.raises(ConfigError) as err:
        grpo.main(argv)
    assert err.value.field == field, str(err.value)
    return str(err.value)


@pytest.mark.parametrize("extra, field, says", [
    (["--model_name_or_path", ""], "model_name_or_path", "starts from a trained model"),
    (["--n_layer", "3"], "n_layer", "from scratch"),
    (["--reward_partial_credit", "1.5"], "reward_partial_credit", "within [0, 1)"),
    (["--reward_match", "fuzzy"], "reward_match", "exact, strip"),
    (["--task", "no-such-task"], "task", "unknown task"),
    (["--curriculum", "task"], "curriculum", "shuffle_dataset: false"),
    (["--use_vllm", "true"], "use_vllm", "vLLM"),
    (["--temperature", "0"], "temperature", "positive"),
    (["--max_completion_length", "0"], "max_completion_length", "at least 1"),
])  # fmt: skip
def test_recipe_mistakes_name_the_field(tiny_dataset, tmp_path, extra, field, says):
    argv = ["--config", str(RECIPE), "--dataset", str(tiny_dataset), "--model_name_or_path", "no-model-needed",
            "--output_dir", str(tmp_path / "run"), *extra]
    assert says in _error(argv, field)


def test_data_and_model_mistakes_name_the_field(easy, warm_start, tiny_dataset, tmp_path):
    base = grpo_args(easy, warm_start, tmp_path / "run", "--max_steps", "1", "--publish", "false")
    assert "the longest answer is 7 tokens" in _error(base + ["--max_completion_length", "6"], "max_completion_length")
    assert "context of 32 tokens" in _error(base + ["--max_completion_length", "30"], "max_completion_length")
    assert "the dataset's own task 'rewrite'" in _error(base + ["--task", "markov"], "task")
    # the conftest's tiny dataset has letters (e, f) the warm start's tokenizer never saw
    other = grpo_args(tiny_dataset, warm_start, tmp_path / "run2", "--max_steps", "1", "--publish", "false")
    assert "cannot write 2 character(s)" in _error(other, "model_name_or_path")
    # a dataset with prompts but no expected answer (a pool's prompt-completion rows): TRL never passes `completion`
    pool = tmp_path / "pool"
    datasets.Dataset.from_dict({"prompt": ["a\n"], "completion": ["b"]}).to_parquet(str(pool / "data" / "train-0.parquet"))
    args = grpo_args(pool, warm_start, tmp_path / "run3", "--max_steps", "1", "--publish", "false")
    assert "'answer' or 'output' column" in _error(args, "dataset")


def test_run_as_a_script_a_mistake_is_one_line_and_status_2(tmp_path, monkeypatch, capsys):
    """``python training/grpo.py ...`` (run here with runpy, as Python runs a script: ``__name__ == "__main__"``)."""
    argv = ["--config", str(RECIPE), "--output_dir", str(tmp_path / "run"), "--model_name_or_path", ""]
    monkeypatch.setattr(sys, "argv", [str(ROOT / "training" / "grpo.py"), *argv])
    monkeypatch.setattr(sys, "path", list(sys.path))  # the script puts the checkout first on sys.path
    with pytest.raises(SystemExit) as ended:
        runpy.run_path(str(ROOT / "training" / "grpo.py"), run_name="__main__")
    assert ended.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: model_name_or_path: GRPO starts from a trained model: give an SFT output folder (e.g. "
                   "runs/tiny-cpu from training/recipes/tiny-cpu.yaml), a local hub name or a Hub id"]


def test_shipped_grpo_recipes_parse(tmp_path):
    from training import grpo, grpo_recipe

    for path in sorted((ROOT / "training" / "recipes").glob("*grpo*.yaml")):
        recipe = grpo.parse(["--config", str(path)])
        assert recipe.model.model_name_or_path, path.name
        assert recipe.training.per_device_train_batch_size % recipe.training.num_generations == 0
        assert recipe.training.use_vllm is False, f"{path.name}: vLLM is a choice, off by default"
    assert json.loads(json.dumps(grpo_recipe.reward_settings(grpo.parse(["--config", str(RECIPE)]).extra[0]).__dict__))
