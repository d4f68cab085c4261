"""One entry point for every kind of dataset config: synthetic tasks (the task registry), instruction mixtures
and instruction pools.

The CLIs (`datagen generate`, `push`, `verify`, `inspect`) go through here, so a mixture or pool config is
generated, published, re-made and described like any other dataset. What differs between the kinds is one table,
:data:`KINDS`; :func:`kind_of_config` and :func:`kind_of_meta` are the one place that decides which applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cards.dataset_card import write_dataset_card
from cards.mixture_card import write_mixture_card
from cards.pool_card import write_pool_card
from core.errors import ConfigError
from generators import tasks
from generators.build import generate
from generators.config import config_from_dict, load_config
from generators.real.mixture import MIXTURE_VERSION, build_mixture, format_mixture_report
from generators.real.mixture_config import (
    MIXTURE_TASK,
    MixtureConfig,
    is_mixture_config,
    load_mixture_config,
    mixture_config_from_dict,
)
from generators.real.pool import AGREEMENT_SAMPLE, POOL_VERSION, build_pool
from generators.real.pool_config import (
    POOL_TASK,
    PoolConfig,
    is_pool_config,
    load_pool_config,
    pool_config_from_dict,
)
from generators.real.pool_report import format_pool_report
from generators.report import format_report
from generators.version import GENERATOR_VERSION, REMAKEABLE_VERSIONS


@dataclass(frozen=True)
class Kind:
    """How one kind of dataset is made from a config file, re-made from its metadata, carded and described."""

    name: str
    version: str  # the generator version that makes it here
    versions: tuple[str, ...]  # the generator versions whose datasets it re-makes here
    make: Callable[..., dict]  # (config path, overrides, out_dir, **options) -> metadata
    remake: Callable[..., dict]  # (metadata, out_dir, workers, progress, folder) -> metadata (folder: the one re-made)
    card: Callable[..., Path]  # (folder, metadata, **card options) -> README.md
    describe: Callable[[dict], str]  # the terminal report (``datagen inspect``)
    sources: Callable[[dict], str]  # what the one-line summary adds after the row count


def _make_synthetic(config_path, overrides, out_dir, *, workers, overwrite, progress, card, compression, force,
                    version) -> dict:
    cfg = load_config(config_path, overrides)
    return generate(
        cfg, out_dir, workers=workers, overwrite=overwrite, progress=progress, card=card, compression=compression, force=force,
        version=version or GENERATOR_VERSION,
    )


def _real_data_options(kind: str, compression: str, version: str | None) -> None:
    """Options that only synthetic tasks take: a mixture or pool is zstd parquet, made by one builder version."""
    if compression != "zstd":
        raise ConfigError("compression", f"{kind}s are written with zstd parquet")
    if version is not None:
        raise ConfigError("generator_version", f"applies to synthetic tasks: a {kind} has one builder version")


def _make_mixture(config_path, overrides, out_dir, *, workers, overwrite, progress, card, compression, force,
                  version) -> dict:
    _real_data_options("mixture", compression, version)
    return build_mixture(load_mixture_config(config_path, overrides), out_dir, overwrite=overwrite, progress=progress)


def _make_pool(config_path, overrides, out_dir, *, workers, overwrite, progress, card, compression, force,
               version) -> dict:
    _real_data_options("pool", compression, version)
    return build_pool(load_pool_config(config_path, overrides), out_dir, overwrite=overwrite, progress=progress)


def _pool_sources(meta: dict) -> str:
    cl = meta["clusters"]
    return (f" (from {cl['pool_rows']} pool rows in {cl['clusters']} clusters: {len(cl['train'])} training, "
            f"{len(cl['test_unseen'])} unseen-test)")


def _synthetic_card(folder, meta: dict, **kwargs) -> Path:
    return write_dataset_card(folder, meta, **tasks.card_texts(meta), **kwargs)


def _mixture_sources(meta: dict) -> str:
    kept = ", ".join(f"{s['name']} {s['kept']}" for s in meta["sources"])
    return f" ({kept}; {meta['decontamination']['total_removed']} contaminated rows removed)"


KINDS = {
    "synthetic": Kind(
        "synthetic", GENERATOR_VERSION, REMAKEABLE_VERSIONS, _make_synthetic,
        lambda meta, out_dir, workers, progress, folder: generate(
            config_from_dict(meta["config"]), out_dir, workers=workers, progress=progress, card=False,
            version=meta["generator_version"]),
        _synthetic_card, lambda meta: format_report(meta["report"]), lambda meta: "",
    ),
    "mixture": Kind(
        "mixture", MIXTURE_VERSION, (MIXTURE_VERSION,), _make_mixture,
        lambda meta, out_dir, workers, progress, folder: build_mixture(
            mixture_config_from_dict(meta["config"]), out_dir, progress=progress),
        write_mixture_card, format_mixture_report, _mixture_sources,
    ),
    "pool": Kind(
        "pool", POOL_VERSION, (POOL_VERSION,), _make_pool,
        lambda meta, out_dir, workers, progress, folder: build_pool(
            pool_config_from_dict(meta["config"]), out_dir, progress=progress, recorded=folder,
            agreement_sample=AGREEMENT_SAMPLE),
        write_pool_card, format_pool_report, _pool_sources,
    ),
}


def kind_of_meta(meta: dict) -> Kind:
    return KINDS[{MIXTURE_TASK: "mixture", POOL_TASK: "pool"}.get(meta.get("task"), "synthetic")]


def kind_of_config(config_path: str | Path) -> Kind:
    return KINDS["mixture" if is_mixture_config(config_path) else "pool" if is_pool_config(config_path) else "synthetic"]


def is_synthetic_meta(meta: dict) -> bool:
    """Whether the metadata is a synthetic task's (not a mixture or pool of real data)."""
    return kind_of_meta(meta).name == "synthetic"


def make_dataset(
    config_path: str | Path,
    overrides: tuple[str, ...] | list[str],
    out_dir: str | Path,
    *,
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = True,
    card: bool = True,
    compression: str = "zstd",
    force: bool = False,
    version: str | None = None,
) -> dict:
    """Generate (synthetic task) or build (mixture, pool) the dataset a config file describes (``force``: lift
    the soft size caps of :mod:`generators.limits`; ``version``: an earlier generator version's rows, synthetic
    tasks only)."""
    return kind_of_config(config_path).make(
        config_path, overrides, out_dir, workers=workers, overwrite=overwrite, progress=progress, card=card,
        compression=compression, force=force, version=version,
    )


def make_from(cfg, out_dir: str | Path, *, progress: bool = True, overwrite: bool = False) -> dict:
    """Make the dataset of a loaded config object (generator, mixture or pool config), e.g. one run of a sweep."""
    if isinstance(cfg, PoolConfig):
        return build_pool(cfg, out_dir, overwrite=overwrite, progress=progress)
    if isinstance(cfg, MixtureConfig):
        return build_mixture(cfg, out_dir, overwrite=overwrite, progress=progress)
    return generate(cfg, out_dir, progress=progress, overwrite=overwrite)


def recorded_config(cfg) -> dict:
    """The ``config`` entry ``datagen.json`` records for a loaded config object (local paths as file names)."""
    return cfg.to_public_dict() if isinstance(cfg, (PoolConfig, MixtureConfig)) else cfg.to_dict()


def remake(meta: dict, out_dir: str | Path, *, workers: int = 1, progress: bool = True,
           folder: str | Path | None = None) -> dict:
    """Make a published dataset again from the config its metadata records (for ``datagen verify``); a pool also
    reads the cluster assignment recorded in ``folder`` (the dataset being verified)."""
    return kind_of_meta(meta).remake(meta, out_dir, workers, progress, folder)


def current_version(meta: dict) -> str:
    """The version of the generator that makes this kind of dataset here."""
    return kind_of_meta(meta).version


def remakeable_versions(meta: dict) -> tuple[str, ...]:
    """The generator versions whose datasets of this kind this code re-makes."""
    return kind_of_meta(meta).versions


def remakeable(meta: dict) -> bool:
    """Whether this code re-makes the dataset ``meta`` describes, row for row (its generator version is one it
    keeps the behaviour of)."""
    return meta["generator_version"] in remakeable_versions(meta)


def write_card(folder: str | Path, meta: dict, **kwargs) -> Path:
    """Render the right card (dataset, mixture or pool) into ``folder/README.md``."""
    return kind_of_meta(meta).card(folder, meta, **kwargs)


def describe(meta: dict) -> str:
    """The terminal report of a dataset (``datagen inspect``)."""
    return kind_of_meta(meta).describe(meta)


def sources_text(meta: dict) -> str:
    """What the one-line summary of a made dataset says after its row count (a mixture's sources)."""
    return kind_of_meta(meta).sources(meta)
