"""``python -m eval.code``: the code-evaluation commands (see :mod:`eval.code.cli`)."""

import sys
from pathlib import Path

# `python -m` put the working directory first on sys.path: take it off (unless it is this checkout) before any
# package of ours is looked up, so that a same-named folder there (core/, eval/, ...) cannot replace ours
if sys.path and not getattr(sys.flags, "safe_path", False) and Path(sys.path[0] or ".").resolve() == Path.cwd().resolve() != Path(__file__).resolve().parents[2]:
    del sys.path[0]

from eval.code.cli import main  # noqa: E402

main()
