"""Dataset cards of instruction mixtures: the README.md of a mixture folder (``datagen generate`` of a mixture config) (``huggingface_hub.DatasetCard``).

The YAML header declares the ``configs`` (so ``datasets.load_dataset`` finds the split), the license, task
categories, tags and size category; the body records the per-source counts, what deduplication and
decontamination removed (and which benchmarks were not checked), the diversity report and the config.
Local source paths appear by file name only (as in ``datagen.json``).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from huggingface_hub import DatasetCard, DatasetCardData

from cards.dataset_card import content_configs, first_rows, load_section, size_category

TEMPLATE = Path(__file__).parent / "templates" / "mixture_card.md"


def source_where(origin: dict) -> str:
    """How a card names where a source came from (a Hub id with revision and commit, or a local file)."""
    if origin.get("kind") == "hub":
        rev = f" @ `{origin['revision']}`" if origin.get("revision") else ""
        commit = f" (commit `{origin['commit'][:12]}`)" if origin.get("commit") else ""
        subset = f", subset `{origin['subset']}`" if origin.get("subset") else ""
        return f"[`{origin['id']}`](https://huggingface.co/datasets/{origin['id']}){rev}{commit}{subset}, split `{origin['split']}`"
    return f"local {origin.get('kind', 'file')} `{origin.get('name')}`, split `{origin.get('split')}`"


def card_sources(meta: dict) -> list[dict]:
    """Each source of a mixture's or pool's ``datagen.json`` as its card shows it: where it came from and how many
    of its rows decontamination removed."""
    return [{**s, "where": source_where(s["origin"]), "contaminated": sum(s["removed"]["contaminated"].values())}
            for s in meta["sources"]]


def real_card_data(meta: dict, rows: int, tags: list[str], license: str | None, version: str | None) -> DatasetCardData:
    """The YAML header of a card of real data (a mixture or a pool): license, task, size, tags, the ``configs``
    that ``load_dataset`` reads, and the datagen identity (version, seed, fingerprint)."""
    card_data = DatasetCardData(
        license=license or meta["config"].get("license", "other"),
        task_categories=["text-generation"],
        language=["en"],
        size_categories=[size_category(rows)],
        pretty_name=meta["name"],
        tags=["instruction-diversity", "datagen", *tags],
    )
    card_data["configs"] = content_configs(meta)
    card_data["datagen"] = {"generator_version": meta["generator_version"], "seed": meta["seed"],
                            "fingerprint": meta["fingerprint"]}
    if version:
        card_data["datagen"]["version"] = version
    return card_data


def render_mixture_card(
    meta: dict,
    *,
    repo_id: str | None = None,
    version: str | None = None,
    license: str | None = None,
    local: bool = False,
) -> DatasetCard:
    """Render the card of a mixture from its ``datagen.json`` metadata (``repo_id``, ``version``, ``local``: where
    it is published, as for :func:`cards.dataset_card.render_dataset_card`)."""
    rows = meta["splits"]["train"]["rows"]
    card_data = real_card_data(meta, rows, ["task-mixture", "code"], license, version)
    sources = card_sources(meta)
    report = meta["report"]["train"]
    example = meta.get("example", {}).get("train") or {}
    return DatasetCard.from_template(
        card_data,
        template_str=TEMPLATE.read_text(encoding="utf-8"),
        pretty_name=meta["name"],
        rows=rows,
        sources=sources,
        generator_version=meta["generator_version"],
        package_version=meta.get("package_version", "?"),
        seed=meta["seed"],
        fingerprint=meta["fingerprint"],
        version=version,
        dedup=meta["dedup"],
        decontamination=meta["decontamination"],
        report=report,
        semantic=report["semantic"],
        load_it=load_section(repo_id, version, local),
        example=json.dumps(example, indent=2, ensure_ascii=False),
        config_yaml=yaml.safe_dump(meta["config"], sort_keys=False, allow_unicode=True).rstrip(),
    )


def write_mixture_card(folder: str | Path, meta: dict, **kwargs) -> Path:
    """Write README.md (the card) into a mixture folder; returns its path."""
    return save_card(render_mixture_card, folder, meta, **kwargs)


def save_card(render, folder: str | Path, meta: dict, **kwargs) -> Path:
    """Write ``render(meta, **kwargs)`` as ``folder/README.md`` (with the first row of each split as an example,
    unless the metadata holds one); returns its path."""
    folder = Path(folder)
    if "example" not in meta:
        meta = {**meta, "example": first_rows(folder, meta)}
    path = folder / "README.md"
    render(meta, **kwargs).save(path)
    return path
