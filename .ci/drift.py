"""Which installed distributions differ from .ci/known-good.txt (the last environment CI passed with).

    python .ci/drift.py            # one line per difference: name known-good -> installed (or 'new' / 'absent')
    python .ci/drift.py --freeze   # rewrite .ci/known-good.txt from this environment (after a passing run)
    python .ci/drift.py --check    # the pins that a requirement of an installed distribution refuses (exit 1)

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


def refused_pins() -> list[str]:
    """Pins of known-good.txt that a requirement of a pinned distribution (ours with every extra) refuses: such a
    file cannot be installed beside pyproject.toml (pip: ResolutionImpossible), so CI could not say whose bug a
    failure is. The requirements read are those of the installed distributions at their pinned version (and ours):
    one installed at another version (a fresh install's newer release) says nothing of its pinned version's."""
    from packaging.markers import UndefinedEnvironmentName
    from packaging.requirements import Requirement

    pins, lines = known_good(), []
    for dist in metadata.distributions():
        name = dist.metadata["Name"] or "?"
        pinned_self = pins.get(canonical(name))
        if canonical(name) != OURS and (pinned_self is None or base_version(pinned_self) != base_version(dist.version)):
            continue
        extras = [""] + (dist.metadata.get_all("Provides-Extra") or []) if canonical(name) == OURS else [""]
        for text in dist.requires or []:
            req = Requirement(text)
            pinned = pins.get(canonical(req.name))
            if pinned is None or req.specifier.contains(base_version(pinned), prereleases=True):
                continue
            try:
                applies = req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras)
            except UndefinedEnvironmentName:
                applies = True
            if applies:
                lines.append(f"{req.name}=={pinned} is refused by {name} ({text})")
    return sorted(set(lines))


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
    elif sys.argv[1:] == ["--check"]:
        refused = refused_pins()
        print("\n".join(refused) if refused else "every pin satisfies the installed distributions' requirements")
        sys.exit(1 if refused else 0)
    else:
        diffs = differences()
        print("\n".join(diffs) if diffs else "every installed version is the known-good one")
