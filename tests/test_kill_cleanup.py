"""Nothing left after a kill (issue 11, defect 6): shard workers die with their parent, the next run removes the
temporaries of dead runs (and only those), and SIGTERM cleans up at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import atomic

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; kill semantics of Linux")

CLI = "import sys; from publishing.cli import main; sys.exit(main())"
# ~400k rows in 8192-row shards: several seconds of work for two workers on a small machine
SLOW = ["--set", "examples_per_instruction=null", "--set", "budget=400000", "--set", "shard_rows=8192"]


def children(pid: int) -> list[int]:
    """Live (non-zombie) processes whose parent is ``pid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] not in "ZX":
            out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] not in "ZX"


def is_resource_tracker(pid: int) -> bool:
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def wait_for(check, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def start(args: list[str], cwd: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CLI, *args], cwd=cwd, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def temporaries(folder: Path, name: str) -> list[Path]:
    return sorted(folder.glob(f".{name}.tmp-*"))


def started_generation(proc: subprocess.Popen, folder: Path, name: str, workers: int) -> tuple[Path, list[int]]:
    """Wait until the run writes shards with its workers; returns its temporary folder and the workers' pids."""
    def writing():
        tmp = temporaries(folder, name)
        return tmp and list((tmp[0] / "data").glob("*.parquet")) and len(children(proc.pid)) >= workers and tmp[0]

    tmp = wait_for(writing, what="the workers to write shards")
    assert proc.poll() is None, "the run ended before it could be killed: make it bigger"
    return tmp, children(proc.pid)


def reap(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever survived (the test has failed already)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def test_kill_9_takes_the_workers_along_and_the_next_run_removes_the_left_over(tmp_path):
    proc = start(["generate", "tiny", "-o", "out", "--quiet", "--workers", "2", *SLOW], tmp_path)
    try:
        tmp, workers = started_generation(proc, tmp_path, "out", 2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        wait_for(lambda: not any(alive(p) for p in workers), timeout=10, what=f"workers {workers} to die")
    finally:
        reap(proc)
    assert tmp.exists() and not (tmp_path / "out").exists()  # kill -9 cannot clean up: the next run does
    res = subprocess.run([sys.executable, "-c", CLI, "generate", "tiny", "-o", "out", "--quiet"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_sigterm_stops_the_workers_and_leaves_nothing(tmp_path):
    proc = start(["generate", "tiny", "-o", "out", "--quiet", "--workers", "2", *SLOW], tmp_path)
    try:
        _, workers = started_generation(proc, tmp_path, "out", 2)
        trackers = {p for p in workers if is_resource_tracker(p)}  # told apart while they run
        os.kill(proc.pid, signal.SIGTERM)
        rc = proc.wait(timeout=30)
        stderr = proc.stderr.read().decode()
    finally:
        reap(proc)
    assert rc == 128 + signal.SIGTERM and "Traceback" not in stderr, stderr
    # the shard workers are terminated and joined before the parent exits; multiprocessing's resource tracker
    # (also a child) ends by itself once the parent's end of its pipe closes, so a moment later
    assert len(workers) - len(trackers) >= 2 and not any(alive(p) for p in set(workers) - trackers)
    wait_for(lambda: not any(alive(p) for p in workers), timeout=10, what=f"children {workers} to end")
    assert list(tmp_path.iterdir()) == []


def test_a_killed_push_leaves_staging_that_the_next_push_removes(tmp_path):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {"TMPDIR": str(tmpdir), "DATAGEN_HOME": str(tmp_path / "home")}
    proc = start(["push", "tiny", "--quiet", *SLOW], tmp_path, env)
    try:
        staging = wait_for(lambda: sorted(tmpdir.glob("datagen-push-*")), what="the push's staging folder")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        reap(proc)
    assert all(p.exists() for p in staging)
    res = subprocess.run([sys.executable, "-c", CLI, "push", "tiny", "--quiet"], cwd=tmp_path,
                         env={**os.environ, **env}, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert list(tmpdir.iterdir()) == []


def test_sigterm_of_a_push_removes_its_staging(tmp_path):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {"TMPDIR": str(tmpdir), "DATAGEN_HOME": str(tmp_path / "home")}
    proc = start(["push", "tiny", "--quiet", *SLOW], tmp_path, env)
    try:
        wait_for(lambda: list(tmpdir.glob("datagen-push-*/dataset")), what="the push's staging folder")
        os.kill(proc.pid, signal.SIGTERM)
        rc = proc.wait(timeout=30)
    finally:
        reap(proc)
    assert rc == 128 + signal.SIGTERM
    assert list(tmpdir.iterdir()) == []


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_only_temporaries_of_gone_processes_are_removed(tmp_path):
    me, host = os.getpid(), atomic._host()
    start_time = atomic._proc_stat(me)[1]
    names = {
        f".out.tmp-{me}-{start_time}-{host}-0123abcd": True,  # this live process: kept
        f".out.tmp-{me}-{int(start_time) + 1}-{host}-0123abcd": False,  # same pid, another start: pid reused
        f".out.tmp-{dead_pid()}-123-{host}-0123abcd": False,  # the process is gone
        f".out.tmp-{dead_pid()}-123-ffffff-0123abcd"
        if host != "ffffff" else f".out.tmp-{dead_pid()}-123-000000-0123abcd": True,  # another host's: unknowable
        ".out.tmp-notes": True,  # not a name we make
        ".other.tmp-1-1-{host}-0123abcd": True,  # another dataset's prefix
    }
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "f").write_text("x")
    atomic.check_output(tmp_path / "out", overwrite=False)
    assert {n for n in names if (tmp_path / n).exists()} == {n for n, keep in names.items() if keep}


def test_a_set_aside_dataset_is_put_back_when_its_replacement_never_arrived(tmp_path):
    """A kill between the two renames of --overwrite: the old dataset sits under .out.old-*; the next run
    restores it (and removes it once a new dataset is in place)."""
    old = tmp_path / f".out.old-{dead_pid()}-5-{atomic._host()}-0123abcd"
    old.mkdir()
    (old / "datagen.json").write_text("{}")
    atomic.clean_stale(tmp_path / "out")
    assert (tmp_path / "out" / "datagen.json").exists() and not old.exists()
    old.mkdir()
    atomic.clean_stale(tmp_path / "out")
    assert not old.exists() and (tmp_path / "out" / "datagen.json").exists()


def test_stale_atomic_file_temporaries_are_removed(tmp_path):
    target = tmp_path / "results.json"
    stale = tmp_path / f".results.json.tmp-{dead_pid()}-9-{atomic._host()}-0123abcd.json"
    stale.write_text("half")
    atomic.write_text_atomic(target, "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_a_worker_whose_parent_is_gone_exits_at_once():
    """The race: a worker re-parented before prctl took effect ends itself instead of blocking forever."""
    code = "from generators.build import die_with_parent; die_with_parent(1 if __import__('os').getppid() != 1 else 2); print('alive')"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "alive" not in res.stdout
