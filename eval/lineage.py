"""Evaluation lineage: which data a model was trained on, and whether it is the data being scored.

Training writes the training data into the model card's metadata (``training_data``: dataset, source, revision,
content fingerprint; :mod:`cards.model_card`). From it:

- :func:`card_training_data` reads that entry from a model folder, a local hub version or a Hub repo;
- :func:`locate` turns it back into a dataset source (a Hub id, a local hub name, or, for a folder, a folder of
  that name beside the model or in the working directory whose fingerprint is the recorded one);
- :func:`training_for` compares it with the evaluation data (by fingerprint, else by repository and revision)
  and loads the training data's metadata and ``train`` split: the diversity knobs (I, S, alpha) of a result and
  its seen-accuracy-by-training-frequency breakdown always come from the training data, never from the
  evaluation data. When the training data is unknown or cannot be found they are recorded as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from huggingface_hub import ModelCard, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

from core.errors import ConfigError
from core.metadata import read_metadata
from publishing.loading import resolve_splits

MATCHES = ("same", "different", "unknown")


@dataclass
class TrainingData:
    """What is known of the data a model was trained on, relative to the data being scored."""

    card: dict | None  # the card's training_data entry: {dataset, source, revision, fingerprint}
    match: str  # "same" (it is the evaluation data), "different", "unknown" (cannot tell)
    warning: str | None = None  # printed and recorded when the evaluation data is not known to be the training data
    meta: dict | None = None  # the training data's datagen.json (None: unavailable)
    train: object | None = None  # its train split (a datasets.Dataset; None: unavailable)
    note: str | None = None  # why meta / train are unavailable

    def describe(self) -> dict:
        """The ``training`` entry of a results document (without the diversity knobs, added by eval.results)."""
        return {"data": self.card, "match": self.match, "warning": self.warning, "note": self.note}


def _card_text(resolved) -> str | None:
    if resolved.path is not None:
        readme = Path(resolved.path) / "README.md"
        return readme.read_text(encoding="utf-8") if readme.is_file() else None

    try:
        local = hf_hub_download(resolved.repo_id, "README.md", repo_type="model", revision=resolved.revision)
    except (EntryNotFoundError, HfHubHTTPError, OSError, ValueError):
        return None
    return Path(local).read_text(encoding="utf-8")


def card_training_data(resolved) -> dict | None:
    """The ``training_data`` entry of the card of the model at ``resolved`` (None when there is none)."""
    text = _card_text(resolved)
    if not text:
        return None
    try:
        data = ModelCard(text, ignore_metadata_errors=True).data.to_dict()
    except Exception:  # noqa: BLE001  (a card that does not parse names no training data)
        return None
    entry = data.get("training_data")
    if not isinstance(entry, dict) or not entry.get("dataset"):
        return None
    return {k: entry.get(k) for k in ("dataset", "source", "revision", "fingerprint")}


def label(card: dict) -> str:
    """How messages name the training data of a card entry."""
    rev = f"@{card['revision']}" if card.get("revision") else ""
    fp = f", fingerprint {card['fingerprint'][:12]}" if card.get("fingerprint") else ""
    return f"{card.get('source') or '?'} {card['dataset']}{rev}{fp}"


def _fingerprint(folder: Path) -> str | None:
    try:
        return read_metadata(folder, check=False, missing_ok=True).get("fingerprint")
    except (ConfigError, AttributeError):
        return None


def locate(card: dict, model) -> tuple[str, str | None] | None:
    """A dataset source and revision for a card's training data (None when it cannot be found here).

    A Hub or local hub dataset is named by its id and revision. A folder is named in the card by its last path
    component only (cards never hold machine paths): it is looked for beside the model folder and in the working
    directory, and accepted only when its fingerprint is the recorded one.
    """
    source, name = card.get("source"), card.get("dataset")
    if source == "hub":
        return f"hub:{name}", card.get("revision")
    if source == "local":
        return f"local:{name}", card.get("revision")
    if source != "folder" or not card.get("fingerprint"):
        return None
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name:
        return None  # a single folder name, never a path a card could steer elsewhere
    places = [Path.cwd()]
    if model.kind == "folder" and model.path is not None:
        places.insert(0, Path(model.path).resolve().parent)
    for place in places:
        candidate = place / name
        if candidate.is_dir() and not candidate.is_symlink() and _fingerprint(candidate) == card["fingerprint"]:
            return str(candidate), None
    return None


def compare(card: dict | None, evaluated) -> tuple[str, str | None]:
    """("same" | "different" | "unknown", a warning or None) for a card entry against the evaluation data."""
    here = f"{evaluated.kind} {evaluated.repo_id or (evaluated.path.name if evaluated.path else evaluated.source)}"
    if evaluated.revision:
        here += f"@{evaluated.revision}"
    if card is None:
        return "unknown", (f"the model has no card naming its training data: cannot check that {here} is it; I, S "
                           "and alpha are recorded as unknown")
    ours, theirs = evaluated.fingerprint, card.get("fingerprint")
    if ours and theirs:
        if ours == theirs:
            return "same", None
        return "different", (f"evaluating on {here} (fingerprint {ours[:12]}), not on the training data named in the "
                             f"model card ({label(card)}): a different dataset or version")
    same_repo = card.get("source") in ("hub", "local") and evaluated.repo_id == card.get("dataset")
    if same_repo and card.get("revision") and evaluated.revision == card.get("revision"):
        return "same", None
    if same_repo and card.get("revision") and evaluated.revision != card.get("revision"):
        return "different", (f"evaluating on {here}, not on the revision the model was trained on ({label(card)})")
    return "unknown", (f"cannot check that {here} is the training data named in the model card ({label(card)}): no "
                       "fingerprint to compare")


def training_for(card: dict | None, model, evaluated, splits) -> TrainingData:
    """The training data of the model at ``model`` (a Resolved), compared with ``evaluated`` (the Resolved
    evaluation data, whose splits are ``splits``), with its metadata and train split when they can be had."""
    match, warning = compare(card, evaluated)
    if match == "same":
        return TrainingData(card, match, warning, evaluated.meta or None, splits.get("train") if "train" in splits else None,
                            None if "train" in splits else "the training data has no train split")
    if card is None:
        return TrainingData(card, match, warning, note="the model has no card naming its training data")
    where = locate(card, model)
    if where is None:
        return TrainingData(card, match, warning, note=f"the training data ({label(card)}) was not found here")
    try:
        dd, resolved = resolve_splits(where[0], where[1], ["train"])
    except ConfigError as exc:
        return TrainingData(card, match, warning, note=f"the training data ({label(card)}) cannot be loaded: {exc}")
    if card.get("fingerprint") and resolved.fingerprint != card["fingerprint"]:
        return TrainingData(card, match, warning, note=f"{where[0]} no longer holds the training data ({label(card)}): "
                                                        f"its fingerprint is {str(resolved.fingerprint)[:12]}")
    return TrainingData(card, match, warning, resolved.meta or None, dd["train"])


def train_counts(train) -> dict[int, int]:
    """Training examples per ``instruction_id`` in a train split."""
    counts = pc.value_counts(train.with_format("arrow")["instruction_id"])
    return {int(v["values"]): int(v["counts"]) for v in counts.to_pylist()}


def text_to_id(train) -> dict[str, int]:
    """The training ``instruction_id`` of each instruction text (to match rows of other data by their rule)."""
    table = train.with_format("arrow")[:].select(["instruction_id", "instruction"])
    pairs = pa.Table.from_batches(table.to_batches()).group_by(["instruction", "instruction_id"]).aggregate([])
    return dict(zip(pairs.column("instruction").to_pylist(), pairs.column("instruction_id").to_pylist(), strict=True))
