"""Real instruction data (as opposed to the synthetic task families of :mod:`generators.tasks`).

Sources (Hub datasets or local files mapped to instruction/response pairs, :mod:`generators.real.sources`),
exact and near duplicate removal (:mod:`generators.real.dedup`), benchmark decontamination
(:mod:`generators.real.decontam`), embedding-based semantic diversity (:mod:`generators.real.semantic`) and
instruction mixtures with per-source ratios (:mod:`generators.real.mixture`, configs in
:mod:`generators.real.mixture_config`). Part of the data layer: no module here imports a deep-learning stack
at import time.
"""
