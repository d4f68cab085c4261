"""The sandbox's start-up probe: attack the sandbox from inside, as hostile generated code would, and report.

Standalone on purpose (standard library only): :mod:`eval.code.sandbox` runs it with the very command line
that scoring uses (same bubblewrap options, launcher, environment and binds) as
``python -I sandbox_probe.py SPEC``, SPEC being a JSON object with the host paths to try (``unreadable``,
``unwritable``, ``home`` and ``home_allowed``), the loopback ``port`` a host listener waits on, the name of a
secret environment variable the host planted (``secret_env``), the expected ``limits`` and the ``workdir``
with its ``loot`` folder. Attacks that could change the probe's own state (unshare, mount) run in forked
children. Whatever it manages to read goes into the loot folder (never to stdout), where the host looks for
its canaries; stdout gets one JSON line ``{"checks": {name: [ok, detail]}}``. ``ok`` means the attack failed.
"""

import ctypes
import json
import os
import platform
import re
import resource
import socket
import sys
import time

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
MS_RDONLY, MS_REMOUNT, MS_BIND = 1, 32, 4096
MNT_DETACH = 2
CAP_SYS_ADMIN = 21
SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSW|CREDENTIAL|AUTH|COOKIE|^HF_|HUGGING", re.IGNORECASE)
LIBC = ctypes.CDLL(None, use_errno=True)


def _err() -> str:
    return os.strerror(ctypes.get_errno())


def _in_child(fn) -> tuple:
    """Run fn() (returning (ok, detail)) in a forked child, so that what it changes dies with the child."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out = fn()
        except BaseException as exc:  # noqa: BLE001 - report anything
            out = (False, f"probe error: {exc!r}")
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return tuple(json.loads(data)) if data else (False, "probe child died")


def identity(spec) -> tuple:
    ids = {"uid": os.getresuid(), "gid": os.getresgid(), "groups": tuple(os.getgroups())}
    return 0 not in sum(ids.values(), ()), f"uid {ids['uid'][0]}, gid {ids['gid'][0]}, groups {list(ids['groups'])}"


def capabilities(spec) -> tuple:
    st = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    sets = {k: int(st[k].strip(), 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
    held = [f"{k} {v:x}" for k, v in sets.items() if v]
    nnp = st.get("NoNewPrivs", "").strip() == "1"
    return not held and nnp, "; ".join(held + ([] if nnp else ["no_new_privs off"])) or "all capability sets empty"


def gain(spec) -> tuple:
    """capset, setuid(0), setgid(0): none may work."""
    worked = []
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)(1 << CAP_SYS_ADMIN, 1 << CAP_SYS_ADMIN, 0, 0, 0, 0)
    if LIBC.capset(header, data) == 0:
        worked.append("capset(CAP_SYS_ADMIN)")
    for name, call in (("setuid(0)", os.setuid), ("setgid(0)", os.setgid)):
        try:
            call(0)
            worked.append(name)
        except OSError:
            pass
    return not worked, ("worked: " + ", ".join(worked)) if worked else "capset, setuid(0), setgid(0) refused"


def namespaces(spec) -> tuple:
    worked = []
    for name, flags in (("user", CLONE_NEWUSER), ("mount", CLONE_NEWNS), ("user+mount", CLONE_NEWUSER | CLONE_NEWNS),
                        ("network", CLONE_NEWNET)):
        ok, _ = _in_child(lambda f=flags: (LIBC.unshare(f) == 0, _err()))
        if ok:
            worked.append(name)
    return not worked, ("unshare worked: " + ", ".join(worked)) if worked else "unshare refused (user, mount, network)"


def mounts(spec) -> tuple:
    def attack():
        worked = []
        if LIBC.umount2(b"/tmp", MNT_DETACH) == 0:
            worked.append("umount2(/tmp)")
        for target in ["/", *spec["unwritable"]]:
            if LIBC.mount(None, target.encode(), None, MS_REMOUNT | MS_BIND, None) == 0:
                worked.append(f"remount {target} read-write")
        if LIBC.mount(b"none", b"/tmp", b"tmpfs", 0, None) == 0:
            worked.append("mount tmpfs")
        if worked:  # go on as an attacker would: write where the remount should have allowed it
            _write_all(spec)
        return not worked, ("worked: " + ", ".join(worked)) if worked else "umount2, remount and mount refused"

    return _in_child(attack)


def _write_all(spec) -> list:
    wrote = []
    for folder in spec["unwritable"]:
        path = os.path.join(folder, spec["nonce_name"])
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            os.write(fd, b"written from inside the sandbox\n")
            os.close(fd)
            wrote.append(folder)
        except OSError:
            pass
    return wrote


def writes(spec) -> tuple:
    """Folders are judged on the host (a write may land in a private tmpfs that has the same path); a /proc file
    that opens for writing is a way out by itself."""
    wrote = _write_all(spec)
    opened = []
    for path in ("/proc/sysrq-trigger", "/proc/sys/kernel/core_pattern", "/proc/sys/kernel/hostname"):
        try:  # opened for writing, never written
            os.close(os.open(path, os.O_WRONLY))
            opened.append(path)
        except OSError:
            pass
    detail = f"{len(spec['unwritable']) - len(wrote)} of {len(spec['unwritable'])} host folders refused writes"
    if wrote:
        detail += " (the others are private inside; checked on the host)"
    return not opened, ("writable: " + ", ".join(opened)) if opened else detail


def _loot(spec, name: str, data: bytes) -> None:
    os.makedirs(spec["loot"], exist_ok=True)
    with open(os.path.join(spec["loot"], name), "ab") as f:
        f.write(data + b"\n")


def reads(spec) -> tuple:
    got = []
    for path in spec["unreadable"]:
        try:
            if os.path.isdir(path):
                names = os.listdir(path)
                _loot(spec, "listing", "\n".join(names).encode())
                got.append(f"listed {path}")
                continue
            fd = os.open(path, os.O_RDONLY)
            data = os.read(fd, 1 << 16)
            os.close(fd)
            _loot(spec, "files", data)
            got.append(f"read {len(data)} bytes of {path}")
        except OSError:
            pass
    home = spec.get("home")
    if home:
        try:
            extra = sorted(set(os.listdir(home)) - set(spec.get("home_allowed", [])))
        except OSError:
            extra = []
        if extra:
            _loot(spec, "listing", "\n".join(extra).encode())
            got.append(f"{home} shows {len(extra)} entries")
    return not got, "; ".join(got) or f"{len(spec['unreadable'])} host paths (canaries, tokens, home) unreadable"


def environment(spec) -> tuple:
    seen = dict(os.environ)
    for pid in ("self", "1", str(os.getppid())):
        try:
            raw = open(f"/proc/{pid}/environ", "rb").read()
        except OSError:
            continue
        for item in raw.split(b"\0"):
            key, _, value = item.decode("utf-8", "replace").partition("=")
            if key:
                seen.setdefault(key, value)
    _loot(spec, "environment", "\n".join(f"{k}={v}" for k, v in seen.items()).encode())
    bad = sorted(k for k in seen if SECRET_NAME.search(k) or k == spec["secret_env"])
    return not bad, ("secret-looking variables: " + ", ".join(bad)) if bad else f"{len(seen)} variables, none secret"


def network(spec) -> tuple:
    problems = []
    try:
        with socket.create_connection(("127.0.0.1", spec["port"]), timeout=2) as s:
            s.sendall(b"sandbox probe")
        problems.append(f"connected to the host's 127.0.0.1:{spec['port']}")
    except OSError:
        pass
    try:
        names = [n for _, n in socket.if_nameindex()]
    except OSError:
        names = []
    if set(names) - {"lo"}:
        problems.append("network interfaces " + ", ".join(names))
    return not problems, "; ".join(problems) or "no route to the host (loopback only)"


def limits(spec) -> tuple:
    wrong = [f"{k} {resource.getrlimit(getattr(resource, k))}" for k, v in spec["limits"].items()
             if resource.getrlimit(getattr(resource, k)) != (v, v)]

    def fork_past_the_limit():
        resource.setrlimit(resource.RLIMIT_NPROC, (1, resource.getrlimit(resource.RLIMIT_NPROC)[1]))
        try:
            pid = os.fork()
        except OSError:
            return True, ""
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        return False, "RLIMIT_NPROC is not enforced"

    ok, detail = _in_child(fork_past_the_limit)
    wrong += [] if ok else [detail]
    return not wrong, "; ".join(wrong) or ", ".join(f"{k}={v}" for k, v in spec["limits"].items())


def session_keyring() -> int | None:
    """The session keyring's serial number (None where keyctl is not available)."""
    nr = {"x86_64": 250, "aarch64": 219}.get(platform.machine())
    if nr is None:
        return None
    serial = LIBC.syscall(nr, 0, -3, 0)  # KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, do not create
    return serial if serial > 0 else None


def keyrings(spec) -> tuple:
    """The kernel's key store: a session keyring of the caller's would hand over its keys (possession grants
    access whatever the uid), and a key added to any keyring outlives the run, charged to the sandbox's uid."""
    problems = []
    own = session_keyring()
    if own is not None and own == spec.get("session_keyring"):
        problems.append("shares the caller's session keyring (its keys are readable by possession)")
    nr = {"x86_64": 248, "aarch64": 217}.get(platform.machine())  # add_key
    if nr is not None:
        for name, keyring in (("session", -3), ("user", -4)):  # KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING
            serial = LIBC.syscall(nr, b"user", f"idiv-probe-{os.getpid()}".encode(), b"x", 1, keyring)
            if serial > 0:
                problems.append(f"add_key into the {name} keyring worked")
                LIBC.syscall({"x86_64": 250, "aarch64": 219}[platform.machine()], 3, serial)  # KEYCTL_REVOKE
    if problems:
        return False, "; ".join(problems)
    return True, "add_key refused; " + ("a session keyring of its own" if own is not None else "no keyring access")


def ptrace(spec) -> tuple:
    """Another process of the same uid (a sibling that made itself traceable): its memory and its descriptors
    must be out of reach (ptrace, process_vm_readv, pidfd_getfd)."""
    nr = {"x86_64": (101, 310, 438, 434), "aarch64": (117, 270, 438, 434)}.get(platform.machine())
    if nr is None:
        return True, "not checked on this machine"
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the sibling: traceable on purpose, then waits to be killed
        os.close(r)
        LIBC.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE
        os.write(w, b"x")
        while True:
            time.sleep(1)
    os.close(w)
    os.read(r, 1)
    worked = []
    try:
        if LIBC.syscall(nr[0], 16, pid, 0, 0) == 0:  # PTRACE_ATTACH
            worked.append("ptrace(PTRACE_ATTACH)")
            LIBC.syscall(nr[0], 17, pid, 0, 0)  # PTRACE_DETACH
        buf = ctypes.create_string_buffer(8)
        local = (ctypes.c_void_p * 2)(ctypes.addressof(buf), 8)
        remote = (ctypes.c_void_p * 2)(ctypes.addressof(buf), 8)  # the same address in the forked sibling
        if LIBC.syscall(nr[1], pid, local, 1, remote, 1, 0) > 0:
            worked.append("process_vm_readv")
        pidfd = LIBC.syscall(nr[3], pid, 0)  # pidfd_open
        if pidfd >= 0:
            stolen = LIBC.syscall(nr[2], pidfd, 0, 0)
            if stolen >= 0:
                worked.append("pidfd_getfd")
                os.close(stolen)
            os.close(pidfd)
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(r)
    return not worked, ("worked on a sibling: " + ", ".join(worked)) if worked else \
        "ptrace, process_vm_readv, pidfd_getfd refused"


def workdir(spec) -> tuple:
    path = os.path.join(spec["workdir"], spec["nonce_name"])
    try:
        with open(path, "w") as f:
            f.write("ok")
        os.unlink(path)
    except OSError as exc:
        return False, f"the work folder is not writable: {exc}"
    return True, "the work folder is writable"


CHECKS = [identity, capabilities, gain, namespaces, mounts, writes, reads, environment, network, limits, keyrings,
          ptrace, workdir]


def main(argv: list) -> None:
    spec = json.loads(argv[0])
    out = {}
    for check in CHECKS:
        try:
            out[check.__name__] = list(check(spec))
        except Exception as exc:  # noqa: BLE001 - a probe that breaks is a failed check
            out[check.__name__] = [False, f"probe error: {exc!r}"]
    sys.stdout.write(json.dumps({"checks": out}) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
