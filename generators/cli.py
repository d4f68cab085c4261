"""The ``datagen`` command group and its data-layer commands: ``generate``, ``inspect``, ``presets``.

The publishing commands (``push``, ``pull``, ``verify``, ``list``) are added to the same group by
:mod:`publishing.cli`, which is the ``datagen`` console script's entry point.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import yaml

from core.atomic import sigterm_exits
from core.cli import user_errors
from core.errors import ConfigError
from core.metadata import METADATA_FILE, read_metadata
from generators.make import describe, is_synthetic_meta, make_dataset, sources_text
from generators.version import GENERATOR_VERSION, REMAKEABLE_VERSIONS

PRESETS = Path(__file__).parent / "configs"


def resolve_config_path(config: str) -> Path:
    """A config file path, or the name of a shipped preset (``tiny`` -> generators/configs/tiny.yaml).

    A folder of the same name (say, a dataset generated with ``-o tiny``) does not hide the preset."""
    p = Path(config)
    if p.is_file():
        return p
    preset = PRESETS / f"{config}.yaml"
    if preset.exists() and "/" not in config:
        return preset
    what = "is a folder, not a config file" if p.is_dir() else "does not exist"
    raise ConfigError(None, f"config file {config} {what} (and is not a preset: {', '.join(list_presets())})")


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESETS.glob("*.yaml"))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="instruction-diversity")
def main() -> None:
    """Generate, publish and verify diversity-controlled instruction-tuning datasets.

    CONFIG arguments take a YAML file or the name of a shipped preset (see `datagen presets`). generate, inspect
    and presets live in generators/cli.py (the data layer); push, pull, verify and list in publishing/cli.py.
    """


@main.command()
@click.argument("config")
@click.option("-o", "--output", "output", required=True, type=click.Path(file_okay=False), help="Dataset folder to write.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config field (dotted path), e.g. --set space.x_len=10.")
@click.option("--workers", default=1, show_default=True, help="Processes writing shards (same bytes for any number).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder (only once the new one is complete).")
@click.option("--compression", default="zstd", show_default=True, type=click.Choice(["snappy", "zstd", "lz4", "gzip", "none"]),
              help="Parquet codec (file bytes only: rows and fingerprint do not change).")
@click.option("--force", is_flag=True,
              help="Go beyond the default caps on rows and size (never beyond the free disk or the memory).")
@click.option("--generator-version", "version", type=click.Choice(list(REMAKEABLE_VERSIONS)), default=None,
              help=f"Make the rows of an earlier generator version (default: {GENERATOR_VERSION}), e.g. to re-make a "
                   "dataset it published.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@user_errors
def generate(
    config: str, output: str, overrides: tuple[str, ...], workers: int, overwrite: bool, compression: str, force: bool,
    version: str | None, quiet: bool,
) -> None:
    """Generate the dataset described by CONFIG into a datasets-loadable folder.

    CONFIG may also be an instruction-mixture config (`task: mixture`, e.g. mix_oss_alpaca_10) or an instruction
    pool (`task: pool`: I semantic clusters x S rows of real data, unseen clusters held out). The request's
    rows, bytes and memory are estimated first: one that cannot fit this machine is refused before any work.
    SIGTERM stops the run cleanly (its workers and temporary folder are removed).
    """
    with sigterm_exits():
        meta = make_dataset(
            resolve_config_path(config), overrides, output, workers=workers, overwrite=overwrite, progress=not quiet,
            compression=compression, force=force, version=version,
        )
    click.echo(summary_line(meta, output))


def summary_line(meta: dict, where: str) -> str:
    rows = sum(s["rows"] for s in meta["splits"].values())
    shards = sum(len(s["files"]) for s in meta["splits"].values())
    rate = rows / meta["elapsed_s"] if meta.get("elapsed_s") else float("nan")
    sources = sources_text(meta)
    return (
        f"wrote {rows} rows{sources} in {shards} shards to {where} in {meta['elapsed_s']:.2f}s "
        f"({rate:,.0f} rows/s); fingerprint {meta['fingerprint'][:16]}"
    )


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the stored report as JSON.")
@user_errors
def inspect(folder: str, as_json: bool) -> None:
    """Print the diversity report of a generated dataset FOLDER."""
    meta = read_metadata(folder)
    try:  # fields beyond the ones every reader needs (check_metadata): a damaged file is named, not a traceback
        if as_json:
            lines = [json.dumps(meta["report"], indent=2)]
        else:
            lines = _inspect_lines(meta)
    except ConfigError:
        raise
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
        what = f"lacks its {exc.args[0]!r} field" if isinstance(exc, KeyError) else f"has a field of the wrong kind ({exc})"
        raise ConfigError(None, f"{Path(folder) / METADATA_FILE} is damaged: it {what}") from None
    for line in lines:
        click.echo(line)


def _inspect_lines(meta: dict) -> list[str]:
    cfg = meta["config"]
    lines = [
        f"{meta['name']}  task={meta['task']}  seed={meta['seed']}  generator {meta['generator_version']}",
        f"fingerprint {meta['fingerprint']}",
    ]
    if not is_synthetic_meta(meta):
        return lines + [describe(meta)]
    return lines + [
        f"instruction space: {meta['instruction_space']['train_size']} rules; "
        f"train/unseen instructions disjoint: {'yes (checked)' if meta['disjointness']['checked'] else 'unchecked'}",
        f"distribution: {cfg['distribution']['kind']}  no-op fraction: {cfg['noop_fraction']}",
        describe(meta),
    ]


@main.command()
def presets() -> None:
    """List the shipped configs (usable by name wherever a CONFIG is asked)."""
    rows = []
    for name in list_presets():
        text = (PRESETS / f"{name}.yaml").read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
        rows.append((name, str(data.get("task", "rewrite")), first_sentence(text)))
    names = max((len(name) for name, _, _ in rows), default=0) + 1
    width = max((len(task) for _, task, _ in rows), default=0)
    for name, task, summary in rows:
        click.echo(f"{name:<{names}} {task:<{width}} {summary}")


def first_sentence(text: str) -> str:
    """The first sentence of a YAML file's leading comment block, whole (it may span comment lines): up to the
    first full stop outside brackets that ends a word (not in ``e.g.``, ``i.e.``, ``vs.``)."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    words = " ".join(w for ln in lines for w in ln.split()).split(" ")
    depth, out = 0, []
    for word in words:
        out.append(word)
        for ch in word:
            depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(ch, 0)  # an interval (0, 1] counts as closed
        if depth <= 0 and word.endswith(".") and word.lower() not in ("e.g.", "i.e.", "vs.", "cf."):
            break
    return " ".join(out).strip()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
