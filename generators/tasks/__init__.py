"""The task families, one module each, and their registry (:mod:`generators.tasks.registry`).

Importing this package imports every task module, so the registry is full: :func:`get`, :func:`names`,
:func:`sections`, :func:`scorer_for`, and :class:`Scorer` (each task's answer check). Adding a task family is one
module here (its config section, validation, pool, block builder, card text and scorer, registered together), one
import line below, a preset and tests.
"""

from generators.tasks import abstraction, markov, markov_aux, rewrite  # noqa: F401  (each registers itself)
from generators.tasks.registry import (
    MATCH_MODES,
    PARTIAL_CREDIT,
    Scorer,
    Section,
    Task,
    TaskSizes,
    card_texts,
    get,
    names,
    scorer_for,
    sections,
)

__all__ = ["MATCH_MODES", "PARTIAL_CREDIT", "Scorer", "Section", "Task", "TaskSizes", "card_texts", "get", "names",
           "scorer_for", "sections"]
