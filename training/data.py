"""Training data: resolve the recipe's dataset, pick its splits and keep the prompt / completion columns.

Datasets are in TRL's prompt-completion format, so ``SFTTrainer`` computes the loss on the completion only (and
appends and trains the EOS token). Every split is loaded, not only the ones trained on, because the char-level
tokenizer's vocabulary is built from all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow.compute as pc

from core.errors import ConfigError
from publishing.loading import resolve_splits

COLUMNS = ("prompt", "completion")
AUTO_EVAL = "auto"  # DataArguments.eval_split default: validation when the dataset has it


@dataclass
class TrainingData:
    splits: object  # datasets.DatasetDict with every split of the dataset (for the vocabulary)
    train: object  # datasets.Dataset: prompt, completion
    eval: object | None  # datasets.Dataset or None
    provenance: dict  # publishing.resolve.Resolved.describe()
    meta: dict  # the dataset's datagen.json ({} for other datasets)


def load_training_data(args, columns: Sequence[str] | Callable[[list[str]], Sequence[str]] = COLUMNS) -> TrainingData:
    """Load ``args.dataset`` (a ``DataArguments``) and return the train / eval splits ready for the trainer, holding
    ``columns`` (SFTTrainer's prompt and completion by default), or the columns ``columns(split's columns)``
    names (training/grpo.py: the prompt and the expected answer)."""
    if not args.dataset:
        raise ConfigError("dataset", "no dataset given: set `dataset:` (or TRL's `dataset_name:`) in the recipe or pass --dataset")
    splits, resolved = resolve_splits(args.dataset, args.dataset_revision)
    train = _pick(splits, args.train_split, "train_split", args.max_train_samples, "max_train_samples", args.dataset,
                  columns)
    args.eval_split = eval_split_name(args.eval_split, splits)  # the record names the split really used
    evaluation = None
    if args.eval_split:
        evaluation = _pick(
            splits, args.eval_split, "eval_split", args.max_eval_samples, "max_eval_samples", args.dataset, columns
        )
    return TrainingData(splits, train, evaluation, resolved.describe(), resolved.meta)


def eval_split_name(name: str | None, splits) -> str | None:
    """The held-out split to evaluate on: ``auto`` is ``validation`` when the dataset has one (else none); a
    ``test_*`` split is refused, since test splits are only scored, never used for early stopping or selection."""
    if name == AUTO_EVAL:
        return "validation" if "validation" in splits else None
    if name and name.startswith("test_"):
        raise ConfigError(
            "eval_split", f"{name!r} is a test split: test_* splits are only scored; evaluate and early-stop on validation"
        )
    return name or None


def _pick(splits, name: str, field: str, limit: int | None, limit_field: str, source: str, columns=COLUMNS):
    if name not in splits:
        raise ConfigError(field, f"dataset {source!r} has no split {name!r} (it has: {', '.join(splits)})")
    ds = splits[name]
    keep = list(columns(ds.column_names) if callable(columns) else columns)
    missing = [c for c in keep if c not in ds.column_names]
    if missing:
        need = "prompt-completion data" if keep == list(COLUMNS) else f"the columns {', '.join(keep)}"
        raise ConfigError(
            "dataset",
            f"split {name!r} of {source!r} has no {', '.join(missing)} column: training needs {need} "
            f"(columns: {', '.join(ds.column_names)})",
        )
    if limit is not None:
        if limit < 1:
            raise ConfigError(limit_field, f"must be at least 1, got {limit}")
        ds = ds.select(range(min(limit, len(ds))))
    if len(ds) == 0:
        raise ConfigError(field, f"split {name!r} of {source!r} is empty")
    return ds.select_columns(keep)


def longest_example_chars(dataset) -> int:
    """Length in characters of the longest prompt + completion (tokens, for a char-level tokenizer)."""
    longest = 0
    for batch in dataset.with_format("arrow").iter(batch_size=65_536):
        total = pc.add(pc.utf8_length(batch["prompt"]), pc.utf8_length(batch["completion"]))
        longest = max(longest, int(pc.max(total).as_py() or 0))
    return longest
