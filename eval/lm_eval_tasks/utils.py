"""The Python side of the ``instruction_diversity`` tasks for lm-evaluation-harness (``lm_eval --include_path``).

The dataset is named at run time through lm-eval's ``--metadata`` (``TaskManager(metadata=...)`` from Python),
which lm-eval hands to the tasks' ``custom_dataset`` functions:

- ``dataset`` (required): a dataset folder, a local-hub name or a Hub id, found as ``diveval rewrite`` finds it;
- ``dataset_revision``: a version / tag / commit (latest if absent). Not ``revision``: lm-eval merges
  ``--model_args`` into the metadata, so ``revision`` is the *model's* revision;
- ``dataset_config``: a config of a multi-config dataset repo (one config per run of a released sweep), loaded
  with ``datasets.load_dataset(dataset, dataset_config, revision=...)``.

Scoring is ``diveval rewrite``'s exact match, row for row: the prompt as it is, greedy decoding that stops at
the end-of-sequence token (never at a newline), and the task scorer's answer check against the whole
``completion`` (:func:`is_correct`: the code ``diveval`` and the RL reward call; Python string equality for
every task so far: no stripping, none of numpy's trailing-NUL leniency). :class:`InstructionDiversityTask` gives each row room for
its answer plus EOS (``max_gen_toks`` = UTF-8 bytes of the completion + 1, an upper bound on its tokens for
char-level, byte-level BPE and byte-fallback tokenizers) unless ``--gen_kwargs`` sets a token limit: a correct
answer always fits, a longer one is cut and wrong as it would be in ``diveval``, and a model with a short
context (the toy GPT-2s have 128 positions) is not asked for lm-eval's default 256 new tokens.
"""

from __future__ import annotations

import logging

import datasets
from lm_eval.api.task import ConfigurableTask

from eval.lm_eval_tasks import TASKS
from eval.loading import load_eval_splits
from generators.tasks import scorer_for
from publishing.resolve import resolve

log = logging.getLogger(__name__)

#: lm-eval's notice to every task with a ``custom_dataset`` (``lm_eval/api/task.py``, ``download``), also when
#: ``--metadata`` was given: for our tasks a missing dataset is an error naming ``--metadata`` (:func:`_load`).
METADATA_NOTICE = ": Custom kwargs can be passed to `--metadata`"
LM_EVAL_TASK_LOGGER = "lm_eval.api.task"


class _OurMetadataNotice(logging.Filter):
    """Drops :data:`METADATA_NOTICE` for the instruction_diversity tasks only; every other record passes.

    lm-eval imports this file again by path (``include_path``), as a second module with its own class: the filter is
    recognised by :attr:`marker`, not by ``isinstance``, so the two imports install one filter between them."""

    marker = "instruction_diversity:metadata_notice"

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(tuple(task + METADATA_NOTICE for task in TASKS))


def quiet_metadata_notice() -> None:
    """Install the filter on lm-eval's task logger (idempotent); done when lm-eval imports this module."""
    logger = logging.getLogger(LM_EVAL_TASK_LOGGER)
    if not any(getattr(f, "marker", None) == _OurMetadataNotice.marker for f in logger.filters):
        logger.addFilter(_OurMetadataNotice())


quiet_metadata_notice()

REQUIRED_COLUMNS = ("prompt", "completion")
TOKEN_LIMIT_KEYS = ("max_gen_toks", "max_new_tokens", "max_tokens", "max_completion_tokens", "max_length")


def load_split(dataset: str, revision: str | None, config: str | None, split: str):
    """The one place that uses this project's code: ``split`` of ``dataset`` as a ``datasets.Dataset``.

    The dataset is found as ``diveval rewrite`` finds it (a folder wins over a local-hub name, which wins over a
    Hub id; errors name the dataset) and, without a config, loaded as it loads it. With a config,
    ``datasets.load_dataset(<where it is>, config)`` reads that config from the card's ``configs`` (a Hub repo,
    a local-hub version folder, a folder).
    """
    if config is None:
        splits, _ = load_eval_splits(dataset, revision, [split])
        return splits[split]
    where = resolve(dataset, revision, "dataset")
    try:
        dd = datasets.load_dataset(where.load_target, config, revision=where.revision if where.kind == "hub" else None)
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"dataset: cannot load config {config!r} of {dataset!r}: {_first_line(exc)}") from None
    if split not in dd:
        raise ValueError(f"split: config {config!r} of {dataset!r} has no split {split!r} (it has: {', '.join(dd)})")
    return dd[split]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_test_unseen(**metadata):
    """``custom_dataset`` of ``instruction_diversity_unseen``."""
    return _load("test_unseen", metadata)


def load_test_seen(**metadata):
    """``custom_dataset`` of ``instruction_diversity_seen``."""
    return _load("test_seen", metadata)


def _load(split: str, metadata: dict) -> dict:
    """``{split: Dataset}`` for the dataset the metadata names (other metadata keys, e.g. the model's, are ignored)."""
    dataset = metadata.get("dataset")
    if not isinstance(dataset, str) or not dataset.strip():
        raise ValueError(
            "dataset: name the dataset to score with --metadata, e.g. "
            """--metadata '{"dataset": "org/name", "dataset_revision": "v1.0.0"}' (a folder, local-hub name or Hub id)"""
        )
    revision, config = metadata.get("dataset_revision"), metadata.get("dataset_config")
    for key, value in (("dataset_revision", revision), ("dataset_config", config)):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{key}: must be a string, got {value!r}")
    if revision is None and "revision" in metadata:
        log.warning(
            "instruction_diversity: 'revision' in the metadata is the model's (lm-eval merges --model_args into "
            "it); the dataset's is 'dataset_revision', not given: scoring the latest version of %s", dataset
        )
    ds = load_split(dataset, revision, config, split)
    check_rows(ds, f"{dataset} {split}")
    return {split: ds}


def check_rows(ds, what: str) -> None:
    """Refuse a split that cannot be scored: no rows, a missing column, or a prompt/completion that is no string."""
    missing = [c for c in REQUIRED_COLUMNS if c not in ds.column_names]
    if missing:
        raise ValueError(f"dataset: {what} has no column {missing[0]!r} (it has: {', '.join(ds.column_names)})")
    if len(ds) == 0:
        raise ValueError(f"dataset: {what} is empty")
    for column in REQUIRED_COLUMNS:
        for i, value in enumerate(ds[column]):
            if not isinstance(value, str):
                raise ValueError(f"dataset: {what} row {i}: {column} is {value!r}, not a string")


def is_correct(doc: dict, generated: str) -> bool:
    """``diveval rewrite``'s verdict on one row: the scorer of the task whose columns the row holds
    (:func:`generators.tasks.scorer_for`), exact match mode, against the row's ``completion``."""
    return scorer_for(None, doc).is_correct(generated, doc["completion"])


def answer_budget(completion: str) -> int:
    """New tokens to allow for ``completion``: its UTF-8 bytes (no tokenizer spends more tokens) + 1 for EOS."""
    return len(completion.encode("utf-8")) + 1


class InstructionDiversityTask(ConfigurableTask):
    """lm-eval's YAML task with a per-row generation budget and plain string equality."""

    def __init__(self, config: dict | None = None, **kwargs) -> None:
        # lm-eval passes the whole YAML, ``class`` (this class) included, which TaskConfig does not take.
        config = {k: v for k, v in (config or {}).items() if k != "class"}
        super().__init__(config=config, **kwargs)

    def construct_requests(self, doc, ctx, **kwargs):
        request = super().construct_requests(doc, ctx, **kwargs)
        gen_kwargs = request.arguments[1]
        if not any(key in gen_kwargs for key in TOKEN_LIMIT_KEYS):  # --gen_kwargs max_gen_toks=N wins
            gen_kwargs["max_gen_toks"] = answer_budget(doc["completion"])
        return request

    def process_results(self, doc, results):
        return {"exact_match": float(is_correct(doc, results[0]))}
