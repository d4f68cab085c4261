"""Early stopping and eval loss use the `validation` split; `test_*` splits are only ever scored."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.errors import ConfigError

ROOT = Path(__file__).parents[1]
RECIPES = sorted((ROOT / "training" / "recipes").glob("*.yaml"))
PRESETS = sorted(p for p in (ROOT / "generators" / "configs").glob("*.yaml") if not p.name.startswith("mix_"))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_no_recipe_evaluates_on_a_test_split(recipe):
    data = yaml.safe_load(recipe.read_text())
    split = data.get("eval_split", "auto")
    assert not str(split).startswith("test_")
    if data.get("early_stopping_patience") is not None or data.get("eval_strategy", "no") != "no":
        assert split in ("validation", "auto"), recipe.name


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_every_generator_preset_states_its_validation_split(preset):
    raw = yaml.safe_load(preset.read_text())
    assert raw["splits"]["validation"]["examples"] > 0


def test_default_eval_split_is_validation_when_the_dataset_has_one(tiny_dataset, tmp_path):
    pytest.importorskip("datasets")
    from training.args import DataArguments
    from training.data import load_training_data

    args = DataArguments(dataset=str(tiny_dataset))
    assert args.eval_split == "auto"
    data = load_training_data(args)
    assert args.eval_split == "validation" and len(data.eval) > 0  # the record names the split used

    from conftest import TINY

    from generators import config_from_dict
    from generators.build import generate

    raw = {**TINY, "splits": {**TINY["splits"], "validation": {"examples": 0}}}
    generate(config_from_dict(raw), tmp_path / "noval", progress=False)
    args = DataArguments(dataset=str(tmp_path / "noval"))
    data = load_training_data(args)
    assert args.eval_split is None and data.eval is None


def test_a_test_split_is_refused_as_eval_split(tiny_dataset):
    pytest.importorskip("datasets")
    from training.args import DataArguments
    from training.data import load_training_data

    with pytest.raises(ConfigError) as err:
        load_training_data(DataArguments(dataset=str(tiny_dataset), eval_split="test_seen"))
    assert err.value.field == "eval_split" and "only scored" in str(err.value)
