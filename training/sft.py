"""Supervised fine-tuning from a recipe: the entry point for ``accelerate launch``.

    accelerate launch --config_file training/accelerate/<hw>.yaml training/sft.py --config training/recipes/<x>.yaml
    accelerate launch --config_file training/accelerate/<hw>.yaml -m training.sft --config ...   # the same
    python training/sft.py --config training/recipes/tiny-cpu.yaml --max_steps 20      # any field on the CLI
    python -m training.sft --config ...

The recipe is one YAML mapping read by TRL's ``TrlParser`` into TRL's ``SFTConfig`` and ``ModelConfig`` and the
fields of :mod:`training.args` (data, from-scratch model, early stopping, publishing); unknown keys are errors.
With no ``model_name_or_path`` the model is GPT-2 built from the recipe with a char-level tokenizer made from
the dataset; otherwise the pretrained model is loaded (LoRA with ``use_peft``, 8-bit with ``load_in_8bit``).
Training is TRL's ``SFTTrainer`` (completion-only loss on prompt-completion data). At the end the final model,
tokenizer and model card are written to ``output_dir`` and published (local hub, or the Hub with
``push_to_hub``). ``--resume_from_checkpoint true`` continues an interrupted run from its last checkpoint.
"""

from __future__ import annotations

import sys
from pathlib import Path

_here, _root = Path(__file__).resolve().parent, Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a file (``accelerate launch training/sft.py``): Python put this file's
    # folder first on sys.path, which would make training/data.py importable as a top-level ``data``; the
    # repository's root (our packages) takes its place
    if sys.path and Path(sys.path[0] or ".").resolve() == _here:
        sys.path[0] = str(_root)
    else:
        sys.path.insert(0, str(_root))
elif __name__ == "__main__" and sys.path and not getattr(sys.flags, "safe_path", False) \
        and Path(sys.path[0] or ".").resolve() == Path.cwd().resolve() != _root:
    # ``python -m training.sft`` (``accelerate launch -m training.sft``) put the working directory first on
    # sys.path: off it goes before any other package of ours is looked up (a same-named folder there would win)
    del sys.path[0]

from training.quiet import quiet_dependency_notices

quiet_dependency_notices()  # before bitsandbytes is imported (by transformers, trl, peft): one harmless notice

import os
import time

import torch
import transformers
import trl
from transformers import EarlyStoppingCallback
from trl import get_peft_config

from cards.model_card import TrainingRecord, write_model_card
from core.errors import ConfigError
from training import hardware
from training.curves import use_portable_tensorboard
from training.data import COLUMNS, load_training_data, longest_example_chars
from training.model import build_gpt2, load_pretrained
from training.publish import check_output_dir, publish_model
from training.recipe import Recipe, check_sources, one_line, parse_recipe, validate
from training.resume import resolve_resume
from training.tokenizer import SPECIALS, build_char_tokenizer, dataset_charset, mark_portable
from training.trainer import SFTTrainer


def train(recipe: Recipe, objective: Objective | None = None) -> dict:
    """Run the recipe; returns a summary (steps, losses, output folder, where it was published). ``objective``: what
    it trains for (default :class:`Objective`, supervised fine-tuning)."""
    objective = objective or Objective()
    validate(recipe, data=False, hub=False, model=False)  # every field first, the objective's too,
    objective.validate(recipe)
    check_sources(recipe)  # then the dataset and model they name (folders, the local hub, the Hub)
    t, m, run = recipe.training, recipe.model, recipe.run
    if run.publish:  # a folder holding other files than a model's is refused now, not after the run

        check_output_dir(t.output_dir)
    resume = resolve_resume(t.resume_from_checkpoint, t.output_dir)
    data = load_training_data(recipe.data, objective.columns)
    if run.early_stopping_patience is not None and data.eval is None:
        raise ConfigError("early_stopping_patience", "needs a held-out split: the dataset has no validation split")
    model, tokenizer, base, tokenizer_note = _model_and_tokenizer(recipe, data)
    objective.prepare(recipe, data, model, tokenizer)
    peft_config = get_peft_config(m)
    callbacks = []
    if run.early_stopping_patience is not None:
        callbacks.append(EarlyStoppingCallback(run.early_stopping_patience, run.early_stopping_threshold))
    # Publishing goes through publishing.targets (one immutable, tagged version per run), not the Trainer's own
    # per-checkpoint uploads.
    push, t.push_to_hub = t.push_to_hub, False

    trainer = objective.trainer(recipe, model, tokenizer, data, peft_config, callbacks)
    use_portable_tensorboard(trainer)  # its event files are published: no machine paths in them
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    eval_metrics = trainer.evaluate() if data.eval is not None else {}
    trainer.save_model(t.output_dir)
    trainer.save_metrics("train", {**result.metrics, **eval_metrics})
    if not m.model_name_or_path and trainer.is_world_process_zero():
        mark_portable(t.output_dir)

    summary = {
        "output_dir": t.output_dir,
        "global_step": trainer.state.global_step,
        "resumed_from": Path(resume).name if resume else None,
        "first_loss": _logged(trainer, "loss", first=True),
        "train_loss": _logged(trainer, "loss"),
        "eval_loss": eval_metrics.get("eval_loss"),
        "trainable_parameters": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
        "total_parameters": sum(p.numel() for p in trainer.model.parameters()),
        "optimizer": _optimizer_name(trainer),
        **objective.figures(trainer),
        "published": None,
    }
    if trainer.is_world_process_zero():
        record = _record(recipe, trainer, data, base, tokenizer_note, peft_config, result, eval_metrics, resume)
        summary["published"] = _write_card_and_publish(recipe, objective.record(record, summary), push)
        print(objective.summary_line(recipe, summary, time.perf_counter() - started), flush=True)
    trainer.accelerator.wait_for_everyone()
    trainer.end()
    return summary


class Objective:
    """What a run trains for: supervised fine-tuning (TRL's ``SFTTrainer`` on prompt-completion rows).

    Another entry point subclasses it and replaces the pieces that differ (``training/grpo.py``: GRPO with the task
    scorer's reward); :func:`train` does the rest the same for both (data, model, resuming, saving, card,
    publishing)."""

    name = "sft"
    columns = COLUMNS  # the columns of the data it trains on (or a function of a split's columns naming them)
    trainer_class = SFTTrainer  # TRL's trainer (training/trainer.py's, without per-step host syncs)

    def validate(self, recipe: Recipe, here: bool = True) -> None:
        """Checks of its own fields, after :func:`validate` (nothing here); ``here=False`` leaves out what depends
        on this machine (a sweep file is checked where it is written, perhaps not where it trains)."""

    def prepare(self, recipe: Recipe, data, model, tokenizer) -> None:
        """Checks and changes that need the data and the model (nothing here)."""

    def trainer_arguments(self) -> dict:
        """What its trainer takes besides the model, data, tokenizer, config, LoRA and callbacks (nothing here)."""
        return {}

    def trainer(self, recipe: Recipe, model, tokenizer, data, peft_config, callbacks):
        return self.trainer_class(
            model=model,
            args=recipe.training,
            train_dataset=data.train,
            eval_dataset=data.eval,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=callbacks,
            **self.trainer_arguments(),
        )

    def figures(self, trainer) -> dict:
        """What the run's summary adds to the losses (nothing here)."""
        return {}

    def record(self, record: TrainingRecord, summary: dict) -> TrainingRecord:
        """The model card's record, with what this objective adds (as it is here)."""
        return record

    def summary_line(self, recipe: Recipe, summary: dict, seconds: float) -> str:
        return _summary_line(recipe, summary, seconds)


def _model_and_tokenizer(recipe: Recipe, data):
    """(model, tokenizer, base-model provenance or None, tokenizer note for the card)."""
    t, m, s = recipe.training, recipe.model, recipe.scratch
    if m.model_name_or_path:
        model, tokenizer, base = load_pretrained(m, t)
        return model, tokenizer, base, None
    n_positions = s.n_positions or t.max_length
    if not n_positions:
        raise ConfigError("n_positions", "a from-scratch model needs n_positions or max_length")
    if t.max_length is not None and t.max_length > n_positions:
        raise ConfigError("max_length", f"{t.max_length} is longer than the model's n_positions ({n_positions})")
    limit = min(t.max_length or n_positions, n_positions)
    longest = longest_example_chars(data.train) + 1  # + EOS
    if longest > limit:
        raise ConfigError(
            "max_length",
            f"the longest training example is {longest} tokens with its EOS but sequences are cut at {limit}: "
            "completions would be truncated; raise max_length (and n_positions)",
        )
    chars = dataset_charset(data.splits, data.meta)
    tokenizer = build_char_tokenizer(chars, n_positions)
    model = build_gpt2(
        tokenizer,
        n_layer=s.n_layer,
        n_embd=s.n_embd,
        n_head=s.n_head,
        n_positions=n_positions,
        dropout=s.dropout,
        seed=t.seed,
    )
    note = (
        f"char-level, {len(chars)} characters + {len(SPECIALS)} specials ({', '.join(SPECIALS)}); vocabulary "
        f"from the prompt and completion text of every split ({', '.join(data.splits)}) and the alphabets in "
        "datagen.json"
    )
    return model, tokenizer, None, note


def _logged(trainer, key: str, first: bool = False) -> float | None:
    values = [h[key] for h in trainer.state.log_history if key in h]
    return (values[0] if first else values[-1]) if values else None


def _optimizer_name(trainer) -> str:
    """The optimizer class actually stepping (under accelerate's wrapper), e.g. ``bitsandbytes...AdamW8bit``."""
    inner = getattr(trainer.optimizer, "optimizer", trainer.optimizer)
    bits = getattr(getattr(inner, "args", None), "optim_bits", None)  # bitsandbytes optimizers
    return f"{type(inner).__module__}.{type(inner).__name__}" + (f" ({bits}-bit states)" if bits else "")


def _method(recipe: Recipe, peft_config) -> str:
    m, s = recipe.model, recipe.scratch
    if not m.model_name_or_path:
        return f"from scratch: GPT-2, {s.n_layer} layers, {s.n_embd} wide, {s.n_head} heads"
    quant = " on 8-bit weights" if m.load_in_8bit else " on 4-bit weights" if m.load_in_4bit else ""
    if peft_config is not None:
        return f"LoRA (r={m.lora_r}, alpha={m.lora_alpha}){quant}"
    return "full fine-tuning"


def _record(recipe, trainer, data, base, tokenizer_note, peft_config, result, eval_metrics, resume):
    t = recipe.training
    versions = {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__}
    if peft_config is not None:
        # deferred: peft (the [train] extra) only for LoRA runs
        import peft

        versions["peft"] = peft.__version__
    distributed = str(getattr(t.distributed_state.distributed_type, "value", t.distributed_state.distributed_type))
    precision = hardware.precision_name(t)
    if recipe.model.model_name_or_path:
        precision += f", weights loaded as {recipe.model.dtype}"
    if "bnb" in str(getattr(t.optim, "value", t.optim)):
        precision += f", 8-bit optimizer ({getattr(t.optim, 'value', t.optim)})"
    state = trainer.state
    example = data.train[0]["prompt"] if len(data.train) else None
    return TrainingRecord(
        model_name=_model_name(recipe),
        dataset=data.provenance,
        train_split=recipe.data.train_split,
        train_rows=len(data.train),
        eval_split=recipe.data.eval_split,
        eval_rows=len(data.eval) if data.eval is not None else None,
        method=_method(recipe, peft_config),
        hardware=hardware.describe(t.world_size),
        precision=precision,
        world_size=t.world_size,
        distributed=distributed,
        global_steps=state.global_step,
        epochs=float(state.epoch or 0.0),
        runtime_s=float(result.metrics.get("train_runtime", 0.0)),
        resumed_from=Path(resume).name if resume else None,
        train_loss=_logged(trainer, "loss"),
        eval_loss=eval_metrics.get("eval_loss"),
        base_model=(base.get("repo_id") or base.get("folder_name")) if base else None,
        base_model_source=base.get("source", "hub") if base else "hub",
        base_revision=base.get("revision") if base else None,
        tokenizer_note=tokenizer_note,
        recipe_name=recipe.name,
        recipe_yaml=recipe.text,
        overrides=recipe.overrides,
        stopped_early=bool(state.max_steps and state.global_step < state.max_steps),
        example_prompt=example,
        max_new_tokens=min(getattr(t, "max_length", None) or 128, 256),  # GRPOConfig has no max_length
        versions=versions,
        tags=["from-scratch"] if not recipe.model.model_name_or_path else (["lora"] if peft_config else []),
    )


def _model_name(recipe: Recipe) -> str:
    t, run = recipe.training, recipe.run
    return run.model_name or t.hub_model_id or Path(t.output_dir).name


def _write_card_and_publish(recipe: Recipe, record, push: bool) -> str | None:
    t, run = recipe.training, recipe.run
    repo_id = t.hub_model_id if push else _model_name(recipe)
    write_model_card(
        t.output_dir,
        record,
        repo_id=repo_id if push else None,
        version=run.publish_version,
        license=run.license,
    )
    if not run.publish:
        return None
    published = publish_model(
        t.output_dir,
        repo_id,
        hub=push,
        version=run.publish_version,
        private=bool(t.hub_private_repo),
        token=t.hub_token,
    )
    return f"{published.target}:{published.repo_id}@{published.version}"


def _summary_line(recipe: Recipe, summary: dict, seconds: float) -> str:
    def fmt(x):
        return "n/a" if x is None else f"{x:.4f}"

    where = f", published {summary['published']}" if summary["published"] else ""
    resumed = f" (resumed from {summary['resumed_from']})" if summary["resumed_from"] else ""
    return (
        f"trained {_model_name(recipe)}: {summary['global_step']} steps{resumed} in {seconds:.1f} s, loss "
        f"{fmt(summary['first_loss'])} -> {fmt(summary['train_loss'])}, eval loss {fmt(summary['eval_loss'])}; "
        f"saved to {recipe.training.output_dir}{where}"
    )


def main(argv: list[str] | None = None) -> dict:
    """Parse the recipe and train (a user error raises :class:`ConfigError`)."""
    return train(parse_recipe(argv))


def run_command(argv: list[str] | None = None, main=main) -> int:
    """The command (``main``: this module's, or another entry point's): train, or print a user error as one line
    and return 2. Under ``accelerate launch`` every process checks the recipe and fails alike: only each machine's
    first process prints the line."""
    try:
        main(argv)
    except ConfigError as exc:
        if os.environ.get("LOCAL_RANK", "0") == "0":
            print(f"error: {one_line(str(exc))}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(run_command())
