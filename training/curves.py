"""TensorBoard curves that can be published: transformers' ``TensorBoardCallback`` without machine paths.

The event files go out with the model (:mod:`training.publish`), so what they hold is public. transformers'
callback writes them to ``output_dir/runs/<date>_<hostname>/`` and records, as text, the whole
``TrainingArguments`` JSON (``output_dir`` as given: often an absolute path naming the user's home) and the model
config (``_name_or_path``: the local folder a model was loaded from). :class:`PortableTensorBoard` writes the same
scalars to ``output_dir/runs/<date>/`` and those two texts with every absolute path cut to its last component
(tokens are already masked by transformers), and names the event file ``events.out.tfevents.<time>.host.<pid>.<n>``
(tensorboard's writer would put this machine's name there). Rank 0 writes, as before.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import PurePath

from transformers.integrations import TensorBoardCallback


def portable_json(text: str) -> str:
    """``text`` (JSON) with each absolute path among its string values cut to its last component."""

    def clean(value):
        if isinstance(value, str) and (os.path.isabs(value) or value.startswith("~")):
            return PurePath(value).name or "<path>"
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(json.loads(text)), indent=2, sort_keys=True)


class _NoHostName:
    """Stands in for the socket module while an event file is named."""

    @staticmethod
    def gethostname() -> str:
        return "host"


class PortableTensorBoard(TensorBoardCallback):
    """transformers' TensorBoard callback, writing to ``runs/<date>/`` and no absolute path (module docstring)."""

    def _init_summary_writer(self, args):
        """As transformers does, but the event file is named ``...tfevents.<time>.host.<pid>.<n>`` (tensorboard's
        writer puts this machine's name there; the module it reads it through is checked, not assumed)."""
        # deferred: tensorboard (the [train] extra) only once a run reports to it
        from tensorboard.summary.writer import event_file_writer

        real = getattr(event_file_writer, "socket", None)
        if real is not None:
            event_file_writer.socket = _NoHostName
        try:
            super()._init_summary_writer(args)
        finally:
            if real is not None:
                event_file_writer.socket = real

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        if self.logging_dir is None:  # (TENSORBOARD_LOGGING_DIR, when set, is kept as transformers keeps it)
            self.logging_dir = os.path.join(args.output_dir, "runs", time.strftime("%b%d_%H-%M-%S"))
        if self.tb_writer is None:
            self._init_summary_writer(args)
        if self.tb_writer is not None:
            self.tb_writer.add_text("args", portable_json(args.to_json_string()))
            config = getattr(kwargs.get("model"), "config", None)
            if config is not None:
                self.tb_writer.add_text("model_config", portable_json(config.to_json_string()))


def use_portable_tensorboard(trainer) -> None:
    """Swap the Trainer's TensorBoard callback (present with ``report_to: tensorboard``) for ours."""
    if trainer.pop_callback(TensorBoardCallback) is not None:
        trainer.add_callback(PortableTensorBoard())
