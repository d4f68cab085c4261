"""``datagen push / pull / verify / list``: publish datasets as immutable versions and get them back exactly.

- ``push`` generates a config (or takes a generated folder), renders the card for the repo and version, and
  publishes it: to the Hub with ``--repo-id org/name`` (token from ``HF_TOKEN`` or ``hf auth login``, endpoint
  from ``HF_ENDPOINT``), else to the embedded local hub as ``local/<name>``;
- ``pull`` copies a version (Hub or local hub) into a folder;
- ``verify`` proves that a published version holds the data its card claims: it re-fingerprints the published
  parquet files and re-makes the data from the recorded config;
- ``list`` shows what the local hub holds.

The commands are registered on the ``datagen`` group in :mod:`generators.cli`.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import click


def user_errors(fn):
    """:func:`generators.cli.user_errors`, looked up at call time (generators.cli imports this module)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from generators.cli import user_errors as wrap

        return wrap(fn)(*args, **kwargs)

    return wrapper


def _link_or_copy(src: Path, dest: Path) -> None:
    """Stage a generated folder for publishing without touching it; the card (README.md) is left out: it is
    rendered afresh for the repo and version."""
    from cards.targets import stage_files

    files = [p for p in sorted(src.rglob("*")) if p.is_file() and p.relative_to(src).as_posix() != "README.md"
             and not any(part.startswith(".") for part in p.relative_to(src).parts)]
    stage_files(src, files, dest)


def _check_staged(staging: Path, source: str) -> None:
    """A folder published as is must hold exactly what its datagen.json records (shards re-fingerprinted, no
    stray shards): a published version cannot be changed later, so a damaged folder is refused here."""
    from generators.errors import ConfigError
    from generators.verify import verify_folder

    result = verify_folder(staging, remake=False)
    if not result.ok:
        raise ConfigError(None, f"{source} does not hold the data its datagen.json records, so it is not published: "
                                + "; ".join(result.problems))


def _summary(meta: dict) -> str:
    rows = sum(s["rows"] for s in meta["splits"].values())
    per = ", ".join(f"{name} {s['rows']}" for name, s in meta["splits"].items())
    return f"{rows} rows ({per}), fingerprint {meta['fingerprint'][:16]}"


def _load_hint(kind: str, repo_id: str, version: str, location: str) -> str:
    if kind == "local":
        return f'load it: datasets.load_dataset("{location}")  or  cards.resolve.load_splits("{repo_id}", revision="{version}")'
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
    from huggingface_hub.errors import HfHubHTTPError

    from cards.localhub import normalize_version, split_repo_id
    from cards.targets import choose_version, default_token, get_target, publish_folder
    from generators.build import read_metadata
    from generators.cli import resolve_config_path
    from generators.errors import ConfigError
    from generators.make import make_dataset, write_card

    # the HTTP client's base error (httpx2.HTTPError in huggingface_hub 2.x): error answers and connection failures
    HTTPError = next(c for c in HfHubHTTPError.__mro__ if c.__name__ == "HTTPError")
    if bool(config) == bool(from_folder):
        raise ConfigError(None, "give a CONFIG to generate or --from-folder DIR to publish (one of them)")
    if from_folder and overrides:
        raise ConfigError("set", "--set applies to a CONFIG being generated, not to --from-folder")
    if repo_id and local_name:
        raise ConfigError("local-name", "--local-name names a local hub dataset; it cannot be used with --repo-id")
    if repo_id:
        if "/" not in repo_id:
            raise ConfigError("repo-id", f"{repo_id!r} must look like org/name")
        split_repo_id(repo_id)
        if default_token() is None:
            raise ConfigError("token", "no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    elif local_name:
        split_repo_id(local_name)
    version = normalize_version(version) if version else None
    target = get_target(hub=bool(repo_id))
    from generators.atomic import owned_tempdir

    with owned_tempdir("datagen-push-") as tmp:  # pid-named: the next push removes a killed one's staging
        staging = Path(tmp) / "dataset"
        if from_folder:
            meta = read_metadata(from_folder)
            _link_or_copy(Path(from_folder), staging)
            _check_staged(staging, from_folder)
        else:
            make_dataset(resolve_config_path(config), overrides, staging, workers=workers, progress=not quiet, card=False)
            meta = read_metadata(staging)
        repo = repo_id or (local_name if local_name and "/" in local_name else f"local/{local_name or meta['name']}")
        chosen = version
        try:
            chosen, exists = choose_version(target, repo, staging, version, bump=bump)
            if not exists:
                extra = {"license": license_} if license_ else {}
                write_card(staging, meta, repo_id=repo, version=chosen, local=not repo_id, **extra)
            message = f"Publish {meta['name']} {chosen} (fingerprint {meta['fingerprint'][:16]})"
            published = publish_folder(staging, repo, target=target, version=chosen, private=private, message=message)
        except (HTTPError, OSError) as exc:  # an error answer from the Hub, no answer, a failed (Xet) upload
            status = exc.response.status_code if isinstance(exc, HfHubHTTPError) and exc.response is not None else None
            if status in (401, 403):
                raise ConfigError("token", f"the Hub refused the token (HF_TOKEN or `hf auth login`) for {repo}") from None
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise click.ClickException(
                f"publishing {' '.join(filter(None, (repo, chosen)))} failed ({reason}); no version was tagged: run "
                f"the same command again to complete it"
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
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    from cards.resolve import resolve
    from cards.targets import HubTarget, LocalTarget
    from generators.atomic import atomic_folder
    from generators.errors import ConfigError

    out = Path(output)
    if out.exists() and not out.is_dir():
        raise ConfigError("output", f"{out} is a file")
    if out.exists() and any(out.iterdir()):
        raise ConfigError("output", f"{out} exists and is not empty")
    r = resolve(repo, revision, repo_type)
    if r.kind == "folder":
        raise ConfigError(None, f"{repo} is a folder on this machine: nothing to pull")
    target = LocalTarget() if r.kind == "local" else HubTarget()
    try:
        # into a temporary folder beside OUTPUT, renamed into place once complete: an interrupted download
        # leaves nothing that looks like a finished one (and the retry is not refused)
        with atomic_folder(out, data=False) as tmp:
            target.download(r.repo_id, r.revision, repo_type, tmp)
    except RepositoryNotFoundError:
        raise ConfigError(None, f"{repo_type} {repo!r} not found on the Hub (nor as a folder or in the local hub)") from None
    except RevisionNotFoundError:
        raise ConfigError("revision", f"{repo_type} {repo!r} has no revision {revision!r} on the Hub") from None
    files = [p for p in out.rglob("*") if p.is_file() and ".cache" not in p.relative_to(out).parts]
    size = sum(p.stat().st_size for p in files)
    where = "local hub" if r.kind == "local" else "Hub"
    meta = _read_meta(out)
    what = f"; {_summary(meta)}" if meta else ""
    click.echo(f"pulled {r.repo_id} {r.revision or 'main'} from the {where}: {len(files)} files, {size / 1e6:.2f} MB to {out}{what}")
    if repo_type == "dataset":
        click.echo(f'load it: datasets.load_dataset("{out}")')


def _read_meta(folder: Path) -> dict:
    try:
        return json.loads((folder / "datagen.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


@click.command()
@click.argument("repo")
@click.option("--revision", help="Version to verify (default: the latest local version / the Hub's main).")
@click.option("--workers", default=1, show_default=True, help="Processes re-making the data.")
@click.option("--no-remake", is_flag=True, help="Only re-fingerprint the published files (no re-generation).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@user_errors
def verify(repo: str, revision: str | None, workers: int, no_remake: bool, quiet: bool) -> None:
    """Prove that REPO (local hub name, Hub id or folder) holds exactly the data its card claims.

    Re-fingerprints the published parquet files and re-makes the data from the recorded config (same
    generator version required); exits with status 1 naming the split that differs.
    """
    from cards.resolve import resolve
    from generators.verify import verify_folder

    r = resolve(repo, revision, "dataset")
    result = verify_folder(r.local_dir(), remake=not no_remake, workers=workers, progress=not quiet)
    label = f"{r.repo_id or r.path.name} {r.revision or ''}".strip()
    click.echo(f"{'split':<14} {'rows':>8}  {'published files':<34} re-made")
    for c in result.splits:
        click.echo(f"{c.name:<14} {c.rows:>8}  {c.files:<34} {c.remade}")
    if result.ok:
        how = "the published files" + ("" if no_remake else " and a fresh re-make")
        click.echo(f"verified {label}: {how} give fingerprint {result.fingerprint[:16]}, as recorded")
        return
    for problem in result.problems:
        click.echo(f"MISMATCH: {problem}", err=True)
    click.echo(f"verification of {label} FAILED ({len(result.problems)} problem(s))", err=True)
    raise SystemExit(1)


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@user_errors
def list_(as_json: bool) -> None:
    """List the datasets and models in the local hub, with their versions."""
    from cards.localhub import LocalHub

    hub = LocalHub.default()
    found: dict[str, list[dict]] = {}
    for repo_type in ("dataset", "model"):
        items = []
        for repo_id in hub.repos(repo_type):
            versions = hub.versions(repo_id, repo_type)
            if not versions:
                continue
            latest = hub.latest(repo_id, repo_type)
            meta = _read_meta(hub.path(repo_id, latest, repo_type))
            items.append({"repo_id": repo_id, "versions": versions, "latest": latest, "fingerprint": meta.get("fingerprint"),
                          "rows": sum(s["rows"] for s in meta["splits"].values()) if meta.get("splits") else None})
        found[f"{repo_type}s"] = items
    if as_json:
        click.echo(json.dumps({"root": str(hub.root), **found}, indent=2))
        return
    click.echo(f"local hub: {hub.root}")
    for kind, items in found.items():
        click.echo(f"{kind}:")
        if not items:
            click.echo("  (none)")
        for it in items:
            extra = f"  {it['rows']} rows  fingerprint {it['fingerprint'][:16]}" if it["fingerprint"] else ""
            click.echo(f"  {it['repo_id']:<32} {', '.join(it['versions'])}  (latest {it['latest']}){extra}")


COMMANDS = (push, pull, verify, list_)
