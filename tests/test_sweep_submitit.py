"""Sweeps on a cluster through submitit (issue 15.3): one job per run, the same per-run function as the local runner,
results collected as today. Slurm itself is not here: the jobs run through submitit's local executor, and the Slurm
executor's job script is checked for what was asked."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

pytest.importorskip("trl")
pytest.importorskip("submitit")

from sweeps.cli import main  # noqa: E402
from sweeps.config import load_sweep, runs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "sweeps" / "tiny_cpu.yaml"


@pytest.mark.slow
def test_the_tiny_sweep_as_submitit_jobs_gives_the_local_runs_results(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "sweep"
    only = ["--only", "I=2", "--only", "I=40"]  # two of the three runs (CPU time)
    res = CliRunner().invoke(main, ["run", str(TINY), "-o", str(out), "--launcher", "submitit-local", *only,
                                    "--array-parallelism", "2", "--time", "20", "--gpus-per-job", "0"])
    assert res.exit_code == 0, res.output
    expected = [r.run_id for r in runs(load_sweep(TINY)) if r.run_id in ("I=2", "I=40")]  # the local runner's
    assert expected == ["I=2", "I=40"]
    table = json.loads((out / "results.json").read_text())
    assert [r["run"] for r in table["rows"]] == expected
    for r in table["rows"]:
        ev = json.loads((out / r["run"] / "eval.json").read_text())
        assert r["test_unseen_accuracy"] == ev["splits"]["test_unseen"]["accuracy"]
        assert r["test_seen_n"] == 24
        log = (out / r["run"] / "train.log").read_text()
        assert log.startswith(f"$ {sys.executable} {ROOT / 'training' / 'sft.py'} ")  # our interpreter and code
    jobs = json.loads((out / "jobs.json").read_text())
    assert sorted(jobs) == sorted(expected)
    for run_id, job in jobs.items():
        assert f"run {run_id}: new" in Path(job["stdout"]).read_text()  # sweeps.submit.run_job ran in the job
    assert "submitted 2 jobs (submitit-local)" in res.output
    # resumed: every run finished, so no job is submitted and the table is collected again
    res = CliRunner().invoke(main, ["run", str(TINY), "-o", str(out), "--launcher", "submitit-local", *only])
    assert res.exit_code == 0 and "submitted" not in res.output, res.output
    assert res.output.count("done, skipped") == 2 and "2 finished runs" in res.output
    # and `collect` still works on the jobs' outputs
    res = CliRunner().invoke(main, ["collect", str(TINY), "-o", str(out)])
    assert res.exit_code == 0 and "2 finished runs (2 points)" in res.output, res.output


def test_a_failed_job_is_one_line_naming_the_run_and_its_log(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    sweep = yaml.safe_load(TINY.read_text())
    sweep["recipe"] = str(ROOT / sweep["recipe"])
    sweep["recipe_set"] = {**sweep["recipe_set"], "max_length": 8}  # the trainer refuses it once it sees the data
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(sweep))
    out = tmp_path / "sweep"
    res = CliRunner().invoke(main, ["run", str(bad), "-o", str(out), "--only", "I=2", "--launcher", "submitit-local"])
    assert res.exit_code != 0
    lines = [line for line in res.output.splitlines() if line.lower().startswith("error")]
    assert len(lines) == 1, res.output
    job = json.loads((out / "jobs.json").read_text())["I=2"]
    assert "run I=2" in lines[0] and job["stderr"] in lines[0] and Path(job["stderr"]).exists()
    assert str(out / "I=2" / "train.log") in lines[0]  # the run's own error: its training log
    assert "error: max_length: the longest training example" in (out / "I=2" / "train.log").read_text()


FAKE_SBATCH = """#!/bin/sh
# records the job script it was given and answers as sbatch does
for last; do :; done
cp "$last" "$FAKE_SLURM/script.sh"
echo "$@" > "$FAKE_SLURM/args.txt"
echo "Submitted batch job 4242"
"""


def fake_slurm(tmp_path, monkeypatch, sacct: str | None = None) -> None:
    """Stand-in sbatch (recording its job script), an srun that fails, and optionally an sacct, first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH)
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    if sacct is not None:
        (bin_dir / "sacct").write_text(sacct)
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    monkeypatch.setenv("FAKE_SLURM", str(tmp_path))
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.chdir(ROOT)


def test_slurm_gets_one_job_array_asking_for_what_was_given(tmp_path, monkeypatch):
    """Through the command line to sbatch (a stand-in recording its job script), with --no-wait."""
    fake_slurm(tmp_path, monkeypatch)
    out = tmp_path / "sweep"
    res = CliRunner().invoke(main, ["run", str(TINY), "-o", str(out), "--launcher", "slurm", "--partition", "gpu",
                                    "--gpus-per-job", "2", "--time", "90", "--array-parallelism", "2",
                                    "--cpus-per-job", "8", "--no-wait", "--reuse-from", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "I=2 -> 4242_0, I=8 -> 4242_1, I=40 -> 4242_2" in res.output
    # each job carries --reuse-from to run_one (the pickled call submitit's job will make)
    from submitit.core.utils import DelayedSubmission

    call = DelayedSubmission.load(out / "jobs" / "4242_1" / "4242_1_submitted.pkl")
    assert call.args[2] == "I=8" and call.args[4] == (str(tmp_path.resolve()),), call.args
    assert f"python -m sweeps collect {TINY} -o {out}" in res.output
    script = (tmp_path / "script.sh").read_text()
    for line in ("#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=2", "#SBATCH --time=90",
                 "#SBATCH --cpus-per-task=8", "#SBATCH --job-name=sweep-tiny-cpu", "#SBATCH --nodes=1",
                 "#SBATCH --array=0-2%2", f"export PYTHONPATH={ROOT}"):
        assert line in script, script
    assert f"{sys.executable} -P -u -m submitit.core._submit" in script or sys.version_info < (3, 11), script
    jobs = json.loads((out / "jobs.json").read_text())
    assert {k: v["job_id"] for k, v in jobs.items()} == {"I=2": "4242_0", "I=8": "4242_1", "I=40": "4242_2"}
    assert jobs["I=8"]["stderr"].endswith("4242_1_0_log.err")


def test_a_run_whose_slurm_job_is_still_active_is_not_submitted_again(tmp_path, monkeypatch):
    fake_slurm(tmp_path, monkeypatch, sacct="#!/bin/sh\nprintf 'JobID|State|NodeList\\n4242_0|RUNNING|n1\\n"
                                            "4242_1|CANCELLED by 0|n1\\n4242_2|PENDING|None assigned\\n'\n")
    out = tmp_path / "sweep"
    args = ["run", str(TINY), "-o", str(out), "--launcher", "slurm", "--no-wait"]
    assert CliRunner().invoke(main, args).exit_code == 0
    res = CliRunner().invoke(main, args)  # again, while I=2 runs and I=40 waits: only I=8 (cancelled) is resubmitted
    assert res.exit_code == 0, res.output
    assert "run 1/3: I=2: still queued or running as job 4242_0" in res.output
    assert "run 3/3: I=40: still queued or running as job 4242_2" in res.output
    assert "submitted 1 job (slurm): I=8 -> 4242\n" in res.output  # one job: no array


def test_slurm_where_there_is_none_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun
    res = CliRunner().invoke(main, ["run", str(TINY), "-o", str(tmp_path / "s"), "--launcher", "slurm"])
    assert res.exit_code == 2 and "srun" in res.output and "Traceback" not in res.output, res.output


@pytest.mark.parametrize("args", [["--partition", "gpu"], ["--no-wait"], ["--time", "5"]])
def test_cluster_options_need_a_cluster_launcher(args):
    res = CliRunner().invoke(main, ["run", str(TINY), *args])
    assert res.exit_code == 2 and "--launcher slurm" in res.output, res.output


@pytest.mark.parametrize(("args", "field"), [(["--time", "0"], "--time"), (["--array-parallelism", "0"],
                                                                          "--array-parallelism")])
def test_bad_job_options_are_refused_before_anything_runs(tmp_path, args, field):
    res = CliRunner().invoke(main, ["run", str(TINY), "-o", str(tmp_path / "s"), "--launcher", "submitit-local",
                                    *args])
    assert res.exit_code == 2 and field in res.output and not (tmp_path / "s" / "jobs").exists(), res.output
