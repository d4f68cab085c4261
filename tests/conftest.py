"""Shared test setup: no network, isolated caches, and a tiny generated dataset for the model tests."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

# Before any Hugging Face library is imported: isolated caches, no telemetry, no Xet, and an endpoint that
# refuses connections at once, so a test that would reach the real Hub fails fast instead of hanging.
_HOME = Path(tempfile.mkdtemp(prefix="idiv-tests-"))
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ["HF_HOME"] = str(_HOME / "hf")
os.environ["HF_DATASETS_CACHE"] = str(_HOME / "hf" / "datasets")
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ.setdefault("HF_ENDPOINT", "http://127.0.0.1:9")
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.pop("HF_TOKEN", None)

import pytest  # noqa: E402
from hypothesis import Phase, settings  # noqa: E402
from sandboxkit import SKIP_REASON, sandbox_or_skip  # noqa: E402

# No per-example deadline: timings on a loaded CI machine must not fail a property test.
settings.register_profile("project", deadline=None)
# mutation/run.py sets HYPOTHESIS_PROFILE=mutation: the same examples on every run (a mutant is caught or not,
# never by luck), and a failure is not shrunk (only whether a test fails counts there).
settings.register_profile("mutation", deadline=None, derandomize=True, database=None,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "project"))

TINY = {
    "name": "tiny-test",
    "seed": 1,
    "instructions": 24,
    "examples_per_instruction": 8,
    "noop_fraction": 0.25,
    "input_len": 12,
    "space": {"alphabet": "abcdef", "x_len": [2, 3], "y_len": [1, 3]},
    "splits": {"test_unseen": {"instructions": 8, "examples": 32}, "test_seen": {"examples": 32}},
}


@pytest.fixture(autouse=True)
def _isolated_local_hub(tmp_path, monkeypatch):
    """Each test gets its own empty local hub."""
    monkeypatch.setenv("DATAGEN_HOME", str(tmp_path / "datagen-home"))
    monkeypatch.delenv("DATAGEN_HUB", raising=False)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A tiny rewrite dataset folder (train / test_unseen / test_seen), generated once per session."""
    from generators import config_from_dict
    from generators.build import generate

    out = tmp_path_factory.mktemp("data") / "tiny"
    generate(config_from_dict(TINY), out, progress=False)
    return out


@pytest.fixture(scope="session")
def sandbox():
    """The code-evaluation sandbox: skipped where bubblewrap is not installed, failing where it is installed but
    does not hold (tests/sandboxkit.py)."""
    return sandbox_or_skip()


def pytest_terminal_summary(terminalreporter) -> None:
    """Say at the end, where it cannot be missed, when the sandboxed code-evaluation tests did not run (only a
    missing bubblewrap skips them: see tests/sandboxkit.py)."""
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if SKIP_REASON in str(getattr(r, "longrepr", ""))]
    if skipped:
        terminalreporter.write_line(f"NOTE: {len(skipped)} sandboxed code-evaluation test(s) SKIPPED: bwrap "
                                    "(bubblewrap) is not installed, so code scoring was not tested here",
                                    red=True, bold=True)


@pytest.fixture(scope="session")
def readme_run(tmp_path_factory):
    """README.md's shell blocks, run once top to bottom in a fresh home and a copy of the checkout
    (tests/readme_run.py); tests of what those commands leave behind read it instead of running them again."""
    from readme_run import run_readme

    return run_readme(tmp_path_factory.mktemp("readme"))
