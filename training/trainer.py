"""TRL's ``SFTTrainer`` without per-step host syncs.

TRL's ``SFTTrainer.compute_loss`` turns three metrics (entropy, token accuracy, token count) into Python numbers
on every step, and each ``.item()`` waits for the GPU to finish the step: with a small model the GPU then idles
while the host prepares the next one. :class:`SFTTrainer` keeps those per-step sums on the device and gathers
them only when the Trainer logs, so the logged values are the same (the mean over steps of each step's ratio,
summed over processes) and the loss is computed exactly as TRL computes it. Any setting this fast path does not
cover (another loss type, label smoothing, a custom loss, MoE auxiliary losses, sequence or context parallelism)
falls back to TRL's own ``compute_loss``.

The fast path writes into TRL's private bookkeeping (``_metrics``, ``_total_train_tokens``, ``_tp_size``) and reads
the fused LM head's outputs (``log_probs``, ``label_mask``, ``entropy``, ``is_top1``). Those are checked, not assumed:
:func:`fast_path_support` looks for each of them when the trainer is built, and the first fused forward is checked
for its fields. A TRL whose internals differ (any other version may rename them) then trains with TRL's own
``compute_loss`` and ``log``: slower on a GPU, never wrong. ``fast_path_reason`` says why the fast path is off.
"""

from __future__ import annotations

import torch
import trl

FUSED_FIELDS = ("log_probs", "label_mask", "entropy", "is_top1")


def fast_path_support(trainer: trl.SFTTrainer) -> str | None:
    """None when the TRL internals the fast path uses are all there, else what is missing (one phrase)."""
    metrics = getattr(trainer, "_metrics", None)
    if not (isinstance(metrics, dict) and {"train", "eval"} <= set(metrics)):
        return "SFTTrainer._metrics is not a {'train', 'eval'} mapping"
    if not all(isinstance(metrics[m], dict) for m in ("train", "eval")):
        return "SFTTrainer._metrics holds no per-metric lists"
    for name in ("_total_train_tokens", "_tp_size"):
        if not isinstance(getattr(trainer, name, None), int):
            return f"SFTTrainer.{name} is missing"
    for name in ("aux_loss_enabled", "compute_loss_func", "label_smoother"):
        if not hasattr(trainer, name):
            return f"SFTTrainer.{name} is missing"
    if not callable(getattr(trainer, "get_tp_size", None)):
        return "SFTTrainer.get_tp_size is missing"
    if not hasattr(trainer.args, "loss_type"):
        return "SFTConfig.loss_type is missing"
    return None


class SFTTrainer(trl.SFTTrainer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pending: dict[str, list[torch.Tensor]] = {"train": [], "eval": []}
        #: None while the fast path is available; else why it is off (TRL's own compute_loss and log are used)
        self.fast_path_reason: str | None = fast_path_support(self)

    def _fast_path(self, return_outputs: bool) -> bool:
        if self.fast_path_reason is not None:
            return False
        if return_outputs or self.compute_loss_func is not None or self.label_smoother is not None:
            return False
        if self.args.loss_type != "nll" or self.aux_loss_enabled:
            return False
        parallel = self.accelerator.parallelism_config
        return parallel is None or not (parallel.sp_enabled or parallel.cp_enabled)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not self._fast_path(return_outputs):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        mode = "train" if self.model.training else "eval"
        inputs["use_cache"] = False
        try:
            outputs = model(**inputs, fused_lm_head=True)
        except TypeError as exc:  # a model forward that does not take TRL's fused head
            if "fused_lm_head" not in str(exc):
                raise
            self.fast_path_reason = "the model's forward takes no fused_lm_head"
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        missing = [f for f in FUSED_FIELDS if getattr(outputs, f, None) is None]
        if missing:  # nothing has been recorded for this step yet: TRL's own path takes it from here
            self.fast_path_reason = f"the fused LM head's outputs lack {', '.join(missing)}"
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        num_tokens = outputs.label_mask.sum() if num_items_in_batch is None else num_items_in_batch
        loss = (-outputs.log_probs).sum() / torch.as_tensor(num_tokens).clamp(min=1)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * (self.accelerator.num_processes // self.get_tp_size())
        with torch.no_grad():
            if "attention_mask" in inputs:
                seen = inputs["attention_mask"].sum()
            else:  # padding-free: one flattened row
                seen = torch.tensor(inputs["position_ids"].size(1), device=loss.device)
            stats = [outputs.label_mask.sum(), outputs.entropy.detach().sum(), outputs.is_top1.sum(), seen]
            self._pending[mode].append(torch.stack([s.to(loss.device, torch.float32) for s in stats]))
        return loss

    def _flush_metrics(self, mode: str) -> None:
        """Move the pending per-step sums into TRL's metric lists (one gather, one host sync per log)."""
        pending = self._pending[mode]
        if not pending:
            return
        local = torch.stack(pending)  # (steps, 4) on this process
        steps = local.shape[0]
        total = self.accelerator.gather(local).view(-1, steps, 4).sum(0)  # per-step sums over processes
        valid, entropy, correct, seen = total.unbind(-1)
        has = valid > 0
        denom = valid.clamp(min=1)
        self._metrics[mode]["entropy"].extend(torch.where(has, entropy / denom, 0.0).tolist())
        self._metrics[mode]["mean_token_accuracy"].extend(torch.where(has, correct / denom, 0.0).tolist())
        if mode == "train":
            self._total_train_tokens += int(seen.sum().item()) // self._tp_size
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        pending.clear()

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        # Training sums are flushed on every log (the same collective on every process): an evaluation log then
        # reports the training tokens seen so far as ``num_tokens``, as TRL's does; the training entropy and
        # accuracy wait in TRL's lists for the next training log.
        if self.fast_path_reason is None or any(self._pending.values()):
            self._flush_metrics("train")
            if not self.model.training:
                self._flush_metrics("eval")
        super().log(logs, start_time)
