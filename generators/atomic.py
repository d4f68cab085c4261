"""Write a dataset folder (or one file) atomically: under a temporary name beside the target, renamed into place.

A run that fails or is interrupted leaves no half dataset (the temporary folder is removed), and an existing
folder is only replaced once the new one is complete (and only when asked).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from generators.errors import ConfigError


def check_output(out_dir: Path, overwrite: bool) -> None:
    """Refuse an existing output folder unless ``overwrite`` (call before any work is done). Even then only a
    dataset folder (one with ``datagen.json``) or an empty one is replaced: never a folder of other files."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(None, f"output folder {out_dir} is a file")
    if not out_dir.exists():
        return
    if not overwrite:
        raise ConfigError(None, f"output folder {out_dir} already exists (pass --overwrite to replace it)")
    if any(out_dir.iterdir()) and not (out_dir / "datagen.json").is_file():
        raise ConfigError(None, f"output folder {out_dir} holds files but is not a dataset folder (no datagen.json): "
                                f"--overwrite only replaces a dataset; pick another folder")


@contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix, so format-by-extension writers work); once the block
    completes it replaces ``path``. Readers (a parallel job, a crash) see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


@contextmanager
def atomic_folder(out_dir: str | Path, data: bool = True) -> Iterator[Path]:
    """Yield a temporary folder (with ``data/`` made, unless ``data`` is false); on success it becomes ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    (tmp / "data" if data else tmp).mkdir(parents=True)
    try:
        yield tmp
        old = None
        if out_dir.exists():  # swapped out first, removed last
            old = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}"
            out_dir.rename(old)
        tmp.rename(out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
