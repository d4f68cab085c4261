"""``python -m sweeps run --reuse-from``: a run of one sweep takes the finished model of an identical run of another
sweep (same data fingerprint, same training inputs) instead of training again, and is evaluated on its own data.
Anything less than identical trains; a model folder holding a link is refused, not copied."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from core.metadata import read_metadata
from generators.build import generate
from sweeps.cli import main
from sweeps.config import generator_config, load_sweep, runs
from sweeps.runner import _signatures, find_reusable

SWEEPS = Path(__file__).resolve().parent.parent / "sweeps"


def sweep_file(tmp_path: Path, name: str, **changes) -> Path:
    base = yaml.safe_load((SWEEPS / "tiny_cpu.yaml").read_text())
    base.update({"name": name, "axes": {"instructions": [8], "seed": [0]}, **changes})
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(base, sort_keys=False))
    return path


def same_files(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)

    def equal(c) -> bool:
        _, mismatch, errors = filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)
        return (not c.left_only and not c.right_only and not mismatch and not errors
                and all(equal(s) for s in c.subdirs.values()))

    return equal(cmp)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """Sweep A, one run (I=8, seed 0) trained and evaluated for real."""
    tmp = tmp_path_factory.mktemp("reuse")
    out = tmp / "out-a"
    res = CliRunner().invoke(main, ["run", str(sweep_file(tmp, "sweep-a")), "-o", str(out)])
    assert res.exit_code == 0 and "[I=8_seed=0] trained (" in res.output, res.output
    return out


def test_an_identical_run_reuses_the_model_and_is_evaluated_on_its_own_data(trained, tmp_path):
    out = tmp_path / "out-b"
    res = CliRunner().invoke(main, ["run", str(sweep_file(tmp_path, "sweep-b")), "-o", str(out),
                                    "--reuse-from", str(trained)])
    assert res.exit_code == 0, res.output
    assert "reused the model of out-a/I=8_seed=0" in res.output and "trained (" not in res.output, res.output
    run = out / "I=8_seed=0"
    assert not (run / "train.log").exists()  # nothing was trained
    assert same_files(trained / "I=8_seed=0" / "model", run / "model")
    # B's own data (its own name) has A's fingerprint: the generator config differs only in the name
    a_meta, b_meta = read_metadata(trained / "I=8_seed=0" / "data"), read_metadata(run / "data")
    assert a_meta["config"]["name"] != b_meta["config"]["name"] and a_meta["fingerprint"] == b_meta["fingerprint"]
    ev = json.loads((run / "eval.json").read_text())
    assert ev["dataset"]["name"] == b_meta["config"]["name"] and ev["dataset"]["fingerprint"] == b_meta["fingerprint"]
    a_ev = json.loads((trained / "I=8_seed=0" / "eval.json").read_text())
    assert ev["splits"]["test_unseen"]["accuracy"] == a_ev["splits"]["test_unseen"]["accuracy"]  # same model, rows
    assert json.loads((run / "reused.json").read_text())["model_from"] == "out-a/I=8_seed=0"
    row = json.loads((out / "results.json").read_text())["rows"][0]
    assert row["model_from"] == "out-a/I=8_seed=0" and "train_s" not in row
    assert str(tmp_path) not in (run / "reused.json").read_text()  # no machine paths
    # the reused run is complete in its own right: a second run skips every stage
    res = CliRunner().invoke(main, ["run", str(sweep_file(tmp_path, "sweep-b")), "-o", str(out),
                                    "--reuse-from", str(trained)])
    assert res.exit_code == 0 and "done, skipped" in res.output and "reused" not in res.output, res.output


def _candidate(tmp_path: Path, name: str, **changes):
    """A run of a new sweep with its data made (as run_one makes it before training), and its train signature."""
    s = load_sweep(sweep_file(tmp_path, name, **changes))
    s.output_dir = str(tmp_path / f"out-{name}")
    r = runs(s)[0]
    generate(generator_config(s, r), s.out / r.run_id / "data", progress=False)
    return s, r, _signatures(s, r, s.out / r.run_id / "data")[0]


def test_anything_less_than_identical_is_not_reused(trained, tmp_path):
    base = yaml.safe_load((SWEEPS / "tiny_cpu.yaml").read_text())
    s, r, sig = _candidate(tmp_path, "same")
    assert find_reusable(s, r, sig, [trained]) == (trained / "I=8_seed=0", 1)  # the control: identical is found
    for name, change in [("other-seed", {"axes": {"instructions": [8], "seed": [1]}}),  # other data and seed
                         ("other-steps", {"recipe_set": {**base["recipe_set"], "max_steps": 13}}),  # same data
                         ("other-noops", {"set": {**base["set"], "noop_fraction": 0.5}})]:
        s, r, sig = _candidate(tmp_path, name, **change)
        assert find_reusable(s, r, sig, [trained]) == (None, 1), name


def test_links_special_files_and_garbage_in_a_source_are_no_match(trained, tmp_path):
    import threading

    s, r, sig = _candidate(tmp_path, "same")
    src = trained / "I=8_seed=0"

    def source(name: str, model_link: bool = False, stages: str | None = None) -> Path:
        """A copy of the trained run folder, with its model linked instead of copied, or another stages.json."""
        folder = tmp_path / name / "I=8_seed=0"
        shutil.copytree(src / "data", folder / "data")
        if model_link:
            os.symlink(src / "model", folder / "model")
        else:
            shutil.copytree(src / "model", folder / "model")
        if stages is None:
            shutil.copy2(src / "stages.json", folder / "stages.json")
        elif stages == "fifo":
            os.mkfifo(folder / "stages.json")
        else:
            (folder / "stages.json").write_text(stages)
        return folder.parent

    assert find_reusable(s, r, sig, [source("copy")]) == (tmp_path / "copy" / "I=8_seed=0", 1)  # control
    # a linked model folder: what the signature was checked for is not what would be copied
    assert find_reusable(s, r, sig, [source("linked", model_link=True)]) == (None, 0)
    for name, text in [("garbage", "{not json"), ("a-list", "[1, 2]"), ("huge", " " * (2 << 20) + "{}")]:
        assert find_reusable(s, r, sig, [source(name, stages=text)]) == (None, 0), name
    linked_run = tmp_path / "linked-run"
    linked_run.mkdir()
    os.symlink(src, linked_run / "I=8_seed=0")
    assert find_reusable(s, r, sig, [linked_run]) == (None, 0)
    # a FIFO named stages.json: refused at once, never waited on
    fifo, result = source("fifo", stages="fifo"), []
    worker = threading.Thread(target=lambda: result.append(find_reusable(s, r, sig, [fifo])), daemon=True)
    worker.start()
    worker.join(30)
    if worker.is_alive():  # unblock the reader so the test process can end, then fail
        with open(fifo / "I=8_seed=0" / "stages.json", "w"):
            pass
        pytest.fail("reading a FIFO stages.json blocked")
    assert result == [(None, 0)]


def test_a_source_model_holding_a_link_is_refused_and_nothing_is_copied(trained, tmp_path):
    src = tmp_path / "out-evil"
    shutil.copytree(trained, src, symlinks=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("token")
    os.symlink(secret, src / "I=8_seed=0" / "model" / "notes.txt")
    out = tmp_path / "out-c"
    res = CliRunner().invoke(main, ["run", str(sweep_file(tmp_path, "sweep-c")), "-o", str(out),
                                    "--reuse-from", str(src)])
    assert res.exit_code != 0 and "symlink notes.txt" in res.output, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in res.output, res.output  # one line, no traceback
    run = out / "I=8_seed=0"
    assert not (run / "model").exists() and not [p for p in run.iterdir() if p.name.startswith(".model")]
    assert not (run / "reused.json").exists()


def test_an_interrupted_copy_leaves_no_model_and_a_retrained_run_drops_the_record(trained, tmp_path, monkeypatch):
    import sweeps.runner as runner
    from sweeps.submit import run_job

    s, r, sig = _candidate(tmp_path, "same")
    rdir = s.out / r.run_id

    def killed(src, dest):
        (Path(dest) / "config.json").parent.mkdir(parents=True, exist_ok=True)
        (Path(dest) / "config.json").write_text("{}")  # part of the model copied, then the process is killed
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "copy_tree", killed)
    with pytest.raises(KeyboardInterrupt):
        runner._reuse_model(trained / "I=8_seed=0", rdir, sig)
    monkeypatch.undo()
    assert not (rdir / "model").exists() and not [p for p in rdir.iterdir() if p.name.startswith(".model")]
    assert not (rdir / "reused.json").exists()
    # the next run (a cluster job here: the submitit pass-through) copies it again, whole
    row = run_job(str(s.path), str(s.out), r.run_id, str(Path.cwd()), reuse_from=(str(trained),))
    assert row["model_from"] == "out-a/I=8_seed=0" and same_files(trained / "I=8_seed=0" / "model", rdir / "model")
    # its model removed and trained again without --reuse-from: the record of the copy goes
    shutil.rmtree(rdir / "model")
    calls = []

    def fake_call(cmd, log_path):
        calls.append(cmd)
        if any(str(c).endswith("sft.py") for c in cmd):
            out = Path(cmd[cmd.index("--output_dir") + 1])
            out.mkdir(parents=True)
            (out / "config.json").write_text("{}")
            (out / "README.md").write_text("card")
        else:
            Path(cmd[cmd.index("-o") + 1]).write_text(json.dumps(
                {"splits": {}, "dataset": {"fingerprint": read_metadata(rdir / "data")["fingerprint"]}}))

    monkeypatch.setattr(runner, "_call", fake_call)
    (tmp_path / "empty").mkdir()
    logged = []
    row = runner.run_one(s, r, log=logged.append, reuse_from=[tmp_path / "empty"])  # a wrong folder: said so
    assert any("no run with the same data and training inputs among the 0 finished runs" in m for m in logged)
    assert len(calls) == 2 and "model_from" not in row and not (rdir / "reused.json").exists()
    assert "train_s" in row


def test_reuse_from_must_be_a_folder(tmp_path):
    res = CliRunner().invoke(main, ["run", str(sweep_file(tmp_path, "sweep-d")), "-o", str(tmp_path / "o"),
                                    "--reuse-from", str(tmp_path / "nowhere")])
    assert res.exit_code != 0 and "--reuse-from" in res.output and "nowhere" in res.output, res.output


def test_the_toy_sweeps_share_their_six_uniform_runs(tmp_path):
    """README's example: toy_cpu_power_law's Uniform runs are toy_cpu_phase_transition's runs at the same I and
    seed (the same rows and training inputs), and no other run of the two sweeps is."""
    pt, pl = load_sweep(SWEEPS / "toy_cpu_phase_transition.yaml"), load_sweep(SWEEPS / "toy_cpu_power_law.yaml")

    def config(s, r) -> str:
        d = generator_config(s, r).to_dict()
        d.pop("name")
        return json.dumps(d, sort_keys=True)

    by_config = {config(pt, r): r for r in runs(pt)}
    shared = {r.run_id: by_config[config(pl, r)].run_id for r in runs(pl) if config(pl, r) in by_config}
    assert shared == {f"I={i}_alpha=uniform_seed={k}": f"I={i}_seed={k}" for i in (256, 3000) for k in range(3)}
    # one pair end to end: equal fingerprints and equal train and eval signatures
    a = next(r for r in runs(pl) if r.run_id == "I=256_alpha=uniform_seed=1")
    sigs = []
    for s, r in ((pl, a), (pt, next(r for r in runs(pt) if r.run_id == "I=256_seed=1"))):
        s.output_dir = str(tmp_path / s.name)
        generate(generator_config(s, r), s.out / r.run_id / "data", progress=False)
        sigs.append((read_metadata(s.out / r.run_id / "data")["fingerprint"], _signatures(s, r, s.out / r.run_id / "data")))
    assert sigs[0] == sigs[1]
