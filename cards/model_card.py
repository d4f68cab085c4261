"""Model cards: the README.md of a trained model, rendered with ``huggingface_hub.ModelCard``.

The YAML header is standard Hub card data (``model_name``, ``base_model`` when there is one, ``datasets``,
``tags``, ``library_name: transformers``, ``pipeline_tag: text-generation``) plus ``training_data`` (dataset,
revision, fingerprint) for tools. The body says how to use the model and records the training run: dataset
repo + revision + content fingerprint, splits, the recipe YAML and its command-line overrides, hardware,
precision, world size, steps, time and the final train / eval losses. It has no evaluation section: evaluation
adds its scores to ``model-index`` and a results section of its own (``cards/eval_card.py``).

Machine paths never reach a card: absolute paths in the recipe or overrides are cut to their last component.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

TEMPLATE = Path(__file__).parent / "templates" / "model_card.md"
# An absolute path: its folders (a folder name may hold single spaces, as in ``/home/John Smith/``), then the
# last component (kept). Relative paths and URLs do not match.
_ABS_PATH = re.compile(
    r"(?<![\w.:/~-])(?:~|[A-Za-z]:)?"
    r"(?:[/\\][^\s'\"/\\]+(?: [^\s'\"/\\]+)*(?=[/\\]))+"
    r"[/\\]([^\s'\"/\\]+)"
)


@dataclass
class TrainingRecord:
    """What a training run tells its model card."""

    model_name: str
    dataset: dict  # publishing.resolve.Resolved.describe(): source, repo_id, revision, fingerprint[, folder_name]
    train_split: str
    train_rows: int
    method: str  # e.g. "from scratch: GPT-2, 6 layers, 256 wide, 4 heads" or "LoRA (r=256, alpha=256)"
    hardware: str
    precision: str
    world_size: int
    distributed: str
    global_steps: int
    epochs: float
    runtime_s: float
    train_loss: float | None = None
    eval_loss: float | None = None
    eval_split: str | None = None
    eval_rows: int | None = None
    base_model: str | None = None  # Hub id, local hub name or folder name of the pretrained model
    base_model_source: str = "hub"  # "hub" | "local" | "folder" (only Hub ids go into the metadata)
    base_revision: str | None = None
    tokenizer_note: str | None = None
    recipe_name: str | None = None
    recipe_yaml: str = ""
    overrides: list[str] = field(default_factory=list)
    stopped_early: bool = False
    resumed_from: str | None = None  # the checkpoint this session continued from (its time is this session's)
    example_prompt: str | None = None
    max_new_tokens: int = 128
    versions: dict = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    objective: str = "sft"  # "sft" (training/sft.py) or "grpo" (training/grpo.py: reinforcement learning)
    reward: str | None = None  # GRPO: how a completion is rewarded
    mean_reward: tuple[float | None, float | None] | None = None  # GRPO: the first and last logged mean reward


def redact_paths(text: str) -> str:
    """Replace absolute paths (``/home/me/runs/x``) with ``.../x``, keeping relative paths and URLs."""
    return _ABS_PATH.sub(lambda m: f".../{m.group(1)}", text)


# A setting that holds a secret: its name contains one of these words (any case), e.g. ``hub_token``,
# ``wandb_api_key``, ``db_password``, ``aws_secret_access_key``, ``credentials``, ``auth_header``, ``openai_key``.
_SECRET_NAME = r"[\w-]*(?:token(?!iz|s)|secret|passw(?:or)?d|credential|auth(?!or)|api[_-]?key|(?<![a-z])key(?![a-z]))[\w-]*"
_SECRET_OPTION = re.compile(rf"--{_SECRET_NAME}", re.IGNORECASE)
_SECRET_ARG = re.compile(rf"(--{_SECRET_NAME})(=|\s+)(\S+)", re.IGNORECASE)
_SECRET_YAML = re.compile(rf"^([ \t]*(?:-[ \t]+)?[\"']?{_SECRET_NAME}[\"']?[ \t]*:[ \t]*)(\S.*)$", re.IGNORECASE | re.MULTILINE)
_HF_TOKEN = re.compile(r"hf_[A-Za-z0-9]{20,}")


def redact_secrets(text: str) -> str:
    """Mask secrets: values of any ``--<secret name>`` option or ``<secret name>:`` key (see ``_SECRET_NAME``),
    and anything shaped like a Hub token."""
    text = _SECRET_ARG.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    text = _SECRET_YAML.sub(lambda m: f"{m.group(1)}***", text)
    return _HF_TOKEN.sub("hf_***", text)


def redact(text: str) -> str:
    """What a card may show of user-given text: no machine paths, no secrets."""
    return redact_secrets(redact_paths(text))


def redact_args(args: list[str]) -> str:
    """Command-line arguments as a card may show them, one argument at a time (an argument may hold spaces): the
    value of a secret option (``--hub_token VALUE`` or ``--hub_token=VALUE``) masked, the others redacted."""
    out = []
    for i, arg in enumerate(args):
        option, eq, _ = arg.partition("=")
        if i and _SECRET_OPTION.fullmatch(args[i - 1]) and not arg.startswith("--"):
            out.append("***")
        elif eq and _SECRET_OPTION.fullmatch(option):
            out.append(f"{option}=***")
        else:
            out.append(redact(arg))
    return " ".join(out)


def hub_id(source: str | None, repo_id: str | None) -> str | None:
    """``repo_id`` when it names a Hub repository: a Hub source, or a local hub copy of an ``org/name`` repo.

    Bare local names and the ``local/`` namespace exist on this machine only, and folders have no id: the card
    metadata (which the Hub links and validates) leaves them out; the body still names them.
    """
    if not repo_id:
        return None
    if source == "hub" or (source == "local" and "/" in repo_id and not repo_id.startswith("local/")):
        return repo_id
    return None


def dataset_label(dataset: dict) -> str:
    """How the card names the training data: Hub id, local hub name, or a folder's name."""
    if dataset.get("source") == "hub":
        return f"[`{dataset['repo_id']}`](https://huggingface.co/datasets/{dataset['repo_id']}) (Hugging Face Hub)"
    if dataset.get("source") == "local":
        return f"`{dataset['repo_id']}` (local hub)"
    return f"folder `{dataset.get('folder_name') or '?'}`"


def render_model_card(
    record: TrainingRecord,
    *,
    repo_id: str | None = None,
    version: str | None = None,
    license: str | None = None,
) -> ModelCard:
    """The card of a trained model (``repo_id``/``version``: where it is published, for the usage snippet)."""
    ds = record.dataset
    tags = ["instruction-diversity", "trl", record.objective, *record.tags]
    card_data = ModelCardData(
        model_name=record.model_name,
        base_model=hub_id(record.base_model_source, record.base_model),
        datasets=[d] if (d := hub_id(ds.get("source"), ds.get("repo_id"))) else None,
        tags=list(dict.fromkeys(tags)),
        library_name="transformers",
        pipeline_tag="text-generation",
        license=license,
    )
    card_data["training_data"] = {
        "dataset": ds.get("repo_id") or ds.get("folder_name"),
        "source": ds.get("source"),
        "revision": ds.get("revision"),
        "fingerprint": ds.get("fingerprint"),
    }
    overrides = redact_args(record.overrides)
    return ModelCard.from_template(
        card_data,
        template_str=TEMPLATE.read_text(encoding="utf-8"),
        model_name=record.model_name,
        summary=_summary(record),
        load_id=repo_id or "path/to/this/folder",
        version=version,
        example_prompt=repr(record.example_prompt) if record.example_prompt else None,
        max_new_tokens=record.max_new_tokens,
        method=record.method,
        base_model=record.base_model,
        base_revision=record.base_revision,
        dataset_line=dataset_label(ds),
        dataset_revision=f"`{ds['revision']}`" if ds.get("revision") else "not recorded (a folder)",
        dataset_fingerprint=f"`{ds['fingerprint']}`" if ds.get("fingerprint") else "not recorded (no datagen.json)",
        train_split=record.train_split,
        train_rows=record.train_rows,
        eval_split=record.eval_split,
        eval_rows=record.eval_rows,
        tokenizer_note=record.tokenizer_note,
        hardware=record.hardware,
        world_size=record.world_size,
        distributed=record.distributed,
        precision=record.precision,
        global_steps=record.global_steps,
        epochs=f"{record.epochs:.2f}",
        stopped_early=record.stopped_early,
        runtime=_duration(record.runtime_s),
        resumed_from=record.resumed_from,
        train_loss=_loss(record.train_loss),
        eval_loss=_loss(record.eval_loss),
        versions=", ".join(f"{k} {v}" for k, v in record.versions.items()) or "not recorded",
        recipe_name=record.recipe_name,
        script=OBJECTIVES[record.objective][0],
        trainer_class=OBJECTIVES[record.objective][1],
        grpo=record.objective == "grpo",
        reward=record.reward,
        mean_reward=" -> ".join(_loss(r) for r in record.mean_reward) if record.mean_reward else None,
        overrides=overrides,
        recipe_yaml=redact(record.recipe_yaml.rstrip()) or "# (no recipe file: every field from the command line)",
    )


def write_model_card(folder: str | Path, record: TrainingRecord, **kwargs) -> Path:
    """Write README.md (the card) into a model folder; returns its path."""
    path = Path(folder) / "README.md"
    render_model_card(record, **kwargs).save(path)
    return path


#: What each objective's card names: the entry point, TRL's trainer class, and how the summary calls it.
OBJECTIVES = {
    "sft": ("training/sft.py", "SFTTrainer", "supervised fine-tuning"),
    "grpo": ("training/grpo.py", "GRPOTrainer", "reinforcement learning (GRPO, verifiable rewards)"),
}


def _summary(record: TrainingRecord) -> str:
    base = f"`{record.base_model}` fine-tuned" if record.base_model else "A model trained from scratch"
    return f"{base} on {dataset_label(record.dataset)} with {OBJECTIVES[record.objective][2]} ({record.method})."


def _loss(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {sec:02d} s"
