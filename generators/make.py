"""One entry point for every kind of dataset config: synthetic tasks (rewrite, markov) and instruction mixtures.

The CLIs (`datagen generate`, `push`, `verify`, `inspect`) go through here, so a mixture config is generated,
published, re-made and described like any other dataset.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import ConfigError


def is_mixture_meta(meta: dict) -> bool:
    return meta.get("task") == "mixture"


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
) -> dict:
    """Generate (synthetic task) or build (mixture) the dataset a config file describes (``force``: lift the
    soft size caps of :mod:`generators.limits`)."""
    from generators.mixture_config import is_mixture_config

    if is_mixture_config(config_path):
        from generators.mixture import build_mixture
        from generators.mixture_config import load_mixture_config

        if compression != "zstd":
            raise ConfigError("compression", "mixtures are written with zstd parquet")
        return build_mixture(load_mixture_config(config_path, overrides), out_dir, overwrite=overwrite, progress=progress)
    from generators.build import generate
    from generators.config import load_config

    cfg = load_config(config_path, overrides)
    return generate(
        cfg, out_dir, workers=workers, overwrite=overwrite, progress=progress, card=card, compression=compression, force=force
    )


def remake(meta: dict, out_dir: str | Path, *, workers: int = 1, progress: bool = True) -> dict:
    """Make a published dataset again from the config its metadata records (for ``datagen verify``)."""
    if is_mixture_meta(meta):
        from generators.mixture import build_mixture
        from generators.mixture_config import mixture_config_from_dict

        return build_mixture(mixture_config_from_dict(meta["config"]), out_dir, progress=progress)
    from generators.build import generate
    from generators.config import config_from_dict

    return generate(config_from_dict(meta["config"]), out_dir, workers=workers, progress=progress, card=False)


def current_version(meta: dict) -> str:
    """The version of the generator that would re-make this dataset here."""
    if is_mixture_meta(meta):
        from generators.mixture import MIXTURE_VERSION

        return MIXTURE_VERSION
    from generators import GENERATOR_VERSION

    return GENERATOR_VERSION


def write_card(folder: str | Path, meta: dict, **kwargs) -> Path:
    """Render the right card (dataset or mixture) into ``folder/README.md``."""
    if is_mixture_meta(meta):
        from cards.mixture_card import write_mixture_card

        return write_mixture_card(folder, meta, **kwargs)
    from cards.dataset_card import write_dataset_card

    return write_dataset_card(folder, meta, **kwargs)


def describe(meta: dict) -> str:
    """The terminal report of a dataset (``datagen inspect``)."""
    if is_mixture_meta(meta):
        from generators.mixture import format_mixture_report

        return format_mixture_report(meta)
    from generators.report import format_report

    return format_report(meta["report"])
