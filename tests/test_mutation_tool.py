"""mutation/run.py stays runnable as the code moves: every group names files, functions and tests that exist, the
list of accepted survivors is well formed and names existing functions, and mutmut's names are read right.
(The mutation run itself is not part of the suite: python mutation/run.py.)"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("mutation_run", ROOT / "mutation" / "run.py")
run = sys.modules["mutation_run"] = importlib.util.module_from_spec(_spec)  # a script, not a package
_spec.loader.exec_module(run)


def functions_of(module: str) -> set[str]:
    """``f`` and ``Class.method`` of every function a file defines at top level or in a top-level class."""
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    out = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.add(node.name)
        elif isinstance(node, ast.ClassDef):
            out |= {f"{node.name}.{n.name}" for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return out


@pytest.mark.parametrize("name", sorted(run.GROUPS))
def test_each_group_names_what_exists(name):
    group = run.GROUPS[name]
    for module, functions in group.modules.items():
        assert (ROOT / module).is_file(), module
        assert set(functions) <= functions_of(module), (module, set(functions) - functions_of(module))
    for test in group.tests:
        path, _, node = test.partition("::")
        assert (ROOT / path).is_file(), test
        if node:
            assert node in functions_of(path), test
    assert group.isolation in ("fork", "forkserver")


def test_the_accepted_survivors_are_well_formed():
    entries = run.load_accepted()
    mutated = {m for g in run.GROUPS.values() for m in g.modules}
    for e in entries:
        assert e["module"] in mutated and e["function"] in functions_of(e["module"]), e
        assert e["before"] != e["after"] and len(e["why"]) > 20, e
    keys = [(e["module"], e["function"], e["before"], e["after"]) for e in entries]
    assert len(keys) == len(set(keys)), "an entry is listed twice"


def test_mutmut_names_and_diffs_are_read_right():
    assert run.function_of("generators.plan.x_example_counts__mutmut_12", "generators/plan.py") == "example_counts"
    assert run.function_of("generators.tasks.rewrite.x__remake__mutmut_3", "generators/tasks/rewrite.py") == "_remake"
    assert run.function_of("publishing.targets.xǁHubTargetǁ_commit__mutmut_2", "publishing/targets.py") == "HubTarget._commit"
    group = run.Group("g", {"a/b.py": ["f", "C.m"], "a/c.py": []}, [])
    assert run.mutant_patterns(group) == ["a.b.x_f__mutmut_*", "a.b.xǁCǁm__mutmut_*", "a.c.x*__mutmut_*"]
    diff = "--- a/b.py\n+++ a/b.py\n@@ -1,3 +1,3 @@\n def f(x):\n-    return x + 1\n+    return x - 1\n"
    assert run.change(diff) == ("return x + 1", "return x - 1")


def test_again_brings_changed_files_into_the_copy_with_a_new_time(tmp_path, monkeypatch):
    """--again re-uses .mutation/<group>: a changed file must land there with a modification time newer than the
    mutants made from it (mutmut keeps a mutant file newer than its source), and the group's settings as they are
    now (a test file added to the group must be run)."""
    import os

    root = tmp_path / "tree"
    work = root / ".mutation"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "m.py").write_text("x = 2\n")
    (root / "pkg" / "same.py").write_text("y = 1\n")
    (root / "pyproject.toml").write_text("[project]\n")
    (work / "g" / "mutants").mkdir(parents=True)
    (work / "g" / "pkg").mkdir()
    (work / "g" / "pkg" / "m.py").write_text("x = 1\n")
    (work / "g" / "pkg" / "same.py").write_text("y = 1\n")
    (work / "g" / "pyproject.toml").write_text("[project]\n[tool.mutmut]\n")
    for f in ("pkg/m.py", "pkg/same.py"):
        os.utime(root / f, (1_000_000, 1_000_000))  # sources older than anything in the copy
        os.utime(work / "g" / f, (2_000_000, 2_000_000))
    monkeypatch.setattr(run, "ROOT", root)
    monkeypatch.setattr(run, "WORK", work)
    monkeypatch.setattr(run, "tree_files", lambda: ["pkg/m.py", "pkg/same.py", "pyproject.toml"])
    group = run.Group("g", {"pkg/m.py": []}, ["tests/test_new.py"])
    run.refresh("g", group)
    assert (work / "g" / "pkg" / "m.py").read_text() == "x = 2\n"
    assert (work / "g" / "pkg" / "m.py").stat().st_mtime > 2_000_000
    assert (work / "g" / "pkg" / "same.py").stat().st_mtime == 2_000_000  # unchanged: left alone
    settings = (work / "g" / "pyproject.toml").read_text()
    assert settings.startswith("[project]\n") and settings.count("[tool.mutmut]") == 1
    assert '"tests/test_new.py"' in settings  # the group's tests as they are now, not as the copy was made
    with pytest.raises(run.UsageError, match="run it first"):
        run.refresh("other", group)


def test_the_readme_table_is_the_recorded_run():
    """README's mutation table states, per group, the mutants made, the survivors and the minutes of the run
    recorded in mutation/last-run.json, and every group of run.py is in both (a new group is measured before it
    is claimed)."""
    recorded = json.loads((ROOT / "mutation" / "last-run.json").read_text(encoding="utf-8"))
    assert recorded["overall"]["other"] == 0 and all(s["accepted"] for s in recorded["survivors"])
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    names = {"Markov": "markov", "results report": "report"}
    rows = {names.get(m[1], m[1]): m.groups()[1:] for m in
            re.finditer(r"^\| ([\w -]+) \| ([\d,]+) \| (\d+) \| ([\d.]+) \| .* \|$", readme, flags=re.M)}
    assert set(rows) == set(recorded["groups"]) == set(run.GROUPS)
    for name, group in recorded["groups"].items():
        made = sum(n for counts in group["modules"].values() for n in counts.values())
        survived = sum(counts.get(s, 0) for counts in group["modules"].values() for s in run.UNDETECTED)
        assert group["finished"]
        assert rows[name] == (f"{made:,}", str(survived), f"{group['seconds'] / 60:.1f}"), name
