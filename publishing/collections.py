"""Collections gathering released repos (a dataset repo and its models), on the Hub and in the local hub, idempotently.

- Hub: the owner's collection with the same title is reused (``list_collections``, then
  ``create_collection(exists_ok=True)`` when there is none), each item added once
  (``add_collection_item(exists_ok=True)``) and its note updated (``update_collection_item``) only when it differs;
  re-running with the same items changes nothing.
- Local hub: ``<hub root>/collections/<namespace>/<slug>.json`` (title, description, items with type, id and
  note), written atomically and only when its content changes.

Each publish returns where the collection is and how many changes were made (0: it already held these items).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

from core.atomic import write_text_atomic
from core.documents import read_json
from core.errors import ConfigError
from publishing.hubclient import install, with_retries
from publishing.localhub import LocalHub, _locked, split_repo_id


@dataclass(frozen=True)
class Item:
    type: str  # "dataset" or "model"
    id: str  # repo id
    note: str | None = None


def collection_slug(title: str) -> str:
    """A file-name-safe slug of a title (lower case letters, digits and '-')."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:80]
    if not slug:
        raise ConfigError("collection", f"the title {title!r} has no letter or digit to name it by")
    return slug


def publish_local_collection(hub: LocalHub, namespace: str, title: str, items: list[Item],
                             description: str | None = None) -> tuple[str, int]:
    """Write (or update) the local hub collection; (its file, changes made)."""
    split_repo_id(f"{namespace}/x")  # a namespace that is a name, never a path
    path = hub.root / "collections" / namespace / f"{collection_slug(title)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.parent / ".lock"):
        old = read_json(path) if path.exists() else {"items": []}
        if not isinstance(old, dict) or not isinstance(old.get("items", []), list):
            raise ConfigError(None, f"{path} is damaged: not a collection (a JSON object with a list of items)")
        have = {(i["type"], i["id"]): i for i in old.get("items", [])}
        changes = 0 if path.exists() and old.get("description") == description else 1
        merged = list(old.get("items", []))
        for it in items:
            cur = have.get((it.type, it.id))
            if cur is None:
                merged.append(asdict(it))
                changes += 1
            elif cur.get("note") != it.note:
                cur["note"] = it.note
                changes += 1
        if changes:
            doc = {"title": title, "namespace": namespace, "description": description, "items": merged}
            write_text_atomic(path, json.dumps(doc, indent=2) + "\n")
    return str(path), changes


def local_collections(hub: LocalHub) -> list[dict]:
    """Every local hub collection (with its ``file``), sorted by namespace and slug."""
    base = hub.root / "collections"
    out = []
    for f in sorted(base.glob("*/*.json")) if base.is_dir() else []:
        try:
            doc = read_json(f)
            if not isinstance(doc, dict):
                raise ConfigError(None, f"{f} is not a JSON object")
            out.append({**doc, "file": str(f)})
        except ConfigError as exc:
            out.append({"title": f.stem, "file": str(f), "damaged": str(exc)})
    return out


def publish_hub_collection(api, namespace: str, title: str, items: list[Item], description: str | None = None,
                           private: bool = False) -> tuple[str, int]:
    """Create or reuse the Hub collection titled ``title`` of ``namespace`` and give it ``items``; (its URL,
    changes made). ``api``: an ``HfApi``."""
    install()
    changes = 0
    found = with_retries(lambda: [c for c in api.list_collections(owner=namespace) if c.title == title])
    if found:
        slug = found[0].slug
    else:
        slug = with_retries(lambda: api.create_collection(title, namespace=namespace, description=description,
                                                          private=private, exists_ok=True)).slug
        changes += 1
    coll = with_retries(lambda: api.get_collection(slug))
    have = {(i.item_type, i.item_id): i for i in coll.items}
    for it in items:
        cur = have.get((it.type, it.id))
        if cur is None:
            with_retries(lambda it=it: api.add_collection_item(slug, it.id, it.type, note=it.note, exists_ok=True))
            changes += 1
        elif (cur.note or None) != (it.note or None):
            with_retries(lambda it=it, cur=cur: api.update_collection_item(slug, cur.item_object_id, note=it.note))
            changes += 1
    return coll.url, changes
