"""Evaluating trained models (layer: eval, above training): exact match of the synthetic tasks on seen and unseen
instructions (with confidence intervals, broken down by each task's scorer from :mod:`generators.tasks`), code
generation scored by evalplus (:mod:`eval.code`), plots, and the ``diveval`` command line (``python -m eval``).

May import :mod:`core`, :mod:`cards`, :mod:`generators`, :mod:`publishing` and :mod:`training`. Importing the
CLI loads no torch, transformers or matplotlib: commands load them when they run.
"""
