"""Dataset cards: the README.md of a generated dataset, rendered with ``huggingface_hub.DatasetCard``.

The YAML header declares the ``configs`` (data files per split) so ``datasets.load_dataset`` finds the splits,
plus license, task categories, tags and size category. The body records everything needed to re-make the
data: full config, seed, generator version, content fingerprint, the diversity report, and how to load it.
"""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
import pyarrow.parquet as pq
import yaml
from huggingface_hub import DatasetCard, DatasetCardData

TEMPLATE = Path(__file__).parent / "templates" / "dataset_card.md"
LOAD_TEMPLATE = Path(__file__).parent / "templates" / "load_dataset.md"
DEFAULT_LICENSE = "cc-by-4.0"


def size_category(rows: int) -> str:
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]
    for bound, label in bounds:
        if rows < bound:
            return label
    return "n>1T" if rows >= 10**12 else "1B<n<10B"


def data_files_config(splits: dict[str, dict], description: str | None = None) -> list[dict]:
    """The ``configs:`` entry: one config named ``default`` with a glob per split.

    The ``description`` (a builder-config field) should name the content, e.g. its fingerprint: ``datasets``
    keys its cache of a local folder with such a card by the folder's name and this config alone, so two
    folders with the same name (every local hub version folder is ``vX.Y.Z``) would otherwise share an entry.
    """
    config: dict = {"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}-*"} for s in splits]}
    if description:
        config["description"] = description
    return [config]


def content_configs(meta: dict) -> list[dict]:
    """The ``configs:`` entry of a dataset or mixture folder, described by its name and content fingerprint."""
    return data_files_config(meta["splits"], f"{meta['name']}, datagen fingerprint {meta['fingerprint']}")


def load_section(repo_id: str | None, version: str | None, local: bool = False) -> str:
    """The body of a card's "Load it" section: a Hub id (at ``version``), a local hub version, or a folder."""
    return jinja2.Template(LOAD_TEMPLATE.read_text(encoding="utf-8")).render(
        repo_id=repo_id,
        version=version,
        local=local,
        load_id=repo_id if repo_id and not local else "path/to/this/folder",
    ).strip()


def render_dataset_card(
    meta: dict,
    *,
    repo_id: str | None = None,
    version: str | None = None,
    license: str = DEFAULT_LICENSE,
    local: bool = False,
    task_text: str | None = None,
    task_knobs: str | None = None,
) -> DatasetCard:
    """Render the card of a dataset from its ``datagen.json`` metadata.

    ``repo_id`` and ``version`` say where it is published (``local``: in the embedded local hub rather than on
    the Hub); the card names no machine path. ``task_text`` describes the task (its registry entry's
    ``card_text``: cards know no task family); ``task_knobs``, the task's own sentence on its settings, replaces
    the string tasks' one (lengths and alphabet of ``space``).
    """
    rows = sum(s["rows"] for s in meta["splits"].values())
    tags = ["synthetic", "instruction-diversity", "datagen", f"task-{meta['task']}"]
    if meta.get("cipher"):
        tags.append("encrypted")
    card_data = DatasetCardData(
        license=license,
        task_categories=["text-generation"],
        language=["en"],
        size_categories=[size_category(rows)],
        pretty_name=meta["name"],
        tags=tags,
    )
    card_data["configs"] = content_configs(meta)
    card_data["datagen"] = {
        "generator_version": meta["generator_version"],
        "seed": meta["seed"],
        "fingerprint": meta["fingerprint"],
        "splits": {name: {"rows": s["rows"], "fingerprint": s["fingerprint"]} for name, s in meta["splits"].items()},
    }
    if version:
        card_data["datagen"]["version"] = version
    cfg = meta["config"]
    example_split = "test_unseen" if "test_unseen" in meta["splits"] else "train"
    example = meta.get("example", {}).get(example_split) or {}
    cipher = meta.get("cipher")
    return DatasetCard.from_template(
        card_data,
        template_str=TEMPLATE.read_text(encoding="utf-8"),
        pretty_name=meta["name"],
        description=describe(meta, task_text, task_knobs),
        generator_version=meta["generator_version"],
        package_version=meta.get("package_version", "?"),
        task=meta["task"],
        seed=meta["seed"],
        fingerprint=meta["fingerprint"],
        version=version,
        repo_id=repo_id,
        load_it=load_section(repo_id, version, local),
        n_train_instructions=meta["disjointness"]["train_instructions"],
        n_test_instructions=meta["disjointness"]["test_unseen_instructions"],
        disjoint=disjointness_text(meta["disjointness"]),
        frequencies=frequencies_text(meta),
        patterns=patterns_text(meta.get("patterns")),
        occurrences=occurrences_text(meta.get("occurrences")),
        unseen_id_base=meta.get("test_unseen_first_id"),
        heldout=heldout_text(meta.get("heldout") or {}),
        space_size=meta["instruction_space"]["train_size"],
        space_mode=meta["instruction_space"]["train_mode"],
        cipher=f"{cipher['kind']} (alphabet mapped to `{cipher['image']}`)" if cipher else None,
        splits=meta["splits"],
        report=meta["report"],
        example_split=example_split,
        example=json.dumps(example, indent=2, ensure_ascii=False),
        config_yaml=yaml.safe_dump(cfg, sort_keys=False).rstrip(),
    )


ZERO_COUNTS = (
    "An instruction whose count rounds to zero stays in the pool (its id exists and the report counts it) but has no "
    "training rows, and neither `validation` nor `test_seen` uses it."
)


def disjointness_text(d: dict) -> str:
    if not d.get("checked"):
        return "not checked"
    if d.get("level") == "single rules":
        return f"checked on single rules: none of the {d['test_unseen_rules']} unseen-test rules is among the {d['train_rules']} training rules"
    return "checked, no shared instruction"


def frequencies_text(meta: dict) -> str:
    """How the training examples are spread over the instructions, and what that leaves (train split)."""
    dist = meta["config"]["distribution"]
    train = meta["report"].get("train", {})
    kind = dist["kind"]
    if kind == "uniform":
        how = "uniform: every instruction gets N / I examples (the remainder spread one each)"
    elif kind == "power_law":
        how = (
            f"power law, alpha = {dist['alpha']}: one weight per instruction drawn from f(w) = alpha * w^(alpha - 1) "
            "on (0, 1] (the paper's definition; the weight of instruction i does not depend on I), and counts "
            "proportional to the weights, rounded by the largest-remainder rule to sum to N exactly"
        )
    else:
        how = "explicit weights, counts proportional to them (largest-remainder rounding, summing to N exactly)"
    out = (
        f"Training examples per instruction: {how}. Of the {train.get('instructions_in_pool', '?')} training "
        f"instructions, {train.get('distinct_instructions', '?')} have at least one example; the effective number "
        f"of instructions (exp of the entropy of the count distribution) is {train.get('effective_instructions', 0):.1f}."
    )
    return out + (" " + ZERO_COUNTS if kind != "uniform" else "")


def patterns_text(p: dict | None) -> str | None:
    """What the unseen-test patterns and replacements share with training (and what the options kept out)."""
    if not p:
        return None
    mode = p.get("novel_patterns", "none")
    out = (
        f"Unseen-test patterns: {p['test_patterns']} distinct, {p['test_patterns_in_training']} of them also a training "
        f"rule's pattern; {p['train_patterns_in_test_space']} of the {p['train_patterns']} training patterns lie in a "
        "structured class of the test space."
    )
    if "train_patterns_literal" in p:
        out += (f" {p['train_patterns_literal']} of the {p['train_patterns']} training patterns fit the papers' literal "
                "families (a structure of the space with a k >= 2 of its range that divides the pattern length).")
    if p.get("train_classes_within_test_space"):
        kept = "never drawn" if mode == "test_space" else "drawn all the same (opt-out)"
        out += (f" Pattern classes (family, k) of the training space outside the test space: "
                f"{', '.join(p['train_classes']) or 'none'}; wholly inside it ({kept}): "
                f"{', '.join(p['train_classes_within_test_space'])}.")
    if mode == "test_patterns":
        out += (f" Option `novel_patterns: test_patterns`: the unseen-test patterns were kept out of the training draw "
                f"({p['train_space_patterns_excluded']} training-space patterns excluded; checked).")
    elif mode == "test_space":
        excluded = p.get("train_space_patterns_excluded")
        out += (" Option `novel_patterns: test_space`: no training pattern is an unseen-test pattern or lies in a "
                "structured class of the test space ("
                + (f"{excluded} training-space patterns" if excluded is not None else "an uncounted number of patterns")
                + f" excluded, {p['candidates_refused']} drawn candidates refused; checked).")
    if p.get("test_space_opt_out"):
        out += (f" Opt-out: this config names a test space but sets `novel_patterns: {mode}`, so training patterns may "
                f"lie in it (an unrestricted comparator): {p['train_patterns_in_test_space']} do.")
    if "unseen_rules" in p:
        out += (f" Unseen-test replacements: {p['unseen_rules_with_replacement_in_train']} of the {p['unseen_rules']} "
                f"unseen rules ({100 * p['unseen_replacements_in_train']:.1f}%) have a replacement that a training rule "
                "with examples also has")
        out += ("; option `novel_replacements`: none may (checked)." if p.get("novel_replacements") else ".")
    return out


def occurrences_text(occ: dict | None) -> str | None:
    """How many times op inputs hold their pattern, per split (rewrite task)."""
    if not occ:
        return None

    def counts(v: list[int]) -> str:
        return f"{v[0]} to {v[-1]}" if len(v) > 2 and v == list(range(v[0], v[-1] + 1)) else ", ".join(map(str, v))

    return ("Occurrences of the pattern in each op input (one value drawn per row, uniformly; exact, overlapping "
            "matches counted): " + "; ".join(f"`{name}` {counts(v)}" for name, v in occ.items()) + ".")


def heldout_text(h: dict) -> str | None:
    if not h:
        return None
    parts = ["`validation` (eval loss, early stopping, model selection) and `test_seen` (only scored) hold new rows of "
             "training rules that have at least one training example; `test_*` splits are never used for training "
             "decisions. " + h["guarantee"][0].upper() + h["guarantee"][1:] + "."]
    v, s = h.get("validation"), h.get("test_seen")
    if v:
        parts.append(
            f"validation: {v['rows']} rows of {v['requested']} requested ({v['redrawn']} redrawn, {v['dropped']} dropped), "
            f"{v['rows_matching_train']} with a prompt that is also a training prompt."
        )
    if s:
        parts.append(f"test_seen: {s['rows']} rows, {s['rows_matching_train']} with a prompt that is also a training prompt.")
    return " ".join(parts)


FAMILY_MIX = (
    "Family mix: each pattern is drawn by picking one of the space's pattern classes (distinct index maps of "
    "(structure, k, length); k = 1 is the random class) uniformly, then its free characters uniformly; a pattern "
    "that two classes make counts once, and repeated patterns are dropped, so small classes are used up early."
)


def describe(meta: dict, task_text: str | None = None, task_knobs: str | None = None) -> str:
    """The card's description: the task (``task_text``), then the diversity knobs of the config (``task_knobs``
    in place of the string tasks' lengths and alphabet, when the task gives its own)."""
    cfg = meta["config"]
    n_train = meta["splits"]["train"]["rows"]
    space = cfg["space"]
    what = task_text or f"Task `{meta['task']}`."
    dist = cfg["distribution"]
    dist_text = dist["kind"] + (f" (alpha = {dist['alpha']})" if dist["kind"] == "power_law" else "")
    head = f"{what}\n\n{n_train} training examples over {cfg['instructions']} distinct instructions ({dist_text})"
    if task_knobs is not None:
        return f"{head}. {task_knobs}"
    return (
        f"{head}, no-op fraction {cfg['noop_fraction']}, inputs of {cfg['input_len']} characters, "
        f"patterns of {space['x_len']} and replacements of {space['y_len']} characters over "
        f"`{space['alphabet']}`" + (f", patterns restricted to `{space['x_alphabet']}`" if space.get("x_alphabet") else "")
        + (f", structures {', '.join(space['structures'])} (k = {space['k']}"
           + (", only k dividing the pattern length: the papers' literal families" if space.get("k_rule") == "divides"
              else "") + ")" if space["structures"] != ["random"] else "")
        + "."
        + (f" {FAMILY_MIX}" if space["structures"] != ["random"] else "")
    )


def write_dataset_card(folder: str | Path, meta: dict, **kwargs) -> Path:
    """Write README.md (the card) into a dataset folder; returns its path."""
    folder = Path(folder)
    if "example" not in meta:
        meta = {**meta, "example": first_rows(folder, meta)}
    card = render_dataset_card(meta, **kwargs)
    path = folder / "README.md"
    card.save(path)
    return path


def first_rows(folder: Path, meta: dict) -> dict:
    out = {}
    for split, s in meta["splits"].items():
        if s["files"]:
            pf = pq.ParquetFile(folder / s["files"][0])
            out[split] = pf.read_row_group(0).slice(0, 1).to_pylist()[0] if pf.num_row_groups else {}
    return out
