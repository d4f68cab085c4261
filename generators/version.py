"""The versions datasets record: the package's, and the generator's (bumped whenever the rows generated for a
given config and seed change), and what each generator version does differently (:class:`Behaviour`), so that a
dataset published by an earlier version is still re-made, row for row, from its recorded config.
"""

from __future__ import annotations

from dataclasses import dataclass

__version__ = "0.1.0"
GENERATOR_VERSION = "2.1"
#: Generator versions whose rows this code re-makes exactly (``datagen verify`` of a dataset they made passes).
REMAKEABLE_VERSIONS = ("2.0", "2.1")


@dataclass(frozen=True)
class Behaviour:
    """What changed in the rows between generator versions, one switch per change (all False in 2.0, True in 2.1).

    - ``nested_markov``: a Markov instruction (its rule count, rules, terminal flags and, for ``markov_aux``, its
      markers) is a function of (seed, its id) alone, so the training set of a smaller I is the first I
      instructions of a larger one. In 2.0 the terminal flags (and markers) came from a stream whose position
      depended on I.
    - ``fixed_unseen_ids``: ``test_unseen`` rules are numbered from :data:`generators.plan.UNSEEN_ID_BASE`, not
      from I, so the split's rows (and fingerprint) do not depend on I.
    - ``test_occurrences``: ``test_unseen`` and ``test_seen`` take their own ``occurrences`` (default: the paper's 1
      to 20 where the inputs hold 20 copies, see :func:`generators.plan.split_occurrences`); in 2.0 they copied the
      training setting.
    """

    version: str
    nested_markov: bool
    fixed_unseen_ids: bool
    test_occurrences: bool


def behaviour(version: str = GENERATOR_VERSION) -> Behaviour:
    """The behaviour of a generator version this code can re-make (a ValueError for any other: callers check
    :data:`REMAKEABLE_VERSIONS` first and say so to the user)."""
    if version not in REMAKEABLE_VERSIONS:
        raise ValueError(f"generator version {version!r} cannot be re-made here (only {', '.join(REMAKEABLE_VERSIONS)})")
    new = version != "2.0"
    return Behaviour(version, nested_markov=new, fixed_unseen_ids=new, test_occurrences=new)
