"""``python -m sweeps``: the sweep command line (importing :mod:`core` first drops the working directory that
``python -m`` put on ``sys.path``, see :mod:`core.imports`)."""

import core  # noqa: F401  (first: the guard, before any other package of ours is looked up)
from sweeps.cli import main

main()
