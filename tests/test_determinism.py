"""Same config + seed => same rows, same fingerprint, same parquet bytes: across runs and process counts.

The golden fingerprints below pin the generator's output. If one changes, rows changed: bump
GENERATOR_VERSION, keep the earlier version's rows behind a switch of generators.version.Behaviour, pin the new
fingerprints beside the earlier ones, and keep the earlier version in REMAKEABLE_VERSIONS, so that every dataset
it published is still re-made (and `datagen verify` passes).

GOLDEN_2_0 was computed by the generator 2.0 code itself (commit 4c651eb, before 2.1 existed), so the 2.0 behaviour
of today's code is checked against the real 2.0, not against itself.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from generators import GENERATOR_VERSION, config_from_dict
from generators.build import generate
from generators.fingerprint import split_fingerprint_of_files
from generators.rng import BLOCK
from generators.verify import verify_folder
from generators.version import REMAKEABLE_VERSIONS

REWRITE = {
    "name": "golden-rewrite", "seed": 7, "instructions": 30, "examples_per_instruction": 700, "noop_fraction": 0.3,
    "input_len": [20, 30], "occurrences": [1, 2],
    "space": {"alphabet": "abcdefghij", "x_len": [3, 6], "y_len": [0, 6]},
    "splits": {"test_unseen": {"instructions": 10, "examples": 500}, "test_seen": {"examples": 300}},
    "shard_rows": 8192,
}
POWER_CIPHER = {
    "name": "golden-power", "seed": 3, "instructions": 200, "budget": 5000, "noop_fraction": 0.1,
    "distribution": {"kind": "power_law", "alpha": 0.3}, "cipher": {"kind": "substitution", "seed": 5},
    "input_len": 30, "space": {"alphabet": "abcdefghijklmnop", "x_len": 6, "y_len": 6},
    "splits": {"test_unseen": {"instructions": 20, "examples": 200}, "test_seen": {"examples": 100}},
}
MARKOV = {
    "name": "golden-markov", "task": "markov", "seed": 11, "instructions": 20, "examples_per_instruction": 10,
    "noop_fraction": 0.2, "input_len": 16, "space": {"alphabet": "abcdefgh", "x_len": [2, 3], "y_len": [0, 3]},
    "markov": {"rules": [2, 4], "terminal_fraction": 0.3, "max_steps": 6, "max_len": 40},
    "splits": {"test_unseen": {"instructions": 5, "examples": 40}, "test_seen": {"examples": 40}},
}
MARKOV_AUX = {
    "name": "golden-markov-aux", "task": "markov_aux", "seed": 5, "instructions": 24, "examples_per_instruction": 10,
    "noop_fraction": 0.2, "input_len": 16, "space": {"alphabet": "abcdefgh", "x_len": [2, 3], "y_len": [0, 3]},
    "markov": {"rules": [2, 4], "terminal_fraction": 0.3, "max_steps": 6, "max_len": 40},
    "markov_aux": {"markers": "#$", "writers": 0.4, "readers": 0.3},
    "splits": {"test_unseen": {"instructions": 6, "examples": 40}, "test_seen": {"examples": 40}},
}
SEMANTIC = {  # a test space and extended families (k 3-8 at length 8)
    "name": "golden-semantic", "seed": 2, "instructions": 60, "budget": 1200, "input_len": 20,
    "space": {"alphabet": "abcdefgh", "x_len": 8, "y_len": 2, "structures": ["repeated", "periodic", "mirrored"], "k": [3, 8]},
    "test_space": {"alphabet": "abcdefgh", "x_len": 8, "y_len": 2, "structures": ["repeated", "periodic", "mirrored"],
                   "k": [1, 2]},
    "splits": {"validation": {"examples": 100}, "test_unseen": {"instructions": 10, "examples": 200},
               "test_seen": {"examples": 100}},
}
OCCURRENCES = {  # inputs that hold 20 copies: the test splits' occurrences differ from training's in 2.1
    "name": "golden-occurrences", "seed": 4, "instructions": 40, "budget": 1000, "input_len": 100, "occurrences": [1, 5],
    "space": {"alphabet": "abcdefghij", "x_len": 4, "y_len": 3},
    "splits": {"validation": {"examples": 100}, "test_unseen": {"instructions": 10, "examples": 200},
               "test_seen": {"examples": 100}},
}
CONFIGS = [REWRITE, POWER_CIPHER, MARKOV, MARKOV_AUX, SEMANTIC, OCCURRENCES]
GOLDEN_2_0 = {
    "golden-rewrite": "59e99af34b18f358d16798f4e6d9b9ac882eac8ea54fdf075232e1a39c028561",
    "golden-power": "e0b586c2eca736c499e9ba493fff0995b64c8eccd25f7bc963f72838e5c719a5",
    "golden-markov": "f03022b9dfcf02838affb671171117141b0721e332e903ec8c23a9dde70ae1c3",
    "golden-markov-aux": "d37bbce87a20d28a809ae799750845a783b2403f14602121c9f33fc8cf8f5c77",
    "golden-semantic": "294c2fbeb99df157a7aa90d298f8e271a04e2939ac154c6efd241bcb01a627c1",
    "golden-occurrences": "b79cadb989247571a0bae72726cb6429c757418f4c6387b6c234ecfc6871465c",
}
GOLDEN = {  # generator 2.1
    "golden-rewrite": "65d2806236238b1302b99d2f390f573f9d4a8400f62d108c339dd33698043aa7",
    "golden-power": "12d2ca6f7b7d0cc3897fbc0ea1fd894a20f8e80c07dc777f2019032747950d9d",
    "golden-markov": "4968b71f4b3768457f823884d5316f374e6220a31424859c5f9051a0a6ad7fb9",
    "golden-markov-aux": "bed1e6c1aa73a5221a88581197b0be8a7ba6cbf34ee393eea600a6fae96195db",
    "golden-semantic": "74f2194af2100b8f6a43ac80236acbec1004f9b17e0a14688c572543fbcbc2ed",
    "golden-occurrences": "0cd387b7c78c458c92528992fcdc655a8d1f4406337e7eec60fb7b66108025eb",
}


def as_recorded_by_2_0(raw: dict) -> dict:
    """The config as a 2.0 datagen.json records it: 2.0 wrote every field, and ``novel_patterns`` (unset in these
    configs, resolved by 2.1 from the test space) defaulted to ``none``."""
    unseen = {"novel_patterns": "none", **raw["splits"]["test_unseen"]}
    return {**raw, "splits": {**raw["splits"], "test_unseen": unseen}}


def file_hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((folder / "data").glob("*.parquet"))}


@pytest.mark.parametrize("raw", CONFIGS, ids=lambda r: r["name"])
def test_golden_fingerprints(raw, tmp_path):
    meta = generate(config_from_dict(raw), tmp_path / "out", progress=False, card=False)
    assert GENERATOR_VERSION == meta["generator_version"] == "2.1"
    assert meta["fingerprint"] == GOLDEN[raw["name"]]


@pytest.mark.parametrize("raw", CONFIGS, ids=lambda r: r["name"])
def test_the_2_0_rows_are_still_made_and_a_2_0_dataset_verifies(raw, tmp_path):
    """A dataset published by generator 2.0 (its recorded config, its version) is re-made row for row: the
    fingerprint is the one the 2.0 code gave, and `datagen verify` (which re-makes it) passes."""
    assert "2.0" in REMAKEABLE_VERSIONS
    meta = generate(config_from_dict(as_recorded_by_2_0(raw)), tmp_path / "v2.0", progress=False, version="2.0")
    assert meta["generator_version"] == "2.0" and meta["fingerprint"] == GOLDEN_2_0[raw["name"]]
    result = verify_folder(tmp_path / "v2.0", progress=False)
    assert result.ok, result.problems
    assert all(c.remade == "ok" and c.files == "ok" for c in result.splits)


def test_same_bytes_across_runs_and_process_counts(tmp_path):
    cfg = config_from_dict(REWRITE)
    assert cfg.train_examples > 2 * BLOCK  # several shards, several blocks
    one = generate(cfg, tmp_path / "one", progress=False, card=False)
    again = generate(cfg, tmp_path / "again", progress=False, card=False)
    two = generate(cfg, tmp_path / "two", workers=2, progress=False, card=False)
    assert len(one["splits"]["train"]["files"]) >= 3
    assert one["fingerprint"] == again["fingerprint"] == two["fingerprint"]
    assert file_hashes(tmp_path / "one") == file_hashes(tmp_path / "again") == file_hashes(tmp_path / "two")


def test_fingerprint_does_not_depend_on_sharding(tmp_path):
    a = generate(config_from_dict(REWRITE), tmp_path / "a", progress=False, card=False)
    b = generate(config_from_dict({**REWRITE, "shard_rows": 3 * BLOCK}), tmp_path / "b", progress=False, card=False)
    assert len(a["splits"]["train"]["files"]) != len(b["splits"]["train"]["files"])
    assert a["fingerprint"] == b["fingerprint"]


def test_fingerprint_recomputed_from_the_written_files(tmp_path):
    meta = generate(config_from_dict(REWRITE), tmp_path / "out", progress=False, card=False)
    for split, s in meta["splits"].items():
        rows, fp = split_fingerprint_of_files([tmp_path / "out" / f for f in s["files"]])
        assert (rows, fp) == (s["rows"], s["fingerprint"]), split


def test_a_different_seed_gives_different_rows(tmp_path):
    a = generate(config_from_dict(POWER_CIPHER), tmp_path / "a", progress=False, card=False)
    b = generate(config_from_dict({**POWER_CIPHER, "seed": 4}), tmp_path / "b", progress=False, card=False)
    assert a["fingerprint"] != b["fingerprint"]
