"""No subprocess or console script of ours runs a same-named package found in the working directory, and a
package of ours shadowed anyway is one clear error naming both paths (issue 13.7, core/imports.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.imports import PACKAGES, ROOT, module_command, started_module


@pytest.fixture()
def hostile(tmp_path) -> Path:
    """A working directory holding packages named like ours that fail loudly when imported."""
    here = tmp_path / "work"
    for name in PACKAGES:
        (here / name).mkdir(parents=True)
        (here / name / "__init__.py").write_text(f"raise RuntimeError('the working directory\\'s {name} ran')\n")
        (here / name / "__main__.py").write_text(f"raise RuntimeError('the working directory\\'s {name} ran')\n")
    return here


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_started_module_reads_the_interpreters_options():
    assert started_module(["python", "-m", "sweeps", "run"]) == "sweeps"
    assert started_module(["python", "-X", "dev", "-W", "ignore", "-msweeps"]) == "sweeps"
    assert started_module(["python", "-c", "import x", "-m", "y"]) is None
    assert started_module(["python", "script.py", "-m", "y"]) is None


def test_a_shadowed_package_is_one_error_naming_both_paths(tmp_path):
    """Without the working-directory drop (a plain -c import with the folder first on sys.path), importing any
    package of ours refuses the foreign one before anything else of ours is looked up."""
    here = tmp_path / "shadow"
    (here / "eval").mkdir(parents=True)
    (here / "eval" / "__init__.py").write_text("")
    code = f"import sys; sys.path.insert(0, {str(here)!r}); import generators"
    res = run([sys.executable, "-c", code], tmp_path)
    assert res.returncode != 0 and "ShadowedPackageError" in res.stderr
    assert str(here / "eval") in res.stderr and str(ROOT / "eval") in res.stderr


def test_a_shadowing_namespace_folder_is_refused_too(tmp_path):
    here = tmp_path / "ns"
    (here / "training").mkdir(parents=True)  # no __init__.py: a namespace portion
    code = f"import sys; sys.path.insert(0, {str(here)!r}); import core"
    res = run([sys.executable, "-c", code], tmp_path)
    assert res.returncode != 0 and str(here / "training") in res.stderr


@pytest.mark.parametrize("module, args, expect", [
    ("eval", ["--help"], "rewrite"),
    ("sweeps", ["--help"], "collect"),
    ("publishing", ["--help"], "push"),
])
def test_python_dash_m_of_ours_ignores_the_working_directory(hostile, module, args, expect):
    """`python -m eval` (or sweeps, publishing) from a folder holding same-named packages: only the package named
    by -m must not be shadowed there (Python looks it up before any of our code runs); every other one is ours."""
    shutil.rmtree(hostile / module)
    res = run([sys.executable, "-m", module, *args], hostile)
    assert res.returncode == 0, res.stderr[-2000:]
    assert expect in res.stdout and "ran'" not in res.stderr


def test_the_subprocess_bootstrap_never_looks_in_the_working_directory(hostile):
    """The command line our sweeps start children with (module_command): even the module it names is ours."""
    res = run(module_command("eval", "--help"), hostile)
    assert res.returncode == 0 and "rewrite" in res.stdout, res.stderr[-2000:]


@pytest.mark.parametrize("script, expect", [("datagen", "push"), ("diveval", "rewrite"), ("divsweep", "emit")])
def test_console_scripts_never_see_the_working_directory(hostile, script, expect):
    exe = Path(sys.executable).parent / script
    if not exe.exists():
        pytest.skip(f"{script} is not installed beside this interpreter")
    res = run([str(exe), "--help"], hostile)
    assert res.returncode == 0 and expect in res.stdout, res.stderr[-2000:]


def test_sft_run_as_a_file_from_a_folder_with_same_named_packages(hostile):
    """`accelerate launch training/sft.py` runs the file by path: Python puts training/ (not the working directory)
    first on sys.path, which sft.py replaces with the repository root before importing anything of ours."""
    pytest.importorskip("trl")
    res = run([sys.executable, str(ROOT / "training" / "sft.py"), "--help"], hostile)
    assert res.returncode == 0 and "--dataset_name" in res.stdout, res.stderr[-2000:]
