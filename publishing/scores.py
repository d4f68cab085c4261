"""Pushing evaluation scores back into the card of the model they score, where the model came from.

- a folder (e.g. a training output): its ``README.md`` is rewritten;
- the local hub: the ``README.md`` of that version folder is rewritten in place. Versions are immutable, but a
  card is not content (:func:`publishing.targets.content_id` ignores README.md), so the version stays the same
  version;
- the Hub: the card on ``main`` is loaded at its current commit, updated, and pushed with
  ``ModelCard.push_to_hub(parent_commit=...)`` (one commit holding metadata and body; the Hub validates the
  metadata; a concurrent change to the card makes the push fail rather than be overwritten). Version tags keep
  pointing at the commit they were made on: the row in the table records which model revision was evaluated.

What goes into the card is rendered by :mod:`cards.eval_card`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import huggingface_hub
from huggingface_hub import ModelCard
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, RepositoryNotFoundError

from cards.eval_card import empty_card, load_card, update_card, update_card_with_loss, write_card
from core.errors import ConfigError


def push_results(resolved, results: dict, *, token: str | None = None, images: Sequence[dict] | None = None) -> str:
    """Write ``results`` into the card of the model at ``resolved`` (see the module docstring); where it went."""
    splits = ", ".join(results["splits"])
    return push_card(
        resolved,
        lambda card: update_card(card, results, images=images),
        f"Evaluation results on {results['dataset']['name']} ({splits})",
        token=token,
    )


def push_loss_results(resolved, results: dict, *, token: str | None = None) -> str:
    """Write ``diveval loss`` results into the card of the model at ``resolved``; where it went."""
    return push_card(resolved, lambda card: update_card_with_loss(card, results),
                     f"Held-out loss on {results['dataset']['name']} ({', '.join(results['splits'])})", token=token)


def push_card(resolved, mutate, message: str, *, token: str | None = None) -> str:
    """Load the card of the model at ``resolved``, apply ``mutate(card)``, write it back; where it went.

    Folder and local-hub cards are rewritten in place; on the Hub the card on ``main`` is updated in one commit
    (see the module docstring).
    """
    if resolved.kind in ("folder", "local"):
        readme = Path(resolved.path) / "README.md"
        write_card(mutate(load_card(readme)), readme)
        if resolved.kind == "local":
            return f"local hub model {resolved.repo_id} {resolved.revision} (README.md)"
        return f"{str(resolved.source).rstrip('/')}/README.md"  # the folder as the user named it
    return _push_hub(resolved.repo_id, mutate, message, token=token)


def _push_hub(repo_id: str, mutate, message: str, *, token: str | None) -> str:
    api = huggingface_hub.HfApi(token=token)
    try:
        head = api.model_info(repo_id, revision="main").sha
    except RepositoryNotFoundError:
        raise ConfigError("model", f"no model repository {repo_id!r} on the Hub (or no access to it)") from None
    except HfHubHTTPError as exc:
        raise ConfigError("model", f"cannot reach {repo_id!r} on the Hub: {exc}") from None
    try:
        card = ModelCard.load(huggingface_hub.hf_hub_download(repo_id, "README.md", revision=head, token=token))
    except EntryNotFoundError:
        card = empty_card(repo_id.split("/")[-1])
    card = mutate(card)
    card.push_to_hub(repo_id, token=token, repo_type="model", commit_message=message, parent_commit=head)
    return f"Hub model {repo_id} (README.md on main)"
