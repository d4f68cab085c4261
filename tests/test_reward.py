"""The RL reward is the task scorer's verdict, the one `diveval rewrite` gives (issue 24, item 1).

The central test feeds the same completions, row by row, to every place that scores them: `diveval rewrite`'s
evaluation (its decoder replaced by the completions, so its real scoring code runs), the TRL reward function
(called as TRL calls it: every dataset column but prompt / completion as keyword arguments), the lm-eval task
and the gym; all must agree with each other and with the definition (the whole completion, as a string).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import datasets
import pytest
from gymkit import family_configs

import eval.rewrite as rewrite_eval
from core.errors import ConfigError
from eval.lm_eval_tasks.utils import is_correct as lm_eval_is_correct
from eval.rewrite import DecodeSettings, evaluate_split
from generators import config_from_dict
from generators.build import split_table
from generators.gym import create_dataset
from generators.plan import make_plan
from generators.reward import RewardSettings, TaskReward, completion_reward
from generators.tasks import Scorer


def crafted(row: dict, i: int) -> str:
    """A completion of one row, right or wrong in the ways that matter (cycling by row)."""
    answer, other = row["completion"], next((c for c in row["prompt"] if c not in row["completion"]), "#")
    return [
        answer,  # right
        answer + "\n" + answer[:2],  # the answer, a newline and more: wrong
        answer[:-1] if answer else "a",  # one character short
        " " + answer,  # a leading space (right only when stripping)
        answer + " ",  # a trailing space
        answer + "\x00",  # a trailing NUL (numpy's string equality would ignore it)
        row["input"],  # a copy of the input (right on no-op rows)
        "",
        other + answer[1:],  # the first character replaced
    ][i % 9]


def family_split(task: str, split: str = "test_unseen") -> datasets.Dataset:
    cfg = config_from_dict(family_configs()[task])
    return datasets.Dataset(split_table(make_plan(cfg), split))


def trl_call(reward: TaskReward, ds: datasets.Dataset, completions: list) -> list[float]:
    """The reward function called as TRL 1.16's GRPOTrainer._calculate_rewards calls it."""
    columns = {c: ds[c] for c in ds.column_names if c not in ("prompt", "completion", "completion_ids")}
    return reward(prompts=ds["prompt"], completions=completions, completion_ids=[[0]] * len(ds),
                  trainer_state=None, log_extra=lambda *a, **k: None, log_metric=lambda *a, **k: None, **columns)


def diveval_verdicts(monkeypatch, ds, completions, match="exact", scorer=None) -> list[bool]:
    monkeypatch.setattr(rewrite_eval, "greedy_decode", lambda *args, **kwargs: list(completions))
    _, records = evaluate_split(None, None, ds, max_new_tokens=1, settings=DecodeSettings(match=match), scorer=scorer)
    assert [r["predicted"] for r in records] == completions
    return [r["correct"] for r in records]


@pytest.mark.parametrize("task", list(family_configs()))
def test_reward_equals_diveval_verdict_row_by_row(task, monkeypatch):
    ds = family_split(task)
    rows = ds.to_list()
    completions = [crafted(r, i) for i, r in enumerate(rows)]
    verdicts = diveval_verdicts(monkeypatch, ds, completions)
    assert verdicts == [c == r["completion"] for c, r in zip(completions, rows)]  # the definition
    assert 0 < sum(verdicts) < len(verdicts)
    assert trl_call(TaskReward(task), ds, completions) == [float(v) for v in verdicts]
    assert trl_call(TaskReward(), ds, completions) == [float(v) for v in verdicts]  # task found from the columns
    assert [lm_eval_is_correct(r, c) for r, c in zip(rows, completions)] == verdicts
    # the gym's items of the same split are these rows: its score_answer gives the same verdicts
    gym = create_dataset(family_configs()[task], split="test_unseen")
    entries = list(gym)
    assert [e["answer"] for e in entries] == ds["output"] == ds["completion"]
    assert [gym.score_answer(c, e) for c, e in zip(completions, entries)] == [float(v) for v in verdicts]
    # with partial credit a wrong answer earns less than a right one, never as much
    partial = trl_call(TaskReward(task, RewardSettings(partial_credit=0.5)), ds, completions)
    assert [r == 1.0 for r in partial] == verdicts
    assert all(0.0 <= r < 0.5 for r, v in zip(partial, verdicts) if not v)
    assert any(r > 0 for r, v in zip(partial, verdicts) if not v)


def test_match_strip_agrees_too(monkeypatch):
    ds = family_split("rewrite")
    completions = [crafted(r, i) for i, r in enumerate(ds.to_list())]
    verdicts = diveval_verdicts(monkeypatch, ds, completions, match="strip")
    assert verdicts == [c.strip() == e.strip() for c, e in zip(completions, ds["completion"])]
    assert trl_call(TaskReward("rewrite", RewardSettings(match="strip")), ds, completions) == [float(v) for v in verdicts]
    assert verdicts != diveval_verdicts(monkeypatch, ds, completions)  # the crafted spaces make a difference


@dataclass(frozen=True)
class CaseBlindScorer(Scorer):
    """A family whose answers have several spellings (as algebraic expressions will)."""

    def equivalent(self, predicted: str, expected: str) -> bool:
        return predicted.lower() == expected.lower()


def test_a_task_s_answer_check_is_used_by_diveval_and_the_reward(monkeypatch):
    ds = datasets.Dataset.from_list([{"prompt": "p\n", "completion": "abc", "output": "abc", "is_noop": False}] * 3)
    completions = ["ABC", "abc", "abd"]
    scorer = CaseBlindScorer()
    assert diveval_verdicts(monkeypatch, ds, completions, scorer=scorer) == [True, True, False]
    assert diveval_verdicts(monkeypatch, ds, completions) == [False, True, False]  # the default: exact strings
    assert trl_call(TaskReward(scorer=scorer), ds, completions) == [1.0, 1.0, 0.0]
    assert trl_call(TaskReward(), ds, completions) == [0.0, 1.0, 0.0]


# ---------------------------------------------------------------- the reward's parts, from their definitions


def levenshtein(a: str, b: str) -> int:
    """Edit distance by the textbook recurrence (insert, delete, substitute: 1 each)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


STRING = Scorer(partial="edit_similarity")


@pytest.mark.parametrize("predicted,expected", [("abcd", "abxd"), ("ab", "abcd"), ("dcba", "abcd"), ("", "ab"),
                                                ("abcabc", "cab")])
def test_partial_credit_is_the_weight_times_normalized_edit_similarity(predicted, expected):
    settings = RewardSettings(partial_credit=0.4, max_length_ratio=3.0)
    want = 0.4 * (1 - levenshtein(predicted, expected) / max(len(predicted), len(expected)))
    got = completion_reward(STRING, predicted, expected, prompt="abcdx", settings=settings)
    assert got == pytest.approx(want, abs=1e-12)
    assert completion_reward(STRING, predicted, expected, prompt="abcdx") == 0.0  # the default: no partial credit
    assert completion_reward(Scorer(), predicted, expected, prompt="abcdx", settings=settings) == 0.0  # none declared


def test_length_and_format_guards():
    settings = RewardSettings(partial_credit=0.5, max_length_ratio=2.0, guard_penalty=-0.25)
    assert completion_reward(STRING, "abab", "ab", prompt="ab", settings=settings) > 0  # 2 x the answer: allowed
    assert completion_reward(STRING, "ababa", "ab", prompt="ab", settings=settings) == -0.25  # longer: guarded
    assert completion_reward(STRING, "a", "", prompt="a", settings=settings) > -0.25  # an empty answer allows 1
    assert completion_reward(STRING, "az", "ab", prompt="ab\n", settings=settings) == -0.25  # z is nowhere
    assert completion_reward(STRING, "az", "ab", prompt="z -> ab\n", settings=settings) > 0  # z is in the prompt
    assert completion_reward(STRING, "az", "ab", prompt=None, settings=settings) > 0  # no prompt: no symbol check
    assert completion_reward(STRING, None, "ab", prompt="ab", settings=settings) == -0.25  # unreadable
    assert completion_reward(STRING, "ab", "ab", prompt="", settings=settings) == 1.0  # right is never guarded


def test_trl_shapes_conversations_and_answer_columns():
    reward = TaskReward("rewrite")
    conv_prompt = [{"role": "system", "content": "rules"}, {"role": "user", "content": "ab -> c\nxab\n"}]
    completions = [[{"role": "assistant", "content": "xc"}],
                   [{"role": "assistant", "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "c"}]}],
                   [{"role": "assistant", "content": "xab"}], "xc"]
    out = reward(prompts=[conv_prompt] * 4, completions=completions, output=["xc"] * 4)
    assert out == [1.0, 1.0, 0.0, 1.0]
    # an `answer` column wins over `output` (datasets made for RL by other tools)
    assert reward(prompts=["p"], completions=["yes"], answer=["yes"], output=["no"]) == [1.0]
    with pytest.raises(ConfigError, match="'answer' or 'output' column.*completion, prompt_len"):
        reward(prompts=["p"], completions=["x"], completion=["x"], prompt_len=[1])
    assert TaskReward.check_columns(["prompt", "output"]) == "output"
    with pytest.raises(ValueError, match="1 prompts, 2 completions"):
        reward(prompts=["p"], completions=["a", "b"], output=["a"])
    assert reward.__name__ == "task_reward"  # TRL names the reward's logged metrics after it


@pytest.mark.parametrize("fields,where", [
    ({"partial_credit": 1.0}, "reward.partial_credit"), ({"partial_credit": -0.1}, "reward.partial_credit"),
    ({"partial_credit": math.nan}, "reward.partial_credit"), ({"max_length_ratio": 0.5}, "reward.max_length_ratio"),
    ({"guard_penalty": 0.1}, "reward.guard_penalty"), ({"match": "fuzzy"}, "reward.match"),
    ({"partial_credit": True}, "reward.partial_credit"), ({"weight": 1}, "reward.weight"),
])
def test_bad_settings_name_the_field(fields, where):
    with pytest.raises(ConfigError) as err:
        RewardSettings.from_mapping(fields)
    assert err.value.field == where


def test_a_declared_partial_credit_must_exist():
    with pytest.raises(ValueError, match="partial must be one of"):
        Scorer(partial="bleu")
    with pytest.raises(ValueError, match="match must be one of"):
        Scorer().is_correct("a", "a", "fuzzy")
