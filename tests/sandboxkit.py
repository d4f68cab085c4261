"""The sandbox for the code-evaluation tests: skipped only where bubblewrap is not installed, failing otherwise.

Where ``bwrap`` is on the PATH (CI installs it), a sandbox that does not start, or whose start-up probe gets
through, FAILS every test that needs it, naming the probe's finding: a broken sandbox breaks code scoring for
every user and must not pass as a skip. Only a machine without bubblewrap skips them, and says so (the
``SKIP_REASON`` prefix, which ``tests/conftest.py`` also repeats in the summary at the end of the run). The
``sandbox`` fixture (tests/conftest.py, one per session) is :func:`sandbox_or_skip`.
"""

from __future__ import annotations

import shutil

import pytest

from core.errors import ConfigError
from eval.code.sandbox import Sandbox, find_sandbox

SKIP_REASON = "bwrap (bubblewrap) is not installed"


def sandbox_or_skip() -> Sandbox:
    """The working sandbox; skip (bwrap absent) or fail (bwrap present but the sandbox does not hold)."""
    if shutil.which("bwrap") is None:
        pytest.skip(f"{SKIP_REASON}: the sandboxed code-evaluation tests need it (apt-get install bubblewrap)")
    try:
        return find_sandbox()
    except ConfigError as exc:
        pytest.fail(f"bwrap is installed but the sandbox does not work here: {exc}", pytrace=False)
