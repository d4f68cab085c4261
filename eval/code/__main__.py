"""``python -m eval.code``: the code-evaluation commands (see :mod:`eval.code.cli`)."""

from eval.code.cli import main

main()
