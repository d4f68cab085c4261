"""The dataset card: valid YAML metadata that parses back, a body that can re-make the data, no machine paths."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard

from cards.dataset_card import render_dataset_card, size_category, write_dataset_card
from core.metadata import read_metadata
from publishing.cli import main
from publishing.localhub import LocalHub

SPLITS = ["train", "validation", "test_unseen", "test_seen"]


@pytest.fixture
def folder(tiny_dataset, tmp_path) -> Path:
    out = tmp_path / "some" / "where" / "tiny"
    shutil.copytree(tiny_dataset, out)
    return out


def front_matter(text: str) -> dict:
    m = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    assert m, "the card starts with a YAML block"
    return yaml.safe_load(m.group(1))


def code_block(text: str, lang: str, after: str) -> str:
    m = re.search(re.escape(after) + r".*?```" + lang + r"\n(.*?)\n```", text, re.S)
    assert m, f"no {lang} block after {after!r}"
    return m.group(1)


def test_card_metadata_parses_back(folder):
    meta = read_metadata(folder)
    path = write_dataset_card(folder, meta, repo_id="org/tiny", version="v1.2.0")
    text = path.read_text(encoding="utf-8")

    raw = front_matter(text)  # plain YAML
    data = DatasetCard.load(path).data.to_dict()  # and as huggingface_hub reads it
    assert raw == data
    assert data["license"] == "cc-by-4.0"
    assert data["task_categories"] == ["text-generation"] and data["size_categories"] == ["n<1K"]
    assert {"synthetic", "instruction-diversity", "datagen", "task-rewrite"} <= set(data["tags"])
    assert data["pretty_name"] == meta["name"]
    assert data["datagen"] == {
        "generator_version": meta["generator_version"],
        "seed": meta["seed"],
        "fingerprint": meta["fingerprint"],
        "splits": {s: {"rows": meta["splits"][s]["rows"], "fingerprint": meta["splits"][s]["fingerprint"]} for s in SPLITS},
        "version": "v1.2.0",
    }
    (config,) = data["configs"]
    assert config["config_name"] == "default" and meta["fingerprint"] in config["description"]
    # datasets understands the configs: one per split, matching the shards on disk
    parsed = MetadataConfigs.from_dataset_card_data(DatasetCard.load(path).data)
    files = parsed["default"]["data_files"]
    assert [f["split"] for f in files] == SPLITS
    for f in files:
        assert sorted(p.relative_to(folder).as_posix() for p in folder.glob(f["path"])) == meta["splits"][f["split"]]["files"]


def test_card_body_records_how_to_remake_and_load(folder):
    meta = read_metadata(folder)
    text = render_dataset_card({**meta, "example": {}}, repo_id="org/tiny", version="v1.2.0").content
    assert yaml.safe_load(code_block(text, "yaml", "## Re-make it")) == meta["config"]
    assert f"| seed | `{meta['seed']}` |" in text and meta["fingerprint"] in text
    assert f"`{meta['generator_version']}`" in text
    for split in SPLITS:
        assert meta["splits"][split]["fingerprint"] in text
        assert f"| `{split}` | {meta['report'][split]['rows']} | {meta['report'][split]['distinct_instructions']} |" in text
    assert 'load_dataset("org/tiny", revision="v1.2.0")' in text
    assert "datagen verify org/tiny --revision v1.2.0" in text

    written = write_dataset_card(folder, meta).read_text()  # the example record is read from the shards
    example = json.loads(code_block(written, "json", "## Record format"))
    assert set(example) >= {"instruction", "input", "output", "prompt", "completion"}


def test_local_hub_card_says_how_to_load_without_a_path(folder):
    meta = read_metadata(folder)
    text = render_dataset_card({**meta, "example": {}}, repo_id="local/tiny", version="v1.0.0", local=True).content
    assert "datagen pull local/tiny --revision v1.0.0 -o DIR" in text
    assert 'load_dataset("local/tiny"' not in text  # a local hub name is not a Hub id
    assert "datagen verify local/tiny --revision v1.0.0" in text


def test_cards_name_no_machine_path_and_no_token(folder, tiny_dataset, tmp_path, monkeypatch):
    secret = "hf_SecretTokenThatMustNotLeak"
    monkeypatch.setenv("HF_TOKEN", secret)
    meta = read_metadata(folder)
    texts = [
        write_dataset_card(folder, meta).read_text(),
        write_dataset_card(folder, meta, repo_id="org/tiny", version="v1.0.0").read_text(),
        write_dataset_card(folder, meta, repo_id="local/tiny", version="v1.0.0", local=True).read_text(),
    ]
    result = CliRunner().invoke(main, ["push", "--from-folder", str(folder), "--local-name", "tiny", "--quiet"])
    assert result.exit_code == 0, result.output
    published = LocalHub.default().path("local/tiny")
    texts += [(published / "README.md").read_text(), (published / "datagen.json").read_text()]
    forbidden = [secret, str(tmp_path), str(tiny_dataset.parent), str(Path.home()), str(published.parent)]
    for text in texts:
        for bad in forbidden:
            assert bad not in text
        assert not re.search(r"(?<![\w.~<])/(tmp|home|root|work|Users)/", text)


def test_card_states_frequencies_heldout_guarantee_and_family_mix(tmp_path):
    from generators import config_from_dict
    from generators.build import generate

    raw = {"name": "skewed", "instructions": 400, "budget": 2000, "input_len": 20,
           "distribution": {"kind": "power_law", "alpha": 0.1},
           "space": {"alphabet": "abcdef", "x_len": 6, "y_len": 2, "structures": ["repeated", "periodic"], "k": [3, 6]},
           "test_space": {"alphabet": "abcdef", "x_len": 6, "y_len": 2, "structures": ["repeated", "periodic"], "k": 2},
           "splits": {"test_unseen": {"instructions": 20, "examples": 40, "novel_patterns": "test_space"},
                      "test_seen": {"examples": 100}, "validation": {"examples": 100}}}
    meta = generate(config_from_dict(raw), tmp_path / "d", progress=False)
    text = (tmp_path / "d" / "README.md").read_text()
    r = meta["report"]["train"]
    assert r["instructions_without_examples"] > 0
    assert f"{r['distinct_instructions']} have at least one example" in text
    assert f"is {r['effective_instructions']:.1f}." in text  # effective instructions, train split
    assert "f(w) = alpha * w^(alpha - 1)" in text and "largest-remainder" in text
    assert "stays in the pool" in text and "neither `validation` nor `test_seen` uses it" in text
    assert "Validation and test_seen share no prompt" in text
    assert f"validation: {meta['heldout']['validation']['rows']} rows" in text
    assert "Family mix" in text and "counts once" in text
    assert "`novel_patterns: test_space`" in text and "checked" in text
    assert f"none of the 20 unseen-test rules is among the {meta['disjointness']['train_rules']} training rules" in text
    # which (family, k) classes the draw used and which lie wholly in the test space: at length 6, repeated k = 4
    # (aaaabb) and k = 6 (aaaaaa) repeat their characters in pairs, so they lie inside repeated k = 2
    assert meta["patterns"]["train_classes_within_test_space"] == ["repeated k=4", "repeated k=6"]
    assert "wholly inside it (never drawn): repeated k=4, repeated k=6." in text
    assert "Occurrences of the pattern in each op input" in text and "`test_unseen` 1;" in text


def test_card_says_how_often_test_inputs_hold_the_pattern_and_how_to_remake_the_version(tmp_path):
    from generators import config_from_dict
    from generators.build import generate

    raw = {"name": "occ", "instructions": 20, "budget": 200, "input_len": 100, "occurrences": [1, 5],
           "space": {"alphabet": "abcdefghij", "x_len": 4, "y_len": 3},
           "splits": {"test_unseen": {"instructions": 5, "examples": 40}, "test_seen": {"examples": 20},
                      "validation": {"examples": 20}}}
    meta = generate(config_from_dict(raw), tmp_path / "d", progress=False)
    text = (tmp_path / "d" / "README.md").read_text()
    assert meta["occurrences"] == {"train": [1, 5], "validation": [1, 5], "test_unseen": list(range(1, 21)),
                                   "test_seen": list(range(1, 21))}
    assert "`train` 1, 5; `validation` 1, 5; `test_unseen` 1 to 20; `test_seen` 1 to 20." in text
    assert f"--generator-version {meta['generator_version']} -o out/" in text
    assert "they start at 1000000000000, whatever the number of training instructions" in text


@pytest.mark.parametrize(
    ("rows", "label"), [(0, "n<1K"), (999, "n<1K"), (1_000, "1K<n<10K"), (99_999, "10K<n<100K"), (10**6, "1M<n<10M")]
)
def test_size_category(rows, label):
    assert size_category(rows) == label
