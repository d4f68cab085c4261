"""lm-evaluation-harness tasks for instruction-diversity datasets (exact match on test_unseen / test_seen).

The task YAMLs live in this folder; give it to lm-eval as ``--include_path`` (``python -m eval.lm_eval_tasks``
prints it). The tasks need the optional ``[lmeval]`` extra; importing this package does not.
"""

from __future__ import annotations

from pathlib import Path

TASKS_DIR = Path(__file__).resolve().parent
GROUP = "instruction_diversity"
TASKS = ("instruction_diversity_unseen", "instruction_diversity_seen")
