"""Running a sweep's runs as cluster jobs through submitit: one job per run, submitted as one Slurm job array.

    python -m sweeps run SWEEP --launcher slurm --partition gpu --gpus-per-job 1 --time 60 --array-parallelism 8
    python -m sweeps run SWEEP --launcher slurm ... --no-wait     # print the job ids and return
    python -m sweeps collect SWEEP                                # once they have finished (also after --no-wait)

Each job calls :func:`run_job`, which loads the sweep file again and runs the same per-run function as the local
runner (:func:`sweeps.runner.run_one`: data, training, evaluation, each skipped when complete), so a job that was
killed or timed out is resumed by submitting the sweep again. Runs already finished get no job, nor do runs whose
recorded Slurm job is still queued or running (sacct), which would write into the same folder. Jobs run this
interpreter (``sys.executable``, with ``-P`` on Python >= 3.11 so a same-named folder in the working directory is
not imported) in the working directory of the submission, on a filesystem the nodes share. submitit's files (the
pickled call, the result, each job's stdout/stderr) go to ``<output>/jobs/<job id>/``; ``jobs.json`` in the
sweep's output maps run ids to job ids and log files. ``--launcher submitit-local`` runs the same jobs through
submitit's local executor (subprocesses of this machine; the tests use it).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from core.atomic import write_text_atomic
from core.errors import ConfigError
from core.imports import ROOT
from sweeps.config import Run, Sweep, load_sweep, runs
from sweeps.runner import run_one, run_state

LAUNCHERS = ("local", "slurm", "submitit-local")


@dataclass
class JobOptions:
    """What each job asks the scheduler for."""

    partition: str | None = None
    gpus_per_job: int = 1
    time_min: int = 60
    array_parallelism: int | None = None  # None: every run at once
    cpus_per_job: int | None = None

    def check(self) -> None:
        for name, value, least in (("--gpus-per-job", self.gpus_per_job, 0), ("--time", self.time_min, 1),
                                   ("--array-parallelism", self.array_parallelism, 1),
                                   ("--cpus-per-job", self.cpus_per_job, 1)):
            if value is not None and value < least:
                raise ConfigError(name, f"must be at least {least}, got {value}")


class RunFailed(Exception):
    """A run failed inside its job; the message is one line (what :func:`run_job` re-raises)."""


def run_job(sweep_file: str, output: str, run_id: str, cwd: str, reuse_from: tuple[str, ...] = ()) -> dict:
    """Inside a job: run one run of the sweep as the local runner does; returns its results row."""
    os.chdir(cwd)
    sweep = load_sweep(sweep_file)
    sweep.output_dir = output
    run = next((r for r in runs(sweep) if r.run_id == run_id), None)
    if run is None:
        raise RunFailed(f"the sweep file {sweep_file} has no run {run_id!r} any more")
    print(f"run {run_id}: {run_state(sweep, run)}", flush=True)
    try:
        return run_one(sweep, run, reuse_from=[Path(p) for p in reuse_from])
    except Exception as exc:
        lines = str(exc.message if isinstance(exc, click.ClickException) else exc).strip().splitlines()
        first = (lines[0] if lines else "").rstrip(":")
        ours = isinstance(exc, (ConfigError, click.ClickException))  # their messages say what failed
        raise RunFailed(first if ours else f"{type(exc).__name__}: {first}") from exc


def make_executor(launcher: str, folder: Path, opts: JobOptions, name: str):
    """A submitit executor for ``launcher`` (``slurm`` or ``submitit-local``) with ``opts`` applied."""
    # deferred: submitit (the [cluster] extra) only for the cluster launchers
    import submitit

    python = shlex.quote(sys.executable) + (" -P" if sys.version_info >= (3, 11) else "")
    cluster = "slurm" if launcher == "slurm" else "local"
    try:
        executor = submitit.AutoExecutor(folder=folder / "%j", cluster=cluster, **{f"{cluster}_python": python})
    except RuntimeError as exc:  # no srun on PATH: not a Slurm login node
        raise ConfigError("--launcher", f"slurm: {exc} (run it where sbatch and srun are on PATH)") from None
    setup = []
    if (ROOT / "pyproject.toml").is_file():  # a checkout (maybe not installed): its packages first on sys.path
        setup.append(f"export PYTHONPATH={shlex.quote(str(ROOT))}${{PYTHONPATH:+:$PYTHONPATH}}")
    params: dict = {"timeout_min": opts.time_min, "gpus_per_node": opts.gpus_per_job, "nodes": 1,
                    "tasks_per_node": 1, "name": name}
    if opts.cpus_per_job is not None:
        params["cpus_per_task"] = opts.cpus_per_job
    if setup:
        params[f"{cluster}_setup"] = setup
    if cluster == "slurm":
        if opts.partition:
            params["slurm_partition"] = opts.partition
        if opts.array_parallelism is not None:
            params["slurm_array_parallelism"] = opts.array_parallelism
    executor.update_parameters(**params)
    return executor


def submit_runs(sweep: Sweep, todo: list[Run], launcher: str, opts: JobOptions, wait: bool = True,
                log=print, reuse_from: Sequence[Path] = ()) -> list[str]:
    """Submit one job per unfinished run of ``todo``; with ``wait``, wait for them and raise one ConfigError line
    naming every failed run and its job's log. Returns the run ids that have (or will have) results."""
    if launcher not in LAUNCHERS[1:]:
        raise ConfigError("--launcher", f"unknown launcher {launcher!r} (one of {', '.join(LAUNCHERS)})")
    opts.check()
    pending = []
    out = sweep.out.resolve()
    active = _active_jobs(out) if launcher == "slurm" else {}
    for i, r in enumerate(todo, 1):
        state = run_state(sweep, r)  # raises, as run_one would, on a stage made from other settings
        if state != "done, skipped" and r.run_id in active:  # a second job would write into the same folder
            state = (f"still queued or running as job {active[r.run_id]}: not submitted again (scancel "
                     f"{active[r.run_id]} to resubmit it)")
        elif state != "done, skipped":
            pending.append(r)
        log(f"run {i}/{len(todo)}: {r.run_id}" + ("" if state == "new" else f": {state}"))
    if not pending:
        return [] if active else [r.run_id for r in todo]
    out.mkdir(parents=True, exist_ok=True)
    executor = make_executor(launcher, out / "jobs", opts, f"sweep-{sweep.name}")
    args = [str(sweep.path.resolve())] * len(pending), [str(out)] * len(pending), \
        [r.run_id for r in pending], [str(Path.cwd().resolve())] * len(pending), \
        [tuple(str(p) for p in reuse_from)] * len(pending)
    if launcher == "submitit-local" and wait and opts.array_parallelism:  # no scheduler: waves of K processes
        jobs = []
        for start in range(0, len(pending), opts.array_parallelism):
            wave = executor.map_array(run_job, *(a[start:start + opts.array_parallelism] for a in args))
            _record_jobs(out, pending[start:start + len(wave)], wave, launcher)
            for job in wave:
                job.wait()
            jobs += wave
    else:
        jobs = executor.map_array(run_job, *args)
        _record_jobs(out, pending, jobs, launcher)
    log(f"submitted {len(jobs)} job{'s' if len(jobs) != 1 else ''} ({launcher}): "
        + ", ".join(f"{r.run_id} -> {j.job_id}" for r, j in zip(pending, jobs)))
    if not wait:
        log(f"job logs in {out / 'jobs'}; when they have finished: "
            + shlex.join(["python", "-m", "sweeps", "collect", str(sweep.path), "-o", str(sweep.out)]))
        return []
    failures = []
    for r, job in zip(pending, jobs):
        problem = _failure(job)
        if problem is None:
            log(f"[{r.run_id}] job {job.job_id} done")
        else:
            failures.append(f"run {r.run_id} (job {job.job_id}) {problem}; job log {job.paths.stderr}")
    if failures:
        raise ConfigError(None, f"{len(failures)} of {len(jobs)} jobs failed: " + "; ".join(failures))
    return [r.run_id for r in todo]


def _failure(job) -> str | None:
    """None for a job that finished; else one phrase: why it failed (the run's own error when it raised one)."""
    # deferred: submitit (the [cluster] extra) only for the cluster launchers
    from submitit.core.utils import FailedJobError, UncompletedJobError

    try:
        job.result()
    except FailedJobError as exc:
        trace = [line for line in str(exc).splitlines() if line.strip()]
        mine = [line for line in trace if line.startswith(f"{RunFailed.__module__}.{RunFailed.__name__}: ")]
        last = mine[-1].split(": ", 1)[1] if mine else next(
            (line.strip() for line in reversed(trace) if not line.startswith(("  ", "-", "You can check"))), "")
        return f"failed: {last}"
    except UncompletedJobError:
        return f"did not complete (killed, timed out or cancelled; state {job.state})"
    return None


ACTIVE_STATES = ("PENDING", "RUNNING", "REQUEUED", "RESIZING", "SUSPENDED", "CONFIGURING", "COMPLETING")


def _active_jobs(out: Path) -> dict[str, str]:
    """{run id: job id} of the Slurm jobs recorded in ``jobs.json`` that are still queued or running (sacct)."""
    path = out / "jobs.json"
    if not path.exists():
        return {}
    # deferred: submitit (the [cluster] extra) only for the cluster launchers
    import submitit

    active = {}
    for run_id, rec in json.loads(path.read_text()).items():
        if rec.get("launcher") == "slurm":
            job = submitit.SlurmJob(folder=Path(rec["stdout"]).parent, job_id=rec["job_id"])
            if job.state.split()[0] in ACTIVE_STATES:  # 'UNKNOWN' when sacct cannot say
                active[run_id] = rec["job_id"]
    return active


def _record_jobs(out: Path, pending: list[Run], jobs: list, launcher: str) -> None:
    """Add the runs' job ids and log files to ``<output>/jobs.json``."""
    path = out / "jobs.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    for r, job in zip(pending, jobs):
        known[r.run_id] = {"job_id": str(job.job_id), "launcher": launcher, "stdout": str(job.paths.stdout),
                           "stderr": str(job.paths.stderr)}
    write_text_atomic(path, json.dumps(known, indent=2, sort_keys=True) + "\n")
