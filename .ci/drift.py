"""Which installed distributions differ from .ci/known-good.txt (the last environment CI passed with).

    python .ci/drift.py            # one line per difference: name known-good -> installed (or 'new' / 'absent')
    python .ci/drift.py --freeze   # rewrite .ci/known-good.txt from this environment (after a passing run)

Used by .ci/run: before the tests, to show what a fresh install resolved differently; after a failure, to name
the versions that may have caused it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

KNOWN_GOOD = Path(__file__).resolve().parent / "known-good.txt"
HEADER = """\
# Last-known-good versions: the full environment of the last CI run that passed (pip freeze of .venv-ci).
# .ci/run tests the open ranges of pyproject.toml; when that fails it re-runs the failed tests with these
# pinned, to tell a bug of ours from a new release of a dependency. Refresh: python .ci/drift.py --freeze
"""
OURS = "instruction-diversity"
TOOLS = {"pip", "setuptools", "wheel"}  # pip freeze leaves them out


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def base_version(version: str) -> str:
    return version.split("+", 1)[0]  # torch's local label (+cpu) is not a release


def known_good() -> dict[str, str]:
    pins = {}
    for line in KNOWN_GOOD.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[canonical(name)] = version.strip()
    return pins


def installed() -> dict[str, str]:
    found = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and canonical(name) != OURS and canonical(name) not in TOOLS:
            found[canonical(name)] = dist.version
    return found


def differences() -> list[str]:
    pins, have = known_good(), installed()
    lines = []
    for name in sorted(set(pins) | set(have)):
        old, new = pins.get(name), have.get(name)
        if old is None:
            lines.append(f"{name}: new {new}")
        elif new is None:
            lines.append(f"{name}: absent (known-good {old})")
        elif base_version(old) != base_version(new):
            lines.append(f"{name}: known-good {old} -> installed {new}")
    return lines


def freeze() -> None:
    out = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"], check=True,
                         capture_output=True, text=True).stdout
    pins = sorted((ln for ln in out.splitlines() if ln and not canonical(ln.split("==")[0]) == OURS),
                  key=lambda ln: canonical(ln.split("==")[0]))
    KNOWN_GOOD.write_text(HEADER + "".join(base_version(p) + "\n" if p.startswith("torch==") else p + "\n"
                                           for p in pins))


if __name__ == "__main__":
    if sys.argv[1:] == ["--freeze"]:
        freeze()
    else:
        diffs = differences()
        print("\n".join(diffs) if diffs else "every installed version is the known-good one")
