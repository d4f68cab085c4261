"""Loading published data as ``datasets`` does: a folder, a local hub version or a Hub dataset, by split.

:func:`load_splits` returns what ``datasets.load_dataset`` would (a ``DatasetDict``); :func:`resolve_splits`
also returns where the data was found (a :class:`~publishing.resolve.Resolved`: kind, repo id, revision,
``datagen.json``). The failures of ``datasets`` itself (an empty or damaged parquet file, an unreachable Hub) are
one :class:`~core.errors.ConfigError` naming the field (and the file, when known).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
from huggingface_hub import constants
from huggingface_hub import utils as hf_utils

from core.errors import ConfigError
from core.metadata import read_metadata
from publishing.localhub import LocalHub
from publishing.resolve import Resolved, resolve

HUB_PROBE_TIMEOUT_S = 5.0


def load_splits(source: str, revision: str | None = None, splits: list[str] | None = None, field: str = "dataset",
                config: str | None = None):
    """A ``datasets.DatasetDict`` of the requested splits (all if None) of ``source`` (see
    :mod:`publishing.resolve`); ``field`` is the option named in errors. ``config`` picks one config of a
    multi-config repository (a released study holds one per run: ``load_splits("org/study", "v1.0.0",
    config="I8")``), as ``datasets.load_dataset(source, config)`` does."""
    return resolve_splits(source, revision, splits, field, config)[0]


def resolve_splits(source: str, revision: str | None = None, splits: list[str] | None = None,
                   field: str = "dataset", config: str | None = None) -> tuple:
    """``(DatasetDict, Resolved)``: the splits of :func:`load_splits` and where they were found (for a ``config``
    on this machine, its own folder and ``datagen.json``)."""
    import datasets  # deferred: slow to import, and only loading data needs it
    from datasets.exceptions import DatasetGenerationError

    check_hub_reachable(source, field)  # before anything asks the Hub: its clients retry for minutes
    try:
        r = resolve(source, revision, "dataset")
        if config is not None:
            r = _config_of(r, config)
        if r.path is not None:  # on this machine: name a bad shard before datasets trips over it
            bad = unreadable_shards(r)
            if bad:
                raise ConfigError(field, f"cannot load {source!r}: {bad}")
        try:
            if r.kind == "hub":
                dd = datasets.load_dataset(r.repo_id, config, revision=r.revision)
            else:
                dd = datasets.load_dataset(str(r.path), data_files=_data_files(r))
        except (FileNotFoundError, ValueError) as exc:
            raise ConfigError("config" if config and str(config) in str(exc) else field,
                              f"cannot load {source!r}{f' config {config!r}' if config else ''}: {exc}") from None
    except ConfigError:
        raise
    except (DatasetGenerationError, OSError, ValueError) as exc:  # an empty shard, ConnectionError, ArrowInvalid
        raise ConfigError(field, f"cannot load {source!r}: {_reason(exc)}") from None
    if splits is not None:
        missing = [s for s in splits if s not in dd]
        if missing:
            raise ConfigError("split", f"dataset {source!r} has no split {missing[0]!r} (it has: {', '.join(dd)})")
        dd = datasets.DatasetDict({s: dd[s] for s in splits})
    return dd, r


_CONFIG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


def _config_of(r: Resolved, config: str) -> Resolved:
    """The config folder ``<version>/<config>`` of a multi-config dataset on this machine (a Hub one is left to
    ``datasets``); ConfigError naming the configs there are."""
    if not isinstance(config, str) or not _CONFIG_NAME.match(config) or ".." in config:
        raise ConfigError("config", f"{config!r} is not a config name (letters, digits, '-', '_', '.')")
    if r.path is None:
        return r
    folder = Path(r.path) / config
    if folder.is_symlink() or not folder.is_dir():
        have = sorted(p.name for p in Path(r.path).iterdir() if p.is_dir() and not p.is_symlink()
                      and _CONFIG_NAME.match(p.name) and p.name != "data")
        raise ConfigError("config", f"{r.source!r} has no config {config!r} (configs: {', '.join(have) or 'none'})")
    return replace(r, path=folder, meta=read_metadata(folder, check=False, missing_ok=True))


def _data_files(r: Resolved) -> dict[str, list[str]] | None:
    """The shards of a datagen folder, by split, as absolute paths.

    Passed explicitly because ``datasets`` keys its cache of a folder whose card declares ``configs`` by the folder's
    name and the config alone, not by which files it holds: two version folders both named ``v1.0.0`` would
    otherwise share one cache entry. Explicit files put their paths and modification times in the key.
    """
    splits = r.meta.get("splits")
    if r.path is None or not isinstance(splits, dict):
        return None
    root = r.path.resolve()  # a relative folder would be taken relative to itself by load_dataset
    return {name: [str(root / f) for f in s["files"]] for name, s in splits.items()}


def _reason(exc: BaseException) -> str:
    """The first line of the innermost message of an exception chain (the library's wrappers say little)."""
    while exc.__cause__ is not None or (exc.__context__ is not None and not exc.__suppress_context__):
        exc = exc.__cause__ or exc.__context__
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def unreadable_shards(r: Resolved) -> str | None:
    """For a dataset on this machine (folder or local hub): which parquet files are empty or unreadable."""
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
    """Whether ``source`` would be looked up on the Hub (see :mod:`publishing.resolve`): a ``hub:`` prefix, or an
    ``org/name`` that is neither a folder here nor in the local hub, and whose ``org`` is no folder here (then it is
    a missing folder, as ``runs/nosuch``)."""
    if not source or source.startswith(("local:", "local/")):
        return False
    if source.startswith("hub:"):
        return True
    path = Path(source).expanduser()
    if source.startswith((".", "/", "~")) or source.count("/") != 1 or path.exists() or path.parent.is_dir():
        return False
    return not LocalHub.default().exists(source, repo_type)


def check_hub_reachable(source: str | None, field: str, repo_type: str = "dataset") -> None:
    """Fail at once, naming ``field``, when ``source`` would come from the Hub and the Hub does not answer (its
    clients would retry for a minute or more, then end in a traceback). Skipped with ``HF_HUB_OFFLINE=1``,
    where only the cache is read."""
    if not may_use_hub(source, repo_type):
        return
    if constants.HF_HUB_OFFLINE:
        return
    try:
        hf_utils.get_session().head(constants.ENDPOINT, timeout=HUB_PROBE_TIMEOUT_S, follow_redirects=False)
    except Exception as exc:  # noqa: BLE001  (httpx2 connect / timeout / proxy errors: all mean "no answer")
        raise ConfigError(
            field,
            f"{source!r} is a Hub id and the Hub at {constants.ENDPOINT} cannot be reached ({_reason(exc)}); check "
            "the network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only what is cached",
        ) from None
