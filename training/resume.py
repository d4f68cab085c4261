"""Resuming a run: what ``resume_from_checkpoint`` means, and a guard against mixing two runs in one folder.

- ``true`` / ``last``: continue from the newest ``checkpoint-N`` in ``output_dir`` (an error if there is none);
- ``auto``: the same when a checkpoint exists, else start fresh (for jobs that may be preempted and re-run);
- a path: that checkpoint folder;
- unset / ``false``: start fresh, and refuse an ``output_dir`` that already holds checkpoints, since training
  would silently write a second run's checkpoints beside the first's.

The Trainer restores the model, optimizer, scheduler, RNG states and the position in the data, so a resumed run
continues at the global step where the checkpoint was taken.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import ConfigError

TRUE = {"true", "yes", "1", "last"}
FALSE = {"", "false", "no", "0", "none"}


def last_checkpoint(output_dir: str | Path) -> str | None:
    # deferred: transformers (the [train] extra) is only needed once a model is built or loaded
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(output_dir)) if Path(output_dir).is_dir() else None


def resolve_resume(value: str | bool | None, output_dir: str | Path) -> str | None:
    """The checkpoint folder to resume from, or None to start fresh (see the module docstring)."""
    text = "" if value is None else str(value).strip()
    found = last_checkpoint(output_dir)
    if text.lower() in FALSE:
        if found:
            raise ConfigError(
                "resume_from_checkpoint",
                f"output_dir {str(output_dir)!r} already holds checkpoints ({Path(found).name}); pass "
                "--resume_from_checkpoint true to continue that run, or choose another output_dir",
            )
        return None
    if text.lower() == "auto":
        return found
    if text.lower() in TRUE:
        if not found:
            raise ConfigError(
                "resume_from_checkpoint", f"no checkpoint-N folder in output_dir {str(output_dir)!r} to resume from"
            )
        return found
    if not Path(text).is_dir():
        raise ConfigError("resume_from_checkpoint", f"checkpoint folder {text!r} does not exist")
    return text
