"""Instruction sources for mixtures: load a Hub dataset or a local file/folder with ``datasets`` and map each
row to an (instruction, response) pair by the source's declared column mapping.

Hub sources go through ``datasets.load_dataset(id, name=subset, revision=revision, split=split)``; local files
through the ``json`` or ``parquet`` builder; local folders through ``load_dataset(folder, split=split)``. A
source's content fingerprint hashes its mapped pairs in order, so a card can say exactly what was mixed even
when the source is a local file. Relative paths are relative to the working directory.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

from core.errors import ConfigError
from generators.real.mixture_config import FILE_SUFFIXES, SourceBase, mapping_columns


@dataclass
class LoadedSource:
    cfg: SourceBase
    instructions: list[str]
    completions: list[str]
    fingerprint: str
    origin: dict = field(default_factory=dict)  # what the card shows: Hub id/revision/commit, or a file name
    unmappable: int = 0  # rows whose template could not be filled (e.g. an index past a list's end)
    labels: list | None = None  # the values of a label column, when asked for (a pool's clusters)

    @property
    def rows(self) -> int:
        return len(self.instructions)


def load_source(src: SourceBase, where: str, progress: bool = True, label_column: str | None = None) -> LoadedSource:
    """Load ``src`` and map its rows; ``where`` (e.g. ``sources[0]``) names it in errors; ``label_column``: also
    read that column's values (named as ``label_field`` in errors)."""
    # deferred: datasets is slow to import; only loading a source needs it
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    quiet_before = are_progress_bars_disabled()
    if not progress:
        disable_progress_bars()
    try:
        ds, origin = _load(src, where)
    finally:
        if not progress and not quiet_before:
            enable_progress_bars()
    prompt_cols = mapping_columns(src.columns.prompt, f"{where}.columns.prompt")
    completion_cols = mapping_columns(src.columns.completion, f"{where}.columns.completion")
    wanted = [(c, f"{where}.columns.prompt") for c in prompt_cols] + [(c, f"{where}.columns.completion") for c in completion_cols]
    if label_column is not None:
        wanted.append((label_column, "clusters.column"))
    for col, field_name in wanted:
        if col not in ds.column_names:
            raise ConfigError(
                field_name, f"column {col!r} is not in source {src.name!r} (it has: {', '.join(ds.column_names)})"
            )
    data = ds.select_columns(sorted({c for c, _ in wanted})).to_dict()
    n = ds.num_rows
    instructions, bad_p = _render(src.columns.prompt, data, n)
    completions, bad_c = _render(src.columns.completion, data, n)
    h = hashlib.sha256()
    for a, b in zip(instructions, completions, strict=True):
        ab, bb = a.encode(), b.encode()
        h.update(len(ab).to_bytes(8, "little") + ab + len(bb).to_bytes(8, "little") + bb)
    labels = data[label_column] if label_column is not None else None
    return LoadedSource(src, instructions, completions, h.hexdigest(), origin, len(bad_p | bad_c), labels)


def _load(src: SourceBase, where: str):
    # deferred: datasets is slow to import; only loading a source needs it
    import datasets
    from datasets.exceptions import DatasetsError

    try:
        if src.hub is not None:
            ds = datasets.load_dataset(src.hub, name=src.subset, revision=src.revision, split=src.split)
            origin = {"kind": "hub", "id": src.hub, "revision": src.revision, "subset": src.subset, "split": src.split,
                      "commit": _hub_commit(src.hub, src.revision)}
            return ds, origin
        path = Path(src.path).expanduser()
        if not path.exists():
            raise ConfigError(f"{where}.path", f"{src.path} does not exist")
        if path.is_dir():
            ds = datasets.load_dataset(str(path), split=src.split)
            return ds, {"kind": "folder", "name": path.name, "split": src.split}
        builder = _builder(path, where)
        ds = datasets.load_dataset(builder, data_files={src.split: str(path)}, split=src.split)
        return ds, {"kind": "file", "name": path.name, "split": src.split}
    except ConfigError:
        raise
    except (DatasetsError, OSError, ValueError, ConnectionError) as exc:
        what = src.hub or src.path
        raise ConfigError(where, f"cannot load source {src.name!r} ({what}): {exc}") from None


def _builder(path: Path, where: str) -> str:
    name = path.name.lower()
    for suffix in FILE_SUFFIXES:
        if name.endswith(suffix):
            return "parquet" if suffix == ".parquet" else "json"
    raise ConfigError(f"{where}.path", f"{path.name}: use a {', '.join(FILE_SUFFIXES)} file or a dataset folder")


def _hub_commit(repo_id: str, revision: str | None) -> str | None:
    """The commit a Hub revision pointed at when the source was loaded (None when the Hub cannot be asked)."""
    try:
        return HfApi().dataset_info(repo_id, revision=revision).sha
    except (HfHubHTTPError, OSError, ValueError):
        return None


def _render(mapping: str, data: dict[str, list], n: int) -> tuple[list[str], set[int]]:
    """Each row's text for a column name or a template; rows the template cannot fill are empty (and listed)."""
    if "{" not in mapping:
        return [("" if v is None else str(v)).strip() for v in data[mapping]], set()
    fmt = string.Formatter()
    cols = list(data)
    out, bad = [], set()
    for i in range(n):
        row = {c: ("" if data[c][i] is None else data[c][i]) for c in cols}
        try:
            out.append(fmt.vformat(mapping, (), row).strip())
        except (IndexError, KeyError, TypeError):
            out.append("")
            bad.add(i)
    return out, bad
