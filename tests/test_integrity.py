"""Every data file's SHA-256 is recorded in datagen.json and checked by verify, pull and push --from-folder.

The row fingerprint alone misses damage that leaves the decoded rows as they were: the leading ``PAR1`` magic
(readers seek to the footer), the ``created_by`` text of the footer, or the row-group statistics, which a
reader that filters uses to skip row groups (it then gets other rows). The damage is made with the file format
in hand (the parquet spec: the file ends with the footer, its 4-byte little-endian length and ``PAR1``; INT64
statistics are plain-encoded 8-byte little-endian values), and the reference digest is ``hashlib.sha256``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import TINY
from hub_server import serve

from generators import config_from_dict
from generators.build import generate
from publishing.cli import main
from publishing.localhub import LocalHub
from publishing.targets import HubTarget

SHARD = "data/train-00000-of-00001.parquet"


@pytest.fixture
def hub(monkeypatch, tmp_path):
    yield from serve(monkeypatch, tmp_path)


def run(*args, ok: bool = True):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def footer_span(data: bytes) -> tuple[int, int]:
    """(start, end) of the thrift footer of a parquet file (spec: ... footer, len (4 bytes LE), "PAR1")."""
    assert data[:4] == data[-4:] == b"PAR1"
    length = struct.unpack("<I", data[-8:-4])[0]
    return len(data) - 8 - length, len(data) - 8


def flip_magic(data: bytearray) -> None:
    data[0] ^= 0x01  # "PAR1" -> "QAR1"


def flip_created_by(data: bytearray) -> None:
    start, end = footer_span(data)
    at = bytes(data).find(b"parquet-cpp", start, end)
    assert at != -1
    data[at] ^= 0x01


def flip_statistics(data: bytearray) -> None:
    """Lower the recorded max of instruction_id in the footer (both the old and the new statistics field)."""
    top = pq.ParquetFile(pa_buffer(data)).metadata.row_group(0).column(0).statistics.max
    start, end = footer_span(data)
    pattern, at, hits = struct.pack("<q", top), start, 0
    while (at := bytes(data).find(pattern, at, end)) != -1:
        data[at] ^= 0x01
        at, hits = at + 8, hits + 1
    assert hits >= 1


def pa_buffer(data):
    import pyarrow as pa

    return pa.BufferReader(bytes(data))


DAMAGE = {"byte 0": flip_magic, "footer": flip_created_by, "statistics": flip_statistics}


def damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    DAMAGE[how](data)
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def sharded(tmp_path_factory) -> Path:
    """A train split of 33,600 rows in shards of 3 x 8,192: a first shard whose one row group holds three
    8,192-row blocks, and a second shard of 9,024 rows (the layout is checked from the parquet files)."""
    out = tmp_path_factory.mktemp("sharded") / "ds"
    generate(config_from_dict({**TINY, "name": "sharded", "examples_per_instruction": 1400, "shard_rows": 3 * 8192}),
             out, progress=False)
    files = sorted((out / "data").glob("train-*.parquet"))
    groups = [[pq.ParquetFile(f).metadata.row_group(i).num_rows for i in range(pq.ParquetFile(f).num_row_groups)]
              for f in files]
    assert groups == [[3 * 8192], [9024]]
    return out


def test_several_shards_and_row_groups_of_several_blocks_verify(sharded):
    """An intact dataset verifies whatever its layout: the rows of a row group are re-cut into the fingerprint's
    8,192-row blocks, across row groups and shards."""
    res = run("verify", sharded, "--no-remake", "--quiet")
    assert "verified" in res.output and "MISMATCH" not in res.output


def test_every_shard_of_a_split_is_hashed(sharded, tmp_path):
    """Damage in the last shard of a split is found as surely as in the first."""
    folder = tmp_path / "ds"
    shutil.copytree(sharded, folder)
    last = "data/train-00001-of-00002.parquet"
    damage(folder / last, "footer")
    res = run("verify", folder, "--no-remake", "--quiet", ok=False)
    assert res.exit_code == 1
    named = [ln for ln in res.output.splitlines() if "SHA-256" in ln]
    assert len(named) == 1 and last in named[0] and "differs" in named[0]


def test_datagen_json_records_each_data_file_sha256(tiny_dataset):
    meta = json.loads((tiny_dataset / "datagen.json").read_text())
    for s in meta["splits"].values():
        assert set(s["sha256"]) == set(s["files"])
        for f, sha in s["sha256"].items():
            assert sha == hashlib.sha256((tiny_dataset / f).read_bytes()).hexdigest()


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_damage_the_rows_do_not_show(tiny_dataset, tmp_path, how):
    """Why the hash is needed: the decoded rows stay the same; the statistics damage changes filtered reads."""
    shard = tmp_path / "shard.parquet"
    shutil.copy(tiny_dataset / SHARD, shard)
    before = pq.read_table(shard)
    top = pq.ParquetFile(shard).metadata.row_group(0).column(0).statistics.max
    wanted = pq.read_table(shard, filters=[("instruction_id", "==", top)]).num_rows
    damage(shard, how)
    assert pq.read_table(shard).equals(before)
    if how == "statistics":
        assert pq.read_table(shard, filters=[("instruction_id", "==", top)]).num_rows != wanted > 0


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_verify_catches_it(tiny_dataset, tmp_path, how):
    folder = tmp_path / "ds"
    shutil.copytree(tiny_dataset, folder)
    damage(folder / SHARD, how)
    res = run("verify", folder, "--no-remake", "--quiet", ok=False)
    assert res.exit_code == 1 and "Traceback" not in res.output
    line = next(ln for ln in res.output.splitlines() if "SHA-256" in ln)
    assert SHARD in line and "differs" in line
    assert "test_seen" not in res.output.split("MISMATCH", 1)[1]  # only the damaged file is named


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_push_from_folder_refuses_it(tiny_dataset, tmp_path, how):
    folder = tmp_path / "ds"
    shutil.copytree(tiny_dataset, folder)
    damage(folder / SHARD, how)
    res = run("push", "--from-folder", folder, "--local-name", "tiny", ok=False)
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1
    assert f"{SHARD}: its SHA-256" in res.output
    assert LocalHub.default().versions("local/tiny") == []


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_pull_from_the_local_hub_refuses_it(tiny_dataset, tmp_path, how):
    run("push", "--from-folder", tiny_dataset, "--local-name", "tiny", "--quiet")
    damage(LocalHub.default().path("local/tiny") / SHARD, how)
    out = tmp_path / "pulled"
    res = run("pull", "local/tiny", "-o", out, ok=False)
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1
    assert f"{SHARD}: its SHA-256" in res.output and "nothing was written" in res.output
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if "pulled" in p.name] == []


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_pull_and_verify_from_the_hub_refuse_it(hub, tiny_dataset, tmp_path, how):
    """Damaged bytes uploaded beside the original datagen.json: the Hub's own LFS sha256 already disagrees with
    the recorded one, and so do the downloaded bytes."""
    folder = tmp_path / "ds"
    shutil.copytree(tiny_dataset, folder)
    damage(folder / SHARD, how)
    HubTarget().upload(folder, "org/tiny", "v1.0.0", "dataset", False, "damaged")
    out = tmp_path / "pulled"
    res = run("pull", "org/tiny", "--revision", "v1.0.0", "-o", out, ok=False)
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1
    assert f"{SHARD}: the Hub lists SHA-256" in res.output and f"{SHARD}: its SHA-256" in res.output
    assert not out.exists()
    res = run("verify", "org/tiny", "--revision", "v1.0.0", "--no-remake", "--quiet", ok=False)
    assert res.exit_code == 1 and f"{SHARD}: the Hub lists SHA-256" in res.output


def test_an_intact_pull_says_what_it_checked(hub, tiny_dataset, tmp_path):
    run("push", "--from-folder", tiny_dataset, "--repo-id", "org/tiny", "--quiet")
    res = run("pull", "org/tiny", "-o", tmp_path / "pulled")
    assert "SHA-256 and rows checked against datagen.json" in res.output


def without_hashes(tiny_dataset: Path, tmp_path: Path) -> Path:
    """A folder as datagen wrote it before recording file hashes."""
    folder = tmp_path / "old"
    shutil.copytree(tiny_dataset, folder)
    meta = json.loads((folder / "datagen.json").read_text())
    for s in meta["splits"].values():
        del s["sha256"]
    (folder / "datagen.json").write_text(json.dumps(meta, indent=2))
    return folder


def test_old_folders_without_hashes_stay_readable(tiny_dataset, tmp_path):
    folder = without_hashes(tiny_dataset, tmp_path)
    res = run("verify", folder, "--no-remake", "--quiet")
    assert "note: datagen.json records no SHA-256" in res.output and "verified" in res.output
    run("inspect", folder)
    # a push records the hashes of the staged (and row-checked) copy in the published datagen.json
    run("push", "--from-folder", folder, "--local-name", "old", "--quiet")
    published = json.loads((LocalHub.default().path("local/old") / "datagen.json").read_text())
    assert published["splits"]["train"]["sha256"][SHARD] == hashlib.sha256((folder / SHARD).read_bytes()).hexdigest()
    # an old folder with damaged rows is still refused by the row fingerprint
    damaged = without_hashes(tiny_dataset, tmp_path / "again")
    table = pq.read_table(damaged / SHARD)
    pq.write_table(table.slice(1), damaged / SHARD)
    res = run("push", "--from-folder", damaged, "--local-name", "old2", ok=False)
    assert res.exit_code == 2 and "split 'train'" in res.output


def test_a_damaged_hash_record_is_named(tiny_dataset, tmp_path):
    folder = tmp_path / "ds"
    shutil.copytree(tiny_dataset, folder)
    meta = json.loads((folder / "datagen.json").read_text())
    meta["splits"]["train"]["sha256"] = {SHARD: "not-a-digest"}
    (folder / "datagen.json").write_text(json.dumps(meta))
    res = run("verify", folder, "--no-remake", ok=False)
    assert res.exit_code == 2 and "split 'train' has a sha256 record" in res.output


def test_mixtures_record_hashes_too(tmp_path, monkeypatch):
    import yaml
    from test_mixture import config

    monkeypatch.chdir(tmp_path)
    cfg = config(tmp_path, size=60)
    (tmp_path / "mix.yaml").write_text(yaml.safe_dump(cfg))
    run("generate", "mix.yaml", "-o", "out", "--quiet")
    meta = json.loads((tmp_path / "out" / "datagen.json").read_text())
    for f, sha in meta["splits"]["train"]["sha256"].items():
        assert sha == hashlib.sha256((tmp_path / "out" / f).read_bytes()).hexdigest()
