"""Publishing sends exactly what the metadata lists (a dataset) or the trainer wrote (a model): never a stray file,
never a symlink's target, never a token. Also: hostile names in a Hub repository on pull, and repository names
checked before anything is made or sent.

The attack files are the ones reported in issue 11: a stray ``secret.txt``, a ``token_link`` symlink and
``data/zz-token.parquet`` pointing at ``~/.cache/huggingface/token``; HOME is a temporary folder holding a fake
token, never the real one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hub_server import serve

from core.errors import ConfigError
from publishing.cli import main
from publishing.localhub import LocalHub
from publishing.targets import HubTarget

FAKE_TOKEN = "hf_FAKE_attack_token_0123456789"


def listed_files(folder) -> list[str]:
    """The data files a dataset folder's datagen.json lists (read as plain JSON, not through the code under test)."""
    meta = json.loads((Path(folder) / "datagen.json").read_text())
    files = [f for split in meta["splits"].values() for f in split["files"]]
    assert files and all(f.startswith("data/") for f in files)
    return files


@pytest.fixture
def hub(monkeypatch, tmp_path):
    yield from serve(monkeypatch, tmp_path)


@pytest.fixture
def token_file(tmp_path, monkeypatch) -> Path:
    """A fake Hugging Face token in a temporary HOME (what an attacker's symlink points at)."""
    home = tmp_path / "home"
    token = home / ".cache" / "huggingface" / "token"
    token.parent.mkdir(parents=True)
    token.write_text(FAKE_TOKEN)
    monkeypatch.setenv("HOME", str(home))
    return token


def run(*args, ok: bool = True):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def attacked_copy(tiny_dataset: Path, tmp_path: Path, token: Path) -> Path:
    folder = tmp_path / "attacked"
    shutil.copytree(tiny_dataset, folder)
    (folder / "secret.txt").write_text("my bank password\n")
    (folder / "token_link").symlink_to(token)
    (folder / "data" / "zz-token.parquet").symlink_to(token)
    return folder


def everything_under(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def test_push_to_the_local_hub_refuses_stray_files_and_symlinks(tiny_dataset, tmp_path, token_file):
    folder = attacked_copy(tiny_dataset, tmp_path, token_file)
    res = run("push", "--from-folder", folder, "--local-name", "tiny", ok=False)
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
    for named in ("unlisted secret.txt", "symlink token_link", "symlink data/zz-token.parquet"):
        assert named in res.output
    hub = LocalHub.default()
    assert hub.versions("local/tiny") == []
    assert not hub.root.exists() or FAKE_TOKEN.encode() not in everything_under(hub.root)

    # once the user removes them, the folder publishes exactly datagen.json, its shards and the card
    for p in ("secret.txt", "token_link", "data/zz-token.parquet"):
        (folder / p).unlink()
    run("push", "--from-folder", folder, "--local-name", "tiny", "--quiet")
    published = hub.path("local/tiny", "v1.0.0")
    assert sorted(p.relative_to(published).as_posix() for p in published.rglob("*")) == sorted(
        ["README.md", "data", "datagen.json", *listed_files(folder)]
    )


@pytest.mark.parametrize("where", ["datagen.json", "README.md", "data", "data/train-00000-of-00001.parquet"])
def test_a_listed_name_that_is_a_symlink_is_refused(tiny_dataset, tmp_path, token_file, where):
    """Even a name datagen.json lists (or the card, or the data folder) is refused as a symlink, not followed."""
    folder = tmp_path / "linked"
    shutil.copytree(tiny_dataset, folder)
    real = tmp_path / "elsewhere"
    (folder / where).rename(real)
    (folder / where).symlink_to(real)
    res = run("push", "--from-folder", folder, "--local-name", "tiny", ok=False)
    assert res.exit_code == 2 and "Traceback" not in res.output and "symlink" in res.output and where in res.output
    assert LocalHub.default().versions("local/tiny") == []


def test_push_to_the_hub_refuses_them_before_any_call(hub, tiny_dataset, tmp_path, token_file):
    folder = attacked_copy(tiny_dataset, tmp_path, token_file)
    res = run("push", "--from-folder", folder, "--repo-id", "org/tiny", ok=False)
    assert res.exit_code == 2 and "symlink data/zz-token.parquet" in res.output and "unlisted secret.txt" in res.output
    assert not {"repos/create", "preupload", "commit", "lfs-upload"} & set(hub.endpoints())
    stored = b"".join(hub.blobs.values()) + b"".join(hub.lfs_objects.values())
    assert FAKE_TOKEN.encode() not in stored


def test_the_hub_version_holds_exactly_the_listed_files(hub, tiny_dataset):
    run("push", "--from-folder", tiny_dataset, "--repo-id", "org/tiny", "--quiet")
    assert sorted(hub.files("org/tiny", "v1.0.0")) == sorted(
        [".gitattributes", "README.md", "datagen.json", *listed_files(tiny_dataset)]
    )


def test_a_fifo_under_a_listed_name_does_not_block(tiny_dataset, tmp_path):
    folder = tmp_path / "fifo"
    shutil.copytree(tiny_dataset, folder)
    shard = folder / "data/train-00000-of-00001.parquet"
    shard.unlink()
    os.mkfifo(shard)
    res = run("push", "--from-folder", folder, "--local-name", "tiny", ok=False)
    assert res.exit_code == 2 and "special file data/train-00000-of-00001.parquet" in res.output


# -- the model a training run publishes ---------------------------------------------------------------------------


EVENTS = "runs/Dec01_12-00-00_host/events.out.tfevents.1733054400.host.123.0"  # what report_to: tensorboard writes


def trained_folder(root: Path) -> Path:
    """What training/sft.py leaves in output_dir (as in the tests' trained models), plus a checkpoint."""
    out = root / "run"
    files = {
        "config.json": '{"n_layer": 2}', "generation_config.json": "{}", "model.safetensors": "\x00weights",
        "tokenizer.json": "{}", "tokenizer_config.json": "{}", "README.md": "---\n{}\n---\n# run\n",
        "train_results.json": "{}", "all_results.json": "{}", "training_args.bin": "pickle",
        "checkpoint-5/model.safetensors": "\x00old", "checkpoint-5/optimizer.pt": "state", EVENTS: "tb",
    }
    for rel, text in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    return out


PUBLISHED_MODEL = ["README.md", "all_results.json", "config.json", "generation_config.json", "model.safetensors",
                   EVENTS, "tokenizer.json", "tokenizer_config.json", "train_results.json"]


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir())


def test_model_publish_refuses_a_diary_and_a_symlinked_token(tmp_path, token_file):
    from training import publish

    out = trained_folder(tmp_path)
    (out / "diary.txt").write_text("dear diary\n")
    (out / "token_link").symlink_to(token_file)
    (out / "vocab.json").symlink_to(token_file)  # an allowed name, but a link
    with pytest.raises(ConfigError) as err:
        publish.publish_model(out, "org/model")
    for named in ("unlisted diary.txt", "symlink token_link", "symlink vocab.json"):
        assert named in str(err.value)
    assert "training_args.bin" not in str(err.value) and "checkpoint-5" not in str(err.value)
    assert LocalHub.default().versions("org/model", "model") == []

    for p in ("diary.txt", "token_link", "vocab.json"):
        (out / p).unlink()
    done = publish.publish_model(out, "org/model")
    assert files_under(Path(done.location)) == PUBLISHED_MODEL
    assert FAKE_TOKEN.encode() not in everything_under(Path(done.location))


def test_model_publish_refuses_hidden_files_sub_folders_and_hard_links(tmp_path, token_file):
    from training import publish

    out = trained_folder(tmp_path)
    (out / ".notes").write_text("x")
    (out / "extra").mkdir()
    (out / "extra" / "weights.bin").write_text("x")
    os.link(token_file, out / "merges.txt")
    with pytest.raises(ConfigError) as err:
        publish.model_files(out)
    assert "unlisted .notes" in str(err.value) and "folder extra/" in str(err.value)
    assert "extra/weights.bin" not in str(err.value)  # the folder is named once
    assert "hard-linked merges.txt" in str(err.value)


def test_model_publish_keeps_only_the_event_files_of_runs(tmp_path, token_file):
    """runs/ is looked into: its TensorBoard event files are published, anything else there refuses the publish."""
    from training import publish

    out = trained_folder(tmp_path)
    log = out / EVENTS.rsplit("/", 1)[0]
    (log / "notes.txt").write_text("x")  # a stray file beside the event file
    (log / "events.out.tfevents.2.host.1.0").symlink_to(token_file)  # an event file's name, but a link
    (out / "runs" / "elsewhere").symlink_to(token_file.parent, target_is_directory=True)
    (out / "runs" / ".hidden").mkdir()
    (out / "runs" / ".hidden" / "events.out.tfevents.3.host.1.0").write_text("tb")
    os.link(token_file, out / "runs" / "events.out.tfevents.5.host.1.0")
    with pytest.raises(ConfigError) as err:
        publish.model_files(out)
    for named in (f"unlisted {log.relative_to(out).as_posix()}/notes.txt",
                  f"symlink {log.relative_to(out).as_posix()}/events.out.tfevents.2.host.1.0",
                  "symlink runs/elsewhere", "folder runs/.hidden/",
                  "hard-linked runs/events.out.tfevents.5.host.1.0"):
        assert named in str(err.value)
    assert EVENTS not in str(err.value)
    for extra in ("elsewhere", ".hidden", "events.out.tfevents.5.host.1.0"):
        path = out / "runs" / extra
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    (log / "notes.txt").unlink()
    (log / "events.out.tfevents.2.host.1.0").unlink()
    (log / "sub").mkdir()  # a nested run folder (hyperparameter-search trials) with its own event file
    (log / "sub" / "events.out.tfevents.6.host.1.0").write_text("trial")
    assert sorted(publish.model_files(out)) == sorted([*PUBLISHED_MODEL, log.relative_to(out).as_posix()
                                                      + "/sub/events.out.tfevents.6.host.1.0"])


def test_a_runs_entry_that_is_a_file_or_a_link_is_refused(tmp_path, token_file):
    from training import publish

    out = trained_folder(tmp_path)
    shutil.rmtree(out / "runs")
    (out / "runs").symlink_to(token_file.parent, target_is_directory=True)
    with pytest.raises(ConfigError, match="symlink runs"):
        publish.model_files(out)
    (out / "runs").unlink()
    (out / "runs").write_text("x")
    with pytest.raises(ConfigError, match="unlisted runs"):
        publish.model_files(out)


def test_model_publish_to_the_hub_sends_only_the_model(hub, tmp_path, token_file):
    from training import publish

    out = trained_folder(tmp_path)
    (out / "diary.txt").write_text("dear diary\n")
    with pytest.raises(ConfigError, match="unlisted diary.txt"):
        publish.publish_model(out, "org/model", hub=True)
    assert "repos/create" not in hub.endpoints()
    (out / "diary.txt").unlink()
    publish.publish_model(out, "org/model", hub=True)
    assert sorted(hub.files("org/model", "v1.0.0", "model")) == sorted([".gitattributes", *PUBLISHED_MODEL])


def test_publish_module_command_line(tmp_path, capsys):
    from training import publish

    out = trained_folder(tmp_path)
    (out / "diary.txt").write_text("x")
    assert publish.main([str(out), "org/model"]) == 2
    assert "unlisted diary.txt" in capsys.readouterr().err
    (out / "diary.txt").unlink()
    assert publish.main([str(out), "org/model"]) == 0
    assert "published: org/model v1.0.0" in capsys.readouterr().out


def test_training_refuses_a_folder_of_other_files_before_it_starts(tmp_path):
    from training.publish import check_output_dir

    check_output_dir(tmp_path / "not-yet")  # a new output folder is fine
    out = trained_folder(tmp_path)
    check_output_dir(out)  # so is a finished (or resumed) run
    (out / "notes.md").write_text("x")
    with pytest.raises(ConfigError, match="unlisted notes.md"):
        check_output_dir(out)


# -- pull: the names a repository lists ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../x", "/etc/x", "data/../../x", "data/./x", "data//x", "a\\..\\x", ".git/config",
                                  ".cache/huggingface/download/x.metadata"])
def test_pull_refuses_hostile_names_and_writes_nothing(hub, tiny_dataset, tmp_path, name):
    HubTarget().upload(tiny_dataset, "org/tiny", "v1.0.0", "dataset", False, "publish")
    hub.add_entry("org/tiny", name, b"pwned")
    out = tmp_path / "work" / "pulled"
    out.parent.mkdir()
    res = run("pull", "org/tiny", "-o", out, ok=False)
    assert res.exit_code == 2 and "Traceback" not in res.output and "refused" in res.output and repr(name) in res.output
    assert list(out.parent.iterdir()) == []  # no folder, no temporary left
    assert not (tmp_path / "x").exists() and not (tmp_path / "work" / "x").exists() and not Path("/etc/x").exists()


def test_pull_refuses_an_entry_that_is_not_a_file(hub, tiny_dataset, tmp_path):
    HubTarget().upload(tiny_dataset, "org/tiny", "v1.0.0", "dataset", False, "publish")
    hub.add_entry("org/tiny", "data/link", b"/root/.cache/huggingface/token", kind="symlink")
    res = run("pull", "org/tiny", "-o", tmp_path / "pulled", ok=False)
    assert res.exit_code == 2 and "neither a plain file nor a folder" in res.output and "data/link" in res.output
    assert not (tmp_path / "pulled").exists()


def test_pull_writes_no_download_records(hub, tiny_dataset, tmp_path):
    run("push", "--from-folder", tiny_dataset, "--repo-id", "org/tiny", "--quiet")
    out = tmp_path / "pulled"
    run("pull", "org/tiny", "-o", out)
    assert not (out / ".cache").exists()
    # so a pulled folder can be pushed again as it is
    assert "already holds this data" in run("push", "--from-folder", out, "--repo-id", "org/tiny", "--quiet").output


def test_pull_from_the_local_hub_refuses_a_planted_link(tiny_dataset, tmp_path, token_file):
    run("push", "--from-folder", tiny_dataset, "--local-name", "tiny", "--quiet")
    version = LocalHub.default().path("local/tiny", "v1.0.0")
    (version / "data" / "extra.parquet").symlink_to(token_file)
    res = run("pull", "local/tiny", "-o", tmp_path / "pulled", ok=False)
    assert res.exit_code == 2 and "symlink data/extra.parquet" in res.output
    assert not (tmp_path / "pulled").exists()


# -- names checked before anything is made or sent ------------------------------------------------------------------


@pytest.mark.parametrize("repo_id", ["/abs/x", "org/x/", "org/", "org/x.git", "o/" + "x" * 97, "", "org/a--b",
                                     "nameonly", "../x", "org/x y"])
def test_bad_repo_ids_are_one_line_before_any_work(hub, repo_id, monkeypatch):
    made = []
    monkeypatch.setattr("publishing.cli.make_dataset", lambda *a, **k: made.append(a))
    res = run("push", "tiny", "--repo-id", repo_id, ok=False)
    assert res.exit_code == 2 and "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
    assert "repo-id" in res.output
    assert made == [] and hub.endpoints() == []


@pytest.mark.parametrize("name", ["", "/abs/x", "./x", "a/b/c", "a/", "x..y", "~/x"])
def test_bad_local_names_are_one_line_before_any_work(name, monkeypatch):
    made = []
    monkeypatch.setattr("publishing.cli.make_dataset", lambda *a, **k: made.append(a))
    res = run("push", "tiny", "--local-name", name, ok=False)
    assert res.exit_code == 2 and "Traceback" not in res.output and "local-name" in res.output
    assert made == [] and not LocalHub.default().root.exists()


def test_an_empty_version_is_refused(tiny_dataset):
    res = run("push", "--from-folder", tiny_dataset, "--version", "", ok=False)
    assert res.exit_code == 2 and "not a semantic version" in res.output


def test_what_is_published_is_the_copy_that_was_hashed(tiny_dataset, tmp_path, token_file, monkeypatch):
    """A shard swapped for a link to the token right after it was staged: the published bytes are the staged
    ones (read once), never the source read again."""
    import publishing.cli as push_cli  # the push stages each file through its read_hashed

    folder = tmp_path / "racy"
    shutil.copytree(tiny_dataset, folder)
    shard = "data/train-00000-of-00001.parquet"
    original = (folder / shard).read_bytes()
    real = push_cli.read_hashed

    def read_then_swap(root, rel, copy_to=None):
        out = real(root, rel, copy_to)
        if Path(root) == folder and rel == shard:
            (folder / shard).unlink()
            (folder / shard).symlink_to(token_file)
        return out

    monkeypatch.setattr(push_cli, "read_hashed", read_then_swap)
    run("push", "--from-folder", folder, "--local-name", "racy", "--quiet")
    assert (folder / shard).is_symlink()  # the swap happened during the push
    published = LocalHub.default().path("local/racy")
    assert (published / shard).read_bytes() == original
    assert FAKE_TOKEN.encode() not in everything_under(published)


def test_a_datagen_json_listing_a_path_out_of_the_folder_is_damaged(tiny_dataset, tmp_path):
    import json

    folder = tmp_path / "hostile"
    shutil.copytree(tiny_dataset, folder)
    meta = json.loads((folder / "datagen.json").read_text())
    meta["splits"]["train"]["files"] = ["data/../../secret.parquet"]
    (folder / "datagen.json").write_text(json.dumps(meta))
    for args in (["push", "--from-folder", folder], ["verify", folder, "--no-remake"]):
        res = run(*args, ok=False)
        assert res.exit_code == 2 and "lists the file 'data/../../secret.parquet'" in res.output


def test_verify_does_not_follow_a_linked_shard(tiny_dataset, tmp_path, token_file):
    folder = tmp_path / "linked"
    shutil.copytree(tiny_dataset, folder)
    shard = folder / "data/train-00000-of-00001.parquet"
    shard.unlink()
    shard.symlink_to(token_file)
    res = run("verify", folder, "--no-remake", "--quiet", ok=False)
    assert res.exit_code == 1 and "not a regular file (not read) data/train-00000-of-00001.parquet" in res.output
