"""Run evalplus's scoring once, as its own process (started by :mod:`eval.code.score`, inside the sandbox).

Standalone on purpose (standard library and evalplus only): it runs with ``python -I`` in a sandbox where
only the interpreter and its site-packages are visible, started by :mod:`eval.code.sandbox_launch` once that
has dropped every privilege and set the limits. evalplus reads ``HUMANEVAL_OVERRIDE_PATH`` /
``MBPP_OVERRIDE_PATH`` and its cache folder once, at import, so the caller sets them in this process's
environment. evalplus writes ``<samples>_eval_results.json`` beside the samples and returns nothing; it reuses
an existing results file, so the caller removes any old one first.

    python -I evalplus_runner.py DATASET SAMPLES BASE_ONLY PARALLEL MIN_TIME_LIMIT GT_TIME_LIMIT_FACTOR
"""

import os
import sys


def main(argv: list) -> None:
    dataset, samples, base_only, parallel, min_time_limit, factor = argv
    # deferred: evalplus (the [code] extra) only for code evaluation
    from evalplus.evaluate import evaluate

    evaluate(
        dataset,
        samples=samples,
        base_only=base_only == "1",
        parallel=int(parallel),
        min_time_limit=float(min_time_limit),
        gt_time_limit_factor=float(factor),
    )
    sys.stdout.flush()
    sys.stderr.flush()
    # evalplus starts a non-daemon watchdog thread that sleeps in 20-second steps; the results are written,
    # so leave at once instead of waiting for it.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
