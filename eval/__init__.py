"""Evaluating trained models: exact match of rewrite tasks on seen and unseen instructions (with confidence
intervals), code generation scored by evalplus, plots, and writing the scores into model cards."""
