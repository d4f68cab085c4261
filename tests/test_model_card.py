"""Model cards: standard Hub card data, a training section with full provenance, no machine paths."""

from __future__ import annotations

import pytest

from cards.model_card import TrainingRecord, redact_paths, render_model_card, write_model_card

FP = "ab" * 32


def _record(**changes) -> TrainingRecord:
    base = dict(
        model_name="gpt2-rewrite-i1000",
        dataset={"source": "local", "repo_id": "org/rewrite-i1000", "revision": "v1.2.0", "fingerprint": FP},
        train_split="train",
        train_rows=1000,
        eval_split="test_seen",
        eval_rows=100,
        method="from scratch: GPT-2, 6 layers, 256 wide, 4 heads",
        hardware="1 x NVIDIA H100 80GB HBM3",
        precision="bf16 mixed",
        world_size=1,
        distributed="NO",
        global_steps=500,
        epochs=50.0,
        runtime_s=3725.0,
        train_loss=0.01234,
        eval_loss=0.02346,
        tokenizer_note="char-level, 26 characters + 3 specials",
        recipe_name="gpt2-scratch-paper.yaml",
        recipe_yaml="dataset: org/rewrite-i1000\noutput_dir: /home/someone/runs/paper\nlearning_rate: 1.0e-3\n",
        overrides=["--output_dir", "/scratch/me/runs/x", "--learning_rate", "5e-4"],
        example_prompt="ab -> c\nxaby\n",
        versions={"torch": "2.13.0", "trl": "1.16.0"},
        tags=["from-scratch"],
    )
    base.update(changes)
    return TrainingRecord(**base)


def test_card_data_is_standard_hub_metadata():
    card = render_model_card(_record(), license="apache-2.0")
    data = card.data.to_dict()
    assert data["model_name"] == "gpt2-rewrite-i1000"
    assert data["library_name"] == "transformers"
    assert data["pipeline_tag"] == "text-generation"
    assert data["datasets"] == ["org/rewrite-i1000"]
    assert data["license"] == "apache-2.0"
    assert {"instruction-diversity", "trl", "sft", "from-scratch"} <= set(data["tags"])
    assert "base_model" not in data  # from scratch
    assert data["training_data"] == {
        "dataset": "org/rewrite-i1000", "source": "local", "revision": "v1.2.0", "fingerprint": FP,
    }


def test_body_records_the_training_run():
    text = str(render_model_card(_record()))
    for needle in (
        "org/rewrite-i1000", "v1.2.0", FP, "test_seen", "1 x NVIDIA H100 80GB HBM3", "bf16 mixed",
        "| world size | 1 (NO) |", "500 (50.00 epochs)", "1 h 02 min", "0.0123", "0.0235",
        "learning_rate: 1.0e-3", "gpt2-scratch-paper.yaml", "--learning_rate 5e-4", "char-level",
        "prompt = 'ab -> c\\nxaby\\n'",
    ):
        assert needle in text, needle
    assert "## Training" in text
    assert "## Evaluation" not in text and "## Results" not in text and "model-index" not in text


def test_no_machine_paths_in_card():
    text = str(render_model_card(_record()))
    assert "/home/someone" not in text and "/scratch/me" not in text
    assert ".../paper" in text and ".../x" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("output_dir: /home/me/runs/x", "output_dir: .../x"),
        ("--output_dir=/tmp/a/b", "--output_dir=.../b"),
        ("~/data/set", ".../set"),
        ("runs/tiny-cpu", "runs/tiny-cpu"),
        ("https://huggingface.co/org/name", "https://huggingface.co/org/name"),
        ("lr 1e-3/2", "lr 1e-3/2"),
        ("output_dir: /home/John Smith/runs/x", "output_dir: .../x"),
        ('output_dir: "/home/John Smith/runs/x"  # mine', 'output_dir: ".../x"  # mine'),
        ("C:\\Users\\John Smith\\runs\\x", ".../x"),
        ("saved in /home/John Smith/runs/x today", "saved in .../x today"),
    ],
)
def test_redact_paths(text, expected):
    assert redact_paths(text) == expected


def test_pretrained_base_model_and_folder_dataset():
    record = _record(
        base_model="meta-llama/Llama-2-7b-hf",
        base_model_source="hub",
        base_revision="main",
        method="LoRA (r=256, alpha=256) on 8-bit weights",
        dataset={"source": "folder", "repo_id": None, "revision": None, "fingerprint": None, "folder_name": "enc"},
        tokenizer_note=None,
        tags=["lora"],
    )
    card = render_model_card(record)
    assert card.data.base_model == "meta-llama/Llama-2-7b-hf"
    assert card.data.datasets is None
    text = str(card)
    assert "`meta-llama/Llama-2-7b-hf` fine-tuned" in text and "folder `enc`" in text
    assert "not recorded" in text  # no revision / fingerprint for a plain folder
    assert "| tokenizer |" not in text


def test_written_card_loads_and_takes_eval_results(tmp_path):
    from huggingface_hub import EvalResult, ModelCard, metadata_load

    path = write_model_card(tmp_path, _record(), repo_id="org/gpt2-x", version="v1.0.0")
    card = ModelCard.load(path)
    assert 'from_pretrained("org/gpt2-x", revision="v1.0.0")' in card.text
    assert metadata_load(path)["model_name"] == "gpt2-rewrite-i1000"
    # What the evaluation adds later: model-index results on the same card data.
    card.data.eval_results = [
        EvalResult(task_type="text-generation", dataset_type="org/rewrite-i1000", dataset_name="rewrite",
                   dataset_split="test_unseen", metric_type="exact_match", metric_value=0.5)
    ]
    card.save(path)
    assert metadata_load(path)["model-index"][0]["results"][0]["metrics"][0]["value"] == 0.5


@pytest.mark.parametrize(
    ("source", "repo_id", "expected"),
    [
        ("hub", "org/data", "org/data"),
        ("local", "org/data", "org/data"),  # a local copy of a Hub-style repo
        ("local", "local/data", None),  # exists on this machine only
        ("local", "data", None),
        ("folder", None, None),
    ],
)
def test_only_hub_ids_reach_the_metadata(source, repo_id, expected):
    from cards.model_card import hub_id

    assert hub_id(source, repo_id) == expected
    record = _record(dataset={"source": source, "repo_id": repo_id, "revision": None, "fingerprint": FP,
                              "folder_name": "f"}, base_model=repo_id or "f", base_model_source=source)  # fmt: skip
    data = render_model_card(record).data.to_dict()
    assert data.get("datasets") == ([expected] if expected else None)
    assert data.get("base_model") == expected


def test_no_token_in_card():
    secret = "hf_" + "A1b2C3d4" * 5
    record = _record(
        recipe_yaml="hub_token: " + secret + "\nlearning_rate: 1.0e-3\n",
        overrides=["--hub_token", secret, "--push_to_hub", "true", "--token=" + "sekrit"],
    )
    text = str(render_model_card(record))
    assert secret not in text and "sekrit" not in text
    assert "hub_token: ***" in text and "--hub_token ***" in text and "--token=***" in text
    assert "--push_to_hub true" in text and "learning_rate: 1.0e-3" in text


def test_no_secret_or_user_name_in_card():
    record = _record(
        recipe_yaml="wandb_api_key: abc123secret\nDB_Password: pw-42-secret\n  openai_key: sk-nested-secret\n"
        "output_dir: /home/John Smith/runs/x\nlearning_rate: 1.0e-3\nauthor: kept\nmax_new_tokens: 17\n"
        "tokenizer_name: char-level\n",
        overrides=["--output_dir", "/home/John Smith/runs/y", "--data_dir", "data/set", "--WANDB-API-KEY", "cli-secret-1",
                   "--aws_secret_access_key=cli-secret-2", "--auth_header", "Bearer cli-secret-3", "--credentials", "c4"],
    )
    text = str(render_model_card(record))
    for leaked in ("abc123secret", "pw-42-secret", "sk-nested-secret", "cli-secret", "c4", "John", "Smith"):
        assert leaked not in text, leaked
    for kept in ("wandb_api_key: ***", "DB_Password: ***", "openai_key: ***", "output_dir: .../x", "author: kept",
                 "max_new_tokens: 17", "tokenizer_name: char-level",  # token counts and tokenizers are no secrets
                 "--output_dir .../y --data_dir data/set --WANDB-API-KEY *** --aws_secret_access_key=***"):
        assert kept in text, kept
