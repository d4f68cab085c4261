"""The Hub path never hangs and never ends in a traceback: every call has a timeout, operations are retried a
bounded number of times, every failure is one line with exit status 1 and no tag, and the same command
completes the push later. Two pushes of the same data at once both succeed: one publishes, one is the no-op.

Pushes that could hang run in a subprocess with a generous ``timeout`` (a hang fails the test instead of
blocking it); the stand-in Hub is made to accept calls and never answer (``HubServer.hang``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from click.testing import CliRunner
from hub_server import serve

from core.errors import ConfigError
from publishing import hubclient
from publishing.cli import main
from publishing.localhub import LocalHub
from publishing.targets import HubTarget, LocalTarget, publish_folder

GUARD_S = 180  # far above any bounded failure here; reached only if something hangs


@pytest.fixture
def hub(monkeypatch, tmp_path):
    yield from serve(monkeypatch, tmp_path)


@pytest.fixture
def short_timeouts(monkeypatch):
    monkeypatch.setenv(hubclient.TIMEOUT_ENV, "1")
    monkeypatch.setenv(hubclient.RETRIES_ENV, "1")
    yield
    monkeypatch.undo()
    hubclient.install()  # the shared client gets the default timeout back


def datagen(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "publishing.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=GUARD_S, env={**os.environ, **(env or {})})


def run(*args, ok: bool = True):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def one_line_failure(p: subprocess.CompletedProcess) -> str:
    assert p.returncode == 1, p.stdout + p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""
    lines = [ln for ln in p.stderr.splitlines() if not ln.startswith(("Retrying in", "HTTP Error", "'"))]
    assert len(lines) == 1, p.stderr
    return lines[0]


def test_the_shared_client_gets_the_timeout(monkeypatch):
    from huggingface_hub import get_session

    monkeypatch.setenv(hubclient.TIMEOUT_ENV, "7.5")
    HubTarget()
    assert get_session().timeout.read == get_session().timeout.write == 7.5 and get_session().timeout.connect == 7.5
    # also for calls that pass timeout=None (httpx: no limit), as huggingface_hub's paginated listings do
    request = get_session().build_request("GET", "http://127.0.0.1:9/", timeout=None)
    for hook in get_session().event_hooks["request"]:
        hook(request)
    assert request.extensions["timeout"] == {"connect": 7.5, "read": 7.5, "write": 7.5, "pool": 7.5}
    monkeypatch.undo()
    HubTarget()
    assert get_session().timeout.read == hubclient.DEFAULT_TIMEOUT_S


@pytest.mark.parametrize("value", ["0", "-3", "soon", "nan", "inf"])
def test_a_bad_timeout_setting_is_one_line_before_any_work(hub, tiny_dataset, monkeypatch, value):
    monkeypatch.setenv(hubclient.TIMEOUT_ENV, value)
    res = run("push", "--from-folder", tiny_dataset, "--repo-id", "org/tiny", ok=False)
    assert res.exit_code == 2 and hubclient.TIMEOUT_ENV in res.output and hub.endpoints() == []


def test_a_commit_never_answered_fails_in_bounded_time_then_the_same_command_completes(hub, tiny_dataset, short_timeouts):
    hub.hang("commit")
    failed = datagen("push", "--from-folder", tiny_dataset, "--repo-id", "org/tiny", "--quiet")
    line = one_line_failure(failed)
    assert "no answer from the Hub within 1 s (DATAGEN_HUB_TIMEOUT)" in line and "run the same command again" in line
    assert hub.endpoints().count("commit") == 2  # tried, and retried once (DATAGEN_HUB_RETRIES=1)
    assert hub.repo("org/tiny").tags == {}

    hub.release()
    again = datagen("push", "--from-folder", tiny_dataset, "--repo-id", "org/tiny", "--quiet")
    assert again.returncode == 0 and "published org/tiny v1.0.0" in again.stdout, again.stderr
    assert list(hub.repo("org/tiny").tags) == ["v1.0.0"]


def test_a_commit_that_lands_unanswered_is_completed_by_the_retry(hub, tiny_dataset, short_timeouts):
    hub.hang("commit", apply=True, times=1)
    done = datagen("push", "--from-folder", tiny_dataset, "--repo-id", "org/tiny", "--quiet")
    assert done.returncode == 0 and "published org/tiny v1.0.0" in done.stdout, done.stderr
    repo = hub.repo("org/tiny")
    assert len(repo.commits) == 2  # the initial commit and the one that landed: the retry made no second one
    assert repo.tags == {"v1.0.0": repo.branches["main"]}


def test_a_failed_lfs_upload_is_one_line_and_no_tag(hub, tiny_dataset, short_timeouts):
    hub.fail_next("lfs-upload", 403, times=10)  # refused storage: not an error huggingface_hub retries
    failed = datagen("push", "--from-folder", tiny_dataset, "--repo-id", "org/tiny", "--quiet")
    line = one_line_failure(failed)
    assert "Error while uploading 'data/" in line and "HTTP 403" in line and "no version was tagged" in line
    assert hub.repo("org/tiny").tags == {} and "commit" not in hub.endpoints()

    hub._faults.clear()
    again = datagen("push", "--from-folder", tiny_dataset, "--repo-id", "org/tiny", "--quiet")
    assert again.returncode == 0 and "published org/tiny v1.0.0" in again.stdout, again.stderr


def test_a_transient_error_is_retried_within_the_command(hub, tiny_dataset):
    hub.fail_next("commit", 503)
    hub.fail_next("tag", 502)
    res = run("push", "--from-folder", tiny_dataset, "--repo-id", "org/tiny", "--quiet")
    assert "published org/tiny v1.0.0" in res.output
    repo = hub.repo("org/tiny")
    assert repo.tags == {"v1.0.0": repo.branches["main"]} and len(repo.commits) == 2


def test_pull_and_verify_fail_in_one_line_when_the_hub_hangs(hub, tiny_dataset, tmp_path, short_timeouts):
    run("push", "--from-folder", tiny_dataset, "--repo-id", "org/tiny", "--quiet")
    # repo_info, which huggingface_hub does not retry itself (its paginated listings it does, 5 times: a hang
    # there takes 6 timeouts and 23 s of waits per attempt; bounded, but too slow for a test)
    hub.hang("info")
    out = tmp_path / "pulled"
    line = one_line_failure(datagen("pull", "org/tiny", "-o", out))
    assert "pulling org/tiny main failed (no answer from the Hub within 1 s" in line and not out.exists()
    line = one_line_failure(datagen("verify", "org/tiny", "--no-remake", "--quiet"))
    assert "no answer from the Hub within 1 s" in line


# -- two pushes of the same data at once --------------------------------------------------------------------------


def test_a_tag_race_with_the_same_content_is_the_noop(hub, tiny_dataset, other_dataset):
    """What the slower of two identical pushes meets: the tag it was about to make exists (409)."""
    assert publish_folder(tiny_dataset, "org/tiny", target=HubTarget()).created
    assert HubTarget().upload(tiny_dataset, "org/tiny", "v1.0.0", "dataset", False, "again") is False
    with pytest.raises(ConfigError, match="published meanwhile with other content"):
        HubTarget().upload(other_dataset, "org/tiny", "v1.0.0", "dataset", False, "other")
    assert list(hub.repo("org/tiny").tags) == ["v1.0.0"]


def test_two_identical_pushes_to_the_hub_at_once(hub, tiny_dataset):
    hub.gate("refs", parties=2)  # both see no version yet, so both go for v1.0.0
    procs = [subprocess.Popen([sys.executable, "-m", "publishing.cli", "push", "--from-folder", str(tiny_dataset),
                               "--repo-id", "org/tiny", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=GUARD_S) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    said = sorted("published" if "published org/tiny v1.0.0" in o else "no-op" if "already holds this data" in o else o
                  for o, _ in outs)
    assert said == ["no-op", "published"]
    assert list(hub.repo("org/tiny").tags) == ["v1.0.0"]


def test_two_identical_pushes_to_the_local_hub_at_once(tiny_dataset, monkeypatch):
    """Both choose a version at the same moment; the lock makes the second see the first one's version."""
    barrier = threading.Barrier(2, timeout=3)
    real = LocalHub.versions

    def versions(self, repo_id, repo_type="dataset"):
        try:
            barrier.wait()  # without the lock both threads pass here together
        except threading.BrokenBarrierError:
            pass
        return real(self, repo_id, repo_type)

    monkeypatch.setattr(LocalHub, "versions", versions)
    results, errors = [], []

    def push():
        try:
            results.append(publish_folder(tiny_dataset, "local/tiny", target=LocalTarget()))
        except Exception as exc:  # collected: the assertion names it
            errors.append(exc)

    threads = [threading.Thread(target=push) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(GUARD_S)
    assert errors == []
    assert sorted(r.created for r in results) == [False, True] and {r.version for r in results} == {"v1.0.0"}
    assert real(LocalHub.default(), "local/tiny") == ["v1.0.0"]


def test_two_identical_cli_pushes_to_the_local_hub(tiny_dataset):
    procs = [subprocess.Popen([sys.executable, "-m", "publishing.cli", "push", "--from-folder", str(tiny_dataset),
                               "--local-name", "tiny", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=GUARD_S) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sum("published local/tiny v1.0.0" in o for o, _ in outs) == 1
    assert LocalHub.default().versions("local/tiny") == ["v1.0.0"]


@pytest.fixture
def other_dataset(tmp_path):
    from conftest import TINY

    from generators import config_from_dict
    from generators.build import generate

    out = tmp_path / "other"
    generate(config_from_dict({**TINY, "seed": 2}), out, progress=False)
    return out
