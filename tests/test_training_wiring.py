"""Recipe parsing, hardware-dependent choices, and the LLM wiring (LoRA, 8-bit) on tiny models built from configs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pytest.importorskip("trl")

from core.errors import ConfigError  # noqa: E402
from training.sft import main, parse_recipe, validate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "training" / "recipes"
TINY = RECIPES / "tiny-cpu.yaml"
LLAMA = RECIPES / "llama2-7b-lora-encrypted.yaml"


# ---- recipes and the parser ------------------------------------------------------------------------------


@pytest.mark.parametrize("recipe", sorted(p.name for p in RECIPES.glob("*.yaml")))
def test_every_shipped_recipe_parses(recipe):
    from training import grpo
    from training.hardware import auto_defaults

    parse = grpo.parse if "grpo" in recipe else parse_recipe  # a GRPO recipe: training/grpo.py's fields
    r = parse(["--config", str(RECIPES / recipe), "--dataset", "anything"])
    assert r.name == recipe and r.text.startswith("#")
    auto = auto_defaults()  # no recipe fixes the precision: fp32 on a CPU, bf16 on a GPU that has it
    assert (r.training.bf16, r.training.use_cpu) == (auto["bf16"], auto["use_cpu"])
    assert not r.training.gradient_checkpointing or r.model.model_name_or_path  # small models never checkpoint


def test_unknown_recipe_key_is_an_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.read_text() + "\nn_layers: 3\n")
    with pytest.raises(ConfigError, match="n_layers"):
        parse_recipe(["--config", str(bad)])


def test_missing_recipe_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        parse_recipe(["--config", str(tmp_path / "nope.yaml")])


def test_command_line_overrides_the_recipe():
    r = parse_recipe(["--config", str(TINY), "--learning_rate", "0.5", "--n_layer", "3", "--eval_split", "x"])
    assert (r.training.learning_rate, r.scratch.n_layer, r.data.eval_split) == (0.5, 3, "x")
    assert r.overrides == ["--learning_rate", "0.5", "--n_layer", "3", "--eval_split", "x"]
    assert r.data.dataset == "rewrite-tiny" and r.training.max_steps == 60  # the rest from the file


def test_precision_defaults_follow_the_hardware(monkeypatch):
    import torch

    from training.hardware import auto_defaults

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert auto_defaults() == {"bf16": False, "use_cpu": True}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert auto_defaults() == {"bf16": True, "use_cpu": False}
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert auto_defaults() == {"bf16": False, "use_cpu": False}


def test_explicit_precision_in_a_recipe_wins():
    r = parse_recipe(["--config", str(TINY), "--bf16", "true"])
    assert r.training.bf16 is True


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (["--padding_free", "true"], "padding_free"),
        (["--packing", "true"], "packing"),
        (["--early_stopping_patience", "2", "--eval_split", ""], "early_stopping_patience"),
        (["--early_stopping_patience", "2", "--eval_strategy", "no"], "early_stopping_patience"),
        (["--push_to_hub", "true", "--hub_model_id", "just-a-name", "--publish", "true"], "hub_model_id"),
        (["--push_to_hub", "true", "--hub_model_id", "org/name"], "push_to_hub"),  # tiny-cpu does not publish
    ],
)
def test_inconsistent_recipes_are_refused_by_field(extra, field):
    r = parse_recipe(["--config", str(TINY), *extra])
    with pytest.raises(ConfigError, match=field):
        validate(r)


def test_early_stopping_sets_the_metric():
    r = parse_recipe(["--config", str(TINY), "--early_stopping_patience", "2"])
    validate(r, data=False)
    assert r.training.metric_for_best_model == "eval_loss" and r.training.greater_is_better is False


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (["--max_length", "16"], "max_length"),  # shorter than the longest example
        (["--train_split", "nope"], "train_split"),
        (["--eval_split", "nope"], "eval_split"),
        (["--n_embd", "30", "--n_head", "4"], "n_head"),
    ],
)
def test_data_and_model_errors_name_the_field(tiny_dataset, tmp_path, extra, field):
    args = ["--config", str(TINY), "--dataset", str(tiny_dataset), "--output_dir", str(tmp_path / "o"), *extra]
    with pytest.raises(ConfigError, match=field):
        main(args)


# ---- 8-bit --------------------------------------------------------------------------------------------------


def test_8bit_loading_without_a_gpu_is_a_clear_error(monkeypatch):
    import torch

    r = parse_recipe(["--config", str(LLAMA)])
    # the paper's LoRA (arXiv 2402.10891: rank 512, alpha 1024); the secondary summary's 256/256 is the -r256 variant
    assert r.model.load_in_8bit and r.model.use_peft and (r.model.lora_r, r.model.lora_alpha) == (512, 1024)
    r256 = parse_recipe(["--config", str(RECIPES / "llama2-7b-lora-encrypted-r256.yaml")])
    assert (r256.model.lora_r, r256.model.lora_alpha) == (256, 256) and r256.model.load_in_8bit
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"load_in_8bit: .*CUDA GPU.*--load_in_8bit false"):
        validate(r)


def test_8bit_loading_is_selected_with_a_gpu_and_bitsandbytes(monkeypatch):
    import bitsandbytes  # noqa: F401  (imported before CUDA is faked: it probes the real device at import)
    import torch
    from accelerate import PartialState
    from transformers import BitsAndBytesConfig

    from training.hardware import check_quantization
    from training.model import model_init_kwargs

    r = parse_recipe(["--config", str(LLAMA)])
    PartialState()  # the process state, set up on the real (CPU) device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    check_quantization(r.model)  # passes: bitsandbytes is installed and a GPU is (pretend) present
    kwargs = model_init_kwargs(r.model, r.training)
    assert isinstance(kwargs["quantization_config"], BitsAndBytesConfig)
    assert kwargs["quantization_config"].load_in_8bit is True
    assert kwargs["device_map"] == {"": 0}  # each process's copy on its own GPU
    assert kwargs["dtype"] == torch.bfloat16


def test_8bit_optimizer_trains_on_the_cpu(tiny_dataset, tmp_path):
    out = main([
        "--config", str(TINY), "--dataset", str(tiny_dataset), "--output_dir", str(tmp_path / "o"),
        "--optim", "adamw_bnb_8bit", "--max_steps", "4", "--eval_strategy", "no", "--logging_steps", "1",
        "--save_strategy", "no", "--publish", "false", "--disable_tqdm", "true",
    ])  # fmt: skip
    assert out["optimizer"].startswith("bitsandbytes.") and out["optimizer"].endswith("(8-bit states)")
    assert out["global_step"] == 4 and math.isfinite(out["train_loss"])


# ---- LoRA on a tiny pretrained model built from a config --------------------------------------------------


@pytest.fixture
def tiny_llama(tiny_dataset, tmp_path) -> Path:
    """A tiny Llama saved like a Hub checkpoint (config, weights, tokenizer), built from a config."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from publishing.loading import resolve_splits
    from training.tokenizer import build_char_tokenizer, dataset_charset

    splits, resolved = resolve_splits(str(tiny_dataset))
    tokenizer = build_char_tokenizer(dataset_charset(splits, resolved.meta), model_max_length=128)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
    )  # fmt: skip
    torch.manual_seed(0)
    folder = tmp_path / "tiny-llama"
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_lora_recipe_attaches_adapters_and_trains(tiny_dataset, tiny_llama, tmp_path):
    from safetensors.torch import load_file

    out_dir = tmp_path / "lora"
    out = main([
        "--config", str(LLAMA), "--model_name_or_path", str(tiny_llama), "--dataset", str(tiny_dataset),
        "--output_dir", str(out_dir), "--load_in_8bit", "false", "--dtype", "float32",
        "--lora_r", "8", "--lora_alpha", "8", "--lora_target_modules", "q_proj", "v_proj",
        "--max_steps", "3", "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "1",
        "--learning_rate", "1e-2", "--warmup_steps", "0", "--logging_steps", "1", "--eval_strategy", "no",
        "--save_strategy", "no", "--max_length", "128", "--disable_tqdm", "true",
    ])  # fmt: skip
    # Only the adapters train: r x (in + out) for q_proj and v_proj (32 -> 32) in each of the 2 layers.
    assert out["trainable_parameters"] == 2 * 2 * 8 * (32 + 32)
    assert out["total_parameters"] > 10 * out["trainable_parameters"]
    assert out["global_step"] == 3

    saved = load_file(out_dir / "adapter_model.safetensors")
    assert saved and all("lora_" in key for key in saved)
    assert any(v.abs().sum() > 0 for k, v in saved.items() if "lora_B" in k)  # B starts at zero: it was trained
    assert not (out_dir / "model.safetensors").exists()  # the adapter, not a copy of the base model

    card = (out_dir / "README.md").read_text()
    assert "LoRA (r=8, alpha=8)" in card and "`tiny-llama` fine-tuned" in card and "license: llama2" in card
    assert "base_model:" not in card  # a folder is no Hub id: named in the body only
    assert out["published"] == "local:lora@v1.0.0"


def test_resolve_resume_values(tmp_path):
    from training.resume import resolve_resume

    assert resolve_resume(None, tmp_path) is None
    assert resolve_resume("auto", tmp_path) is None
    with pytest.raises(ConfigError, match="no checkpoint"):
        resolve_resume("true", tmp_path)
    (tmp_path / "checkpoint-3").mkdir()
    (tmp_path / "checkpoint-12").mkdir()
    assert Path(resolve_resume("true", tmp_path)).name == "checkpoint-12"
    assert Path(resolve_resume("auto", tmp_path)).name == "checkpoint-12"
    assert resolve_resume(str(tmp_path / "checkpoint-3"), tmp_path) == str(tmp_path / "checkpoint-3")
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        resolve_resume(None, tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_resume(str(tmp_path / "checkpoint-99"), tmp_path)


def test_publish_stages_only_the_final_model(tmp_path, monkeypatch):
    from training import publish

    out = tmp_path / "run"
    events = "runs/Dec01_12-00-00_host/events.out.tfevents.1733054400.host.1.0"  # TensorBoard's curves
    for rel in ("config.json", "model.safetensors", "README.md", "tokenizer.json", "checkpoint-5/model.safetensors",
                events, "training_args.bin", "trainer_state.json"):  # other files: test_publish_safety
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(rel)
    assert [p.relative_to(out).as_posix() for p in publish.final_files(out)] == [
        "README.md", "config.json", "model.safetensors", events, "tokenizer.json",
    ]
    local = publish.publish_model(out, "org/model")
    assert (local.target, local.version, local.created) == ("local", "v1.0.0", True)
    assert sorted(p.relative_to(local.location).as_posix() for p in Path(local.location).rglob("*")
                  if p.is_file()) == ["README.md", "config.json", "model.safetensors", events, "tokenizer.json"]
    assert publish.publish_model(out, "org/model", version="v1.0.0").created is False  # same content: no-op

    seen = {}
    monkeypatch.setattr(publish, "publish_folder", lambda folder, repo_id, **kw: seen.update(kw, repo=repo_id))
    publish.publish_model(out, "org/model", hub=True, private=True)
    assert seen["target"].kind == "hub" and seen["private"] is True and seen["repo_type"] == "model"
