"""Deterministic, diversity-controlled generators of instruction-tuning data (no deep-learning imports).

The string-rewrite tasks of arXiv 2405.19787 (rules ``x -> y`` applied to the leftmost match), Markov
algorithms (ordered rule lists), and their enciphered variants. Every row is a pure function of
(config, seed, row index). Entry points: :func:`load_config`, :func:`generate`, and the ``datagen`` CLI.
"""

__version__ = "0.1.0"
#: Bumped whenever the rows generated for a given config and seed change.
GENERATOR_VERSION = "2.0"

from generators.config import GeneratorConfig, config_from_dict, load_config  # noqa: E402


def generate(*args, **kwargs):
    """See :func:`generators.build.generate`."""
    from generators.build import generate as _generate

    return _generate(*args, **kwargs)


__all__ = ["GeneratorConfig", "config_from_dict", "generate", "load_config", "GENERATOR_VERSION"]
