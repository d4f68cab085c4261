"""Our packages come from one root, and the Python processes we start never run a same-named package found in
the working directory.

Why it matters: ``python -m X`` puts the working directory first on ``sys.path``, and setuptools' editable
installs look our packages up after ``sys.path``; so a folder holding an ``eval/`` (or ``core/``, ``cards/``, ...)
package, or another distribution of that name, would silently run instead of ours. The defences:

- console scripts (``datagen``, ``diveval``, ``divsweep``) never have the working directory on ``sys.path``;
- our ``python -m`` entry points (``eval/__main__.py``, ``eval/code/__main__.py``, ``sweeps/__main__.py``,
  ``publishing/__main__.py``, ``training/sft.py`` for ``accelerate launch -m training.sft``) take the working
  directory off ``sys.path`` in their first lines, before any other package of ours is looked up (those lines
  are plain Python, so a shadowing ``core/`` cannot get in first); ``training/sft.py`` run by path puts the
  repository root in place of its own folder;
- :func:`check_packages`, run when :mod:`core` is first imported: each of our top-level packages must come from
  the folder :mod:`core` comes from, else :class:`ShadowedPackageError` names both paths (nothing is imported
  to check: ``importlib.util.find_spec``). Under ``python -m`` of any other module of ours (``python -m
  publishing.cli``) it first drops the working directory itself (:func:`drop_working_directory`);
- :func:`module_command`: the command line of ``python -m MODULE`` for a subprocess, of this interpreter, that
  drops the working directory before the module is looked up (``python -P`` / ``PYTHONSAFEPATH`` need Python
  3.11; ``-I`` would also drop ``PYTHONPATH`` and the user site). The evalplus runner runs with ``-I``.

The limit: the package ``python -m`` names is looked up before any code of ours runs (``python -m eval`` from a
folder holding its own ``eval/`` runs that one); and a module run with ``python -m pkg.module`` that has no such
first lines finds a ``core/`` of the working directory before the guard.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

#: Our top-level packages, bottom layer first.
PACKAGES = ("core", "cards", "generators", "publishing", "training", "eval", "sweeps")
#: The folder holding them (a checkout, or site-packages).
ROOT = Path(__file__).resolve().parent.parent
# options of the interpreter that take a value (``python -X dev -m eval``)
_VALUE_OPTIONS = ("-X", "-W", "-Q")


class ShadowedPackageError(ImportError):
    """One of our packages would be imported from another place than the rest of them."""


def started_module(argv: list[str] | None = None) -> str | None:
    """The module this interpreter was started with by ``-m`` (from ``sys.orig_argv``), else None."""
    argv = list(getattr(sys, "orig_argv", []) if argv is None else argv)
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "-m":
            return argv[i + 1] if i + 1 < len(argv) else None
        if arg.startswith("-m"):
            return arg[2:]
        if arg == "-c" or arg == "-" or not arg.startswith("-"):
            return None  # -c code, stdin or a script: no module
        i += 2 if arg in _VALUE_OPTIONS else 1
    return None


def drop_working_directory() -> bool:
    """Under ``python -m`` of one of our modules, take the working directory (which Python put first on
    ``sys.path``) off the path again, unless it is our own root. True when it was dropped."""
    module = started_module()
    if module is None or module.split(".")[0] not in PACKAGES or getattr(sys.flags, "safe_path", False) or not sys.path:
        return False
    try:
        first, cwd = Path(sys.path[0] or os.curdir).resolve(), Path.cwd().resolve()
    except OSError:
        return False
    if first != cwd or first == ROOT:
        return False
    del sys.path[0]
    return True


def package_location(name: str) -> Path | None:
    """The folder the top-level package ``name`` is (or would be) imported from; None when there is none."""
    module = sys.modules.get(name)
    if module is not None:
        file, paths = getattr(module, "__file__", None), list(getattr(module, "__path__", None) or [])
    else:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        file = spec.origin if spec.has_location else None
        paths = list(spec.submodule_search_locations or [])
    where = Path(file).parent if file else Path(paths[0]) if paths else None
    try:
        return where.resolve() if where is not None else None
    except OSError:
        return where


def check_packages() -> None:
    """Refuse (:class:`ShadowedPackageError`, naming both paths) a package of ours that would come from another
    place than :mod:`core`: a same-named folder in the working directory or another distribution."""
    drop_working_directory()
    for name in PACKAGES:
        where = package_location(name)
        if where is not None and where != ROOT / name:
            raise ShadowedPackageError(
                f"the package {name!r} would be imported from {where}, not from {ROOT / name} beside the rest of "
                f"instruction-diversity: a folder of that name in the working directory or another distribution "
                f"named {name!r} shadows ours; run from another folder, or rename or uninstall the other one"
            )


# Runs a module as ``python -m`` does, without the working directory first on sys.path. Under PYTHONSAFEPATH
# nothing was prepended to remove.
_RUN_MODULE = (
    "import runpy, sys\n"
    "if not getattr(sys.flags, 'safe_path', False):\n"
    "    del sys.path[0]\n"
    "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)\n"
)


def module_command(module: str, *args: str) -> list[str]:
    """``python -m MODULE ARGS`` of this interpreter, immune to same-named packages in the working directory."""
    return [sys.executable, "-c", _RUN_MODULE, module, *args]
