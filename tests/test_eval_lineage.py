"""Evaluation lineage: the training data read back from a card as training writes it, found, and compared."""

from __future__ import annotations

import shutil
from pathlib import Path

import datasets

from cards.model_card import TrainingRecord, write_model_card
from eval.lineage import card_training_data, compare, label, locate, text_to_id, train_counts, training_for
from publishing.resolve import Resolved, resolve
from publishing.targets import publish_folder

FP = "ab" * 32


def training_card(folder: Path, dataset: dict) -> None:
    """The card training/sft.py writes (cards.model_card), with ``dataset`` = Resolved.describe() of its data."""
    folder.mkdir(parents=True, exist_ok=True)
    write_model_card(folder, TrainingRecord(
        model_name="m", dataset=dataset, train_split="train", train_rows=10, method="from scratch", hardware="cpu",
        precision="fp32", world_size=1, distributed="NO", global_steps=1, epochs=1.0, runtime_s=1.0))


def test_the_card_training_writes_names_its_data(tmp_path, tiny_dataset):
    data = resolve(str(tiny_dataset))
    training_card(tmp_path / "model", data.describe())
    card = card_training_data(resolve(str(tmp_path / "model"), repo_type="model"))
    assert card == {"dataset": tiny_dataset.name, "source": "folder", "revision": None, "fingerprint": data.fingerprint}
    training_card(tmp_path / "hubbed", {"source": "local", "repo_id": "org/data", "revision": "v1.2.0", "fingerprint": FP})
    card = card_training_data(resolve(str(tmp_path / "hubbed"), repo_type="model"))
    assert card == {"dataset": "org/data", "source": "local", "revision": "v1.2.0", "fingerprint": FP}
    (tmp_path / "none").mkdir()
    assert card_training_data(resolve(str(tmp_path / "none"), repo_type="model")) is None  # no README.md


def test_a_folder_is_found_only_by_name_and_fingerprint(tmp_path, tiny_dataset, monkeypatch):
    model = Resolved("folder", "m", None, None, tmp_path / "run" / "model")
    fp = resolve(str(tiny_dataset)).fingerprint
    card = {"dataset": "tiny", "source": "folder", "revision": None, "fingerprint": fp}
    monkeypatch.chdir(tmp_path)
    assert locate(card, model) is None
    shutil.copytree(tiny_dataset, tmp_path / "tiny")  # in the working directory
    assert locate(card, model) == (str(tmp_path / "tiny"), None)
    shutil.copytree(tiny_dataset, tmp_path / "run" / "tiny")  # beside the model: preferred
    assert locate(card, model) == (str(tmp_path / "run" / "tiny"), None)
    assert locate({**card, "fingerprint": FP}, model) is None  # same name, other contents
    assert locate({**card, "fingerprint": None}, model) is None  # nothing to check it by
    for name in ("../tiny", "run/tiny", "..", "/etc"):  # a card names one folder, never a path
        assert locate({**card, "dataset": name}, model) is None
    shutil.rmtree(tmp_path / "run" / "tiny")
    (tmp_path / "run" / "tiny").symlink_to(tmp_path / "tiny")
    assert locate(card, model) == (str(tmp_path / "tiny"), None)  # the link is skipped, the real folder found
    assert locate({**card, "source": "local", "dataset": "org/x", "revision": "v1.0.0"}, model) == ("local:org/x", "v1.0.0")
    assert locate({**card, "source": "hub", "dataset": "org/x", "revision": "abc"}, model) == ("hub:org/x", "abc")


def evaluated(kind="local", repo_id="org/data", revision="v1.0.0", fingerprint=None) -> Resolved:
    return Resolved(kind, repo_id, repo_id, revision, None, {"fingerprint": fingerprint} if fingerprint else {})


def test_compare_by_fingerprint_then_by_repository_and_revision():
    card = {"dataset": "org/data", "source": "local", "revision": "v1.0.0", "fingerprint": FP}
    assert compare(card, evaluated(fingerprint=FP)) == ("same", None)
    match, warning = compare(card, evaluated(revision="v1.1.0", fingerprint="cd" * 32))
    assert match == "different" and "a different dataset or version" in warning and "v1.1.0" in warning
    no_fp = {**card, "fingerprint": None}  # data not made by datagen: repository and revision decide
    assert compare(no_fp, evaluated()) == ("same", None)
    assert compare(no_fp, evaluated(revision="v2.0.0"))[0] == "different"
    assert compare({**no_fp, "revision": None}, evaluated())[0] == "unknown"  # latest then, and now: cannot tell
    match, warning = compare(None, evaluated())
    assert match == "unknown" and "no card naming its training data" in warning


def test_training_data_found_with_another_fingerprint_is_not_taken_for_it(tmp_path, tiny_dataset):
    """The card names a local hub version, which is there but holds other rows than the model was trained on (a
    version folder edited by hand, a Hub tag moved): its I, S, alpha and train split are not the model's, so none
    is used; the note says why. With the fingerprint the card records, the same version is used."""
    publish_folder(tiny_dataset, "org/data")  # v1.0.0
    holds = resolve(str(tiny_dataset)).fingerprint
    card = {"dataset": "org/data", "source": "local", "revision": "v1.0.0", "fingerprint": FP}
    model = Resolved("folder", "m", None, None, tmp_path / "model")
    scored = evaluated(kind="folder", repo_id=None, revision=None, fingerprint="cd" * 32)  # other data is scored
    stale = training_for(card, model, scored, {})
    assert stale.match == "different" and stale.meta is None and stale.train is None
    assert "local:org/data no longer holds the training data" in stale.note and holds[:12] in stale.note
    found = training_for({**card, "fingerprint": holds}, model, scored, {})
    assert found.note is None and found.meta["fingerprint"] == holds and len(found.train) == 24 * 8


def test_a_card_that_names_no_training_data_names_none(tmp_path):
    """Only a ``training_data`` mapping with a dataset names the training data; a card that cannot be parsed,
    or whose entry is anything else, names none (the evaluation then says it cannot tell)."""
    def card(folder: str, text: str):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "README.md").write_text(text)
        return card_training_data(resolve(str(tmp_path / folder), repo_type="model"))

    assert card("list", "---\ntraining_data: [org/data]\n---\n") is None
    assert card("nodataset", "---\ntraining_data: {source: local, revision: v1.0.0}\n---\n") is None
    assert card("empty", "") is None
    assert card("broken", "---\ntraining_data: {dataset: [\n---\n") is None
    assert card("extra", "---\ntraining_data: {dataset: org/d, source: hub, secret: x}\n---\n") == {
        "dataset": "org/d", "source": "hub", "revision": None, "fingerprint": None}


def test_how_messages_name_the_training_data():
    assert label({"dataset": "org/data", "source": "local", "revision": "v1.0.0", "fingerprint": FP}) == (
        "local org/data@v1.0.0, fingerprint abababababab")
    assert label({"dataset": "tiny", "source": "folder", "revision": None, "fingerprint": None}) == "folder tiny"
    assert label({"dataset": "x", "source": None}) == "? x"


def test_each_way_the_training_data_is_or_is_not_had(tmp_path, tiny_dataset, monkeypatch):
    """training_for, case by case: the evaluation data itself (with or without a train split), no card, a card
    naming data that is not here, data that cannot be loaded, and data found by name and fingerprint."""
    data = resolve(str(tiny_dataset))
    model = Resolved("folder", "m", None, None, tmp_path / "run" / "model")
    card = {"dataset": "tiny", "source": "folder", "revision": None, "fingerprint": data.fingerprint}
    train = {"train": datasets.Dataset.from_dict({"instruction_id": [1]})}
    same = training_for(card, model, data, train)
    assert (same.match, same.warning, same.note) == ("same", None, None)
    assert same.describe() == {"data": card, "match": "same", "warning": None, "note": None}  # results' "training"
    assert same.meta == data.meta and same.train is train["train"]
    alone = training_for(card, model, data, {})
    assert alone.match == "same" and alone.train is None and alone.note == "the training data has no train split"
    other = evaluated(kind="folder", repo_id=None, revision=None, fingerprint="cd" * 32)
    none = training_for(None, model, other, {})
    assert (none.match, none.meta, none.train) == ("unknown", None, None)
    assert none.note == "the model has no card naming its training data" and "no card" in none.warning
    monkeypatch.chdir(tmp_path)
    missing = training_for(card, model, other, {})
    assert missing.match == "different" and missing.meta is None and missing.train is None
    assert missing.note == f"the training data (folder tiny, fingerprint {data.fingerprint[:12]}) was not found here"
    shutil.copytree(tiny_dataset, tmp_path / "run" / "tiny")  # beside the model: found
    found = training_for(card, model, other, {})
    assert found.note is None and found.meta == data.meta and len(found.train) == 24 * 8
    gone = training_for({"dataset": "org/none", "source": "local", "revision": "v1.0.0", "fingerprint": FP},
                        model, other, {})
    assert gone.meta is None and gone.note.startswith("the training data (local org/none@v1.0.0, fingerprint "
                                                      "abababababab) cannot be loaded: ")


def test_training_counts_and_rule_ids_of_a_train_split():
    train = datasets.Dataset.from_dict({"instruction_id": [3, 1, 3, 3, 7, 1],
                                        "instruction": ["c", "a", "c", "c", "g", "a"], "input": list("uvwxyz")})
    assert train_counts(train) == {3: 3, 1: 2, 7: 1}
    assert text_to_id(train) == {"c": 3, "a": 1, "g": 7}


def test_a_card_cannot_steer_the_search_elsewhere(tmp_path, tiny_dataset, monkeypatch):
    """The training data a card names is looked for only as a folder of that one name beside a folder model or
    in the working directory, and only with the fingerprint the card records: "", ".", "..", a name with a
    backslash, a card without fingerprint or of another source find nothing, even where such a folder holds
    the data."""
    fp = resolve(str(tiny_dataset)).fingerprint
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    card = {"dataset": "data", "source": "folder", "revision": None, "fingerprint": fp}
    inside = Resolved("folder", "m", None, None, data / "model")  # a model saved inside the data folder
    deeper = Resolved("folder", "m", None, None, data / "runs" / "model")
    (data / "runs").mkdir()
    assert locate(card, inside) == (str(tmp_path / "data"), None)  # the control: by its name, in the working dir
    for name, model in (("", inside), (".", inside), ("..", deeper)):  # each would lead to the data folder
        assert locate({**card, "dataset": name}, model) is None, name
    shutil.copytree(tiny_dataset, tmp_path / "back\\slash")
    assert locate({**card, "dataset": "back\\slash"}, inside) is None
    (tmp_path / "plain").mkdir()  # a folder without datagen.json, for a card without fingerprint
    assert locate({**card, "dataset": "plain", "fingerprint": None}, inside) is None
    assert locate({**card, "source": "elsewhere"}, inside) is None
    beside_version = Resolved("local", "org/m", "org/m", "v1.0.0", tmp_path / "hub" / "versions" / "v1.0.0")
    shutil.copytree(tiny_dataset, tmp_path / "hub" / "versions" / "beside")  # beside a local-hub model: not looked at
    assert locate({**card, "dataset": "beside"}, beside_version) is None
    assert locate({**card, "dataset": "beside"}, Resolved("folder", "m", None, None, tmp_path / "hub" / "versions" / "v1.0.0")) == (
        str(tmp_path / "hub" / "versions" / "beside"), None)  # the same place beside a folder model is
