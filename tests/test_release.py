"""Releasing a study (``python -m sweeps release``): the tiny sweep to the stand-in Hub and to the local hub, then
a fresh process downloads one config and one model by repo id and revision and re-scores the model to the released
number; a re-run is a no-op, an interrupted release completes, a stale or missing evaluation is refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hub_server import HubServer, serve

from core.errors import ConfigError
from sweeps.cli import main

ROOT = Path(__file__).resolve().parent.parent
REPO = "tester/tiny-study"


def _sweep_file(folder: Path, **changes) -> Path:
    """The tiny CPU sweep with two runs (I = 2 and 8), to keep the suite's training time down."""
    base = yaml.safe_load((ROOT / "sweeps" / "tiny_cpu.yaml").read_text())
    base["axes"] = {"instructions": [2, 8]}
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump({**base, **changes}, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished tiny sweep (data, models, evaluations, plot), run once for this module."""
    folder = tmp_path_factory.mktemp("study")
    sweep = _sweep_file(folder)
    res = CliRunner().invoke(main, ["run", str(sweep), "-o", str(folder / "out")])
    assert res.exit_code == 0, res.output
    return folder


@pytest.fixture
def study(finished, tmp_path) -> tuple[Path, Path]:
    """A private copy of the finished sweep: (sweep file, output folder)."""
    dest = tmp_path / "study"
    shutil.copytree(finished, dest)
    return dest / "study.yaml", dest / "out"


@pytest.fixture
def hub(monkeypatch, tmp_path):
    yield from serve(monkeypatch, tmp_path)


def _release(sweep: Path, out: Path, prefix: str = REPO, *extra: str):
    return CliRunner().invoke(main, ["release", str(sweep), "-o", str(out), "--repo-prefix", prefix, *extra])


def _count(hub: HubServer, *endpoints: str) -> int:
    return sum(1 for name in hub.endpoints() if name in endpoints)


RESCORE = r"""
import json, sys
from datasets import load_dataset
from huggingface_hub import ModelCard, hf_hub_download
from transformers import AutoModelForCausalLM, AutoTokenizer
from eval.rewrite import DecodeSettings, evaluate_rewrite
from generators.tasks import scorer_for

repo, config, model_repo, revision, model_revision, batch = sys.argv[1:7]
data = load_dataset(repo, config, revision=revision)
meta = json.loads(open(hf_hub_download(repo, f"{config}/datagen.json", repo_type="dataset", revision=revision)).read())
tokenizer = AutoTokenizer.from_pretrained(model_repo, revision=model_revision)
model = AutoModelForCausalLM.from_pretrained(model_repo, revision=model_revision)
model.eval()
card = ModelCard.load(model_repo)
splits = {s: data[s] for s in ("test_unseen", "test_seen")}
scores, _ = evaluate_rewrite(model, tokenizer, splits, settings=DecodeSettings(batch_size=int(batch)),
                             scorer=scorer_for(meta.get("task"), data["test_unseen"].column_names))
released = {r.dataset_split: r.metric_value for r in card.data.eval_results
            if r.dataset_type == repo and r.dataset_config == config and r.dataset_revision == revision}
print(json.dumps({"released": released, "rows": {s: len(d) for s, d in data.items()},
                  "card": {"datasets": card.data.datasets, "license": card.data.license,
                           "library_name": card.data.library_name, "pipeline_tag": card.data.pipeline_tag},
                  "splits": {s: {"accuracy": v["accuracy"], "mistakes": v["mistakes"]} for s, v in scores["splits"].items()}}))
"""


@pytest.mark.slow
def test_release_to_the_hub_reloads_and_rescores_in_a_fresh_process(study, hub, tmp_path):
    sweep, out = study
    events = out / "I=8" / "model" / "runs" / "Dec01_host" / "events.out.tfevents.1764590000.host.1.0"
    events.parent.mkdir(parents=True)
    events.write_bytes(b"\x18\x00tensorboard event bytes")  # what report_to: tensorboard leaves beside the model
    res = _release(sweep, out, REPO, "--private")
    assert res.exit_code == 0, res.output
    assert all(r.private for r in hub.repos.values()) and len(hub.repos) == 3

    # the dataset repo: a config per run, the sweep file, the plot, a card listing every config; tagged after it all
    files = hub.files(REPO, "v1.0.0")
    assert {"I2/datagen.json", "I8/datagen.json", "sweep.yaml", "phase_transition.png", "README.md"} <= set(files)
    for config, run in (("I2", "I=2"), ("I8", "I=8")):
        made = json.loads((out / run / "data" / "datagen.json").read_text())
        assert json.loads(files[f"{config}/datagen.json"]) == made
        for f in made["splits"]["train"]["files"]:
            assert files[f"{config}/{f}"] == (out / run / "data" / f).read_bytes()
    assert files["sweep.yaml"] == sweep.read_bytes()
    card = yaml.safe_load(files["README.md"].decode().split("---")[1])
    assert [c["config_name"] for c in card["configs"]] == ["I2", "I8"]
    assert {d["split"]: d["path"] for d in card["configs"][0]["data_files"]}["test_unseen"] == "I2/data/test_unseen-*"
    assert "![phase_transition.png](phase_transition.png)" in files["README.md"].decode()
    assert hub.repo(REPO).tags["v1.0.0"] == hub.repo(REPO).branches["main"]

    # model repos: the trainer's files, the event file, no run by-products
    model = hub.files(f"{REPO}-I8", "v1.0.0", "model")
    assert {"model.safetensors", "config.json", "tokenizer.json", "README.md"} <= set(model)
    assert model["runs/Dec01_host/events.out.tfevents.1764590000.host.1.0"] == events.read_bytes()
    assert "training_args.bin" not in model and not any(p.startswith("checkpoint-") for p in model)
    meta = yaml.safe_load(model["README.md"].decode().split("---")[1])
    assert meta["datasets"] == [REPO] and meta["pipeline_tag"] == "text-generation" and "base_model" not in meta

    # the collection: the dataset and both models, a note each
    (coll,) = hub.collections.values()
    assert coll["private"]
    assert [(i["type"], i["id"]) for i in coll["items"]] == [("dataset", REPO), ("model", f"{REPO}-I2"),
                                                             ("model", f"{REPO}-I8")]
    assert coll["items"][1]["note"]["text"].startswith("I2: I = 2, S = 120")

    # a fresh process, a fresh cache: download by repo id + revision, reload, re-score to the released number
    env = {**os.environ, "HF_HOME": str(tmp_path / "fresh-hf"), "HF_DATASETS_CACHE": str(tmp_path / "fresh-ds")}
    proc = subprocess.run([sys.executable, "-c", RESCORE, REPO, "I8", f"{REPO}-I8", "v1.0.0", "v1.0.0", "32"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    evaluated = json.loads((out / "I=8" / "eval.json").read_text())["splits"]
    assert got["rows"]["train"] == 240 and got["rows"]["test_unseen"] == 24
    assert got["card"] == {"datasets": [REPO], "license": "cc-by-4.0", "library_name": "transformers",
                           "pipeline_tag": "text-generation"}
    for split in ("test_unseen", "test_seen"):
        assert got["released"][split] == round(100 * got["splits"][split]["accuracy"], 3)
        assert got["splits"][split]["accuracy"] == evaluated[split]["accuracy"]
        assert got["splits"][split]["mistakes"] == evaluated[split]["mistakes"]  # the same predictions

    # verifiable per config (and all), the way single datasets are
    from publishing.cli import main as datagen

    res = CliRunner().invoke(datagen, ["verify", REPO, "--revision", "v1.0.0", "--config", "all", "--quiet"])
    assert res.exit_code == 0 and "config I2" in res.output and "config I8" in res.output, res.output
    res = CliRunner().invoke(datagen, ["verify", REPO, "--revision", "v1.0.0", "--no-remake", "--quiet"])
    assert res.exit_code == 2 and "--config" in res.output and "I2, I8" in res.output, res.output

    # re-running publishes nothing new: no commit, tag, repo or collection change
    before = _count(hub, "commit", "tag", "repos/create", "collections/create", "collections/add-item",
                    "collections/update-item")
    res = _release(sweep, out)
    assert res.exit_code == 0 and "0 new publishes" in res.output, res.output
    assert _count(hub, "commit", "tag", "repos/create", "collections/create", "collections/add-item",
                  "collections/update-item") == before
    manifest = json.loads((out / "release.json").read_text())
    assert manifest["dataset"]["version"] == "v1.0.0" and manifest["models"]["I8"]["repo_id"] == f"{REPO}-I8"

    # a config whose file differs from its datagen.json fails its verification, naming the file
    shard = json.loads(files["I2/datagen.json"])["splits"]["train"]["files"][0]
    hub.add_entry(REPO, f"I2/{shard}", b"PAR1 tampered")
    res = CliRunner().invoke(datagen, ["verify", REPO, "--revision", "main", "--config", "I2", "--no-remake", "--quiet"])
    assert res.exit_code == 1 and "MISMATCH" in res.output and shard in res.output, res.output


@pytest.mark.slow
@pytest.mark.parametrize("endpoint", ["commit", "tag"])
def test_an_interrupted_release_tags_nothing_partial_and_completes_on_rerun(study, hub, monkeypatch, endpoint):
    """The first model's commit fails (no tag at all yet: tags come once every repo's content is committed), or
    every commit lands and the first model's tag fails (as a kill between the tags would)."""
    sweep, out = study
    monkeypatch.setenv("DATAGEN_HUB_RETRIES", "0")
    hub.fail_next(endpoint, status=500, after=1)  # the dataset's lands, the first model's fails
    res = _release(sweep, out)
    assert res.exit_code == 1 and f"model {REPO}-I2" in res.output and "run the same command again" in res.output, \
        res.output
    assert res.output.strip().splitlines()[-1].startswith("Error: releasing failed while publishing model")
    assert list(hub.repo(REPO).tags) == ([] if endpoint == "commit" else ["v1.0.0"])
    assert hub.repo(f"{REPO}-I2", "model").tags == {}  # nothing half-published is tagged
    if endpoint == "commit":
        assert ("model", f"{REPO}-I8") not in hub.repos
    else:  # committed, not tagged
        assert hub.repo(f"{REPO}-I8", "model").tags == {} and len(hub.repo(f"{REPO}-I8", "model").commits) == 2
    assert not hub.collections
    res = _release(sweep, out)
    assert res.exit_code == 0, res.output
    assert f"dataset {REPO} v1.0.0: {'published' if endpoint == 'commit' else 'already published'}" in res.output
    for repo in (hub.repo(REPO), hub.repo(f"{REPO}-I2", "model"), hub.repo(f"{REPO}-I8", "model")):
        assert list(repo.tags) == ["v1.0.0"] and repo.tags["v1.0.0"] == repo.branches["main"]
        assert len(repo.commits) == 2  # the repo's first commit and one release commit: none made twice
    (coll,) = hub.collections.values()
    assert len(coll["items"]) == 3


@pytest.mark.slow
def test_a_release_killed_before_its_tags_leaves_no_version_and_completes(study, hub, tmp_path):
    """kill -9 while the first tag is in flight: every repo's content is committed, no version exists; the
    re-run makes the versions without a second commit."""
    import signal
    import time

    sweep, out = study
    hub.hang("tag", times=1)  # the first tag call is held unanswered
    proc = subprocess.Popen([sys.executable, "-m", "sweeps", "release", str(sweep), "-o", str(out),
                             "--repo-prefix", REPO], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600
        while "tag" not in hub.endpoints():
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the release never reached its first tag"
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        hub.release()
    repos = [hub.repo(REPO), hub.repo(f"{REPO}-I2", "model"), hub.repo(f"{REPO}-I8", "model")]
    assert [r.tags for r in repos] == [{}, {}, {}] and [len(r.commits) for r in repos] == [2, 2, 2]
    assert not hub.collections
    res = _release(sweep, out)
    assert res.exit_code == 0, res.output
    assert [list(r.tags) for r in repos] == [["v1.0.0"]] * 3 and [len(r.commits) for r in repos] == [2, 2, 2]
    (coll,) = hub.collections.values()
    assert len(coll["items"]) == 3


@pytest.mark.slow
def test_release_to_the_local_hub(study, tmp_path):
    import datasets

    from publishing.localhub import LocalHub

    sweep, out = study
    res = _release(sweep, out, "local", "--license", "mit")
    assert res.exit_code == 0, res.output
    hub = LocalHub.default()
    folder = hub.path("local/tiny-cpu")
    ds = datasets.load_dataset(str(folder), "I2")
    assert ds["train"].num_rows == 240 and ds["test_unseen"].num_rows == 24
    assert ds["test_unseen"]["prompt"] == datasets.load_dataset(str(out / "I=2" / "data"))["test_unseen"]["prompt"]
    model = hub.path("local/tiny-cpu-I8", repo_type="model")
    assert (model / "model.safetensors").read_bytes() == (out / "I=8" / "model" / "model.safetensors").read_bytes()
    from huggingface_hub import DatasetCard, ModelCard

    assert ModelCard.load(model / "README.md").data.license == "mit"
    assert DatasetCard.load(folder / "README.md").data.license == "mit"
    (coll,) = (hub.root / "collections" / "local").glob("*.json")
    items = json.loads(coll.read_text())["items"]
    assert [i["id"] for i in items] == ["local/tiny-cpu", "local/tiny-cpu-I2", "local/tiny-cpu-I8"]
    from publishing.cli import main as datagen

    res = CliRunner().invoke(datagen, ["verify", "local/tiny-cpu", "--config", "I8", "--no-remake", "--quiet"])
    assert res.exit_code == 0 and "config I8" in res.output, res.output
    res = CliRunner().invoke(datagen, ["list"])
    assert "tiny-cpu (instruction-diversity study)" in res.output, res.output
    # a re-run is a no-op: no new version, the collection file unchanged
    text = coll.read_text()
    res = _release(sweep, out, "local", "--license", "mit")
    assert res.exit_code == 0 and "0 new publishes" in res.output, res.output
    assert hub.versions("local/tiny-cpu") == ["v1.0.0"] and coll.read_text() == text


@pytest.mark.slow
def test_missing_or_stale_evaluations_are_refused(study, hub):
    sweep, out = study
    stale = _sweep_file(sweep.parent, eval={"splits": ["test_unseen", "test_seen"], "batch_size": 8})
    res = _release(stale, out)
    assert res.exit_code == 2 and "run I=2 cannot be released" in res.output and "stale" in res.output, res.output
    (out / "I=8" / "eval.json").unlink()
    res = _release(_sweep_file(sweep.parent), out)
    assert res.exit_code == 2 and "run I=8 cannot be released: has no evaluation" in res.output, res.output
    assert res.output.count("\n") == 1  # one line
    assert not hub.repos and not hub.collections  # nothing was published


def test_run_ids_become_hub_safe_config_names():
    from sweeps.release import config_name

    assert config_name("I=400") == "I400"
    assert config_name("alpha=0.1_I=1000") == "alpha0p1_I1000"
    assert config_name("seed=1_I=64") == "seed1_I64"
    assert config_name("restricted_k=3-4") == "restricted_k3-4"


def test_tensorboard_event_files_are_published_with_the_model_and_anything_else_in_runs_refused(tmp_path):
    from training.publish import model_files

    out = tmp_path / "model"
    (out / "runs" / "Dec01").mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "README.md", "trainer_state.json"):
        (out / name).write_text("x")
    (out / "runs" / "Dec01" / "events.out.tfevents.1.host").write_bytes(b"ev")
    (out / "runs" / "Dec01" / "notes.txt").write_text("not an event file")
    secret = tmp_path / "secret"
    secret.write_text("outside")
    (out / "runs" / "Dec01" / "events.out.tfevents.2.host").symlink_to(secret)
    with pytest.raises(ConfigError) as err:  # anything in runs/ but a regular event file refuses the publish
        model_files(out)
    assert "unlisted runs/Dec01/notes.txt" in str(err.value)
    assert "symlink runs/Dec01/events.out.tfevents.2.host" in str(err.value)
    (out / "runs" / "Dec01" / "notes.txt").unlink()
    (out / "runs" / "Dec01" / "events.out.tfevents.2.host").unlink()
    assert sorted(model_files(out)) == ["README.md", "config.json", "model.safetensors",
                                        "runs/Dec01/events.out.tfevents.1.host"]


def test_collections_endpoints_of_the_stand_in_hub(hub):
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo("tester/d", repo_type="dataset")
    first = api.create_collection("My study", namespace="tester", exists_ok=True)
    again = api.create_collection("My study", namespace="tester", exists_ok=True)
    assert again.slug == first.slug
    api.add_collection_item(first.slug, "tester/d", "dataset", note="one", exists_ok=True)
    coll = api.add_collection_item(first.slug, "tester/d", "dataset", note="one", exists_ok=True)
    (item,) = coll.items
    api.update_collection_item(first.slug, item.item_object_id, note="two")
    assert api.get_collection(first.slug).items[0].note == "two"
    assert [c.slug for c in api.list_collections(owner="tester")] == [first.slug]


def test_release_model_card_metadata_is_the_hubs():
    """model-index per split (dataset type = repo id, config, split, revision), datasets, base_model only when
    fine-tuned, as huggingface_hub reads them back."""
    from huggingface_hub import ModelCard

    from cards.release_card import render_release_model_card

    splits = {"test_unseen": {"accuracy": 0.25, "n": 8, "ci_low": 0.07, "ci_high": 0.59},
              "test_seen": {"accuracy": 0.5, "n": 8, "ci_low": 0.2, "ci_high": 0.8}}
    kw = dict(model_repo="org/s-I8", version="v1.0.0", local=False, dataset_repo="org/s", dataset_version="v1.2.0",
              config="I8", run="I=8", study="s", meta={"fingerprint": "f" * 64}, splits=splits)
    card = ModelCard(str(render_release_model_card(**kw, base_model="gpt2")))
    got = {(r.dataset_type, r.dataset_config, r.dataset_split, r.dataset_revision, r.metric_type): r.metric_value
           for r in card.data.eval_results}
    assert got == {("org/s", "I8", "test_unseen", "v1.2.0", "exact_match"): 25.0,
                   ("org/s", "I8", "test_seen", "v1.2.0", "exact_match"): 50.0}
    assert card.data.base_model == "gpt2" and card.data.datasets == ["org/s"] and card.data.license == "cc-by-4.0"
    assert 'from_pretrained("org/s-I8", revision="v1.0.0")' in card.text
    scratch = ModelCard(str(render_release_model_card(**kw)))
    assert scratch.data.base_model is None and "from-scratch" in scratch.data.tags
    local = ModelCard(str(render_release_model_card(**{**kw, "local": True, "dataset_repo": "local/s"})))
    assert local.data.eval_results is None and local.data.datasets is None  # no Hub id: scores in the body only
    assert "| unseen instructions (`test_unseen`) | 25.0% |" in local.text


def test_release_refuses_before_anything_is_sent(tmp_path, monkeypatch):
    """No token, a bad prefix, or an unfinished run: one line naming it, and no Hub call (the endpoint refuses
    connections)."""
    sweep = str(ROOT / "sweeps" / "tiny_cpu.yaml")
    out = str(tmp_path / "out")
    res = CliRunner().invoke(main, ["release", sweep, "-o", out, "--repo-prefix", "org/study"])
    assert res.exit_code == 2 and "no Hugging Face token" in res.output, res.output
    monkeypatch.setenv("HF_TOKEN", "hf_x")
    res = CliRunner().invoke(main, ["release", sweep, "-o", out, "--repo-prefix", "org/a/b"])
    assert res.exit_code == 2 and "repo-prefix" in res.output, res.output
    res = CliRunner().invoke(main, ["release", sweep, "-o", out, "--repo-prefix", "org/study"])
    assert res.exit_code == 2 and "run I=2 cannot be released: has no data" in res.output, res.output
    res = CliRunner().invoke(main, ["release", sweep, "-o", out, "--repo-prefix", "local"])
    assert res.exit_code == 2 and "run I=2 cannot be released" in res.output, res.output


def test_collections_are_reused_and_their_notes_updated_not_duplicated(hub, tmp_path):
    from huggingface_hub import HfApi

    from publishing.collections import Item, publish_hub_collection, publish_local_collection
    from publishing.localhub import LocalHub

    api = HfApi()
    api.create_repo("tester/d", repo_type="dataset")
    api.create_repo("tester/m")
    items = [Item("dataset", "tester/d", "data"), Item("model", "tester/m", "I = 2: unseen 10.0%")]
    url, changes = publish_hub_collection(api, "tester", "A study", items)
    assert changes == 3  # created, two items
    assert publish_hub_collection(api, "tester", "A study", items) == (url, 0)
    items[1] = Item("model", "tester/m", "I = 2: unseen 12.5%")
    assert publish_hub_collection(api, "tester", "A study", items) == (url, 1)
    (coll,) = hub.collections.values()
    assert [i["note"]["text"] for i in coll["items"]] == ["data", "I = 2: unseen 12.5%"]

    local = LocalHub(tmp_path / "hub")
    path, changes = publish_local_collection(local, "local", "A study", items, "d")
    assert changes == 3 and publish_local_collection(local, "local", "A study", items, "d") == (path, 0)
    items[0] = Item("dataset", "tester/d", "new note")
    assert publish_local_collection(local, "local", "A study", items, "d") == (path, 1)
    assert [i["note"] for i in json.loads(Path(path).read_text())["items"]] == ["new note", "I = 2: unseen 12.5%"]


@pytest.mark.slow
def test_only_the_plots_the_sweep_drew_and_recorded_are_published(study, tmp_path):
    """A PNG hard-linked into a run folder and another beside the sweep's plots are left out (and named in the log);
    the release publishes exactly the plots it drew, whose SHA-256 plots.json records."""
    import hashlib

    from publishing.localhub import LocalHub

    sweep, out = study
    notes = tmp_path / "notes.png"
    notes.write_bytes(b"\x89PNG\r\n\x1a\n private notes")
    os.link(notes, out / "I=8" / "aaa-notes.png")
    (out / "zzz.png").write_bytes(b"\x89PNG\r\n\x1a\n not a plot of this sweep")
    res = _release(sweep, out, "local")
    assert res.exit_code == 0, res.output
    assert "not published: I=8/aaa-notes.png" in res.output and "not published: zzz.png" in res.output
    hub = LocalHub.default()
    assert not [p for p in hub.path("local/tiny-cpu-I8", repo_type="model").rglob("*") if p.suffix == ".png"]
    data = hub.path("local/tiny-cpu")
    assert sorted(p.name for p in data.rglob("*.png")) == ["phase_transition.png"]
    drawn = (out / "phase_transition.png").read_bytes()
    assert json.loads((out / "plots.json").read_text()) == {
        "plots": {"phase_transition.png": hashlib.sha256(drawn).hexdigest()}}
    assert (data / "phase_transition.png").read_bytes() == drawn


@pytest.mark.slow
def test_a_plot_changed_after_it_was_drawn_is_not_published(study, monkeypatch):
    from publishing.localhub import LocalHub
    from sweeps import release

    sweep, out = study
    draw = release.make_plots

    def draw_then_swap(s, rows):
        made = draw(s, rows)
        (s.out / "phase_transition.png").write_bytes(b"\x89PNG\r\n\x1a\n swapped in after drawing")
        return made

    monkeypatch.setattr(release, "make_plots", draw_then_swap)
    res = _release(sweep, out, "local")
    assert res.exit_code == 2 and res.output.count("\n") == 1, res.output
    assert "phase_transition.png is not the plot the sweep drew" in res.output
    assert not LocalHub.default().exists("local/tiny-cpu")
