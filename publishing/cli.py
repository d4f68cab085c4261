"""``datagen push / pull / verify / list``: publish datasets as immutable versions and get them back exactly.

- ``push`` generates a config (or takes a generated folder), renders the card for the repo and version, and
  publishes it: to the Hub with ``--repo-id org/name`` (token from ``HF_TOKEN`` or ``hf auth login``, endpoint
  from ``HF_ENDPOINT``), else to the embedded local hub as ``local/<name>``;
- ``pull`` copies a version (Hub or local hub) into a folder, after checking every file name the repository
  lists, and checks the files against ``datagen.json`` (SHA-256 and rows) before the folder appears;
- ``verify`` proves that a published version holds the data its card claims: it checks each file's SHA-256,
  re-fingerprints the published parquet files and re-makes the data from the recorded config;
- ``list`` shows what the local hub holds (datasets, models, and collections of released studies);
- ``remove`` removes versions from the local hub (never from the Hub): :mod:`publishing.remove`.

What a push publishes is exactly ``datagen.json``, the data files it lists and the card rendered for the
version: each file is read once, without following links, into a private staging folder; a symlink, a
special file or any file the metadata does not list refuses the push, naming them all (:func:`stage_dataset`).
Hub failures (no answer within ``DATAGEN_HUB_TIMEOUT`` seconds, after ``DATAGEN_HUB_RETRIES`` retries; the Hub
work of the command not done within ``DATAGEN_HUB_DEADLINE`` seconds; an error answer; a failed upload) are one
line with exit status 1, see :mod:`publishing.hubclient`; downloads never take more bytes than the listing gives
(:mod:`publishing.download`).

The commands are registered here on the ``datagen`` group of :mod:`generators.cli` (``generate``, ``inspect``,
``presets``): this module's :data:`main` is the ``datagen`` console script.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

from core.atomic import atomic_folder, owned_tempdir
from core.cli import user_errors as core_user_errors
from core.errors import ConfigError
from core.metadata import (
    METADATA_FILE,
    has_metadata,
    listed_files,
    read_metadata,
    read_metadata_bytes,
    write_metadata,
)
from core.safeio import read_hashed, scan
from generators.cli import main, resolve_config_path
from generators.make import make_dataset, write_card
from generators.verify import verify_folder
from publishing.collections import local_collections
from publishing.hubclient import failure_reason, hub_deadline, status_of
from publishing.localhub import LocalHub, check_hub_repo_id, check_local_name, normalize_version
from publishing.remove import remove
from publishing.resolve import resolve
from publishing.targets import HubTarget, LocalTarget, default_token, get_target, publish_folder


def user_errors(fn):
    """:func:`core.cli.user_errors`, plus Hub failures as one line with exit status 1."""

    @functools.wraps(fn)
    def hub_failures(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except Exception as exc:
            reason = failure_reason(exc)
            if reason is None:
                raise
            raise click.ClickException(f"a Hub call failed ({reason}); nothing was changed here: run the same "
                                       f"command again") from None

    return core_user_errors(hub_failures)


NOT_PUBLISHED = ("README.md", ".gitattributes")  # in a dataset folder, read by no push: re-rendered / the Hub's


@contextmanager
def staging_folder(kind: str = "push") -> Iterator[Path]:
    """The private temporary folder (``datagen-<kind>-<owner>-*`` in TMPDIR, mode 0700) a command stages files in,
    removed when done (also on SIGTERM; a killed command's is removed by the next one); the one place these folders
    are made."""
    with owned_tempdir(f"datagen-{kind}-") as tmp:  # pid-named: the next command removes what a killed one left
        yield tmp / "dataset"


def stage_dataset(src: Path, dest: Path) -> dict:
    """Copy exactly what a dataset folder publishes into ``dest`` (a private staging folder); return its metadata.

    That is ``datagen.json`` and the data (and extra) files it lists, each read once through
    :func:`core.safeio.read_hashed` (no link followed, the copy is what was hashed). Anything else in the
    folder refuses the push, every one named: a symlink anywhere (also one with a listed name), a special file,
    a file or folder the metadata does not list. The card (README.md) is left out: it is rendered afresh for the
    repo and version; so is a pulled folder's ``.gitattributes`` (the Hub's own file). A folder written before datagen recorded file hashes gets the SHA-256 of the staged copy
    recorded in the staged ``datagen.json`` (its rows are then checked against the recorded fingerprints).
    """
    meta, raw = read_metadata_bytes(src)
    listed = set(listed_files(meta))
    parents = {"/".join(f.split("/")[:i]) for f in listed for i in range(1, f.count("/") + 1)}
    refused, skip = [], ()
    entries = scan(src)
    for e in entries:
        if skip and e.rel.startswith(skip):
            continue
        if e.kind in ("symlink", "other"):
            refused.append(f"{'symlink' if e.kind == 'symlink' else 'special file'} {e.rel}")
        elif e.kind == "dir" and e.rel not in parents:
            refused.append(f"unlisted {e.rel}/")
            skip = skip + (e.rel + "/",)
        elif e.kind == "file" and e.rel not in listed | {METADATA_FILE, *NOT_PUBLISHED}:
            refused.append(f"unlisted {e.rel}")
    if refused:
        raise ConfigError(None, f"{src} holds what its datagen.json does not list, so nothing was published (move "
                                f"it out of the folder): {', '.join(refused)}")
    missing = sorted(listed - {e.rel for e in entries if e.kind == "file"})
    if missing:
        raise ConfigError(None, f"{src} lacks files its datagen.json lists, so nothing was published: {', '.join(missing)}")
    dest.mkdir(parents=True)  # a new folder (a release stages each config in one): nothing in it is overwritten
    staged = {f: read_hashed(src, f, dest / f)[0] for f in sorted(listed)}
    if all(s.get("sha256") for s in meta["splits"].values()):
        (dest / METADATA_FILE).write_bytes(raw)  # as read: the recorded hashes are checked against the copies
    else:
        for s in meta["splits"].values():
            s["sha256"] = {f: staged[f] for f in s["files"]}
        write_metadata(dest, meta)
    return meta


def _check_staged(staging: Path, source: str) -> None:
    """A folder published as is must hold exactly what its datagen.json records (SHA-256 of each file, rows
    re-fingerprinted, no stray shards): a published version cannot be changed later, so a damaged folder is
    refused here."""
    result = verify_folder(staging, remake=False, progress=False, private=True)
    if not result.ok:
        raise ConfigError(None, f"{source} does not hold the data its datagen.json records, so it is not published: "
                                + "; ".join(result.problems))


def _lfs_problems(folder: Path, lfs: dict[str, str]) -> list[str]:
    """The data files whose SHA-256 in datagen.json differs from the one the Hub lists for the LFS object."""
    if not lfs:
        return []
    out = []
    meta = read_metadata(folder)
    recorded = [(f, sha) for s in meta["splits"].values() for f, sha in (s.get("sha256") or {}).items()]
    for f, sha in recorded + list((meta.get("extra_files") or {}).items()):  # extra: a pool's recorded clusters
        if f in lfs and lfs[f] != sha:
            out.append(f"{f}: the Hub lists SHA-256 {lfs[f][:16]} for it, datagen.json records {sha[:16]}")
    return out


def _summary(meta: dict) -> str:
    rows = sum(s["rows"] for s in meta["splits"].values())
    per = ", ".join(f"{name} {s['rows']}" for name, s in meta["splits"].items())
    return f"{rows} rows ({per}), fingerprint {meta['fingerprint'][:16]}"


def _load_hint(kind: str, repo_id: str, version: str, location: str) -> str:
    if kind == "local":
        return f'load it: datasets.load_dataset("{location}")  or  publishing.loading.load_splits("{repo_id}", revision="{version}")'
    return f'load it: datasets.load_dataset("{repo_id}", revision="{version}")'


@click.command()
@click.argument("config", required=False)
@click.option("--from-folder", type=click.Path(exists=True, file_okay=False), help="Publish this already generated dataset folder instead of generating CONFIG.")
@click.option("--repo-id", help="Publish to the Hugging Face Hub as org/name. Without it: the local hub.")
@click.option("--local-name", help="Name in the local hub (default: the config's name, as local/<name>).")
@click.option("--version", help="Semantic version such as v1.0.0 (default: the latest one if it holds the same data, else the next one).")
@click.option("--bump", type=click.Choice(["major", "minor", "patch"]), default="minor", show_default=True, help="Which part of the version the default bump raises.")
@click.option("--private", is_flag=True, help="Create the Hub repository as private (applies when the push creates it).")
@click.option("--license", "license_", help="License named in the card (default: cards.dataset_card.DEFAULT_LICENSE, cc-by-4.0).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config field (dotted path).")
@click.option("--workers", default=1, show_default=True, help="Processes generating shards.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@user_errors
def push(
    config: str | None,
    from_folder: str | None,
    repo_id: str | None,
    local_name: str | None,
    version: str | None,
    bump: str,
    private: bool,
    license_: str | None,
    overrides: tuple[str, ...],
    workers: int,
    quiet: bool,
) -> None:
    """Generate CONFIG (a YAML file or preset name) and publish it as an immutable version.

    With --repo-id the dataset goes to the Hub (repository created if needed, one commit, then a tag named
    after the version); without it, to the local hub as local/<name>. Re-publishing the same data is a no-op;
    publishing other data under an existing version is refused.
    """
    if bool(config) == bool(from_folder):
        raise ConfigError(None, "give a CONFIG to generate or --from-folder DIR to publish (one of them)")
    if from_folder and overrides:
        raise ConfigError("set", "--set applies to a CONFIG being generated, not to --from-folder")
    if repo_id is not None and local_name is not None:
        raise ConfigError("local-name", "--local-name names a local hub dataset; it cannot be used with --repo-id")
    if repo_id is not None:  # checked before anything is generated or sent
        check_hub_repo_id(repo_id)
        if default_token() is None:
            raise ConfigError("token", "no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    elif local_name is not None:
        check_local_name(local_name)
    version = normalize_version(version) if version is not None else None
    target = get_target(hub=repo_id is not None)
    with staging_folder("push") as staging:
        if from_folder:
            meta = stage_dataset(Path(from_folder), staging)
            _check_staged(staging, from_folder)
        else:
            make_dataset(resolve_config_path(config), overrides, staging, workers=workers, progress=not quiet, card=False)
            meta = read_metadata(staging)
        repo = repo_id or (local_name if local_name and "/" in local_name else f"local/{local_name or meta['name']}")
        extra = {"license": license_} if license_ else {}
        chosen: dict[str, str] = {}

        def prepare(folder: Path, v: str) -> None:  # once the version is chosen (under the local hub's lock)
            chosen["version"] = v
            write_card(folder, meta, repo_id=repo, version=v, local=repo_id is None, **extra)

        try:
            with hub_deadline():  # the Hub calls end within DATAGEN_HUB_DEADLINE
                published = publish_folder(
                    staging, repo, target=target, version=version, bump=bump, private=private, prepare=prepare,
                    message=lambda v: f"Publish {meta['name']} {v} (fingerprint {meta['fingerprint'][:16]})",
                )
        except Exception as exc:  # an error answer from the Hub, no answer, a failed (LFS, Xet) upload, a full disk
            reason = failure_reason(exc, include_os=True)
            if reason is None:
                raise
            if not isinstance(exc, RuntimeError) and status_of(exc) in (401, 403):  # not a storage refusal
                raise ConfigError("token", f"the Hub refused the token (HF_TOKEN or `hf auth login`) for {repo}") from None
            raise click.ClickException(
                f"publishing {' '.join(filter(None, (repo, chosen.get('version') or version)))} failed ({reason}); "
                f"no version was tagged: run the same command again to complete it"
            ) from None
    if published.created:
        click.echo(f"published {repo} {published.version}: {_summary(meta)} -> {published.location}")
    else:
        click.echo(f"{repo} {published.version} already holds this data ({_summary(meta)}): nothing to publish; at {published.location}")
    click.echo(_load_hint(target.kind, repo, published.version, published.location))


@click.command()
@click.argument("repo")
@click.option("--revision", help="Version, tag, branch or commit (default: the latest local version / the Hub's main).")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Folder to write (new or empty).")
@click.option("--repo-type", type=click.Choice(["dataset", "model"]), default="dataset", show_default=True)
@user_errors
def pull(repo: str, revision: str | None, output: str, repo_type: str) -> None:
    """Download a published version of REPO (local hub name or Hub id) into a folder."""
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise ConfigError("output", f"{out} is a file")
    if out.exists() and any(out.iterdir()):
        raise ConfigError("output", f"{out} exists and is not empty")
    label = f"{repo} {revision or 'main'}"
    notes: list[str] = []
    try:
        with hub_deadline():  # the whole pull, Hub calls and checks, ends within DATAGEN_HUB_DEADLINE
            r = resolve(repo, revision, repo_type)
            if r.kind == "folder":
                raise ConfigError(None, f"{repo} is a folder on this machine: nothing to pull")
            target = LocalTarget() if r.kind == "local" else HubTarget()
            label = f"{r.repo_id} {r.revision or 'main'}"
            notes = _pull_into(out, r, target, repo_type)
    except RepositoryNotFoundError:
        raise ConfigError(None, f"{repo_type} {repo!r} not found on the Hub (nor as a folder or in the local hub)") from None
    except RevisionNotFoundError:
        raise ConfigError("revision", f"{repo_type} {repo!r} has no revision {revision!r} on the Hub") from None
    except _Mismatch as exc:
        raise click.ClickException(f"{label} does not hold the data its datagen.json records, so nothing was "
                                   f"written to {out}: {exc}") from None
    except Exception as exc:
        reason = failure_reason(exc)
        if reason is None:
            raise
        raise click.ClickException(f"pulling {label} failed ({reason}); nothing was written to {out}: run the same "
                                   f"command again") from None
    files = [p for p in out.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    where = "local hub" if r.kind == "local" else "Hub"
    meta = _read_meta(out)
    what = f"; {_summary(meta)}" if meta else ""
    checked = "; SHA-256 and rows checked against datagen.json" if meta and not notes else ""
    click.echo(f"pulled {label} from the {where}: {len(files)} files, {size / 1e6:.2f} MB to {out}{what}{checked}")
    for note in notes:
        click.echo(f"note: {note}")
    if repo_type == "dataset":
        click.echo(f'load it: datasets.load_dataset("{out}")')


def _pull_into(out: Path, r, target, repo_type: str) -> list[str]:
    """Download ``r`` into a temporary folder beside ``out``, check it, rename it into place: an interrupted or
    damaged download leaves nothing that looks like a finished one (and the retry is not refused). The notes of
    the check."""
    with atomic_folder(out, data=False) as tmp:
        target.download(r.repo_id, r.revision, repo_type, tmp)
        if repo_type == "dataset" and has_metadata(tmp):
            result = verify_folder(tmp, remake=False, progress=False, private=True)
            problems = result.problems + _lfs_problems(tmp, getattr(target, "last_lfs", {}))
            if problems:
                raise _Mismatch("; ".join(problems))
            return result.notes
    return []


class _Mismatch(Exception):
    """Downloaded files that differ from their datagen.json."""


def _read_meta(folder: Path) -> dict:
    try:
        return read_metadata(folder)
    except ConfigError:
        return {}


@click.command()
@click.argument("repo")
@click.option("--revision", help="Version to verify (default: the latest local version / the Hub's main).")
@click.option("--config", "config_name", help="In a repo with a config per folder (a released study, `python -m sweeps release`): the config to verify, or all.")
@click.option("--workers", default=1, show_default=True, help="Processes re-making the data.")
@click.option("--no-remake", is_flag=True, help="Only re-fingerprint the published files (no re-generation).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@user_errors
def verify(repo: str, revision: str | None, config_name: str | None, workers: int, no_remake: bool, quiet: bool) -> None:
    """Prove that REPO (local hub name, Hub id or folder) holds exactly the data its card claims.

    Checks each data file's SHA-256 (and, on the Hub, the SHA-256 the Hub lists for it), re-fingerprints the
    published parquet files and re-makes the data from the recorded config (same generator version required);
    exits with status 1 naming the file or split that differs. A folder written before datagen recorded file
    hashes has only its rows checked (a note says so). A released study holds one config per folder
    (``<config>/datagen.json``): ``--config NAME`` verifies one, ``--config all`` each of them.
    """
    failed = 0
    with staging_folder("verify") as tmp:
        lfs: dict[str, str] = {}
        with hub_deadline():  # the Hub calls end within DATAGEN_HUB_DEADLINE (re-making the data is local work)
            r = resolve(repo, revision, "dataset")
            if r.kind == "hub":  # a private download (names checked, sizes capped), not the shared cache's links
                target = HubTarget()
                root = target.download(r.repo_id, r.revision, "dataset", tmp)
                lfs = target.last_lfs
            else:
                root = r.path
        label = f"{r.repo_id or r.path.name} {r.revision or ''}".strip()
        for name, folder in _configs_to_verify(root, config_name, label):
            result = verify_folder(folder, remake=not no_remake, workers=workers, progress=not quiet,
                                   private=r.kind == "hub")
            prefix = f"{name}/" if name else ""
            result.problems += _lfs_problems(folder, {p[len(prefix):]: sha for p, sha in lfs.items() if p.startswith(prefix)})
            failed += not _report(f"{label} config {name}" if name else label, result, no_remake)
    if failed:
        raise SystemExit(1)


_CONFIG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


def _configs_to_verify(root: Path, config_name: str | None, label: str) -> list[tuple[str | None, Path]]:
    """``[(config or None, folder)]``: the repo itself, one config folder, or every config folder."""
    configs = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.is_symlink() and has_metadata(p)
                     and _CONFIG_NAME.match(p.name))
    if config_name is None:
        if not has_metadata(root) and configs:
            raise ConfigError("config", f"{label} holds one dataset per config: give --config NAME or --config all "
                                        f"(configs: {', '.join(configs)})")
        return [(None, root)]
    if config_name == "all":
        if not configs:
            raise ConfigError("config", f"{label} has no configs (no <config>/datagen.json)")
        return [(c, root / c) for c in configs]
    if config_name not in configs:
        raise ConfigError("config", f"{label} has no config {config_name!r} (configs: {', '.join(configs) or 'none'})")
    return [(config_name, root / config_name)]


def _report(label: str, result, no_remake: bool) -> bool:
    """Print one verification; whether it passed."""
    click.echo(f"{'split':<14} {'rows':>8}  {'published files':<34} re-made")
    for c in result.splits:
        click.echo(f"{c.name:<14} {c.rows:>8}  {c.files:<34} {c.remade}")
    for note in result.notes:
        click.echo(f"note: {note}")
    if result.ok:
        how = "the published files" + ("" if no_remake else " and a fresh re-make")
        click.echo(f"verified {label}: {how} give fingerprint {result.fingerprint[:16]}, as recorded")
        return True
    for problem in result.problems:
        click.echo(f"MISMATCH: {problem}", err=True)
    click.echo(f"verification of {label} FAILED ({len(result.problems)} problem(s))", err=True)
    return False


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@user_errors
def list_(as_json: bool) -> None:
    """List the datasets and models in the local hub, with their versions."""
    hub = LocalHub.default()
    found: dict[str, list[dict]] = {}
    for repo_type in ("dataset", "model"):
        items = []
        for repo_id in hub.repos(repo_type):
            it = {"repo_id": repo_id, "versions": [], "latest": None, "fingerprint": None, "rows": None, "damaged": None}
            try:  # one damaged entry is named; the others are listed
                it["versions"] = hub.versions(repo_id, repo_type)
                if not it["versions"]:
                    continue
                it["latest"] = hub.latest(repo_id, repo_type)
                folder = hub.path(repo_id, it["latest"], repo_type)
                if has_metadata(folder):
                    meta = read_metadata(folder)
                    it["fingerprint"] = meta["fingerprint"]
                    it["rows"] = sum(s["rows"] for s in meta["splits"].values())
            except (ConfigError, OSError) as exc:
                it["damaged"] = str(exc)
            items.append(it)
        found[f"{repo_type}s"] = items
    collections = local_collections(hub)
    if as_json:
        click.echo(json.dumps({"root": str(hub.root), **found, "collections": collections}, indent=2))
        return
    click.echo(f"local hub: {hub.root}")
    for kind, items in found.items():
        click.echo(f"{kind}:")
        if not items:
            click.echo("  (none)")
        for it in items:
            extra = f"  {it['rows']} rows  fingerprint {it['fingerprint'][:16]}" if it["fingerprint"] else ""
            if it["damaged"]:
                extra = f"  DAMAGED: {it['damaged']}"
            latest = f"  (latest {it['latest']})" if it["latest"] else ""
            click.echo(f"  {it['repo_id']:<32} {', '.join(it['versions'])}{latest}{extra}")
    if collections:
        click.echo("collections:")
        for c in collections:
            what = f"DAMAGED: {c['damaged']}" if c.get("damaged") else f"{len(c.get('items', []))} items"
            click.echo(f"  {c.get('namespace', '?')}/{c['title']}  ({what})")


COMMANDS = (push, pull, verify, list_, remove)
for _command in COMMANDS:
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
