"""Loading a model and its tokenizer for evaluation, from a folder, the local hub or the Hub.

The source is found by :func:`publishing.resolve.resolve` (``repo_type="model"``), so the rules are those of the
rest of the toolkit: a folder wins over a local-hub name, which wins over a Hub id; ``local:`` / ``hub:``
prefixes force one. Every failure a user can cause (no such folder, a folder without a model, a Hub repo or
revision that cannot be fetched, a tokenizer that cannot write the dataset's characters) is a
:class:`~core.errors.ConfigError` naming what is at fault.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import ConfigError
from publishing.loading import resolve_splits
from publishing.resolve import Resolved, resolve
from training.model import context_length  # noqa: F401 - re-exported: eval.rewrite plans decoding with it
from training.tokenizer import unencodable_characters

MODEL_FILES = ("config.json", "adapter_config.json")


@dataclass
class LoadedModel:
    model: object  # a transformers causal LM, in eval mode, on ``device``
    tokenizer: object
    resolved: Resolved
    device: str

    @property
    def name(self) -> str:
        """A short name for tables and cards: the repo id, else the folder name."""
        r = self.resolved
        return r.repo_id or (r.path.name if r.path is not None else r.source)

    def describe(self) -> dict:
        """Provenance for results and cards (never a machine path: a folder is named by its last part)."""
        out = {"name": self.name, **self.resolved.describe()}
        out.pop("fingerprint", None)  # a dataset notion
        return out


def pick_device(device: str | None = None) -> str:
    """``device`` if given, else ``cuda`` when available, else ``cpu``."""
    # deferred: torch (the [train] extra) is only needed once a model runs
    import torch

    if device and device != "auto":
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError("device", f"{device} requested but CUDA is not available here (use cpu or auto)")
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(source: str, revision: str | None = None, device: str | None = None, dtype: str = "auto") -> LoadedModel:
    """Load the causal LM and tokenizer at ``source`` (see the module docstring) onto ``device``.

    A folder holding a peft adapter (``adapter_config.json``) is loaded with its base model. ``dtype`` is
    ``auto`` (the checkpoint's) or a torch dtype name such as ``bfloat16``.
    """
    # deferred: torch (the [train] extra) is only needed once a model runs
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = pick_device(device)
    r = resolve(source, revision, repo_type="model")
    if r.path is not None and not any((r.path / f).exists() for f in MODEL_FILES):
        raise ConfigError("model", f"{r.path.name}: not a model folder (no {' or '.join(MODEL_FILES)})")
    hub_revision = r.revision if r.kind == "hub" else None
    kwargs = {"revision": hub_revision, "dtype": dtype if dtype == "auto" else getattr(torch, dtype)}
    try:
        tokenizer = AutoTokenizer.from_pretrained(r.load_target, revision=hub_revision)
        if r.path is not None and (r.path / "adapter_config.json").exists():
            # deferred: peft (the [train] extra) only for LoRA runs
            from peft import AutoPeftModelForCausalLM

            model = AutoPeftModelForCausalLM.from_pretrained(r.load_target, **kwargs)
        else:
            model = AutoModelForCausalLM.from_pretrained(r.load_target, **kwargs)
    except (OSError, ValueError) as exc:  # missing files, unknown repo/revision/architecture, no network
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError("model", f"cannot load {source!r}: {first}") from None
    model.to(device)
    model.eval()
    return LoadedModel(model, tokenizer, r, device)


def load_eval_splits(source: str, revision: str | None, splits: list[str] | None):
    """``(DatasetDict, Resolved)``: the splits to score, from a folder, the local hub or the Hub
    (:func:`publishing.loading.resolve_splits`: an empty or damaged parquet file or an unreachable Hub is one
    error naming the dataset)."""
    return resolve_splits(source, revision, splits, field="dataset")


def check_alphabet(tokenizer, texts: Iterable[str], what: str = "dataset") -> None:
    """Refuse (before any decoding) a tokenizer that cannot write every character of ``texts``."""
    bad = unencodable_characters(tokenizer, texts)
    if bad:
        shown = ", ".join(repr(c) for c in bad[:20]) + (f" and {len(bad) - 20} more" if len(bad) > 20 else "")
        raise ConfigError(
            "tokenizer",
            f"cannot encode {len(bad)} character(s) of the {what} (they map to {tokenizer.unk_token!r}): {shown}; "
            f"was the model trained on a dataset with another alphabet?",
        )
