"""Run README.md's shell blocks top to bottom, as a newcomer on a fresh machine would (tests/test_readme_runs.py).

Every ```bash block runs in order, each in ``bash -e -o pipefail``, in a copy of this checkout (its tracked and
not-ignored files) with a fresh ``HOME`` (so the local hub, ``~/.cache/datagen``, and the Hugging Face caches
start empty), no ``DATAGEN_HOME`` / ``DATAGEN_HUB``, no ``OMP_NUM_THREADS``, this interpreter's ``bin`` first on
``PATH`` (``datagen``, ``diveval``, ``divtrain``, ``python``), and a Hub endpoint that refuses connections (no
network). A block whose last non-blank line before its fence is ``<!-- readme-test: skip REASON ... -->`` is not
run; REASON must be one of :data:`SKIP_REASONS`. After a block fails, the later ones are not run: each depends
on what came before.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SKIP = re.compile(r"^<!--\s*readme-test:\s*skip\s+(\S+)(.*?)-->\s*$")
SKIP_REASONS = ("network", "gpu", "paper-scale", "cluster", "covered")
BLOCK_TIMEOUT_S = 1800  # a block that hangs fails, naming itself
#: copied into the working copy: never build outputs, caches or environments
IGNORED = (".git", ".venv", ".venv-ci", ".venv-known-good", "out", "runs", ".whl", "__pycache__", ".pytest_cache",
           ".ruff_cache", ".hypothesis", "*.egg-info")


@dataclass
class Block:
    index: int  # 1-based, among the bash blocks
    line: int  # README line of its first command (after the fence)
    heading: str  # the section it is in
    text: str
    skip: str | None = None  # the marker's reason and note

    @property
    def name(self) -> str:
        return f"bash block {self.index} of README.md (line {self.line}, section {self.heading!r})"


@dataclass
class Outcome:
    block: Block
    status: str  # passed | failed | skipped | not run
    seconds: float = 0.0
    output: str = ""
    failed_line: int | None = None  # README line of the command that failed
    command: str = ""


@dataclass
class ReadmeRun:
    root: Path  # the working copy the blocks ran in
    home: Path
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failure(self) -> Outcome | None:
        return next((o for o in self.outcomes if o.status == "failed"), None)

    def describe_failure(self) -> str:
        o = self.failure
        if o is None:
            return ""
        tail = "\n".join(o.output.splitlines()[-40:])
        return (f"{o.block.name} failed at README.md line {o.failed_line}: {o.command}\n--- its output (end) ---\n"
                f"{tail}")

    def require(self, path: str) -> Path:
        """``path`` (relative to the working copy) as README's commands left it; a failed run is named instead."""
        if self.failure is not None:
            raise AssertionError("README did not run top to bottom: " + self.describe_failure())
        return self.root / path


def blocks(text: str) -> list[Block]:
    """The ```bash blocks of ``text``, each with its section and skip marker."""
    lines = text.splitlines()
    out, heading, i = [], "", 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#") and not line.startswith("#!"):
            heading = line.lstrip("#").strip()
        if line.strip() == "```bash":
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            m = SKIP.match(before)
            out.append(Block(len(out) + 1, i + 2, heading, "\n".join(lines[i + 1:end]) + "\n",
                             f"{m.group(1)}{m.group(2).rstrip()}" if m else None))
            i = end
        i += 1
    return out


def working_copy(dest: Path) -> Path:
    """A copy of this checkout's files (tracked and not ignored, when git can say; else all but :data:`IGNORED`)."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                                capture_output=True, check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*IGNORED), symlinks=True)
        return dest
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file() and not src.is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def environment(home: Path) -> dict[str, str]:
    drop = ("DATAGEN_HOME", "DATAGEN_HUB", "HF_HOME", "HF_DATASETS_CACHE", "XDG_CACHE_HOME", "OMP_NUM_THREADS",
            "HUMANEVAL_OVERRIDE_PATH", "MBPP_OVERRIDE_PATH", "PYTHONPATH", "VIRTUAL_ENV_PROMPT")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("PYTEST_")}
    env.update(HOME=str(home), PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
               HF_ENDPOINT="http://127.0.0.1:9", HF_HUB_DISABLE_TELEMETRY="1", PYTHONUNBUFFERED="1")
    return env


PREAMBLE = 'set -eo pipefail\ntrap \'echo "readme-test: failed at script line $LINENO: $BASH_COMMAND" >&2\' ERR\n'


def run_block(block: Block, cwd: Path, env: dict[str, str], log: Path) -> Outcome:
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(["bash", "-c", PREAMBLE + block.text], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=BLOCK_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
        finally:  # nothing a block started outlives it
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
    output = log.read_text(errors="replace")
    seconds = time.monotonic() - started
    if code == 0:
        return Outcome(block, "passed", seconds, output)
    m = list(re.finditer(r"readme-test: failed at script line (\d+): (.*)", output))
    script_line = int(m[-1].group(1)) if m else None
    lines = block.text.splitlines()
    line = block.line + script_line - PREAMBLE.count("\n") - 1 if script_line else block.line
    command = m[-1].group(2) if m else (f"timed out after {BLOCK_TIMEOUT_S} s" if code is None else f"exit {code}")
    if m and 0 <= line - block.line < len(lines):
        command = lines[line - block.line].strip() or command
    return Outcome(block, "failed", seconds, output, line, command)


def run_readme(tmp: Path, text: str | None = None, copy: bool = True) -> ReadmeRun:
    """Run README.md's blocks (or those of ``text``) in a fresh working copy (``copy=False``: an empty folder) and
    home under ``tmp``."""
    root, home, logs = tmp / "checkout", tmp / "home", tmp / "logs"
    if copy:
        working_copy(root)
    for folder in (root, home, logs):
        folder.mkdir(exist_ok=True)
    env = environment(home)
    run = ReadmeRun(root, home)
    for block in blocks(README.read_text(encoding="utf-8") if text is None else text):
        if block.skip is not None:
            run.outcomes.append(Outcome(block, "skipped"))
        elif run.failure is not None:
            run.outcomes.append(Outcome(block, "not run"))
        else:
            run.outcomes.append(run_block(block, root, env, logs / f"block-{block.index}.log"))
    return run
