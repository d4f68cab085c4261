"""Same config + seed => same rows, same fingerprint, same parquet bytes: across runs and process counts.

The golden fingerprints below pin the generator's output. If one changes, rows changed: bump
GENERATOR_VERSION and update the pins in the same commit (published datasets can then no longer be re-made
by the new version, and `datagen verify` says so).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from generators import GENERATOR_VERSION, config_from_dict
from generators.build import generate
from generators.fingerprint import split_fingerprint_of_files
from generators.rng import BLOCK

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
GOLDEN = {
    "golden-rewrite": "59e99af34b18f358d16798f4e6d9b9ac882eac8ea54fdf075232e1a39c028561",
    "golden-power": "e0b586c2eca736c499e9ba493fff0995b64c8eccd25f7bc963f72838e5c719a5",
    "golden-markov": "f03022b9dfcf02838affb671171117141b0721e332e903ec8c23a9dde70ae1c3",
}


def file_hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((folder / "data").glob("*.parquet"))}


@pytest.mark.parametrize("raw", [REWRITE, POWER_CIPHER, MARKOV], ids=lambda r: r["name"])
def test_golden_fingerprints(raw, tmp_path):
    meta = generate(config_from_dict(raw), tmp_path / "out", progress=False, card=False)
    assert GENERATOR_VERSION == "2.0"
    assert meta["fingerprint"] == GOLDEN[raw["name"]]


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
