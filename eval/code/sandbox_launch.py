"""The first program inside the sandbox: drop what is left of root's privileges, set the limits, then exec.

Standalone on purpose (standard library only): :mod:`eval.code.sandbox` starts it inside bubblewrap as
``python -I -S sandbox_launch.py CONFIG -- PROGRAM ARGS...`` (``-S``: no site-packages code runs before the drop), where CONFIG is a JSON object:

- ``uid`` / ``gid``: when bubblewrap was started by root (no user namespace: see :mod:`eval.code.sandbox`),
  switch to this unprivileged host uid/gid, with no supplementary groups, after emptying the capability
  bounding set (bubblewrap keeps only CAP_SETUID, CAP_SETGID and CAP_SETPCAP for this step); ``null`` when
  bubblewrap already runs the program as an unprivileged uid in a user namespace. Either way it then joins a
  new session keyring (not the caller's);
- ``limits``: ``{"RLIMIT_AS": bytes, ...}``, set as soft and hard limits (they can only be lowered later);
- ``cwd``: the folder to work in (entered after the switch);
- ``seccomp``: load a filter that makes ``unshare``/``clone`` with ``CLONE_NEWUSER`` fail (EPERM) and
  ``clone3`` report ENOSYS (so the C library falls back to ``clone``), so that no capability can be gained
  even in a new user namespace; and that refuses (EPERM) the kernel's key store (``add_key``, ``request_key``,
  ``keyctl``: keys would outlive the run, charged to its uid) and every way into another process's memory or
  descriptors (``ptrace``, ``process_vm_readv``/``writev``, ``pidfd_getfd``), so that code cannot reach the
  worker that reports its results, nor anything else of the sandbox's uid.

Then it checks what it was asked for (no capability in any set, no uid or gid 0, no_new_privs, the limits)
and execs PROGRAM only if all holds; otherwise it exits with status 125 and one line on stderr.
"""

import ctypes
import errno
import json
import os
import platform
import resource
import struct
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
CLONE_NEWUSER = 0x10000000
FAILED = 125

KEYCTL_JOIN_SESSION_KEYRING = 1
# (audit arch, clone, unshare, clone3) per machine; seccomp_data: nr at 0, arch at 4, args[0] at 16 (low half)
ARCHES = {
    "x86_64": (0xC000003E, 56, 272, 435),
    "aarch64": (0xC00000B7, 220, 97, 435),
}
KEYCTL = {"x86_64": 250, "aarch64": 219}  # the keyctl system call
#: System calls the filter refuses with EPERM: (x86-64 number, aarch64 number).
DENY = {
    "add_key": (248, 217),
    "request_key": (249, 218),
    "keyctl": (250, 219),
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "pidfd_getfd": (438, 438),
}


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _prctl(libc, *args) -> None:
    if libc.prctl(*[ctypes.c_ulong(a) for a in args] + [ctypes.c_ulong(0)] * (5 - len(args))) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl{args}: {os.strerror(err)}")


def _drop_root(libc, uid: int, gid: int) -> None:
    last = int(open("/proc/sys/kernel/cap_last_cap").read())
    for cap in range(last + 1):
        _prctl(libc, PR_CAPBSET_DROP, cap)
    _prctl(libc, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)  # leaving uid 0 for good clears the permitted and effective sets...
    _clear_capabilities(libc)  # ...but not the inheritable one


def _own_session_keyring(libc) -> None:
    """A new, empty session keyring: the one inherited from the caller may hold its keys (possession grants
    access whatever the uid). Where keyctl is refused to us, it is refused to the code we start too."""
    nr = KEYCTL.get(platform.machine())
    if nr is not None and libc.syscall(nr, KEYCTL_JOIN_SESSION_KEYRING, None) < 0:
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EPERM, errno.EACCES):
            raise OSError(err, f"keyctl(JOIN_SESSION_KEYRING): {os.strerror(err)}")


def _clear_capabilities(libc) -> None:
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable (x2): all empty
    if libc.capset(header, data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")


def seccomp_program(machine: str) -> bytes | None:
    """The classic-BPF filter (struct sock_filter[]) described in the module docstring, or None."""
    if machine not in ARCHES:
        return None
    arch, nr_clone, nr_unshare, nr_clone3 = ARCHES[machine]
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
    prog = [
        (ld, 0, 0, 4),  # A = arch
        (jeq, 1, 0, arch),  # native: skip the next line
        (ret, 0, 0, enosys),  # another ABI (e.g. i386 on x86-64): no system call at all
        (ld, 0, 0, 0),  # A = system call number
    ]
    if machine == "x86_64":
        prog += [(jge, 0, 1, 0x40000000), (ret, 0, 0, enosys)]  # the x32 ABI: nothing
    prog += [
        (jeq, 0, 1, nr_clone3),  # clone3 (its flags are in memory, out of the filter's reach): ENOSYS
        (ret, 0, 0, enosys),
    ]
    column = 0 if machine == "x86_64" else 1
    for numbers in DENY.values():
        prog += [(jeq, 0, 1, numbers[column]), (ret, 0, 0, eperm)]
    prog += [
        (jeq, 2, 0, nr_clone),  # clone or unshare: look at the flags
        (jeq, 1, 0, nr_unshare),
        (ret, 0, 0, allow),
        (ld, 0, 0, 16),  # A = flags (the low 32 bits of the first argument)
        (jset, 0, 1, CLONE_NEWUSER),
        (ret, 0, 0, eperm),
        (ret, 0, 0, allow),
    ]
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)


def _load_seccomp(libc) -> None:
    prog = seccomp_program(platform.machine())
    if prog is None:
        raise OSError(f"no seccomp filter for this machine ({platform.machine()})")
    buf = ctypes.create_string_buffer(prog, len(prog))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(prog) // 8, ctypes.addressof(buf))
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp: {os.strerror(err)}")


def status() -> dict:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def check(config: dict) -> list:
    """What does not hold of what the config asked for (empty when all holds)."""
    st = status()
    problems = [f"{k} {st.get(k)}" for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")
                if int(st.get(k, "1"), 16) != 0]
    uids, gids = [int(x) for x in st["Uid"].split()], [int(x) for x in st["Gid"].split()]
    if 0 in uids or 0 in gids:
        problems.append(f"uid {uids} gid {gids}")
    if config.get("uid") is not None and set(uids) != {config["uid"]}:
        problems.append(f"uid {uids}, not {config['uid']}")
    groups = [int(g) for g in st.get("Groups", "").split()]
    if 0 in groups:
        problems.append(f"groups {groups}")
    if st.get("NoNewPrivs") != "1":
        problems.append("no_new_privs not set")
    if config.get("seccomp") and st.get("Seccomp") != "2":
        problems.append("seccomp filter not loaded")
    for name, value in config.get("limits", {}).items():
        if resource.getrlimit(getattr(resource, name)) != (value, value):
            problems.append(f"{name} {resource.getrlimit(getattr(resource, name))}, not {value}")
    return problems


def main(argv: list) -> None:
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: sandbox_launch.py CONFIG -- PROGRAM ARGS...")
    config, program = json.loads(argv[0]), argv[2:]
    libc = _libc()
    try:
        _prctl(libc, PR_SET_NO_NEW_PRIVS, 1)
        if config.get("uid") is not None:
            _drop_root(libc, config["uid"], config["gid"])
        _own_session_keyring(libc)
        for name, value in config.get("limits", {}).items():
            resource.setrlimit(getattr(resource, name), (value, value))
        if config.get("seccomp"):
            _load_seccomp(libc)
        if config.get("cwd"):
            os.chdir(config["cwd"])  # after the switch: root without CAP_DAC_OVERRIDE may not enter it
    except (OSError, ValueError) as exc:
        print(f"sandbox launcher: {exc}", file=sys.stderr)
        sys.exit(FAILED)
    problems = check(config)
    if problems:
        print(f"sandbox launcher: refusing to start: {'; '.join(problems)}", file=sys.stderr)
        sys.exit(FAILED)
    sys.stdout.flush()
    os.execv(program[0], program)


if __name__ == "__main__":
    main(sys.argv[1:])
