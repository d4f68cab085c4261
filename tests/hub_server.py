"""A small stand-in for the Hugging Face Hub's HTTP API, so tests run the real ``huggingface_hub`` client offline.

``HubServer`` listens on 127.0.0.1 (a thread per request) and keeps repositories in memory with real history:
every commit gets a 40-hex id and a full file tree, branches and tags point at commits, regular files are git
blobs (sha1 ids) and LFS files are stored by sha256. It speaks the endpoints that ``HfApi.create_repo``,
``create_commit`` / ``upload_folder`` (preupload, LFS batch + PUT + verify, NDJSON commit), ``create_tag``,
``list_repo_refs``, ``repo_info``, ``list_repo_tree``, ``get_paths_info``, ``hf_hub_download``,
``snapshot_download`` and ``datasets.load_dataset(repo_id, revision=...)`` (also with a config name: multi-config
repos are file reads) use, with the Hub's error headers (``X-Error-Code``: RepoNotFound, RevisionNotFound,
EntryNotFound), and the collections endpoints of ``HfApi.create_collection`` / ``get_collection`` /
``add_collection_item`` / ``update_collection_item`` / ``list_collections`` (``collections``: slug -> collection as the API returns it;
a second collection with the same title in a namespace is a 409 carrying its ``slug``, a second item with the same
repo a 409).

It checks what the real Hub checks on the way in that matters to a publisher: a write needs the token; a
commit may only name LFS objects that were uploaded (with the right sha256) and may not put binary content
in a regular file; a commit goes to a branch and honours ``parentCommit``; an existing tag cannot be
re-created. It does not reproduce the Hub's metadata schema, rate limits, Xet storage or large-file limits.

Tests drive it with ``calls`` (the ordered list of endpoints hit), ``files()`` (what a revision holds),
``fail_next()`` (make the next call to an endpoint fail, to simulate an interrupted publish), ``hang()`` (accept
calls to an endpoint and never answer them, optionally after applying them, until ``release()``), ``gate()``
(hold the first calls to an endpoint until several have arrived, to make concurrent clients race),
``add_entry()`` (put a tree entry with any name or type into a commit, as a hostile repository would),
``trickle()`` (answer an endpoint's calls one body byte at a time, a few seconds apart: each read is quick, the
answer never ends) and ``oversize()`` (answer a file's download with a body far larger than the file;
``sent`` counts the bytes of such bodies that went out).
"""

from __future__ import annotations

import base64
import dataclasses
import fnmatch
import hashlib
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

GITATTRIBUTES = b"""*.arrow filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.gz filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
"""
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_SHA = re.compile(r"^[0-9a-f]{40}$")


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass(frozen=True)
class Entry:
    oid: str  # git blob id (of the pointer file, for LFS files)
    size: int  # size of the content
    lfs: str | None = None  # sha256 of the content, for LFS files
    kind: str = "file"  # what the tree listing calls it (tests may plant "symlink")


@dataclass
class Commit:
    sha: str
    parent: str | None
    title: str
    files: dict[str, Entry]
    date: float = field(default_factory=time.time)


@dataclass
class Repo:
    type: str
    id: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def resolve(self, rev: str) -> str | None:
        for prefix, refs in (("refs/heads/", self.branches), ("refs/tags/", self.tags)):
            if rev.startswith(prefix):
                return refs.get(rev[len(prefix) :])
        if rev in self.branches:
            return self.branches[rev]
        if rev in self.tags:
            return self.tags[rev]
        return rev if rev in self.commits else None


class HubServer:
    """The in-memory Hub. ``with HubServer() as hub: ...`` or ``start()`` / ``stop()``; ``url`` is its endpoint."""

    def __init__(self, token: str = "hf_dummy_test_token", user: str = "tester"):
        self.token, self.user = token, user
        self.repos: dict[tuple[str, str], Repo] = {}
        self.blobs: dict[str, bytes] = {}  # git blob id -> bytes (regular files)
        self.lfs_objects: dict[str, bytes] = {}  # sha256 -> bytes
        self.calls: list[tuple[str, str]] = []  # (method, endpoint name), in order
        self.collections: dict[str, dict] = {}  # slug -> the collection as GET /api/collections/{slug} returns it
        self._faults: dict[str, list[int]] = {}
        self._hangs: dict[str, dict] = {}
        self._gates: dict[str, dict] = {}
        self._trickles: dict[str, float] = {}
        self._oversized: dict[str, tuple[int, bool]] = {}
        self.sent = 0  # bytes of oversized bodies actually sent
        self._released = threading.Event()
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self.url = ""

    # -- life cycle ---------------------------------------------------------------------------------------------
    def start(self) -> str:
        handler = type("BoundHandler", (_Handler,), {"hub": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="hub-server", daemon=True).start()
        return self.url

    def stop(self) -> None:
        self._released.set()  # hung handlers return
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> HubServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- inspection and fault injection for tests ---------------------------------------------------------------
    def fail_next(self, endpoint: str, status: int = 500, times: int = 1, after: int = 0) -> None:
        """Answer the next ``times`` calls to ``endpoint`` (a name as in ``calls``) with ``status``, after letting
        ``after`` calls through."""
        with self._lock:
            self._faults.setdefault(endpoint, []).extend([None] * after + [status] * times)

    def hang(self, endpoint: str, apply: bool = False, times: int | None = None) -> None:
        """Accept calls to ``endpoint`` and never answer (the connection stays open until :meth:`release`);
        with ``apply`` the call takes effect first (a commit that lands but whose answer never comes). ``times``:
        that many calls (None: all until released)."""
        with self._lock:
            self._released.clear()
            self._hangs[endpoint] = {"apply": apply, "times": times}

    def release(self) -> None:
        """Stop hanging; calls still held return without an answer."""
        with self._lock:
            self._hangs.clear()
            self._released.set()

    def gate(self, endpoint: str, parties: int = 2, timeout: float = 20.0) -> None:
        """Hold each of the next ``parties`` calls to ``endpoint`` until all of them have arrived (at most
        ``timeout`` seconds), so that concurrent clients see the same state."""
        with self._lock:
            self._gates[endpoint] = {"left": parties, "barrier": threading.Barrier(parties, timeout=timeout)}

    def trickle(self, endpoint: str, interval: float = 1.0) -> None:
        """Answer calls to ``endpoint`` (applied as usual) with their headers at once, then one byte of the body
        every ``interval`` seconds, until :meth:`release` (the connection is then closed)."""
        with self._lock:
            self._released.clear()
            self._trickles[endpoint] = interval

    def oversize(self, path: str, total: int, announce: bool = False, content: bool = True) -> None:
        """Answer a GET of the file ``path`` (any repo, any revision) with ``total`` bytes: its content (none
        without ``content``), then zeros. With ``announce`` the size is sent as Content-Length, else the body is
        chunked (no size given)."""
        with self._lock:
            self._oversized[path] = (total, announce, content)

    def add_entry(self, repo_id: str, path: str, data: bytes = b"x", kind: str = "file", repo_type: str = "dataset",
                  revision: str = "main") -> str:
        """Commit a file under any ``path`` (no name check), or with ``kind`` another tree entry type (such as
        ``symlink``) that the tree listing reports as is; returns the new commit."""
        with self._lock:
            repo = self.repo(repo_id, repo_type)
            head = repo.commits[repo.branches[revision]]
            files = dict(head.files)
            files[path] = dataclasses.replace(self._add_regular(data), kind=kind)
            commit = self._new_commit(repo, head.sha, f"add {path}", files)
            repo.branches[revision] = commit.sha
            return commit.sha

    def repo(self, repo_id: str, repo_type: str = "dataset") -> Repo:
        return self.repos[(repo_type, repo_id)]

    def files(self, repo_id: str, revision: str = "main", repo_type: str = "dataset") -> dict[str, bytes]:
        """The content of every file at ``revision``."""
        repo = self.repo(repo_id, repo_type)
        sha = repo.resolve(revision)
        if sha is None:
            raise KeyError(revision)
        return {p: self._content(e) for p, e in repo.commits[sha].files.items()}

    def endpoints(self) -> list[str]:
        return [name for _, name in self.calls]

    # -- storage -------------------------------------------------------------------------------------------------
    def _content(self, e: Entry) -> bytes:
        return self.lfs_objects[e.lfs] if e.lfs else self.blobs[e.oid]

    def _new_commit(self, repo: Repo, parent: str | None, title: str, files: dict[str, Entry]) -> Commit:
        h = hashlib.sha1(f"{parent}\n{title}\n{uuid.uuid4()}\n".encode())
        for path in sorted(files):
            h.update(f"{path}\0{files[path].oid}\n".encode())
        commit = Commit(h.hexdigest(), parent, title, dict(files))
        repo.commits[commit.sha] = commit
        return commit

    def _add_regular(self, data: bytes) -> Entry:
        oid = git_blob_id(data)
        self.blobs[oid] = data
        return Entry(oid, len(data))

    def _lfs_patterns(self, files: dict[str, Entry]) -> list[str]:
        if ".gitattributes" not in files:
            return []
        text = self._content(files[".gitattributes"]).decode("utf-8", "replace")
        return [ln.split()[0] for ln in text.splitlines() if "filter=lfs" in ln and ln.split()]

    def _is_lfs_path(self, path: str, files: dict[str, Entry]) -> bool:
        name = path.rsplit("/", 1)[-1]
        return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(path, p) for p in self._lfs_patterns(files))


def _tree_entry(path: str, e: Entry) -> dict:
    out = {"type": e.kind, "oid": e.oid, "size": e.size, "path": path}
    if e.lfs:
        out["lfs"] = {"oid": e.lfs, "size": e.size, "pointerSize": len(lfs_pointer(e.lfs, e.size))}
    return out


def _dir_entry(path: str) -> dict:
    return {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0, "path": path}


def _front_matter(text: str) -> object:
    m = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, re.S)
    return yaml.safe_load(m.group(1)) if m else None


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    # -- plumbing ------------------------------------------------------------------------------------------------
    def _body(self) -> bytes:
        """The request's body, read once (an answer given before reading it must not leave it in the stream)."""
        if getattr(self, "_read", None) is None:
            self._read = self._read_body()
        return self._read

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json_body(self) -> dict:
        try:
            return json.loads(self._body() or b"{}")
        except json.JSONDecodeError as exc:
            raise HubError(400, f"invalid JSON body: {exc}") from None

    def _send(self, status: int, body: object = b"", headers: dict | None = None, content_type: str | None = None) -> None:
        if getattr(self, "_swallow", False):  # a hung call: applied, never answered
            return
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
            content_type = content_type or "application/json"
        if getattr(self, "_trickle", None) is not None and self.command != "HEAD":
            self._deferred = (self._trickled, (status, body, headers or {}, content_type))  # sent unlocked
            return
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _trickled(self, status: int, body: bytes, headers: dict, content_type: str | None) -> None:
        """The headers at once, then one byte of the body every ``_trickle`` seconds (until released)."""
        interval, self._trickle = self._trickle, None
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, str(v))
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.flush()
        for i in range(len(body)):  # every read gets something, the answer never ends
            if self.hub._released.wait(timeout=interval):
                break
            try:
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
            except OSError:  # the client gave up
                break
        self.close_connection = True

    def _send_oversized(self, data: bytes, total: int, announce: bool, content: bool, headers: dict) -> None:
        """``data`` (with ``content``) then zeros up to ``total`` bytes, written until the client stops reading."""
        data = data if content else b""
        self.send_response(200)
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length" if announce else "Transfer-Encoding", str(total) if announce else "chunked")
        self.end_headers()
        block, left = data + b"\0" * max(0, (1 << 16) - len(data)), total
        try:
            while left > 0:
                piece = block[: min(left, len(block))]
                self.wfile.write(piece if announce else b"%x\r\n%s\r\n" % (len(piece), piece))
                with self.hub._lock:
                    self.hub.sent += len(piece)
                left -= len(piece)
                block = b"\0" * (1 << 16)
            if not announce:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client stopped reading: what it refused was never sent
            pass
        self.close_connection = True

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        if not auth:
            return False
        if auth != f"Bearer {self.hub.token}":
            raise HubError(401, "Invalid credentials in Authorization header")
        return True

    def _require_auth(self) -> None:
        if not self._authorized():
            raise HubError(401, "You must be authenticated to do this")

    def _repo(self, repo_type: str, repo_id: str, write: bool = False) -> Repo:
        if write:
            self._require_auth()
        authed = self._authorized()
        repo = self.hub.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and not authed):
            raise HubError(404 if authed else 401, "Repository not found", "RepoNotFound")
        return repo

    def _commit(self, repo: Repo, rev: str) -> Commit:
        sha = repo.resolve(rev)
        if sha is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return repo.commits[sha]

    def _base(self) -> str:
        return self.hub.url

    # -- routing -------------------------------------------------------------------------------------------------
    ROUTES = [
        ("GET", r"/api/whoami-v2", "whoami"),
        ("POST", r"/api/repos/create", "repos/create"),
        ("POST", r"/api/validate-yaml", "validate-yaml"),
        ("POST", r"/api/collections", "collections/create"),
        ("GET", r"/api/collections", "collections/list"),
        ("GET", r"/api/collections/(?P<slug>[^/]+/[^/]+)", "collections/get"),
        ("POST", r"/api/collections/(?P<slug>[^/]+/[^/]+)/items", "collections/add-item"),
        ("PATCH", r"/api/collections/(?P<slug>[^/]+/[^/]+)/items/(?P<item>[^/]+)", "collections/update-item"),
        ("PUT", r"/_lfs/(?P<oid>[0-9a-f]{64})", "lfs-upload"),
        ("POST", r"/_lfs/verify", "lfs-verify"),
        ("GET", r"/api/(?P<t>model|dataset|space)s/(?P<repo>[^/]+/[^/]+)", "info"),
        ("GET", r"/api/(?P<t>model|dataset|space)s/(?P<repo>[^/]+/[^/]+)/revision/(?P<rev>[^/]+)", "info"),
        ("GET", r"/api/(?P<t>model|dataset|space)s/(?P<repo>[^/]+/[^/]+)/refs", "refs"),
        ("GET", r"/api/(?P<t>model|dataset|space)s/(?P<repo>[^/]+/[^/]+)/commits/(?P<rev>[^/]+)", "commits"),
        ("GET", r"/api/(?P<t>model|dataset|space)s/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", "tree"),
        ("POST", r"/api/(?P<t>model|dataset|space)s/(?P<repo>[^/]+/[^/]+)/paths-info/(?P<rev>[^/]+)", "paths-info"),
        ("POST", r"/api/(?P<t>model|dataset|space)s/(?P<repo>[^/]+/[^/]+)/preupload/(?P<rev>[^/]+)", "preupload"),
        ("POST", r"/api/(?P<t>model|dataset|space)s/(?P<repo>[^/]+/[^/]+)/commit/(?P<rev>[^/]+)", "commit"),
        ("POST", r"/api/(?P<t>model|dataset|space)s/(?P<repo>[^/]+/[^/]+)/tag/(?P<rev>[^/]+)", "tag"),
        ("DELETE", r"/api/(?P<t>model|dataset|space)s/(?P<repo>[^/]+/[^/]+)/tag/(?P<tag>[^/]+)", "tag-delete"),
        ("POST", r"/api/(?P<t>model|dataset|space)s/(?P<repo>[^/]+/[^/]+)/branch/(?P<branch>[^/]+)", "branch"),
        ("POST", r"/(?:(?P<t>dataset|space)s/)?(?P<repo>[^/]+/[^/]+)\.git/info/lfs/objects/batch", "lfs-batch"),
        ("GET", r"/(?:(?P<t>dataset|space)s/)?(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
        ("HEAD", r"/(?:(?P<t>dataset|space)s/)?(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
    ]

    def _dispatch(self, method: str) -> None:
        self._read = None  # this request's body is not read yet
        url = urlsplit(self.path)
        self.query = parse_qs(url.query)
        for m, pattern, name in self.ROUTES:
            match = re.fullmatch(pattern, url.path) if m == method else None
            if match is None:
                continue
            args = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
            args.setdefault("t", "model")
            with self.hub._lock:
                self.hub.calls.append((method, name))
                faults = self.hub._faults.get(name)
                status = faults.pop(0) if faults else None
                hang = self.hub._hangs.get(name)
                if hang is not None and hang["times"] is not None:
                    hang["times"] -= 1
                    if hang["times"] <= 0:
                        del self.hub._hangs[name]
                gate = self.hub._gates.get(name)
                barrier = None
                if gate is not None:
                    gate["left"] -= 1
                    barrier = gate["barrier"]
                    if gate["left"] <= 0:
                        del self.hub._gates[name]
            if barrier is not None:
                try:
                    barrier.wait()
                except threading.BrokenBarrierError:
                    pass
            if hang is not None:
                self._hang(name, args, hang["apply"])
                return
            self._trickle = self.hub._trickles.get(name)
            self._deferred = None
            try:
                if status is not None:
                    self._body()
                    raise HubError(status, f"injected failure of {name}")
                with self.hub._lock:
                    getattr(self, "h_" + name.replace("-", "_").replace("/", "_"))(**args)
            except HubError as err:
                self._body()  # what the handler did not read yet
                headers = {"X-Error-Message": err.message}
                if err.code:
                    headers["X-Error-Code"] = err.code
                self._send(err.status, {"error": err.message}, headers)
            if self._deferred is not None:  # a slow answer, written without holding the server's lock
                send, args = self._deferred
                send(*args)
            return
        self._body()
        self._send(404, {"error": f"no route for {method} {url.path}"})

    def _hang(self, name: str, args: dict, apply: bool) -> None:
        """Read the request, apply it if asked (its answer is swallowed), then hold the connection unanswered."""
        if apply:
            self._swallow = True
            try:
                with self.hub._lock:
                    getattr(self, "h_" + name.replace("-", "_").replace("/", "_"))(**args)
            except HubError:
                pass
        else:
            self._body()
        self.hub._released.wait(timeout=120)
        self.close_connection = True

    # -- endpoints -----------------------------------------------------------------------------------------------
    def h_whoami(self, t: str) -> None:
        self._require_auth()
        self._send(200, {"type": "user", "name": self.hub.user, "fullname": "Test User", "orgs": [],
                         "auth": {"type": "access_token", "accessToken": {"displayName": "tests", "role": "write"}}})

    def h_repos_create(self, t: str) -> None:
        self._require_auth()
        body = self._json_body()
        repo_type = body.get("type") or "model"
        name, org = body.get("name", ""), body.get("organization") or self.hub.user
        if not (_NAME.match(name) and _NAME.match(org)):
            raise HubError(400, f"invalid repository name {org}/{name}")
        repo_id = f"{org}/{name}"
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"{self._base()}/{prefix}{repo_id}"
        if (repo_type, repo_id) in self.hub.repos:
            self._send(409, {"error": f"You already created this {repo_type} repo", "url": url})
            return
        repo = Repo(repo_type, repo_id, private=body.get("visibility") == "private" or bool(body.get("private")))
        first = self.hub._new_commit(repo, None, "initial commit", {".gitattributes": self.hub._add_regular(GITATTRIBUTES)})
        repo.branches["main"] = first.sha
        self.hub.repos[(repo_type, repo_id)] = repo
        self._send(200, {"url": url, "name": repo_id, "id": uuid.uuid4().hex[:24]})

    def h_validate_yaml(self, t: str) -> None:
        body = self._json_body()
        try:
            meta = _front_matter(body.get("content", ""))
        except yaml.YAMLError as exc:
            self._send(400, {"errors": [{"message": f"YAML metadata is not valid: {exc}"}], "warnings": []})
            return
        errors = []
        if meta is not None and not isinstance(meta, dict):
            errors.append({"message": "YAML metadata must be a mapping"})
        elif isinstance(meta, dict) and "configs" in meta:
            for c in meta["configs"] if isinstance(meta["configs"], list) else [None]:
                if not (isinstance(c, dict) and isinstance(c.get("config_name"), str) and c.get("data_files")):
                    errors.append({"message": f'"configs" entries need config_name and data_files: {c!r}'})
        warnings = [] if meta else [{"message": "empty or missing yaml metadata in repo card"}]
        self._send(400 if errors else 200, {"errors": errors, "warnings": warnings})

    # -- collections ----------------------------------------------------------------------------------------------
    def h_collections_create(self, t: str) -> None:
        self._require_auth()
        body = self._json_body()
        title, ns = body.get("title"), body.get("namespace") or self.hub.user
        if not isinstance(title, str) or not title.strip():
            raise HubError(400, "a collection needs a title")
        if ns != self.hub.user:
            raise HubError(403, f"you cannot create collections in {ns!r}")
        for c in self.hub.collections.values():
            if c["owner"]["name"] == ns and c["title"] == title:
                self._send(409, {"error": "You already have a collection with this title", "slug": c["slug"]})
                return
        slug = f"{ns}/{re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')[:50]}-{uuid.uuid4().hex[:24]}"
        when = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        c = {"slug": slug, "title": title, "description": body.get("description"), "owner": {"name": ns},
             "items": [], "lastUpdated": when, "position": len(self.hub.collections), "private": bool(body.get("private")),
             "theme": "indigo", "upvotes": 0}
        self.hub.collections[slug] = c
        self._send(200, c)

    def h_collections_list(self, t: str) -> None:
        owners = self.query.get("owner", [])
        out = [{k: v for k, v in c.items() if k != "position"} for c in self.hub.collections.values()
               if (not owners or c["owner"]["name"] in owners) and (not c["private"] or self._authorized())]
        self._send(200, out)

    def _collection(self, slug: str, write: bool = False) -> dict:
        if write:
            self._require_auth()
        c = self.hub.collections.get(slug)
        if c is None or (c["private"] and not self._authorized()):
            raise HubError(404, f"Collection {slug} not found")
        return c

    def h_collections_get(self, t: str, slug: str) -> None:
        self._send(200, self._collection(slug))

    def h_collections_add_item(self, t: str, slug: str) -> None:
        c = self._collection(slug, write=True)
        body = self._json_body()
        item = body.get("item") or {}
        kind, item_id = item.get("type"), item.get("id")
        if kind not in ("model", "dataset", "space", "paper", "collection"):
            raise HubError(400, f"invalid item type {kind!r}")
        if kind in ("model", "dataset", "space") and (kind, item_id) not in self.hub.repos:
            raise HubError(404, f"{kind} {item_id} not found", "RepoNotFound")
        if any(i["type"] == kind and i["id"] == item_id for i in c["items"]):
            self._send(409, {"error": "Item already exists in this collection"})
            return
        entry = {"_id": uuid.uuid4().hex[:24], "id": item_id, "type": kind, "position": len(c["items"])}
        if body.get("note") is not None:
            entry["note"] = {"text": body["note"], "html": body["note"]}
        c["items"].append(entry)
        self._send(200, c)

    def h_collections_update_item(self, t: str, slug: str, item: str) -> None:
        c = self._collection(slug, write=True)
        body = self._json_body()
        found = [i for i in c["items"] if i["_id"] == item]
        if not found:
            raise HubError(404, f"no item {item} in {slug}")
        if "note" in body:
            found[0]["note"] = {"text": body["note"], "html": body["note"]}
        if "position" in body:
            found[0]["position"] = int(body["position"])
        self._send(200, {"success": True})

    def h_info(self, t: str, repo: str, rev: str = "main") -> None:
        r = self._repo(t, repo)
        c = self._commit(r, rev)
        blobs = self.query.get("blobs", ["false"])[0].lower() == "true"
        siblings = []
        for path, e in sorted(c.files.items()):
            s = {"rfilename": path}
            if blobs:
                s.update({"size": e.size, "blobId": e.oid})
                if e.lfs:
                    s["lfs"] = {"sha256": e.lfs, "size": e.size, "pointerSize": len(lfs_pointer(e.lfs, e.size))}
            siblings.append(s)
        card = None
        if "README.md" in c.files:
            try:
                card = _front_matter(self.hub._content(c.files["README.md"]).decode())
            except yaml.YAMLError:
                card = None
        when = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(c.date))
        self._send(200, {"_id": hashlib.sha1(repo.encode()).hexdigest()[:24], "id": repo, "author": repo.split("/")[0],
                         "sha": c.sha, "lastModified": when, "createdAt": when, "private": r.private, "gated": False,
                         "disabled": False, "tags": [], "downloads": 0, "likes": 0, "cardData": card,
                         "siblings": siblings})

    def h_refs(self, t: str, repo: str) -> None:
        r = self._repo(t, repo)

        def refs(kind: str, d: dict) -> list[dict]:
            return [{"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": s} for n, s in sorted(d.items())]

        self._send(200, {"branches": refs("heads", r.branches), "tags": refs("tags", r.tags), "converts": [],
                         "pullRequests": []})

    def h_commits(self, t: str, repo: str, rev: str) -> None:
        r = self._repo(t, repo)
        c: Commit | None = self._commit(r, rev)
        out = []
        while c is not None:
            out.append({"id": c.sha, "title": c.title, "message": "", "authors": [{"user": self.hub.user}],
                        "date": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(c.date))})
            c = r.commits[c.parent] if c.parent else None
        self._send(200, out)

    def _listing(self, files: dict[str, Entry], base: str, recursive: bool) -> list[dict]:
        base = base.strip("/")
        prefix = f"{base}/" if base else ""
        under = {p: e for p, e in files.items() if p.startswith(prefix)}
        if base and not under:
            raise HubError(404, f"{base} does not exist", "EntryNotFound")
        entries, dirs = [], set()
        for path, e in sorted(under.items()):
            rest = path[len(prefix) :].split("/")
            for depth in range(1, len(rest)):
                if recursive or depth == 1:
                    dirs.add(prefix + "/".join(rest[:depth]))
            if recursive or len(rest) == 1:
                entries.append(_tree_entry(path, e))
        return [_dir_entry(d) for d in sorted(dirs)] + entries

    def h_tree(self, t: str, repo: str, rev: str, path: str = "") -> None:
        c = self._commit(self._repo(t, repo), rev)
        recursive = self.query.get("recursive", ["false"])[0].lower() in ("true", "1")
        self._send(200, self._listing(c.files, path, recursive))

    def h_paths_info(self, t: str, repo: str, rev: str) -> None:
        c = self._commit(self._repo(t, repo), rev)
        raw = self._body()
        ctype = self.headers.get("Content-Type", "")
        paths = json.loads(raw).get("paths", []) if "json" in ctype else parse_qs(raw.decode()).get("paths", [])
        out = []
        for p in paths:
            p = p.strip("/")
            if p in c.files:
                out.append(_tree_entry(p, c.files[p]))
            elif p == "" or any(f.startswith(p + "/") for f in c.files):
                out.append(_dir_entry(p))
        self._send(200, out)

    def h_preupload(self, t: str, repo: str, rev: str) -> None:
        r = self._repo(t, repo, write=True)
        c = self._commit(r, rev)
        out = []
        for f in self._json_body().get("files", []):
            sample = base64.b64decode(f.get("sample", ""))
            lfs = self.hub._is_lfs_path(f["path"], c.files) or b"\x00" in sample or f["size"] >= LFS_SIZE_THRESHOLD
            existing = c.files.get(f["path"])
            oid = (existing.lfs or existing.oid) if existing else None
            out.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        self._send(200, {"files": out, "commitOid": c.sha})

    def h_lfs_batch(self, repo: str, t: str = "model") -> None:
        self._repo(t, repo, write=True)
        body = self._json_body()
        if body.get("operation") != "upload":
            raise HubError(400, "only uploads are supported")
        objects = []
        for o in body.get("objects", []):
            item = {"oid": o["oid"], "size": o["size"]}
            if o["oid"] not in self.hub.lfs_objects:
                item["authenticated"] = True
                item["actions"] = {"upload": {"href": f"{self._base()}/_lfs/{o['oid']}", "header": {}},
                                   "verify": {"href": f"{self._base()}/_lfs/verify", "header": {}}}
            objects.append(item)
        self._send(200, {"transfer": "basic", "objects": objects}, content_type="application/vnd.git-lfs+json")

    def h_lfs_upload(self, oid: str, t: str) -> None:
        data = self._body()
        if hashlib.sha256(data).hexdigest() != oid:
            raise HubError(400, "uploaded bytes do not match the announced sha256")
        self.hub.lfs_objects[oid] = data
        self._send(200)

    def h_lfs_verify(self, t: str) -> None:
        body = self._json_body()
        data = self.hub.lfs_objects.get(body.get("oid", ""))
        if data is None or len(data) != body.get("size"):
            raise HubError(404, "LFS object not found or of another size")
        self._send(200, {"success": True})

    def h_commit(self, t: str, repo: str, rev: str) -> None:
        r = self._repo(t, repo, write=True)
        if rev not in r.branches:
            if r.resolve(rev) is None:
                raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            raise HubError(400, f"can only commit to a branch, not {rev!r}")
        head = r.commits[r.branches[rev]]
        lines = [json.loads(ln) for ln in self._body().splitlines() if ln.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "the first NDJSON line must be the commit header")
        header = lines[0]["value"]
        if header.get("parentCommit") and header["parentCommit"] != head.sha:
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        files = dict(head.files)
        for line in lines[1:]:
            key, v = line.get("key"), line.get("value", {})
            path = v.get("path", "")
            if key == "file":
                data = base64.b64decode(v["content"])
                if b"\x00" in data or self.hub._is_lfs_path(path, files):
                    raise HubError(400, f"Your push was rejected because it contains binary files: {path}")
                files[path] = self.hub._add_regular(data)
            elif key == "lfsFile":
                data = self.hub.lfs_objects.get(v.get("oid", ""))
                if data is None:
                    raise HubError(422, f"LFS pointer of {path} points at an object that was not uploaded")
                files[path] = Entry(git_blob_id(lfs_pointer(v["oid"], len(data))), len(data), v["oid"])
            elif key == "deletedFile":
                if path not in files:
                    raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                del files[path]
            elif key == "deletedFolder":
                files = {p: e for p, e in files.items() if not p.startswith(path.rstrip("/") + "/")}
            else:
                raise HubError(400, f"unknown commit operation {key!r}")
        commit = self.hub._new_commit(r, head.sha, header.get("summary", ""), files)
        r.branches[rev] = commit.sha
        prefix = "" if t == "model" else f"{t}s/"
        self._send(200, {"success": True, "commitOid": commit.sha, "hookOutput": "",
                         "commitUrl": f"{self._base()}/{prefix}{repo}/commit/{commit.sha}"})

    def h_tag(self, t: str, repo: str, rev: str) -> None:
        r = self._repo(t, repo, write=True)
        c = self._commit(r, rev)
        tag = self._json_body().get("tag", "")
        if not tag or tag in r.tags:
            raise HubError(409 if tag else 400, f"tag {tag!r} already exists" if tag else "no tag name")
        r.tags[tag] = c.sha
        self._send(200, {"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": c.sha})

    def h_tag_delete(self, t: str, repo: str, tag: str) -> None:
        r = self._repo(t, repo, write=True)
        if r.tags.pop(tag, None) is None:
            raise HubError(404, f"no tag {tag!r}", "RevisionNotFound")
        self._send(200)

    def h_branch(self, t: str, repo: str, branch: str) -> None:
        r = self._repo(t, repo, write=True)
        start = self._json_body().get("startingPoint") or "main"
        if branch in r.branches:
            raise HubError(409, f"branch {branch!r} already exists")
        r.branches[branch] = self._commit(r, start).sha
        self._send(200)

    def h_resolve(self, repo: str, rev: str, path: str, t: str = "model") -> None:
        r = self._repo(t, repo)
        c = self._commit(r, rev)
        e = c.files.get(path)
        if e is None:
            raise HubError(404, f"{path} does not exist at {rev}", "EntryNotFound")
        data = self.hub._content(e)
        headers = {"X-Repo-Commit": c.sha, "ETag": f'"{e.lfs or e.oid}"', "Accept-Ranges": "bytes"}
        oversized = self.hub._oversized.get(path)
        if oversized is not None and self.command == "GET":
            self._deferred = (self._send_oversized, (data, *oversized, headers))  # sent unlocked
            return
        status = 200
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "").strip())
        if m and self.command == "GET" and (m.group(1) or m.group(2)):
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)) if m.group(2) else len(data) - 1, len(data) - 1)
            else:
                start, end = max(0, len(data) - int(m.group(2))), len(data) - 1
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start : end + 1], 206
        self._send(status, data, headers, content_type="application/octet-stream")


def serve(monkeypatch, tmp_path):
    """A fresh stand-in Hub, with huggingface_hub and datasets pointed at it and given its token (a pytest
    fixture body: ``yield from serve(monkeypatch, tmp_path)``)."""
    import datasets
    import huggingface_hub.constants as hf_constants

    server = HubServer()
    url = server.start()
    monkeypatch.setattr(hf_constants, "ENDPOINT", url)
    monkeypatch.setattr(hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf-hub-cache"))
    monkeypatch.setattr(datasets.config, "HF_ENDPOINT", url)
    monkeypatch.setattr(datasets.config, "HUB_DATASETS_URL", url + "/datasets/{repo_id}/resolve/{revision}/{path}")
    monkeypatch.setenv("HF_ENDPOINT", url)  # for subprocesses
    monkeypatch.setenv("HF_TOKEN", server.token)
    yield server
    server.stop()
