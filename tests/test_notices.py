"""Only notices that concern the user (issue 21, item 8), each silenced at its source and no more widely:

- accelerate's `--num_cpu_threads_per_process was set to N` notice: `divtrain` passes the value accelerate would
  pick (tests/test_tensorboard.py runs a sweep's training under it; tests/test_readme_runs.py checks README's own
  commands' output for it);
- transformers' `gradient_checkpointing` FutureWarning on TRL's own default (benchmarks/gpu_check.py's "TRL
  defaults" run): the same setting is passed under its current name, so the warning is never made;
- lm-eval's "Custom kwargs can be passed to `--metadata`" for our tasks (they fail naming --metadata when it is
  missing): a filter on exactly that message of those tasks.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
METADATA_NOTICE = "Custom kwargs can be passed to `--metadata`"


def test_trl_defaults_of_the_gpu_check_make_no_futurewarning_and_keep_trls_setting(tmp_path):
    trl = pytest.importorskip("trl")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import gpu_check

    ctx = gpu_check.Context(out=tmp_path, work=tmp_path, dry_run=True, sizes=gpu_check.DRY, end=time.monotonic() + 60)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        args = gpu_check.trl_defaults(ctx, tmp_path / "defaults", 4)
        trl.SFTConfig(output_dir=str(tmp_path / "plain"), use_cpu=True, bf16=False)  # TRL's own: still warns
    said = [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]
    assert said == ["`gradient_checkpointing` is deprecated and will be removed in v6. Use `activation_checkpointing` "
                    "instead."], said  # once: from the plain SFTConfig, none from the check's
    plain = trl.SFTConfig(output_dir=str(tmp_path / "plain"), use_cpu=True, bf16=False)
    assert args.activation_checkpointing is plain.activation_checkpointing is True  # TRL's default, unchanged
    assert args.per_device_train_batch_size == plain.per_device_train_batch_size and args.max_steps == 4


def test_lm_evals_metadata_notice_is_dropped_for_our_tasks_only(caplog):
    pytest.importorskip("lm_eval")
    from eval.lm_eval_tasks import TASKS
    from eval.lm_eval_tasks.utils import LM_EVAL_TASK_LOGGER, quiet_metadata_notice

    quiet_metadata_notice()
    quiet_metadata_notice()  # idempotent
    # lm-eval imports the file again by path, as a module of another name with its own class (as CI's order showed)
    import importlib.util

    import eval.lm_eval_tasks.utils as ours
    spec = importlib.util.spec_from_file_location("lm_eval_include_copy_of_utils", ours.__file__)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    logger = logging.getLogger(LM_EVAL_TASK_LOGGER)
    assert len(logger.filters) == len({type(f).__name__ for f in logger.filters})
    with caplog.at_level(logging.WARNING, logger=LM_EVAL_TASK_LOGGER):
        for task in (*TASKS, "mbpp_plus", "instruction_diversity_unseen_copy"):  # lm-eval's f-string, verbatim
            logger.warning(f"{task}: Custom kwargs can be passed to `--metadata` in console (as json string) or to "
                           "the TaskManager.\nFor example --metadata='{\"max_seq_lengths\":[4096, 8192]}'.")
        logger.warning("instruction_diversity_unseen: something else")
    shown = [r.getMessage() for r in caplog.records]
    assert [m.split(":")[0] for m in shown] == ["mbpp_plus", "instruction_diversity_unseen_copy",
                                               "instruction_diversity_unseen"], shown


def test_lm_eval_loading_our_task_says_nothing_about_metadata(tiny_dataset, caplog):
    """lm-eval's own code path: the task manager loads the task and its dataset (``download``), where the notice is
    logged."""
    pytest.importorskip("lm_eval")
    from lm_eval.tasks import TaskManager

    from eval.lm_eval_tasks import TASKS_DIR

    with caplog.at_level(logging.INFO):
        manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False,
                              metadata={"dataset": str(tiny_dataset)})
        loaded = manager.load(["instruction_diversity_unseen"])
    task = loaded["tasks"]["instruction_diversity_unseen"]
    assert len(task.dataset["test_unseen"]) == 32  # it loaded our data: download() ran
    assert METADATA_NOTICE not in caplog.text, caplog.text
