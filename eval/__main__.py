"""``python -m eval``: the ``diveval`` command line."""

from eval.cli import main

main()
