"""The core layer: what every other package may use, and which imports nothing of ours.

- :mod:`core.errors`: :class:`~core.errors.ConfigError`, the one error type a user can cause;
- :mod:`core.cli`: the CLI error wrapper (user errors as one line, exit status 2);
- :mod:`core.atomic`: atomic files and folders, owner-named temporaries cleaned after a crash;
- :mod:`core.safeio`: reading inside a folder without following links;
- :mod:`core.metadata`: the ``datagen.json`` of a dataset folder (its file name, reader, writer, checks);
- :mod:`core.config`: the one config mechanism (YAML with duplicate keys refused, dotted overrides, typed models);
- :mod:`core.documents`: reading JSON someone else wrote (bounded depth, one line naming the file), bounded reprs;
- :mod:`core.imports`: our packages come from one root (a guard), subprocesses that ignore the working directory.

Layers, bottom to top (each may import only from itself and the layers below; ``lint-imports`` checks it):
core, cards, generators, publishing, training, eval, sweeps.
"""

from core.imports import check_packages

check_packages()  # a same-named folder or distribution shadowing one of our packages is one clear error
