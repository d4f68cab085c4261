"""Cards of a released study (``python -m sweeps release``): the multi-config dataset card and each run's model card.

- The dataset repo holds one ``datasets`` config per run (``<config>/data/<split>-*.parquet``); its card's YAML
  ``configs:`` lists every config with its data files per split (the ``datasets`` multi-config card format), so
  ``load_dataset(repo, "<config>", revision=...)`` loads one run's splits. The body has a table of the configs
  (I, S, alpha, N, seed, fingerprint, the released scores), the sweep's plots and how to load and verify.
- A model card: ``license``, ``library_name: transformers``, ``pipeline_tag: text-generation``, ``datasets:``
  (the dataset repo), ``base_model`` when fine-tuned, and a ``model-index`` with the exact-match score per split
  (dataset type = the dataset repo id, config, split, revision), rendered by huggingface_hub's
  ``ModelCardData`` / ``EvalResult``; the body: how to load it, its scores, the run's plot, and the trainer's own
  card from its training section on (the recipe and training summary).

Pure rendering: what is published where is :mod:`sweeps.release`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from huggingface_hub import DatasetCard, DatasetCardData, EvalResult, ModelCard, ModelCardData

from cards.dataset_card import DEFAULT_LICENSE, size_category
from cards.eval_card import METRIC_TYPE, SPLIT_LABELS, TASK_NAME, TASK_TYPE
from cards.model_card import hub_id

TEMPLATE = "---\n{{ card_data }}\n---\n\n{{ body }}\n"


def config_entry(config: str, meta: dict) -> dict:
    """The ``configs:`` entry of one run: its data files per split, described by its name and fingerprint
    (``datasets`` keys its cache of a local folder by the folder's name and this entry)."""
    return {"config_name": config, "description": f"{meta['name']}, datagen fingerprint {meta['fingerprint']}",
            "data_files": [{"split": s, "path": f"{config}/data/{s}-*"} for s in meta["splits"]]}


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _num(x) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:g}"
    return str(x)


def render_study_card(
    study: str,
    configs: Sequence[dict],
    *,
    repo_id: str,
    version: str,
    local: bool,
    sweep_file: str,
    plots: Sequence[str] = (),
    models: dict[str, str] | None = None,
    license: str = DEFAULT_LICENSE,
) -> DatasetCard:
    """The card of a study's dataset repo. ``configs``: one dict per run with ``config``, ``run``, ``meta``
    (its datagen.json), ``row`` (its results-table row: I, S, alpha, N, seed, accuracies)."""
    rows = sum(s["rows"] for c in configs for s in c["meta"]["splits"].values())
    data = DatasetCardData(
        license=license,
        task_categories=["text-generation"],
        tags=["synthetic", "instruction-diversity", "datagen", "sweep"],
        pretty_name=f"{study} (instruction-diversity study)",
        size_categories=[size_category(rows)],
        configs=[config_entry(c["config"], c["meta"]) for c in configs],
    )
    data["datagen_release"] = {"study": study, "sweep_file": sweep_file,
                               "configs": {c["config"]: c["meta"]["fingerprint"] for c in configs}}
    lines = [f"# {study}", "",
             f"The datasets of the study `{study}`, one config per run of the sweep file [`{sweep_file}`]({sweep_file}) "
             "(made with [instruction-diversity](https://arxiv.org/abs/2405.19787)'s `python -m sweeps run`). "
             "Each config holds one run's splits; its `datagen.json` records the generator config, seed and "
             "the SHA-256 of every file.", "",
             "| config | run | I | S | alpha | N | seed | fingerprint | unseen | seen | model |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in configs:
        r = c["row"]
        model = (models or {}).get(c["config"])
        lines.append(f"| `{c['config']}` | `{c['run']}` | {_num(r.get('I'))} | {_num(r.get('S'))} | "
                     f"{_num(r.get('alpha')) if r.get('alpha') is not None else _num(r.get('distribution'))} | "
                     f"{_num(r.get('N'))} | {_num(r.get('seed'))} | `{c['meta']['fingerprint'][:16]}` | "
                     f"{_pct(r.get('test_unseen_accuracy'))} | {_pct(r.get('test_seen_accuracy'))} | "
                     f"{f'`{model}`' if model else '–'} |")
    lines.append("")
    lines.append("unseen / seen: exact-match accuracy of the run's model on `test_unseen` / `test_seen` "
                 "(greedy decoding).")
    for p in plots:
        lines += ["", f"![{p}]({p})"]
    first = configs[0]["config"] if configs else "CONFIG"
    lines += ["", "## Load it", "", "```python", "from datasets import load_dataset", ""]
    if local:
        lines.append(f'ds = load_dataset("path/to/local/hub/datasets/{repo_id}/versions/{version}", "{first}")')
    else:
        lines.append(f'ds = load_dataset("{repo_id}", "{first}", revision="{version}")')
    lines += ["```", "", "## Verify it", "", "```bash",
              f"datagen verify {repo_id} --revision {version} --config all   # or --config {first}", "```", "",
              "Each config's files are checked against the SHA-256 its `datagen.json` records, its rows "
              "re-fingerprinted and its data re-made from the recorded config."]
    return DatasetCard.from_template(data, template_str=TEMPLATE, body="\n".join(lines))


def release_eval_results(splits: dict, *, dataset_id: str, dataset_name: str, config: str,
                         revision: str) -> list[EvalResult]:
    """One ``EvalResult`` per split of an eval.json ``splits`` mapping (exact match in percent)."""
    out = []
    for split, s in splits.items():
        if s.get("accuracy") is None:
            continue
        out.append(EvalResult(task_type=TASK_TYPE, task_name=TASK_NAME, dataset_type=dataset_id,
                              dataset_name=dataset_name, dataset_config=config, dataset_split=split,
                              dataset_revision=revision, metric_type=METRIC_TYPE,
                              metric_name=f"Exact match (%), {SPLIT_LABELS.get(split, split)}",
                              metric_value=round(100 * s["accuracy"], 3)))
    return out


def _training_section(trainer_card: str) -> str:
    """The trainer's card from its "## Training" heading on (recipe, training summary), or ''."""
    body = re.sub(r"^---\n.*?\n---\n", "", trainer_card, count=1, flags=re.S)
    m = re.search(r"^## Training\b", body, re.M)
    if not m:
        return ""
    text = body[m.start():]
    # the trainer saw a folder; the release names the published data instead
    return "\n".join(ln for ln in text.splitlines() if not re.match(r"^\| dataset( revision)? \|", ln))


def render_release_model_card(
    *,
    model_repo: str,
    version: str,
    local: bool,
    dataset_repo: str,
    dataset_version: str,
    config: str,
    run: str,
    study: str,
    meta: dict,
    splits: dict,
    trainer_card: str = "",
    base_model: str | None = None,
    plot: str | None = None,
    license: str = DEFAULT_LICENSE,
) -> ModelCard:
    """The card of one run's model (see the module docstring); ``splits``: the run's eval.json ``splits``."""
    dataset_id = hub_id("local" if local else "hub", dataset_repo)
    results = release_eval_results(splits, dataset_id=dataset_id, dataset_name=f"{study} ({config})",
                                   config=config, revision=dataset_version) if dataset_id else None
    data = ModelCardData(
        model_name=model_repo.split("/")[-1],
        license=license,
        library_name="transformers",
        pipeline_tag="text-generation",
        datasets=[dataset_id] if dataset_id else None,
        base_model=base_model,
        tags=["instruction-diversity", "trl", "sft"] + ([] if base_model else ["from-scratch"]),
        eval_results=results or None,
    )
    data["training_data"] = {"dataset": dataset_repo, "source": "local" if local else "hub",
                             "revision": dataset_version, "config": config, "fingerprint": meta["fingerprint"]}
    load_id = f"path/to/local/hub/models/{model_repo}/versions/{version}" if local else model_repo
    rev = "" if local else f', revision="{version}"'
    data_call = (f'load_dataset("path/to/local/hub/datasets/{dataset_repo}/versions/{dataset_version}", "{config}")'
                 if local else f'load_dataset("{dataset_repo}", "{config}", revision="{dataset_version}")')
    lines = [f"# {model_repo.split('/')[-1]}", "",
             f"The model of run `{run}` of the study `{study}`, trained on config `{config}` of the dataset "
             f"`{dataset_repo}` (version `{dataset_version}`, fingerprint `{meta['fingerprint'][:16]}`).", "",
             "## Use it", "", "```python", "from datasets import load_dataset",
             "from transformers import AutoModelForCausalLM, AutoTokenizer", "",
             f'tokenizer = AutoTokenizer.from_pretrained("{load_id}"{rev})',
             f'model = AutoModelForCausalLM.from_pretrained("{load_id}"{rev})',
             f"test = {data_call}[\"test_unseen\"]", "```", "",
             "Prompts are given exactly as in the `prompt` column; decode greedily, the answer ends at the "
             "end-of-sequence token.", "", "## Scores", "",
             "| split | exact match | n | 95% interval |", "|---|---|---|---|"]
    for split, s in splits.items():
        lines.append(f"| {SPLIT_LABELS.get(split, split)} (`{split}`) | {_pct(s.get('accuracy'))} | {s.get('n', '–')} "
                     f"| {_pct(s.get('ci_low'))} – {_pct(s.get('ci_high'))} |")
    if plot:
        lines += ["", f"![training and evaluation of run {run}]({plot})"]
    section = _training_section(trainer_card)
    if section:
        lines += ["", section.rstrip()]
    return ModelCard.from_template(data, template_str=TEMPLATE, body="\n".join(lines))
