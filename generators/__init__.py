"""The data layer (above core and cards): deterministic, diversity-controlled generators of instruction-tuning
data, and no deep-learning imports (generating data must not need torch).

The string-rewrite tasks of arXiv 2405.19787 (rules ``x -> y`` applied to the leftmost match), Markov
algorithms (ordered rule lists) and the other task families of :mod:`generators.tasks` (one module each, a
registry), the cipher wrapper, real instruction data (sources, dedup, decontamination, mixtures, pools:
:mod:`generators.real`), and the ``datagen`` commands that make and inspect data (:mod:`generators.cli`). Every
row is a pure function of (config, seed, row index). For reinforcement learning: each task's scorer as a reward
(:mod:`generators.reward`), the same rows as reasoning-gym-style datasets and a TRL environment
(:mod:`generators.gym`), and a difficulty order (:mod:`generators.curriculum`).

Read top-down, ``datagen generate`` -> parquet is: :mod:`generators.cli` -> :mod:`generators.make` (which kind)
-> :mod:`generators.config` (the typed config) -> :mod:`generators.build` (:func:`generate`: limits, plan,
shards, ``datagen.json``, card) -> :mod:`generators.plan` (pools from the task, split sizes, held-out rows) ->
the task's block builder (:mod:`generators.tasks.rewrite`) -> :mod:`generators.blocks` (cipher and template).

May import :mod:`core` and :mod:`cards` only. Entry points: :func:`load_config`, :func:`config_from_dict`,
:func:`generate`.
"""

from generators.build import generate
from generators.config import GeneratorConfig, config_from_dict, load_config
from generators.version import GENERATOR_VERSION, __version__

__all__ = ["GENERATOR_VERSION", "GeneratorConfig", "__version__", "config_from_dict", "generate", "load_config"]
