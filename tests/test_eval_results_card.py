"""Scores in model cards: model-index parsed back, one body section, idempotent re-runs and re-pushes."""

from __future__ import annotations

import copy

import huggingface_hub
import pytest
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from cards.eval_card import END, START, eval_results_from, merge_eval_results, update_card
from publishing.localhub import LocalHub
from publishing.resolve import resolve
from publishing.scores import push_results
from publishing.targets import content_id, publish_folder


def make_results(accuracy_unseen=0.25, accuracy_seen=0.75, dataset="org/tiny", revision="v1.0.0") -> dict:
    def split(acc, n=40):
        return {
            "n": n, "correct": round(acc * n), "accuracy": acc, "ci_low": acc / 2, "ci_high": (1 + acc) / 2,
            "by_kind": {"noop": {"n": 10, "accuracy": 1.0}, "op": {"n": 30, "accuracy": (acc * n - 10) / 30}},
            "rule_length_column": "pattern_len", "by_rule_length": {},
        }

    return {
        "schema": "diveval/rewrite/1",
        "created": "2025-01-02T03:04:05+00:00",
        "model": {"name": "org/model", "source": "local", "repo_id": "org/model", "revision": "v1.0.0"},
        "dataset": {"name": dataset, "source": "local", "repo_id": dataset, "revision": revision, "fingerprint": "ab" * 32},
        "decode": {"confidence": 0.95},
        "splits": {"test_unseen": split(accuracy_unseen), "test_seen": split(accuracy_seen)},
    }


def training_card() -> ModelCard:
    """A card like the training helper writes: model name, datasets, a body, no eval results."""
    data = ModelCardData(model_name="tiny-gpt2", datasets=["org/tiny"], license="apache-2.0", tags=["gpt2"])
    return ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n# tiny-gpt2\n\n## Training\n\nTrained from scratch.\n")


def test_model_index_parses_back_and_validates():
    card = update_card(training_card(), make_results())
    again = ModelCard(str(card))  # what a reader of README.md sees
    results = again.data.eval_results
    assert [(r.dataset_split, r.metric_type, r.metric_value) for r in results] == [
        ("test_unseen", "exact_match", 25.0),
        ("test_seen", "exact_match", 75.0),
    ]
    r = results[0]
    assert (r.task_type, r.dataset_type, r.dataset_revision, r.dataset_config) == ("text-generation", "org/tiny", "v1.0.0", "default")
    assert again.data.model_name == "tiny-gpt2"  # kept, not replaced by the results' model name
    meta = again.data.to_dict()
    assert meta["datasets"] == ["org/tiny"] and meta["license"] == "apache-2.0"
    index = meta["model-index"]
    assert index[0]["name"] == "tiny-gpt2"
    assert {res["dataset"]["split"] for res in index[0]["results"]} == {"test_unseen", "test_seen"}
    assert "## Training" in again.text and again.text.count(START) == 1 and again.text.count(END) == 1
    assert "| org/tiny@v1.0.0 | test_unseen (unseen instructions) | 40 | 25.0% |" in again.text


def test_rerun_replaces_instead_of_duplicating():
    card = update_card(training_card(), make_results())
    text_once = str(card)
    card = update_card(ModelCard(text_once), make_results())
    assert str(card) == text_once  # same results: same card
    card = update_card(ModelCard(str(card)), make_results(0.5, 0.9, revision="v1.1.0"))
    again = ModelCard(str(card))
    values = {(r.dataset_split, r.dataset_revision): r.metric_value for r in again.data.eval_results}
    assert values == {("test_unseen", "v1.1.0"): 50.0, ("test_seen", "v1.1.0"): 90.0}
    assert again.text.count(START) == 1 and again.text.count("| org/tiny@") == 2
    # another dataset accumulates beside the first
    card = update_card(again, make_results(0.1, 0.2, dataset="org/other"))
    again = ModelCard(str(card))
    assert len(again.data.eval_results) == 4 and again.text.count("| org/other@") == 2


def test_merge_keeps_foreign_results_and_removes_duplicates():
    foreign = EvalResult(task_type="text-generation", dataset_type="openai_humaneval", dataset_name="HumanEval", metric_type="pass@1", metric_value=12.0)
    mine = eval_results_from(make_results())
    stale = copy.deepcopy(mine[0])
    stale.metric_value = 1.0
    merged = merge_eval_results([foreign, stale, copy.deepcopy(stale)], mine)
    assert merged == [foreign, mine[0], mine[1]]


def test_images_kept_until_replaced():
    card = update_card(training_card(), make_results(), images=[{"alt": "phase transition", "src": "plots/phase.png"}])
    card = update_card(ModelCard(str(card)), make_results())
    assert "![phase transition](plots/phase.png)" in card.text
    card = update_card(card, make_results(), images=[])
    assert "![" not in card.text


def test_push_to_local_hub_version_is_idempotent(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    training_card().save(folder / "README.md")
    published = publish_folder(folder, "org/model", repo_type="model")
    before = content_id(LocalHub.default().path("org/model", published.version, "model"))
    resolved = resolve("org/model", None, repo_type="model")
    for _ in range(2):
        where = push_results(resolved, make_results())
    assert "org/model" in where and published.version in where
    path = LocalHub.default().path("org/model", published.version, "model")
    card = ModelCard.load(path / "README.md")
    assert len(card.data.eval_results) == 2 and card.text.count(START) == 1
    assert content_id(path) == before  # the version is still the same content
    assert LocalHub.default().versions("org/model", "model") == [published.version]
    # publishing the same folder again is still "the same version"
    assert publish_folder(folder, "org/model", version=published.version, repo_type="model").created is False


class FakeHub:
    """The three Hub calls of a card push, in memory: model_info (head commit), README download, card push."""

    def __init__(self, readme: str | None):
        self.readme, self.head, self.pushes = readme, "c0", []

    def install(self, monkeypatch, tmp_path):
        hub = self

        class Api:
            def __init__(self, token=None):
                pass

            def model_info(self, repo_id, revision=None):
                return type("Info", (), {"sha": hub.head})()

        def download(repo_id, filename, revision=None, token=None):
            assert revision == hub.head
            if hub.readme is None:
                raise huggingface_hub.errors.EntryNotFoundError("no README.md")
            path = tmp_path / f"dl-{len(hub.pushes)}.md"
            path.write_text(hub.readme, encoding="utf-8")
            return str(path)

        def push(card, repo_id, token=None, repo_type=None, commit_message=None, parent_commit=None, **kw):
            assert parent_commit == hub.head and repo_type == "model"
            hub.readme = str(card)
            hub.pushes.append(commit_message)
            hub.head = f"c{len(hub.pushes)}"

        monkeypatch.setattr(huggingface_hub, "HfApi", Api)
        monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
        monkeypatch.setattr(ModelCard, "push_to_hub", push)


@pytest.mark.parametrize("readme", [None, "card"])
def test_hub_push_loads_head_and_updates_in_place(monkeypatch, tmp_path, readme):
    hub = FakeHub(str(training_card()) if readme else None)
    hub.install(monkeypatch, tmp_path)
    resolved = type("R", (), {"kind": "hub", "repo_id": "org/model", "path": None})()
    push_results(resolved, make_results(), token="x")
    push_results(resolved, make_results(0.5, 0.5), token="x")
    card = ModelCard(hub.readme)
    assert len(hub.pushes) == 2 and "org/tiny" in hub.pushes[0]
    assert sorted(r.metric_value for r in card.data.eval_results) == [50.0, 50.0]
    assert card.text.count(START) == 1
    assert ("## Training" in card.text) == bool(readme)


def test_code_scores_go_into_the_card_once(tmp_path):
    from cards.eval_card import update_card_with_code
    from eval.code.results import eval_results
    from publishing.scores import push_card

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "README.md").write_text("---\nmodel_name: m\n---\n# m\n")
    code = {"model": {"name": "m"}, "settings": {"sandbox": "bubblewrap"},
            "benchmarks": {"humaneval": {"problems": 164, "pass@1": {"base": 0.5, "plus": 0.25}, "plus_tests": True,
                                         "data": "HumanEvalPlus", "notes": []}}}
    resolved = resolve(str(folder), None, "model")
    for _ in range(2):  # re-running replaces instead of duplicating
        push_card(resolved, lambda c: update_card_with_code(c, code, eval_results(code)), "msg")
    card = ModelCard.load(folder / "README.md")
    entries = [(r.dataset_type, r.metric_type, r.metric_value) for r in card.data.eval_results]
    assert sorted(entries) == sorted([("openai/openai_humaneval", "pass@1", 0.5), ("evalplus/humanevalplus", "pass@1", 0.25)])
    assert card.text.count("<!-- diveval:code:start -->") == 1



def test_non_hub_datasets_stay_out_of_model_index():
    """As in the training card, only Hub ids reach the metadata: local data is scored in the body table only."""
    folder = make_results(dataset="enc")
    folder["dataset"].update(source="folder", repo_id=None, revision=None, folder_name="enc")
    card = training_card()
    for results in (make_results(dataset="local/rewrite-tiny"), make_results(dataset="tiny"), folder):
        assert eval_results_from(results) == []
        card = update_card(ModelCard(str(card)), results)
    again = ModelCard(str(card))
    assert "model-index" not in again.data.to_dict() and again.data.model_name == "tiny-gpt2"
    assert "| local/rewrite-tiny@v1.0.0 | test_unseen" in again.text and "| tiny@v1.0.0 | test_seen" in again.text
    assert "| enc | test_unseen" in again.text
    # beside a Hub dataset's entries (a local hub copy of org/tiny), which keep their local name out as well
    card = update_card(again, make_results())
    index = ModelCard(str(card)).data.to_dict()["model-index"][0]["results"]
    assert {(r["dataset"]["type"], r["dataset"]["name"]) for r in index} == {("org/tiny", "org/tiny")}
    assert len(index) == 2
