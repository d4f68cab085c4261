"""Every Hub command ends: a server that trickles its answers one byte at a time (each read quick, the answer
endless) is cut off by the command's deadline (``DATAGEN_HUB_DEADLINE``, 2 s here), and a download never
takes more bytes than the repository lists for the file. Each failure is one line, a non-zero status, and
nothing half-written (no pulled folder, no tag).

Commands that could hang run in a thread the test waits for at most ``GUARD_S`` (a hang fails the test instead
of blocking it; stopping the stand-in Hub then ends the thread).
"""

from __future__ import annotations

import gzip
import json
import threading
import time

import httpx2
import pytest
from click.testing import CliRunner, Result
from hub_server import serve
from huggingface_hub import get_session

from core.errors import ConfigError
from publishing import hubclient
from publishing.cli import main

DEADLINE_S = 2
GUARD_S = 30  # far above the deadline; reached only if the command hangs
TRICKLE_S = 0.5  # a byte every half second: far below any per-read timeout


@pytest.fixture
def hub(monkeypatch, tmp_path):
    yield from serve(monkeypatch, tmp_path)


@pytest.fixture
def pushed(hub, tiny_dataset):
    res = CliRunner().invoke(main, ["push", "--from-folder", str(tiny_dataset), "--repo-id", "org/tiny", "--quiet"])
    assert res.exit_code == 0, res.output
    return hub


def datagen(*args, monkeypatch) -> tuple[Result, float]:
    """``datagen ARGS`` with a 2 s deadline, in a thread waited for at most GUARD_S; (its result, seconds)."""
    monkeypatch.setenv(hubclient.DEADLINE_ENV, str(DEADLINE_S))
    done: list[Result] = []
    worker = threading.Thread(target=lambda: done.append(CliRunner().invoke(main, [str(a) for a in args])),
                              daemon=True)
    start = time.monotonic()
    worker.start()
    worker.join(GUARD_S)
    assert done, f"datagen {' '.join(map(str, args))} did not end within {GUARD_S} s"
    return done[0], time.monotonic() - start


def one_line(res: Result, status: int = 1) -> str:
    assert res.exit_code == status, res.output
    assert "Traceback" not in res.output and res.output.count("\n") == 1, res.output
    return res.output.strip()


def test_pull_from_a_trickling_hub_ends_at_its_deadline_and_writes_nothing(pushed, tmp_path, monkeypatch):
    """datagen.json's body trickled: its 6 KB at a byte every 0.5 s would take an hour."""
    pushed.trickle("resolve", TRICKLE_S)
    out = tmp_path / "pulled"
    res, took = datagen("pull", "org/tiny", "-o", out, monkeypatch=monkeypatch)
    line = one_line(res)
    assert f"the Hub did not finish within {DEADLINE_S} s (DATAGEN_HUB_DEADLINE)" in line, line
    assert "nothing was written" in line and not out.exists()
    assert not list(tmp_path.glob(".pulled*"))  # no temporary folder left beside it
    # the deadline, plus at most one read timeout cut to what was left of it
    assert took < 2 * DEADLINE_S + 1, took


def test_verify_of_a_trickling_hub_ends_at_its_deadline(pushed, monkeypatch):
    """An API answer (the tree listing) trickled."""
    pushed.trickle("tree", TRICKLE_S)
    res, took = datagen("verify", "org/tiny", "--no-remake", "--quiet", monkeypatch=monkeypatch)
    line = one_line(res)
    assert f"the Hub did not finish within {DEADLINE_S} s" in line and took < 2 * DEADLINE_S + 1, (line, took)


def test_a_call_never_answered_ends_at_the_deadline_not_after_the_read_timeout(pushed, tmp_path, monkeypatch):
    """The per-read timeout (60 s by default) is cut to what is left of the deadline."""
    monkeypatch.delenv(hubclient.TIMEOUT_ENV, raising=False)
    pushed.hang("info")
    res, took = datagen("pull", "org/tiny", "-o", tmp_path / "pulled", monkeypatch=monkeypatch)
    line = one_line(res)
    assert f"the Hub did not finish within {DEADLINE_S} s" in line and took < 2 * DEADLINE_S + 1, (line, took)
    assert not (tmp_path / "pulled").exists()


def test_a_push_whose_commit_answer_trickles_ends_untagged_and_the_same_command_completes(hub, tiny_dataset,
                                                                                         monkeypatch):
    hub.trickle("commit", TRICKLE_S)
    res, took = datagen("push", "--from-folder", tiny_dataset, "--repo-id", "org/tiny", "--quiet",
                        monkeypatch=monkeypatch)
    line = one_line(res)
    assert f"the Hub did not finish within {DEADLINE_S} s" in line and "no version was tagged" in line, line
    assert hub.repo("org/tiny").tags == {} and took < 2 * DEADLINE_S + 1
    hub.release()
    monkeypatch.delenv(hubclient.DEADLINE_ENV)
    again = CliRunner().invoke(main, ["push", "--from-folder", str(tiny_dataset), "--repo-id", "org/tiny", "--quiet"])
    assert again.exit_code == 0 and "published org/tiny v1.0.0" in again.output, again.output


@pytest.mark.parametrize("announce", [False, True], ids=["chunked", "content-length"])
def test_a_body_larger_than_the_listed_file_is_refused_after_the_listed_bytes(pushed, tmp_path, announce):
    """200 MB for a datagen.json of a few KB: refused once more than its listed size has arrived (chunked, no size
    given) or at once (a Content-Length above it), so what was sent is far below the body (what the kernel's
    socket buffers took included)."""
    listed = len(pushed.files("org/tiny")["datagen.json"])
    pushed.oversize("datagen.json", 200 << 20, announce=announce)
    out = tmp_path / "pulled"
    res = CliRunner().invoke(main, ["pull", "org/tiny", "-o", str(out)])
    assert res.exit_code == 2, res.output
    assert res.output.count("\n") == 1 and "Traceback" not in res.output
    assert f"the Hub sent more than the {listed} bytes its listing gives for datagen.json" in res.output or (
        announce and f"a body of {200 << 20} bytes (its listing gives {listed}) for datagen.json" in res.output)
    assert not out.exists()
    assert pushed.sent < 32 << 20, pushed.sent


def test_a_shard_body_other_than_listed_is_refused(pushed, tmp_path):
    """The shard's tree entry gives its size and LFS SHA-256: a body of the right size with other bytes is refused
    as it arrives, naming the file, before anything is checked against datagen.json."""
    meta = json.loads(pushed.files("org/tiny")["datagen.json"])
    shard = meta["splits"]["train"]["files"][0]
    size = len(pushed.files("org/tiny")[shard])
    pushed.oversize(shard, size, announce=True, content=False)  # the listed size, other bytes
    res = CliRunner().invoke(main, ["pull", "org/tiny", "-o", str(tmp_path / "pulled")])
    assert res.exit_code == 2 and f"for {shard}, refused" in res.output and "SHA-256" in res.output, res.output
    assert not (tmp_path / "pulled").exists()


def test_deadline_setting(monkeypatch):
    assert hubclient.deadline_s() == hubclient.DEFAULT_DEADLINE_S == 3600
    for bad in ("0", "-1", "soon", "nan", "inf"):
        monkeypatch.setenv(hubclient.DEADLINE_ENV, bad)
        with pytest.raises(ConfigError, match=hubclient.DEADLINE_ENV):
            hubclient.deadline_s()
    monkeypatch.setenv(hubclient.DEADLINE_ENV, "2.5")
    assert hubclient.deadline_s() == 2.5
    with hubclient.hub_deadline(), hubclient.hub_deadline(60):  # an inner, later deadline keeps the earlier one
        assert hubclient.time_left() <= 2.5
    assert hubclient.time_left() is None



def _client(handler) -> httpx2.Client:
    """A client with the shared client's hooks (timeouts, deadline, caps), ``handler`` playing the server."""
    hubclient.install()
    return httpx2.Client(transport=httpx2.MockTransport(handler), event_hooks=get_session().event_hooks)


def test_an_upload_the_server_reads_slowly_ends_at_the_deadline():
    """The hooks check the deadline between the chunks of a request body too (2 s of chunks, a 0.5 s deadline)."""
    def slow_chunks():
        for _ in range(20):
            time.sleep(0.1)
            yield b"x" * 1024

    def server(request: httpx2.Request) -> httpx2.Response:
        request.read()  # a server taking in the body as it comes
        return httpx2.Response(200)

    with _client(server) as client, hubclient.hub_deadline(0.5):
        start = time.monotonic()
        with pytest.raises(hubclient.DeadlineExceeded):
            client.put("http://hub.test/api/upload", content=slow_chunks())
        assert time.monotonic() - start < 1.5


def test_an_api_answer_is_capped_and_a_file_body_is_left_to_its_reader():
    """100 MB of listing is refused (its URL named without the query: a signed URL's signature stays out of
    messages); 100 MB of a file's content is not the hooks' to cap (publishing.download caps it)."""
    def endless(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=(b" " * (1 << 20) for _ in range(100)))

    with _client(endless) as client:
        with pytest.raises(hubclient.AnswerTooLarge) as err:
            client.get("http://hub.test/api/datasets/org/x/tree/main?signature=s3cret")
        assert f"hub.test/api/datasets/org/x/tree/main is larger than {hubclient.ANSWER_LIMIT} bytes" in str(err.value)
        assert "s3cret" not in str(err.value)
        assert len(client.get("http://hub.test/datasets/org/x/resolve/main/big.bin").content) == 100 << 20


def test_answers_are_capped_as_they_unpack_and_lfs_batch_answers_are_capped(monkeypatch):
    """A listing of 2 MiB gzipped into 2 KB got past a 1 MiB cap (the cap counted the bytes that arrived; 64 MiB of
    gzip is 64 GiB unpacked), and an LFS batch answer (no ``/api/`` in its path) was not capped at all. Every
    request now asks for answers uncompressed; one that is not a file's content and comes compressed anyway is
    refused, in one line and not retried; the LFS batch answer is capped; a file's content is still left to its
    reader, also after a redirect to a CDN whose path says nothing of a file."""
    monkeypatch.setattr(hubclient, "ANSWER_LIMIT", 1 << 20)
    body = b" " * (2 << 20)
    asked = []

    def server(request: httpx2.Request) -> httpx2.Response:
        asked.append(request.headers.get("Accept-Encoding"))
        path = request.url.path
        if path.startswith("/api/"):
            return httpx2.Response(200, headers={"Content-Encoding": "gzip"}, content=gzip.compress(body))
        if path.endswith("/info/lfs/objects/batch"):
            return httpx2.Response(200, content=(body[:1 << 16] for _ in range(32)))
        if "/resolve/" in path:
            return httpx2.Response(302, headers={"Location": "http://cdn.test/repos/ab/cd/0123abcd"})
        return httpx2.Response(200, content=(body[:1 << 16] for _ in range(32)))

    with _client(server) as client:
        with pytest.raises(hubclient.AnswerRefused) as err:
            client.get("http://hub.test/api/datasets/org/x/tree/main")
        assert hubclient.failure_reason(err.value) == ("the Hub's answer to hub.test/api/datasets/org/x/tree/main is "
                                                      "compressed (gzip), which was not asked for: refused")
        assert not hubclient.transient(err.value)
        with pytest.raises(hubclient.AnswerTooLarge):
            client.post("http://hub.test/datasets/org/x.git/info/lfs/objects/batch", json={})
        got = client.get("http://hub.test/datasets/org/x/resolve/main/big.bin", follow_redirects=True)
        assert len(got.content) == 2 << 20 and got.url.host == "cdn.test"
    assert asked and set(asked) == {"identity"}
