"""Prompts and post-processing for code generation, following evalplus's standard settings.

Styles:

- ``base`` (evalplus's direct completion, for base models): the prompt is the problem's ``prompt`` stripped
  plus a newline; the model continues the function; generation stops at evalplus's stop strings (``\\ndef ``,
  ``\\nclass ``, ... for HumanEval; ``\\n\"\"\"``, ``\\nassert`` for MBPP); the solution is prompt + completion.
- ``instruct`` (for models fine-tuned on a prompt template, e.g. the instruction mixtures): evalplus's
  instruction (``Please provide a self-contained Python script ...`` with the problem in a code block) is put
  into ``template``'s ``{instruction}``, followed by evalplus's response prefix and an opening Python code
  block; generation stops at the closing fence. The default template is the mixtures' Magicoder format.
- ``chat``: the same instruction through the tokenizer's chat template (evalplus's ``make_raw_chat_prompt``).

Every solution then goes through ``evalplus.sanitize`` (keeps the entry point and what it needs).
"""

from __future__ import annotations

from core.errors import ConfigError

STYLES = ("base", "instruct", "chat")
# evalplus's instruction and response prefixes (evalplus.codegen.run_codegen, 0.3.1).
INSTRUCTION_PREFIX = (
    "Please provide a self-contained Python script that solves the following problem in a markdown code block:"
)
RESPONSE_PREFIX = (
    "Below is a Python script with a self-contained function that solves the problem and passes corresponding tests:"
)
#: The prompt format of the mixture presets (Magicoder's), so fine-tuned models are asked as they were trained.
DEFAULT_TEMPLATE = (
    "You are an exceptionally intelligent coding assistant that consistently delivers accurate and reliable "
    "responses to user instructions.\n\n@@ Instruction\n{instruction}\n\n@@ Response\n"
)


def instruction_text(task_prompt: str) -> str:
    return f"{INSTRUCTION_PREFIX}\n```\n{task_prompt.strip()}\n```\n"


def build_prompt(task_prompt: str, style: str, template: str = DEFAULT_TEMPLATE, tokenizer=None) -> str:
    """The text the model continues, for one problem."""
    if style == "base":
        return task_prompt.strip() + "\n"
    if style == "instruct":
        return template.format(instruction=instruction_text(task_prompt).rstrip("\n")) + f"{RESPONSE_PREFIX}\n```python\n"
    if style == "chat":
        if tokenizer is None or getattr(tokenizer, "chat_template", None) is None:
            raise ConfigError("style", "chat needs a tokenizer with a chat template (use base or instruct)")
        from evalplus.provider.utility import make_raw_chat_prompt  # evalplus imports are heavy: load on use

        return make_raw_chat_prompt(task_prompt, INSTRUCTION_PREFIX, RESPONSE_PREFIX, tokenizer)
    raise ConfigError("style", f"unknown prompt style {style!r} (choose from {', '.join(STYLES)})")


def validate_template(template: str) -> None:
    try:
        template.format(instruction="x")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError("template", f"must contain {{instruction}} and no other placeholder: {exc!r}") from None
    if "{instruction}" not in template:
        raise ConfigError("template", "must contain {instruction}")


def stop_strings(benchmark: str, style: str) -> list[str]:
    """evalplus's stop strings for a benchmark and prompt style."""
    # deferred: evalplus (the [code] extra) only for code evaluation
    from evalplus.provider.utility import EOS, extra_eos_for_direct_completion

    if style == "base":
        return list(EOS) + extra_eos_for_direct_completion(benchmark)
    return list(EOS) + ["\n```\n", "\n```"]


def truncate(text: str, stops: list[str]) -> str:
    """Cut a completion at the first stop string (as evalplus's decoders do) and expand tabs."""
    cut = min((text.index(s) for s in stops if s in text), default=len(text))
    return text[:cut].replace("\t", "    ")


def solution(record: dict, prompt: str, completion: str, benchmark: str, style: str) -> tuple[str, str]:
    """The (raw, sanitized) solution for one problem from the model's completion."""
    body = truncate(completion, stop_strings(benchmark, style))
    raw = prompt + body if style == "base" else body
    # deferred: evalplus (the [code] extra) only for code evaluation
    from evalplus.sanitize import sanitize

    return raw, sanitize(raw, entrypoint=record["entry_point"])
