"""``python -m publishing``: the ``datagen`` command line."""

import sys

from publishing.cli import main

sys.exit(main())
