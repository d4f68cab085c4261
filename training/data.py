"""Training data: resolve the recipe's dataset, pick its splits and keep the prompt / completion columns.

Datasets are in TRL's prompt-completion format, so ``SFTTrainer`` computes the loss on the completion only (and
appends and trains the EOS token). Every split is loaded, not only the ones trained on, because the char-level
tokenizer's vocabulary is built from all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError

COLUMNS = ("prompt", "completion")
HUB_PROBE_TIMEOUT_S = 5.0
AUTO_EVAL = "auto"  # DataArguments.eval_split default: validation when the dataset has it


@dataclass
class TrainingData:
    splits: object  # datasets.DatasetDict with every split of the dataset (for the vocabulary)
    train: object  # datasets.Dataset: prompt, completion
    eval: object | None  # datasets.Dataset or None
    provenance: dict  # cards.resolve.Resolved.describe()
    meta: dict  # the dataset's datagen.json ({} for other datasets)


def load_training_data(args) -> TrainingData:
    """Load ``args.dataset`` (a ``DataArguments``) and return the train / eval splits ready for SFTTrainer."""
    if not args.dataset:
        raise ConfigError("dataset", "no dataset given: set `dataset:` in the recipe or pass --dataset")
    splits, resolved = load_dataset_splits(args.dataset, args.dataset_revision)
    train = _pick(splits, args.train_split, "train_split", args.max_train_samples, "max_train_samples", args.dataset)
    args.eval_split = eval_split_name(args.eval_split, splits)  # the record names the split really used
    evaluation = None
    if args.eval_split:
        evaluation = _pick(
            splits, args.eval_split, "eval_split", args.max_eval_samples, "max_eval_samples", args.dataset
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


def _pick(splits, name: str, field: str, limit: int | None, limit_field: str, source: str):
    if name not in splits:
        raise ConfigError(field, f"dataset {source!r} has no split {name!r} (it has: {', '.join(splits)})")
    ds = splits[name]
    missing = [c for c in COLUMNS if c not in ds.column_names]
    if missing:
        raise ConfigError(
            "dataset",
            f"split {name!r} of {source!r} has no {', '.join(missing)} column: training needs prompt-completion "
            f"data (columns: {', '.join(ds.column_names)})",
        )
    if limit is not None:
        if limit < 1:
            raise ConfigError(limit_field, f"must be at least 1, got {limit}")
        ds = ds.select(range(min(limit, len(ds))))
    if len(ds) == 0:
        raise ConfigError(field, f"split {name!r} of {source!r} is empty")
    return ds.select_columns(list(COLUMNS))


def longest_example_chars(dataset) -> int:
    """Length in characters of the longest prompt + completion (tokens, for a char-level tokenizer)."""
    import pyarrow.compute as pc

    longest = 0
    for batch in dataset.with_format("arrow").iter(batch_size=65_536):
        total = pc.add(pc.utf8_length(batch["prompt"]), pc.utf8_length(batch["completion"]))
        longest = max(longest, int(pc.max(total).as_py() or 0))
    return longest


def load_dataset_splits(source: str, revision: str | None = None, splits: list[str] | None = None, field: str = "dataset"):
    """:func:`cards.resolve.load_splits` with the failures of ``datasets`` itself (an empty or damaged parquet
    file, an unreachable Hub) turned into one ConfigError naming ``field`` (and the file, when known)."""
    from datasets.exceptions import DatasetGenerationError

    from cards.resolve import load_splits

    check_hub_reachable(source, field)
    if not may_use_hub(source):  # on this machine: name a bad shard before datasets trips over it
        bad = _unreadable_shards(source, revision)
        if bad:
            raise ConfigError(field, f"cannot load {source!r}: {bad}")
    try:
        return load_splits(source, revision, splits)
    except ConfigError:
        raise
    except (DatasetGenerationError, OSError, ValueError) as exc:  # an empty shard, ConnectionError, ArrowInvalid
        bad = _unreadable_shards(source, revision)
        if bad:
            raise ConfigError(field, f"cannot load {source!r}: {bad}") from None
        raise ConfigError(field, f"cannot load {source!r}: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    """The first line of the innermost message of an exception chain (the library's wrappers say little)."""
    while exc.__cause__ is not None or (exc.__context__ is not None and not exc.__suppress_context__):
        exc = exc.__cause__ or exc.__context__
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _unreadable_shards(source: str, revision: str | None) -> str | None:
    """For a dataset on this machine (folder or local hub): which parquet files are empty or unreadable."""
    import pyarrow.parquet as pq

    from cards.resolve import resolve

    try:
        r = resolve(source, revision, "dataset")
    except Exception:  # noqa: BLE001  (only explains an error already being reported)
        return None
    if r.path is None:
        return None
    problems = []
    for f in sorted(Path(r.path).rglob("*.parquet")):
        name = f.relative_to(r.path).as_posix()
        try:
            rows = pq.read_metadata(f).num_rows
        except (OSError, ValueError) as exc:
            problems.append(f"{name} is not a readable parquet file ({_reason(exc)})")
            continue
        if rows == 0:
            problems.append(f"{name} holds no rows")
    if not problems:
        return None
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return "; ".join(problems[:3]) + more + ": regenerate the dataset or remove those files"


def may_use_hub(source: str | None, repo_type: str = "dataset") -> bool:
    """Whether ``source`` would be looked up on the Hub (see :mod:`cards.resolve`): a ``hub:`` prefix, or an
    ``org/name`` that is neither a folder here nor in the local hub."""
    if not source or source.startswith(("local:", "local/")):
        return False
    if source.startswith("hub:"):
        return True
    if source.startswith((".", "/", "~")) or source.count("/") != 1 or Path(source).expanduser().exists():
        return False
    from cards.localhub import LocalHub

    return not LocalHub.default().exists(source, repo_type)


def check_hub_reachable(source: str | None, field: str, repo_type: str = "dataset") -> None:
    """Fail at once, naming ``field``, when ``source`` would come from the Hub and the Hub does not answer (its
    clients would retry for a minute or more, then end in a traceback). Skipped with ``HF_HUB_OFFLINE=1``,
    where only the cache is read."""
    if not may_use_hub(source, repo_type):
        return
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session

    if constants.HF_HUB_OFFLINE:
        return
    try:
        get_session().head(constants.ENDPOINT, timeout=HUB_PROBE_TIMEOUT_S, follow_redirects=False)
    except Exception as exc:  # noqa: BLE001  (httpx2 connect / timeout / proxy errors: all mean "no answer")
        raise ConfigError(
            field,
            f"{source!r} is a Hub id and the Hub at {constants.ENDPOINT} cannot be reached ({_reason(exc)}); check "
            "the network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only what is cached",
        ) from None
