"""``datagen remove``: remove versions of a dataset or model from the local hub (never from the Hub).

    datagen remove rewrite-tiny --version v1.0.0                  # asks first; --yes to skip the question
    datagen remove tiny-cpu --repo-type model --all --yes          # every version of a trained model
    datagen remove rewrite-tiny --version v1.1.0 --dry-run         # only say what would go

Only the embedded local hub is touched: a name that is not there is refused, and a ``hub:`` name is refused with
where to remove Hub tags (the Hub's versions are the Hub's own). Each version is removed by
:meth:`publishing.localhub.LocalHub.remove_version`: its number is recorded and never given to other content,
LATEST moves to the newest version left, and an interrupted removal leaves the version whole or gone. Without
``--yes`` it asks on a terminal and refuses when no one can answer (a script, a pipe).
"""

from __future__ import annotations

import sys

import click

from core.cli import user_errors
from core.errors import ConfigError
from publishing.localhub import LocalHub, normalize_version


def can_ask() -> bool:
    """Whether someone can answer a question on standard input (a terminal, not a script or a pipe)."""
    return sys.stdin.isatty()


def _size(folder) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    return len(files), sum(p.stat().st_size for p in files)


@click.command()
@click.argument("name")
@click.option("--version", "versions", multiple=True, metavar="VERSION", help="A version to remove (repeatable).")
@click.option("--all", "all_versions", is_flag=True, help="Remove every version of NAME.")
@click.option("--repo-type", type=click.Choice(["dataset", "model"]), default="dataset", show_default=True)
@click.option("--yes", "-y", is_flag=True, help="Remove without asking.")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@user_errors
def remove(name: str, versions: tuple[str, ...], all_versions: bool, repo_type: str, yes: bool, dry_run: bool) -> None:
    """Remove versions of NAME (a local hub name: name, org/name or local/name) from the local hub."""
    if name.startswith("hub:"):
        raise ConfigError(None, f"datagen remove removes local-hub versions only; {name[4:]} is on the Hub: delete its "
                                f"tag there (huggingface_hub HfApi.delete_tag, or the repository's settings)")
    repo = name.removeprefix("local:")
    if bool(versions) == all_versions:
        raise ConfigError("version", "name the versions to remove (--version VERSION, repeatable) or pass --all")
    hub = LocalHub.default()
    have = hub.versions(repo, repo_type)
    if not have:
        hint = " (the Hub's versions are not removed by datagen)" if "/" in repo and not repo.startswith("local/") else ""
        raise ConfigError(None, f"no {repo_type} {repo!r} in the local hub at {hub.root}{hint}")
    wanted = {normalize_version(v) for v in versions}
    missing = sorted(wanted - set(have))
    if missing:
        raise ConfigError("version", f"{repo_type} {repo!r} has no version {missing[0]} in the local hub "
                                     f"(have: {', '.join(have)})")
    doomed = have if all_versions else [v for v in have if v in wanted]
    sizes = {v: _size(hub.path(repo, v, repo_type)) for v in doomed}
    what = ", ".join(f"{v} ({n} files, {b / 1e6:.2f} MB)" for v, (n, b) in sizes.items())
    label = f"{repo_type} {repo}"
    if dry_run:
        click.echo(f"would remove {label} {what} from the local hub at {hub.root}")
        return
    if not yes:
        if not can_ask():
            raise ConfigError(None, f"removing {label} {', '.join(doomed)} needs a confirmation: run it in a "
                                     f"terminal, or pass --yes")
        click.confirm(f"Remove {label} {what} from the local hub? Their version numbers are not used again", abort=True)
    for v in doomed:
        hub.remove_version(repo, v, repo_type)
    left = hub.versions(repo, repo_type)
    rest = f"; left: {', '.join(left)} (latest {hub.latest(repo, repo_type)})" if left else "; no version left"
    click.echo(f"removed {label} {', '.join(doomed)} from the local hub{rest}")
