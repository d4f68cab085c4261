"""``python -m sweeps`` (and the ``divsweep`` console script): run, emit or collect a sweep.

    python -m sweeps run sweeps/phase_transition_reduced.yaml
    python -m sweeps emit sweeps/phase_transition.yaml     # commands.sh + runs.txt for a cluster
    python -m sweeps run sweeps/X.yaml --only I=1000        # one run (run ids are in runs.txt)
    python -m sweeps run sweeps/Y.yaml --reuse-from runs/sweeps/X   # copy X's models of identical runs
    python -m sweeps run sweeps/X.yaml --launcher slurm --partition gpu --gpus-per-job 1 --time 60  # a job array
    python -m sweeps collect sweeps/X.yaml                  # the table and plots of the finished runs
    python -m sweeps release sweeps/X.yaml --repo-prefix org/name   # one dataset repo, a model repo per run
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import click

from core.cli import user_errors
from core.errors import ConfigError
from publishing.hubclient import failure_reason
from sweeps.config import Sweep, load_sweep, runs
from sweeps.release import release
from sweeps.runner import run_one, run_state
from sweeps.submit import LAUNCHERS, JobOptions, submit_runs
from sweeps.table import collect


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Run a sweep of generate -> train -> evaluate runs and collect the results table and plots."""


def _load(sweep_file: str, output: str | None) -> Sweep:
    sweep = load_sweep(sweep_file)
    if output:
        sweep.output_dir = output
    return sweep


@main.command("run")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("--only", "only", multiple=True, help="Run only these run ids (repeatable).")
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Output folder (default runs/sweeps/<name>).")
@click.option("--launcher", type=click.Choice(LAUNCHERS), default="local", show_default=True,
              help="local: one run after another here; slurm: one Slurm job per run, as a job array (submitit); "
                   "submitit-local: the same jobs as local processes.")
@click.option("--partition", help="Slurm partition (default: the cluster's).")
@click.option("--gpus-per-job", type=int, help="GPUs each job asks for (default 1).")
@click.option("--time", "time_min", type=int, help="Time limit of each job in minutes (default 60).")
@click.option("--array-parallelism", type=int, help="At most this many jobs at once (default: all).")
@click.option("--cpus-per-job", type=int, help="CPUs each job asks for (default: the scheduler's).")
@click.option("--no-wait", is_flag=True, help="Submit, print the job ids and return (then: collect).")
@click.option("--reuse-from", "reuse_from", multiple=True, type=click.Path(file_okay=False, exists=True),
              help="Another sweep's output folder (repeatable): a run with no model copies a finished model trained "
                   "there from the same data fingerprint and training inputs instead of training; it is still "
                   "evaluated on its own data.")
@user_errors
def run_cmd(sweep_file: str, only: tuple[str, ...], output: str | None, launcher: str, no_wait: bool,
            reuse_from: tuple[str, ...], **job: int | str | None) -> None:
    """Run every run of SWEEP_FILE in turn (resumable), then write results.json/.csv and plots."""
    given = [f"--{k.replace('_min', '').replace('_', '-')}" for k, v in job.items() if v is not None]
    if launcher == "local" and (given or no_wait):
        raise ConfigError((given or ["--no-wait"])[0], "needs a cluster launcher (--launcher slurm)")
    sweep = _load(sweep_file, output)
    todo = runs(sweep)
    if only:
        known = {r.run_id for r in todo}
        missing = [o for o in only if o not in known]
        if missing:
            raise ConfigError("--only", f"no run {missing[0]!r} in this sweep (runs: {', '.join(sorted(known))})")
        todo = [r for r in todo if r.run_id in only]
    reuse = [Path(p).resolve() for p in reuse_from]
    t0 = time.perf_counter()
    if launcher != "local":
        opts = JobOptions(**{k: v for k, v in job.items() if v is not None})
        if submit_runs(sweep, todo, launcher, opts, wait=not no_wait, log=click.echo, reuse_from=reuse):
            click.echo(f"{len(todo)} runs done in {time.perf_counter() - t0:.1f}s; {collect(sweep)}")
        return
    rows = []
    for i, r in enumerate(todo, 1):
        state = run_state(sweep, r)
        click.echo(f"run {i}/{len(todo)}: {r.run_id}" + ("" if state == "new" else f": {state}"))
        rows.append(run_one(sweep, r, log=click.echo, reuse_from=reuse))
    click.echo(f"{len(rows)} runs done in {time.perf_counter() - t0:.1f}s; {collect(sweep)}")


@main.command("emit")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Output folder (default runs/sweeps/<name>).")
@user_errors
def emit_cmd(sweep_file: str, output: str | None) -> None:
    """Write commands.sh (one line per run) and runs.txt (run ids, for a job array) instead of running."""
    sweep = _load(sweep_file, output)
    sweep.out.mkdir(parents=True, exist_ok=True)
    rs = runs(sweep)
    lines = ["#!/usr/bin/env bash", f"# {len(rs)} runs of sweep {sweep.name}; each line is independent (resumable).",
             f"# Job array (--array=1-{len(rs)}; sed counts lines from 1): "
             "RUN=$(sed -n \"${SLURM_ARRAY_TASK_ID}p\" runs.txt); python -m sweeps run SWEEP --only \"$RUN\"; "
             "then the last line (collect) once every run has finished",
             "set -euo pipefail"]
    for r in rs:
        lines.append(shlex.join(["python", "-m", "sweeps", "run", str(sweep.path), "--only", r.run_id,
                                 "-o", str(sweep.out)]))
    lines.append(shlex.join(["python", "-m", "sweeps", "collect", str(sweep.path), "-o", str(sweep.out)]))
    (sweep.out / "commands.sh").write_text("\n".join(lines) + "\n")
    (sweep.out / "runs.txt").write_text("\n".join(r.run_id for r in rs) + "\n")
    click.echo(f"wrote {sweep.out / 'commands.sh'} and {sweep.out / 'runs.txt'} ({len(rs)} runs)")


@main.command("collect")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Output folder (default runs/sweeps/<name>).")
@user_errors
def collect_cmd(sweep_file: str, output: str | None) -> None:
    """Collect the finished runs' results into results.json/.csv and plots."""
    click.echo(collect(_load(sweep_file, output)))


@main.command("release")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Output folder (default runs/sweeps/<name>).")
@click.option("--repo-prefix", required=True,
              help="org/name: the Hub dataset repo (models org/name-<config>); local: the local hub (local/<sweep name>).")
@click.option("--private", is_flag=True, help="Create the Hub repos and the collection as private.")
@click.option("--license", "license_", help="License named in every card (default cc-by-4.0).")
@user_errors
def release_cmd(sweep_file: str, output: str | None, repo_prefix: str, private: bool, license_: str | None) -> None:
    """Publish a finished sweep: one dataset repo (a config per run), a model repo per run, and a collection.

    Versioned (every repo's content is committed before any version tag is made), idempotent (a re-run publishes
    nothing new) and resumable (an interrupted release completes when run again). Refuses runs whose evaluation is
    missing or stale.
    """
    step: dict = {}
    try:
        release(_load(sweep_file, output), repo_prefix, log=click.echo, step=step, private=private, license=license_)
    except Exception as exc:
        reason = None if isinstance(exc, (ConfigError, click.ClickException)) else failure_reason(exc, include_os=True)
        if reason is None:
            raise
        raise click.ClickException(
            f"releasing failed while publishing {step.get('now', 'the release')} ({reason}); what was published is "
            f"complete and versioned, nothing partial was tagged: run the same command again to complete it"
        ) from None
