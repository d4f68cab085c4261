"""The recipe's own fields, beside TRL's ``SFTConfig`` and ``ModelConfig``.

A recipe YAML is one flat mapping; ``TrlParser`` spreads its keys over these dataclasses and TRL's, and any key
that belongs to none of them is an error. Every field can be overridden on the command line (``--field value``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.errors import ConfigError


@dataclass
class DataArguments:
    """Which data to train on: a dataset folder, a local hub name or a Hub id, with its splits."""

    dataset: str | None = field(
        default=None,
        metadata={"help": "Dataset: a folder, a local hub name (org/name or name) or a Hub id; 'local:'/'hub:' force one."},
    )
    dataset_name: str | None = field(
        default=None,
        metadata={"help": "TRL's name for `dataset` (ScriptArguments.dataset_name): give either; both must agree."},
    )
    dataset_revision: str | None = field(
        default=None, metadata={"help": "Version (local hub, e.g. v1.0.0) or tag/branch/commit (Hub); latest if unset."}
    )
    train_split: str = field(default="train", metadata={"help": "Split to train on."})
    eval_split: str | None = field(
        default="auto",
        metadata={"help": "Held-out split for the eval loss and early stopping; 'auto': validation when the dataset has "
                          "one, else none. Never a test_* split (those are only scored)."},
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Train on the first N rows only."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Evaluate on the first N rows only."})


def settle_dataset(data: DataArguments, on_command_line: set[str] = frozenset()) -> None:
    """``dataset`` and TRL's ``dataset_name`` name one thing: either may be given. When both are and differ, the
    one given on the command line (``on_command_line``: option names) overrides the recipe's, as for any field;
    given in the same place, they are an error naming ``dataset_name``. Afterwards both hold the dataset."""
    if data.dataset_name is not None and data.dataset is not None and data.dataset_name != data.dataset:
        cli = {"dataset", "dataset_name"} & set(on_command_line)
        if len(cli) != 1:
            raise ConfigError("dataset_name", f"{data.dataset_name!r} differs from dataset {data.dataset!r}: give one "
                                              f"(dataset_name is TRL's name for dataset)")
        data.dataset = data.dataset_name if cli == {"dataset_name"} else data.dataset
    data.dataset = data.dataset if data.dataset is not None else data.dataset_name
    data.dataset_name = data.dataset


@dataclass
class ScratchModelArguments:
    """GPT-2 built from a config when ``model_name_or_path`` is unset (the synthetic tasks).

    The paper's model: 6 layers, 256 wide, 4 heads. Dropout is not stated in the paper: GPT-2's 0.1 by default.
    """

    n_layer: int = field(default=6, metadata={"help": "Transformer blocks (from-scratch GPT-2)."})
    n_embd: int = field(default=256, metadata={"help": "Hidden size (from-scratch GPT-2)."})
    n_head: int = field(default=4, metadata={"help": "Attention heads (from-scratch GPT-2)."})
    n_positions: int | None = field(
        default=None, metadata={"help": "Context length (from-scratch GPT-2); max_length when unset."}
    )
    dropout: float = field(default=0.1, metadata={"help": "Residual, embedding and attention dropout (from scratch)."})


@dataclass
class RunArguments:
    """Early stopping and where the finished model is published."""

    early_stopping_patience: int | None = field(
        default=None, metadata={"help": "Stop after this many evaluations without improvement of the eval loss."}
    )
    early_stopping_threshold: float = field(
        default=0.0, metadata={"help": "Smallest eval-loss improvement that counts for early stopping."}
    )
    publish: bool = field(
        default=False,
        metadata={"help": "Publish the final model as a new version: to the Hub with push_to_hub (hub_model_id), else "
                          "to the local hub. Off unless the recipe or the command line says so."},
    )
    model_name: str | None = field(
        default=None,
        metadata={"help": "Local hub repository (org/name or name); default: hub_model_id, else the output folder's name."},
    )
    publish_version: str | None = field(
        default=None, metadata={"help": "Version to publish (v1.2.0); default: the next minor version."}
    )
    license: str | None = field(default=None, metadata={"help": "License for the model card (e.g. apache-2.0)."})


@dataclass
class RewardArguments:
    """How ``training/grpo.py`` rewards a completion (:class:`generators.reward.RewardSettings`, the task scorer's
    verdict that ``diveval rewrite`` gives) and in which order it takes the prompts."""

    task: str | None = field(
        default=None,
        metadata={"help": "Task family whose scorer rewards (rewrite, markov, ...); default: the dataset's own "
                          "(datagen.json), else the one its columns name, as diveval rewrite finds it."},
    )
    reward_match: str = field(
        default="exact", metadata={"help": "exact: the completion must be the answer; strip: up to surrounding whitespace."}
    )
    reward_partial_credit: float = field(
        default=0.0,
        metadata={"help": "A wrong answer earns this times the task's similarity (edit similarity for string tasks); "
                          "0: reward 1 or 0."},
    )
    reward_max_length_ratio: float = field(
        default=2.0, metadata={"help": "Length guard: a completion longer than this times the answer earns the penalty."}
    )
    reward_guard_penalty: float = field(
        default=0.0, metadata={"help": "Reward (<= 0) of a completion that fails the length/format guard."}
    )
    curriculum: str | None = field(
        default=None,
        metadata={"help": "Order the prompts easiest first: 'task' (the task's difficulty columns) or comma-separated "
                          "integer columns; needs shuffle_dataset: false. Off by default."},
    )
