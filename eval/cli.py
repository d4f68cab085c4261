"""The ``diveval`` command line: evaluate trained models and plot results (``python -m eval`` works too).

Importing this module is cheap (no torch, transformers or matplotlib): commands import what they need when
they run, so ``diveval --help`` is instant and other command groups can be registered on :data:`main`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from tqdm.auto import tqdm

from core.cli import user_errors
from core.documents import parse_json
from core.errors import ConfigError
from eval import lineage
from eval.loading import load_eval_splits, load_model
from eval.loss import evaluate_loss
from eval.loss_results import build_loss_results, format_loss_table, loss_summary_line
from eval.plots import (
    PLOT_FILES,
    PLOTS,
    SPLITS_FILE,
    check_row,
    default_series,
    plot_phase_transition,
    plot_splits,
    supported_plots,
)
from eval.results import (
    SCHEMA,
    build_results,
    dataset_provenance,
    format_table,
    summary_line,
    sweep_row,
    training_provenance,
    write_results,
)
from eval.rewrite import DecodeSettings, evaluate_rewrite, train_frequency
from generators.tasks import scorer_for
from publishing.resolve import resolve
from publishing.scores import push_loss_results, push_results
from publishing.targets import default_token

DEFAULT_SPLITS = "test_unseen,test_seen"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="instruction-diversity")
def main() -> None:
    """Evaluate trained models: exact match on seen and unseen instructions, held-out loss, plots, model cards.

    MODEL and --dataset take a folder, a local hub name (org/name) or a Hub id; prefixes `local:` and `hub:`
    force one.
    """


def parse_splits(text: str) -> list[str]:
    splits = [s.strip() for s in text.split(",") if s.strip()]
    if not splits:
        raise ConfigError("splits", "give at least one split name, e.g. test_unseen,test_seen")
    return splits


@main.command()
@click.argument("model")
@click.option("--dataset", "dataset", default=None,
              help="Dataset to evaluate on (folder, local hub name or Hub id) [default: the one the model card says the model was trained on].")
@click.option("--dataset_name", "dataset_name", default=None, help="TRL's name for --dataset (give either).")
@click.option("--revision", default=None, help="Dataset version / tag / commit [default: the training data's, else latest].")
@click.option("--model-revision", default=None, help="Model version / tag / commit (latest if omitted).")
@click.option("--splits", default=DEFAULT_SPLITS, show_default=True, help="Comma-separated splits to evaluate.")
@click.option("--batch-size", default=64, show_default=True, help="Prompts decoded together.")
@click.option("--max-new-tokens", type=int, default=None, help="Tokens to generate [default: longest expected completion + 1 + 8].")
@click.option("--limit", type=int, default=None, help="Evaluate a fixed random sample of N rows per split.")
@click.option("--match", type=click.Choice(["exact", "strip"]), default="exact", show_default=True, help="strip: ignore surrounding whitespace.")
@click.option("--device", default="auto", show_default=True, help="auto (cuda if available), cpu, cuda, cuda:1, ...")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write the results JSON here.")
@click.option("--predictions", type=click.Path(dir_okay=False), default=None, help="Write every prediction as JSON lines here.")
@click.option("--push", is_flag=True, help="Write the scores into the model's card where the model came from (folder, local hub version, or Hub repo main).")
@click.option("--hub", is_flag=True, help="Look MODEL up on the Hub (same as the hub: prefix).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@user_errors
def rewrite(
    model: str,
    dataset: str | None,
    dataset_name: str | None,
    revision: str | None,
    model_revision: str | None,
    splits: str,
    batch_size: int,
    max_new_tokens: int | None,
    limit: int | None,
    match: str,
    device: str,
    output: str | None,
    predictions: str | None,
    push: bool,
    hub: bool,
    quiet: bool,
) -> None:
    """Exact-match accuracy of MODEL on a rewrite dataset's seen and unseen instructions.

    Without --dataset, the data (and revision) the model card says MODEL was trained on is scored. Other data is
    allowed: a warning is printed and recorded. I, S and alpha in the results are always the training data's
    (unknown when it cannot be found), and seen accuracy is broken down by the rules' training frequency.
    """
    if dataset is not None and dataset_name is not None and dataset != dataset_name:
        raise ConfigError("dataset_name", f"{dataset_name!r} differs from --dataset {dataset!r}: give one")
    dataset = dataset if dataset is not None else dataset_name
    settings = DecodeSettings(batch_size=batch_size, max_new_tokens=max_new_tokens, match=match, limit=limit)
    settings.validate()
    wanted = parse_splits(splits)
    # all splits are loaded: the train split gives the seen-rule frequencies
    model, data, data_src, training = _model_and_data(model, model_revision, dataset, revision, wanted, hub)
    loaded = load_model(model, model_revision, device)
    total = sum(min(len(data[s]), limit or len(data[s])) for s in wanted)
    with tqdm(total=total, desc="decoding", unit="ex", disable=quiet, file=sys.stderr) as bar:
        scorer = scorer_for(data_src.meta.get("task"), data[wanted[0]].column_names)  # the task's breakdowns
        scores, preds = evaluate_rewrite(loaded.model, loaded.tokenizer, {s: data[s] for s in wanted}, settings=settings,
                                         progress=bar.update, scorer=scorer)
    if "test_seen" in scores["splits"]:
        scores["splits"]["test_seen"]["by_train_frequency"] = _by_train_frequency(preds["test_seen"], training, settings)
    results = build_results(scores, loaded.describe(), dataset_provenance(data_src), training_provenance(training))
    click.echo(format_table(results))
    if output:
        write_results(results, output)
    if predictions:
        _write_predictions(predictions, preds)
    where = None
    if push:
        where = push_results(loaded.resolved, results, token=default_token() if loaded.resolved.kind == "hub" else None)
    written = ", ".join(x for x in (output, predictions, where and f"card of {where}") if x)
    click.echo(summary_line(results, written or None))


@main.command()
@click.argument("model")
@click.option("--dataset", "dataset", default=None,
              help="Dataset to score (folder, local hub name or Hub id) [default: the one the model card says the model was trained on].")
@click.option("--revision", default=None, help="Dataset version / tag / commit [default: the training data's, else latest].")
@click.option("--model-revision", default=None, help="Model version / tag / commit (latest if omitted).")
@click.option("--splits", default=DEFAULT_SPLITS, show_default=True, help="Comma-separated splits to score.")
@click.option("--batch-size", default=32, show_default=True, help="Rows per forward pass.")
@click.option("--limit", type=int, default=None, help="Score a fixed random sample of N rows per split.")
@click.option("--resamples", default=1000, show_default=True, help="Bootstrap resamples for the intervals.")
@click.option("--confidence", default=0.95, show_default=True, help="Coverage of the bootstrap intervals.")
@click.option("--device", default="auto", show_default=True, help="auto (cuda if available), cpu, cuda, cuda:1, ...")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write the results JSON here.")
@click.option("--push", is_flag=True, help="Write the scores into the model's card where the model came from.")
@click.option("--hub", is_flag=True, help="Look MODEL up on the Hub (same as the hub: prefix).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@user_errors
def loss(model: str, dataset: str | None, revision: str | None, model_revision: str | None, splits: str,
         batch_size: int, limit: int | None, resamples: int, confidence: float, device: str, output: str | None,
         push: bool, hub: bool, quiet: bool) -> None:
    """Held-out completion-only loss and perplexity of MODEL per split, with bootstrap intervals.

    For a pool dataset (`task: pool`), test_unseen holds clusters never in training and test_seen held-out rows
    of training clusters: their gap is how much worse the model does on unseen kinds of instruction. The loss is
    the mean negative log-likelihood per completion token (EOS included), as TRL's SFTTrainer trains it.
    """
    if batch_size < 1:
        raise ConfigError("batch-size", f"must be at least 1, got {batch_size}")
    if limit is not None and limit < 1:
        raise ConfigError("limit", f"must be at least 1, got {limit}")
    wanted = parse_splits(splits)
    model, data, data_src, training = _model_and_data(model, model_revision, dataset, revision, wanted, hub)
    loaded = load_model(model, model_revision, device)
    total = sum(min(len(data[s]), limit or len(data[s])) for s in wanted)
    with tqdm(total=total, desc="scoring", unit="ex", disable=quiet, file=sys.stderr) as bar:
        scores = evaluate_loss(loaded.model, loaded.tokenizer, {s: data[s] for s in wanted}, batch_size=batch_size,
                               confidence=confidence, resamples=resamples, limit=limit, progress=bar.update)
    results = build_loss_results(scores, loaded.describe(), dataset_provenance(data_src), training_provenance(training))
    click.echo(format_loss_table(results))
    if output:
        write_results(results, output)
    where = None
    if push:
        where = push_loss_results(loaded.resolved, results,
                                  token=default_token() if loaded.resolved.kind == "hub" else None)
    written = ", ".join(x for x in (output, where and f"card of {where}") if x)
    click.echo(loss_summary_line(results, written or None))


def _model_and_data(model: str, model_revision: str | None, dataset: str | None, revision: str | None,
                    wanted: list[str], hub: bool):
    """(the model source to load, every split of the data, where it came from, the training data's lineage): the
    data named, else the data the model card says the model was trained on; a missing split is a user error and a
    mismatch with the training data a printed warning."""
    if hub and not model.startswith(("hub:", "local:")):
        model = f"hub:{model}"
    model_src = resolve(model, model_revision, repo_type="model")
    card = lineage.card_training_data(model_src)
    if dataset is None:
        dataset, revision = _training_dataset(model, model_src, card, revision)
    data, data_src = load_eval_splits(dataset, revision, None)
    missing = [s for s in wanted if s not in data]
    if missing:
        raise ConfigError("split", f"dataset {dataset!r} has no split {missing[0]!r} (it has: {', '.join(data)})")
    training = lineage.training_for(card, model_src, data_src, data)
    if training.warning:
        click.echo(f"warning: {training.warning}", err=True)
    return model, data, data_src, training


def _training_dataset(model: str, model_src, card: dict | None, revision: str | None) -> tuple[str, str | None]:
    """The dataset and revision the model card of MODEL names as its training data (for a missing --dataset)."""
    if card is None:
        raise ConfigError("dataset", f"{model} has no model card naming its training data (training_data in the "
                                     "card's metadata): pass --dataset")
    where = lineage.locate(card, model_src)
    if where is None:
        raise ConfigError("dataset", f"the training data named in the model card of {model} ({lineage.label(card)}) "
                                     "is not here (a folder is looked for beside the model and in the working "
                                     "directory, with the recorded fingerprint): pass --dataset")
    return where[0], revision or where[1]


def _by_train_frequency(records: list[dict], training, settings) -> dict:
    """Seen accuracy by training frequency, or why it is unavailable."""
    if training.train is None:
        return {"unavailable": training.note or "the training data's train split is not available"}
    if "instruction_id" not in training.train.column_names:
        return {"unavailable": "the training data has no instruction_id column"}
    counts = lineage.train_counts(training.train)
    text_ids = None
    if training.match != "same":  # other data: its ids need not be the training ids; match rules by their text
        if "instruction" not in training.train.column_names or any(r["instruction"] is None for r in records):
            return {"unavailable": "the evaluation data is not the training data and has no instruction text to match"}
        text_ids = lineage.text_to_id(training.train)
    return train_frequency(records, counts, text_ids, settings.confidence)


def _write_predictions(path: str, records: dict[str, list[dict]]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for split, rows in records.items():
            for row in rows:
                f.write(json.dumps({"split": split, **row}, ensure_ascii=False) + "\n")


@main.command()
@click.argument("tables", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--kind", "kinds", multiple=True, type=click.Choice(list(PLOTS)), help="Plot(s) to draw [default: every plot the rows can fill].")
@click.option("--split", default="test_unseen", show_default=True, help="Split whose accuracy is plotted.")
@click.option("--series", default="auto", show_default=True,
              help="Row key that separates the lines of the phase plot (e.g. variant, alpha, N, noop_fraction); "
                   "auto: the first of variant, alpha, noop_fraction, N, S that varies at a given I; none: one line.")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), default=".", show_default=True, help="Folder for the PNG files.")
@user_errors
def plot(tables: tuple[str, ...], kinds: tuple[str, ...], split: str, series: str, output_dir: str) -> None:
    """Plot a sweep from TABLES: `diveval rewrite -o` results files, or JSON lists of rows (I, S, alpha, accuracy, ci_low, ci_high).

    Writes phase_transition.png (accuracy vs I, log scale), heatmap.png (I x S), power_law.png (accuracy vs alpha,
    Uniform as a reference line) and semantic.png (accuracy vs the training k range, one line per family mix), the
    file names a sweep's plots have. Runs that share a point (seeds) are averaged; the bars show their spread.
    One results file alone (no --kind) is drawn as it is: accuracy per split, all rows, rewrites and no-ops, with
    the Wilson intervals it records (splits.png).
    """
    if not kinds and len(tables) == 1:  # one results file: what it holds, every split
        data = _read_json(tables[0])
        if isinstance(data, dict) and data.get("schema") == SCHEMA:
            path = plot_splits(data, Path(output_dir) / SPLITS_FILE, where=tables[0])["path"]
            click.echo(f"plotted {len(data['splits'])} splits of {tables[0]}: wrote {path}")
            return
    rows = load_rows(tables, split)
    if not kinds:
        kinds = tuple(supported_plots(rows))
        if not kinds:
            raise ConfigError(None, "the rows vary neither I, nor S at a given I, nor alpha, nor the training space or variant at a "
                                    "given I: nothing to plot")
    written = []
    for kind in kinds:
        path = Path(output_dir) / PLOT_FILES[kind]
        if kind == "phase":
            key = {"none": None, "auto": default_series(rows)}.get(series.lower(), series)
            plot_phase_transition(rows, path, series=key, split=split)
        else:
            PLOTS[kind](rows, path, split=split)
        written.append(str(path))
    click.echo(f"plotted {len(rows)} rows: wrote {', '.join(written)}")


def load_rows(tables: tuple[str, ...], split: str) -> list[dict]:
    """Rows from results files (one row each) and JSON row lists (``[{...}, ...]`` or ``{"rows": [...]}``); a file
    that is binary, cut short, of another shape or holding non-numeric values is an error naming it."""
    rows: list[dict] = []
    for table in tables:
        data = _read_json(table)
        if isinstance(data, dict) and data.get("schema") == SCHEMA:
            found = [_results_row(data, split, table)]
        elif isinstance(data, dict) and isinstance(data.get("rows"), list):
            found = _split_rows(data["rows"], split, table)
        elif isinstance(data, list):
            found = _split_rows(data, split, table)
        else:
            raise ConfigError(None, f"{table}: neither a diveval results file nor a list of rows")
        for i, row in enumerate(found):
            check_row(row, f"{table}: row {i}" if len(found) > 1 or not isinstance(data, dict) else table)
        rows.extend(found)
    return rows


def _read_json(table: str):
    """The JSON document in ``table``; a missing, binary or cut-short file is an error naming it."""
    try:
        raw = Path(table).read_bytes()
    except FileNotFoundError:
        raise ConfigError(None, f"table {table} does not exist") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(None, f"{table} is not a JSON text file (binary data at byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        short = " (cut short?)" if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated") else ""
        raise ConfigError(None, f"{table} is not valid JSON{short}: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except (RecursionError, ValueError):  # nested too deeply, an integer too long: parse_json raises the reason
        return parse_json(text, table)


def _results_row(data: dict, split: str, table: str) -> dict:
    """The sweep row of one results file, after checking it holds what a row needs (an incomplete file is named)."""
    def need(obj, key: str, where: str, kind=dict):
        value = obj.get(key) if isinstance(obj, dict) else None
        if not isinstance(value, kind):
            raise ConfigError(None, f"{table}: incomplete diveval results file: {where}{key!r} is missing or malformed")
        return value

    splits = need(data, "splits", "")
    need(need(data, "model", ""), "name", "model.", str)
    need(need(data, "dataset", ""), "name", "dataset.", str)
    if split in splits:
        for key in ("n", "accuracy", "ci_low", "ci_high"):
            if not isinstance(need(splits, split, "splits."), dict) or key not in splits[split]:
                raise ConfigError(None, f"{table}: incomplete diveval results file: splits.{split}.{key} is missing")
    diversity = data["dataset"].get("diversity")
    if diversity is not None and not isinstance(diversity, dict):
        raise ConfigError(None, f"{table}: incomplete diveval results file: dataset.diversity is malformed")
    try:
        return sweep_row(data, split)
    except ConfigError as exc:
        raise ConfigError(exc.field, f"{table}: {exc.message}") from None


def _split_rows(rows: list, split: str, table: str) -> list[dict]:
    """Rows of a sweep table carry every split (``test_seen_accuracy``, ...): plot the asked one's accuracy."""
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ConfigError(None, f"{table}: row {i} is not a mapping")
        if f"{split}_accuracy" in row:
            acc = row[f"{split}_accuracy"]
            row = {**row, "accuracy": acc, "ci_low": row.get(f"{split}_ci_low", acc), "ci_high": row.get(f"{split}_ci_high", acc)}
        elif any(k.endswith("_ci_low") for k in row):
            have = sorted(k.removesuffix("_ci_low") for k in row if k.endswith("_ci_low"))
            raise ConfigError("--split", f"{table}: row {i} has no accuracy for split {split!r} (it has: {', '.join(have)})")
        out.append(row)
    return out


from eval.code.cli import code as _code  # noqa: E402  (HumanEval(+) / MBPP(+) through evalplus)
from eval.code.cli import code_score as _code_score  # noqa: E402

main.add_command(_code)
main.add_command(_code_score)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
