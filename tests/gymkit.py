"""Small configs of every registered task family, for the gym and reward tests.

Each family's config is one of its shipped presets, shrunk by overrides (few rules, few rows), so a task family
added to the registry is tested here as soon as it has a preset (and a family without one fails the tests that
iterate :func:`family_configs`, naming it).
"""

from __future__ import annotations

from pathlib import Path

from core.config import read_yaml_config
from generators import tasks
from generators.cli import PRESETS

SHRINK = [
    "instructions=12", "budget=null", "examples_per_instruction=4", "splits.validation.examples=0",
    "splits.test_unseen.instructions=6", "splits.test_unseen.examples=36", "splits.test_seen.examples=36",
]


def family_preset(task: str) -> Path | None:
    """The preset named after the task, else the first (by name) whose ``task`` is it; None if none."""
    named = PRESETS / f"{task}.yaml"
    if named.exists():
        return named
    for path in sorted(PRESETS.glob("*.yaml")):
        if read_yaml_config(path).get("task", "rewrite") == task:
            return path
    return None


def family_configs() -> dict[str, dict]:
    """{task: a small generator config mapping} for every registered task family."""
    out = {}
    for task in tasks.names():
        path = family_preset(task)
        assert path is not None, f"task family {task!r} has no preset in generators/configs"
        out[task] = read_yaml_config(path, SHRINK)
    return out
