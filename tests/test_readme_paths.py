"""README's commands write only into git-ignored folders (issue 15: `data/`, `results.json` and `eval/oss-alpaca-5`
landed in the checkout, the last inside the `eval/` package)."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUTPUT_OPTIONS = ("-o", "--output", "--output-dir", "--output_dir", "--out")


def commands(markdown: str) -> list[list[str]]:
    """The words of each command line in the ```bash blocks (continuation lines joined, comments dropped)."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", markdown, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                out.append(words)
    return out


def output_paths(words: list[str]) -> list[str]:
    return [words[i + 1] for i, w in enumerate(words[:-1]) if w in OUTPUT_OPTIONS]


@pytest.mark.parametrize("doc", ["README.md", "training/README.md"])
def test_readme_commands_write_only_into_ignored_folders(doc):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: .gitignore cannot be asked")
    paths = [p for words in commands((ROOT / doc).read_text()) for p in output_paths(words)]
    assert paths, "no output paths found: the parser is broken"
    inside = [p for p in paths if not p.startswith(("/tmp/", "$OUT"))]
    for p in inside:
        ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", p], cwd=ROOT).returncode == 0
        assert ignored, f"{doc}: {p} is not git-ignored (write under out/ or runs/)"
        assert Path(p).parts[0] not in {"core", "cards", "generators", "publishing", "training", "eval", "sweeps"}


def test_the_plot_example_reads_the_table_a_sweep_writes():
    from sweeps.config import load_sweep

    text = (ROOT / "README.md").read_text()
    plot = next(w for w in commands(text) if w[:2] == ["diveval", "plot"] and w[2].endswith("results.json"))
    assert Path(plot[2]) == load_sweep(ROOT / "sweeps" / "tiny_cpu.yaml").out / "results.json"
