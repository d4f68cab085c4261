"""Mutation testing of the code where a silent bug hurts users most: do the tests fail when the code is wrong?

    python mutation/run.py                    # every group below (two hours or more on 2 shared cores)
    python mutation/run.py fingerprint lineage  # some groups
    python mutation/run.py --list             # the groups, their modules and covering tests
    python mutation/run.py markov --again     # after adding tests: only the last run's survivors again

A *mutant* is the code with one small change a tired developer could make (``<`` for ``<=``, a dropped ``not``,
a constant off by one, an argument left out). Each mutant is run against the tests that cover its module; a
mutant that no test notices *survives*. Each group below names the modules (or functions) it mutates and the
test files that cover them; mutmut (https://github.com/boxed/mutmut, the ``dev`` extra) makes the mutants,
finds which of those tests call each mutated function, and runs only those, in a process forked from one that
has already imported everything. The work happens in ``.mutation/<group>/`` (a copy of the working tree, left
for inspection: ``cd .mutation/<group> && mutmut show <mutant>`` or ``mutmut browse``), one mutant at a time
and at low priority (``nice``).

What it prints: per module, the mutants made and how many the tests killed, how many survived (a test ran and
passed) and how many no test ran (counted as survivors); the survival rate per module and overall; then every
survivor as its one-line change. A survivor listed in ``mutation/survivors.yaml`` (module, function, the line
before and after, and why it is equivalent or harmless) is marked as such; any other is NEW. The goal is at
most 5% survivors, each one listed. Exit status: 0 when every survivor is listed, 1 otherwise, 2 on a usage
error.

Limits: mutmut sees only the calls a test makes in its own process. Code that runs in a child (the sandbox's
launcher and probe run inside bubblewrap with a cleared environment) cannot be attributed to tests or switched
to a mutant there, so those files are not mutated; their weakening is tested by tests/test_sandbox.py directly.
Why mutmut and not cosmic-ray: cosmic-ray starts the test command afresh for every mutant, and importing this
project's stack (datasets, pyarrow, torch) takes seconds each time; mutmut forks a warmed process and runs
only the tests that call the mutated function (still two hours or more for every group here: 3 to 20 minutes
each).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"
SURVIVORS = Path(__file__).resolve().parent / "survivors.yaml"
PACKAGES = ["core", "cards", "generators", "publishing", "training", "eval", "sweeps"]
ALSO_COPY = ["results", "README.md", "benchmarks"]  # read by some tests from the repository root
GOAL = 0.05

DETECTED = {"killed", "timeout", "segfault", "caught by type check"}
UNDETECTED = {"survived", "no tests"}


class UsageError(Exception):
    """A bad command line, checkout or survivors list: one line, exit status 2."""


@dataclass
class Group:
    """What one mutation run covers: ``modules`` maps a file to the functions to mutate in it (``Class.method``
    for a method; empty: every function of the file); ``tests``: the test files that cover them."""

    what: str
    modules: dict[str, list[str]]
    tests: list[str]
    notes: list[str] = field(default_factory=list)
    # "fork": each mutant's tests run in a fork of the process that collected the test coverage (fastest);
    # "forkserver": in a fork of a process that only imported the tests (for tests that run torch, whose
    # thread pools a fork of a process that already used them does not get back)
    isolation: str = "fork"


# the random streams' keys and the bytes they give are part of the output format: a published dataset is
# re-made from its config, so a change that leaves the rows valid but different is a bug these pins catch
GOLDEN = "tests/test_determinism.py::test_golden_fingerprints"
GOLDEN_2_0 = "tests/test_determinism.py::test_the_2_0_rows_are_still_made_and_a_2_0_dataset_verifies"  # 2.0 rows

GROUPS: dict[str, Group] = {
    "rewrite": Group(
        "the string-rewrite task: leftmost rewrite, exact occurrence counts, the last-resort inputs",
        {"generators/tasks/rewrite.py": ["apply_rule", "exact_inputs", "_remake", "_plant_on", "avoid_first_char",
                                         "rewrite_block"],
         "generators/blocks.py": ["_match_positions", "count_matches", "write_rows", "plant"]},
        ["tests/test_rewrite_semantics.py", "tests/test_generation_blocks.py", "tests/test_heldout.py",
         "tests/test_paper_fidelity.py", GOLDEN, GOLDEN_2_0],
    ),
    "markov": Group(
        "Markov algorithms: rules applied in order, terminal rules, the step limit",
        {"generators/tasks/markov.py": [], "generators/space.py": ["pattern_matrix"]},
        ["tests/test_cipher_markov.py", "tests/test_markov_task.py", "tests/test_markov_aux.py", "tests/test_config_errors.py",
         "tests/test_disjointness.py", "tests/test_novel_patterns.py", "tests/test_paper_fidelity.py", GOLDEN,
         GOLDEN_2_0],
    ),
    "splits": Group(
        "splits: unseen-test rules disjoint from training ones, validation and test_seen rows held out",
        {"generators/plan.py": ["check_disjoint", "pattern_report", "_space_overlap"], "generators/heldout.py": [],
         "generators/tasks/rewrite.py": ["draw_pools"]},
        ["tests/test_disjointness.py", "tests/test_heldout.py", "tests/test_novel_patterns.py",
         "tests/test_paper_fidelity.py", "tests/test_space.py", "tests/test_dataset_card.py", GOLDEN],
    ),
    "distribution": Group(
        "the instruction-frequency distribution: power-law weights, exact counts, which rows get which rule",
        {"generators/plan.py": ["instruction_weights", "_draws", "instruction_log_weights", "example_counts"],
         "generators/blocks.py": ["assign_instructions", "noop_mask"]},
        ["tests/test_distribution.py", "tests/test_generation_blocks.py", GOLDEN, GOLDEN_2_0],
    ),
    "fingerprint": Group(
        "the content fingerprint: canonical serialization, blocks across row groups and shards",
        {"generators/fingerprint.py": []},
        ["tests/test_fingerprint.py", "tests/test_integrity.py"],
    ),
    "verify": Group(
        "verify: every shard's SHA-256, re-fingerprinted rows, the card, a re-make",
        {"generators/verify.py": []},
        ["tests/test_integrity.py", "tests/test_publish_local.py", "tests/test_verify_checks.py"],
    ),
    "published-files": Group(
        "what a publish sends and a pull accepts: exactly the listed files, no link, no stale file",
        {"publishing/targets.py": ["publishable_files", "content_id", "_files_id", "_hidden", "HubTarget._commit",
                                   "_check_name", "checked_tree", "choose_version"],
         "publishing/localhub.py": ["LocalHub.add_version"],
         "publishing/cli.py": ["stage_dataset", "_lfs_problems"]},
        ["tests/test_publish_safety.py", "tests/test_publish_local.py", "tests/test_publish_hub.py",
         "tests/test_published_names.py", "tests/test_published_files.py", "tests/test_integrity.py"],
    ),
    "exact-match": Group(
        "exact-match scoring of rewrite tasks: decoding budget, match modes, breakdowns, training frequency",
        {"eval/rewrite.py": []},
        ["tests/test_eval_rewrite.py"],
        isolation="forkserver",
    ),
    "lineage": Group(
        "evaluation lineage: the training data named in the model card, found and compared",
        {"eval/lineage.py": []},
        ["tests/test_eval_lineage.py", "tests/test_eval_cli.py"],
        isolation="forkserver",
    ),
    "sandbox": Group(
        "the code sandbox's launch (bubblewrap command line, mounts, environment) and probe verdict",
        {"eval/code/sandbox.py": []},
        ["tests/test_sandbox.py"],
        ["eval/code/sandbox_launch.py and sandbox_probe.py run inside the sandbox (see Limits above)"],
    ),
    "report": Group(
        "the results report of a sweep: accuracy cells, intervals, the distribution column",
        {"sweeps/report.py": []},
        ["tests/test_results_tables.py", "tests/test_results_claims.py"],
    ),
    "code-verdict": Group(
        "the code score's verdict: what a sample's worker reports, read as plain data, compared by evalplus's checks",
        {"eval/code/wire.py": [], "eval/code/oracle.py": []},
        ["tests/test_code_verdict.py", "tests/test_code_forgery.py::test_the_host_takes_only_plain_data_in_order",
         *(f"tests/test_code_hostile_records.py::{t}" for t in (
             "test_decoding_refuses_what_would_cost_the_host_more_than_the_data_and_keeps_honest_values",
             "test_judging_a_hostile_output_takes_no_more_memory_than_it_sent",
             "test_the_set_equal_oracle_keeps_evalplus_verdicts", "test_decoded_arrays_compare_as_numpy_arrays_do")),
         "tests/test_code_eval.py::test_plain_data_keeps_evalplus_verdicts_on_subtle_values"],
        ["the tests that score through sandboxed workers are left out: the host decides from the same plain data "
         "these give it in process, and they take about 5 minutes for each of the 1,250 mutants that they call"],
    ),
}


def dotted(module: str) -> str:
    return module.removesuffix(".py").replace("/", ".")


def mutant_patterns(group: Group) -> list[str]:
    """mutmut mutant-name patterns of the functions a group mutates (mutmut names a mutant of function ``f`` in
    module ``a.b`` ``a.b.x_f__mutmut_<n>``, of method ``C.m`` ``a.b.xǁCǁm__mutmut_<n>``)."""
    out = []
    for module, functions in group.modules.items():
        if not functions:
            out.append(f"{dotted(module)}.x*__mutmut_*")
        for f in functions:
            name = "xǁ" + "ǁ".join(f.split(".")) if "." in f else f"x_{f}"
            out.append(f"{dotted(module)}.{name}__mutmut_*")
    return out


def function_of(mutant: str, module: str) -> str:
    """``Class.method`` or ``function`` of a mutant name."""
    name = mutant.removeprefix(dotted(module) + ".").rsplit("__mutmut_", 1)[0]
    return ".".join(p for p in name.removeprefix("x").split("ǁ") if p) if name.startswith("xǁ") else name[2:]


def tree_files() -> list[str]:
    """The working tree as git sees it (tracked and new files, not ignored ones): what a fresh checkout holds
    plus uncommitted work."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True)
    if out.returncode != 0:
        raise UsageError(f"{ROOT} is not a git checkout: run mutation/run.py from one (git ls-files names what to copy)")
    return [f for f in out.stdout.decode().split("\0") if f and (ROOT / f).is_file()]


def refresh(name: str, group: Group) -> Path:
    """Bring the earlier run's copy in .mutation/<name> up to the working tree and the group's settings as they
    are now: a file whose content changed is copied with a new modification time (mutmut re-makes the mutants of
    a changed function from that)."""
    work = WORK / name
    if not (work / "mutants").is_dir():
        raise UsageError(f"no earlier run of {name} in {work.relative_to(ROOT)}: run it first")
    for f in tree_files():
        src, dst = ROOT / f, work / f
        if f == "pyproject.toml":
            write_settings(work, group)
        elif not dst.is_file() or dst.read_bytes() != src.read_bytes():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    return work


def prepare(name: str, group: Group) -> Path:
    """A fresh copy of the working tree in .mutation/<name> with the group's mutmut settings."""
    work = WORK / name
    if work.exists():
        shutil.rmtree(work)
    for f in tree_files():
        (work / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, work / f)
    write_settings(work, group)
    return work


def write_settings(work: Path, group: Group) -> None:
    """The copy's pyproject.toml: the working tree's, with the group's mutmut settings."""
    settings = {
        "source_paths": PACKAGES,
        "only_mutate": list(group.modules),
        "also_copy": ALSO_COPY,
        "pytest_add_cli_args": ["-p", "no:cacheprovider"],
        "pytest_add_cli_args_test_selection": group.tests,
        "process_isolation": group.isolation,
        "use_git_change_detection": False,
    }
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    if "[tool.mutmut]" in pyproject:
        raise UsageError("pyproject.toml has a [tool.mutmut] section: mutation/run.py writes its own, remove it")
    lines = ["", "[tool.mutmut]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    new = pyproject + "\n".join(lines) + "\n"
    target = work / "pyproject.toml"
    if not target.is_file() or target.read_text(encoding="utf-8") != new:
        target.write_text(new, encoding="utf-8")


MUTMUT = "import sys; from mutmut.__main__ import cli; sys.argv[0] = 'mutmut'; cli()"


def run_mutmut(work: Path, group: Group, workers: int, niceness: int, timeout: float, log,
               names: list[str] | None = None) -> bool:
    """``mutmut run`` in ``work`` (of the mutants ``names`` only, when given: mutmut runs those again even when
    they have a result); False when it was stopped at ``timeout`` seconds (results so far are kept)."""
    # Subprocesses a test starts (a CLI, a worker) import the mutants too. The folder must exist before Python
    # starts: a sys.path entry that does not exist yet is cached as empty and never looked at again.
    (work / "mutants").mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(work / "mutants"), "PYTHONDONTWRITEBYTECODE": "1",
           "HYPOTHESIS_PROFILE": "mutation"}  # tests/conftest.py: fixed examples, no shrinking
    cmd = [sys.executable, "-c", MUTMUT, "run", "--max-children", str(workers), *(names or mutant_patterns(group))]
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=lambda: os.nice(niceness))  # noqa: PLW1509 (only sets the priority)
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        return False


def statuses(work: Path, group: Group) -> dict[str, dict[str, str]]:
    """``{module: {mutant: status}}`` from mutmut's result files, for the functions the group mutates."""
    # mutmut's own table of exit codes (killed, survived, no tests, timeout, ...)
    from mutmut.stats import status_by_exit_code

    patterns = [re.compile(re.escape(p).replace(r"\*", ".*") + "$") for p in mutant_patterns(group)]
    out: dict[str, dict[str, str]] = {}
    for module in group.modules:
        meta = work / "mutants" / (module + ".meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.is_file() else {}
        out[module] = {k: status_by_exit_code[v] for k, v in sorted(codes.items()) if any(p.match(k) for p in patterns)}
    return out


DIFFS = """
import json, sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
print(json.dumps({m: get_diff_for_mutant(m, path=p) for m, p in json.loads(sys.argv[1]).items()}))
"""


def diffs(work: Path, mutants: dict[str, str]) -> dict[str, str]:
    """The unified diff of each mutant (``{mutant: module}``), as ``mutmut show`` prints it."""
    if not mutants:
        return {}
    out = subprocess.run([sys.executable, "-c", DIFFS, json.dumps(mutants)], cwd=work, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def change(diff: str) -> tuple[str, str]:
    """(the lines a mutant removed, the lines it added), each stripped and joined by newlines."""
    lines = diff.splitlines()[2:]  # past the --- / +++ header
    before = [ln[1:].strip() for ln in lines if ln.startswith("-")]
    after = [ln[1:].strip() for ln in lines if ln.startswith("+")]
    return "\n".join(before), "\n".join(after)


FIELDS = ("module", "function", "before", "after", "why")


def load_accepted() -> list[dict]:
    """The listed survivors (a usage error, one line, when the file cannot be read as such a list)."""
    where = SURVIVORS.relative_to(ROOT)
    try:
        entries = (yaml.safe_load(SURVIVORS.read_text(encoding="utf-8")) if SURVIVORS.is_file() else None) or []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise UsageError(f"{where}{f' line {mark.line + 1}' if mark else ''}: not valid YAML "
                         f"({getattr(exc, 'problem', exc)}); quote a before/after line that holds ': '") from None
    if not isinstance(entries, list):
        raise UsageError(f"{where}: must be a list of entries ({', '.join(FIELDS)})")
    for i, e in enumerate(entries, 1):
        missing = [f for f in FIELDS if not isinstance(e, dict) or not isinstance(e.get(f), str)]
        if missing:
            raise UsageError(f"{where}: entry {i} has no text for {', '.join(missing)}")
    return entries


def accepted_reason(accepted: list[dict], module: str, function: str, before: str, after: str) -> str | None:
    for e in accepted:
        if (e["module"], e["function"], e["before"].strip(), e["after"].strip()) == (module, function, before, after):
            return e["why"]
    return None


def cpu_seconds() -> float:
    """CPU time of the finished subprocesses (and theirs): on a shared machine, what the run would take alone."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rate(undetected: int, detected: int) -> str:
    total = undetected + detected
    return f"{100 * undetected / total:5.1f}%" if total else "   - "


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("groups", nargs="*", help=f"groups to run (default: all): {', '.join(GROUPS)}")
    parser.add_argument("--list", action="store_true", help="show the groups, their modules and tests, and stop")
    parser.add_argument("--workers", type=int, default=1, help="mutants run at once (default 1: the cores are shared)")
    parser.add_argument("--nice", type=int, default=10, help="scheduling niceness of the mutation run (default 10)")
    parser.add_argument("--timeout", type=float, default=45 * 60, help="seconds allowed per group (default 2700)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--no-run", action="store_true",
                        help="report the last run's results in .mutation/<group> again (after editing survivors.yaml)")
    parser.add_argument("--again", action="store_true",
                        help="after changing tests: run the last run's survivors again in .mutation/<group> (and the "
                             "mutants of functions changed since), not every mutant: minutes instead of a full run")
    parser.add_argument("--draft-entries", action="store_true",
                        help="print each NEW survivor as a survivors.yaml entry to fill in (after checking it)")
    args = parser.parse_args(argv)
    unknown = [g for g in args.groups if g not in GROUPS]
    if unknown:
        parser.error(f"unknown group {', '.join(unknown)}; the groups: {', '.join(GROUPS)}")
    chosen = args.groups or list(GROUPS)
    if args.list:
        for name in chosen:
            g = GROUPS[name]
            print(f"{name}: {g.what}")
            for module, functions in g.modules.items():
                print(f"    mutates {module}" + (f": {', '.join(functions)}" if functions else ""))
            print(f"    tests   {' '.join(g.tests)}")
            for note in g.notes:
                print(f"    note    {note}")
        return 0
    try:
        import mutmut  # noqa: F401  (only to say how to get it)
    except ImportError:
        print("mutmut is not installed: pip install -e '.[dev]'", file=sys.stderr)
        return 2

    try:
        return run_groups(chosen, load_accepted(), args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run_groups(chosen: list[str], accepted: list[dict], args: argparse.Namespace) -> int:
    """Run the chosen groups, print the table and the survivors; the exit status."""
    WORK.mkdir(exist_ok=True)
    results: dict = {"groups": {}, "survivors": []}
    totals = {"detected": 0, "undetected": 0, "other": 0}
    print(f"{'module':<34}{'mutants':>8}{'killed':>8}{'survived':>9}{'no test':>8}{'other':>7}{'survival':>10}")
    for name in chosen:
        group = GROUPS[name]
        start, cpu = time.monotonic(), cpu_seconds()
        if args.no_run:
            work, finished = WORK / name, True
            if not (work / "mutants").is_dir():
                raise UsageError(f"no earlier run of {name} in {work.relative_to(ROOT)}: run it first")
        elif args.again:
            work = refresh(name, group)
            again = [m for by_mutant in statuses(work, group).values() for m, s in by_mutant.items()
                     if s in UNDETECTED]
            with open(work / "mutmut.log", "a") as log:
                # Named mutants are run again even when they have a result (a pattern counts as names: the
                # group's patterns would re-run every mutant). mutmut re-makes the mutants of changed functions
                # before it runs anything, clearing their results; those unchecked ones are run next, by name.
                if not again:
                    raise UsageError(f"the last run of {name} left no survivor to run again: for changed code, "
                                     f"run the group in full")
                finished = run_mutmut(work, group, args.workers, args.nice, args.timeout, log, names=again)
                unchecked = [m for by_mutant in statuses(work, group).values() for m, s in by_mutant.items()
                             if s == "not checked"]
                if finished and unchecked:
                    finished = run_mutmut(work, group, args.workers, args.nice, args.timeout, log, names=unchecked)
        else:
            work = prepare(name, group)
            with open(work / "mutmut.log", "w") as log:
                finished = run_mutmut(work, group, args.workers, args.nice, args.timeout, log)
        seconds, cpu = time.monotonic() - start, cpu_seconds() - cpu
        found = statuses(work, group)
        group_result = {"seconds": round(seconds), "cpu_seconds": round(cpu), "finished": finished, "modules": {}}
        print(f"{name}  ({seconds / 60:.1f} min, {cpu / 60:.1f} min of CPU"
              f"{'' if finished else ', STOPPED at the time limit'}; log: {(work / 'mutmut.log').relative_to(ROOT)})")
        survivors: dict[str, str] = {}
        for module, by_mutant in found.items():
            counts = {s: sum(v == s for v in by_mutant.values()) for s in set(by_mutant.values())}
            detected = sum(counts.get(s, 0) for s in DETECTED)
            undetected = sum(counts.get(s, 0) for s in UNDETECTED)
            other = len(by_mutant) - detected - undetected
            totals["detected"] += detected
            totals["undetected"] += undetected
            totals["other"] += other
            group_result["modules"][module] = counts
            print(f"  {module:<32}{len(by_mutant):>8}{detected:>8}{counts.get('survived', 0):>9}"
                  f"{counts.get('no tests', 0):>8}{other:>7}{rate(undetected, detected):>10}")
            survivors.update({m: module for m, s in by_mutant.items() if s in UNDETECTED})
        for mutant, diff in diffs(work, survivors).items():
            module = survivors[mutant]
            function = function_of(mutant, module)
            before, after = change(diff)
            why = accepted_reason(accepted, module, function, before, after)
            results["survivors"].append({"group": name, "module": module, "function": function, "mutant": mutant,
                                         "status": found[module][mutant], "before": before, "after": after,
                                         "accepted": why})
        results["groups"][name] = group_result
    overall = rate(totals["undetected"], totals["detected"])
    print(f"{'overall':<34}{sum(totals.values()):>8}{totals['detected']:>8}{'':>17}{totals['other']:>7}{overall:>10}"
          f"   (goal: at most {GOAL:.0%})")
    new = [s for s in results["survivors"] if s["accepted"] is None]
    if results["survivors"]:
        print("\nsurvivors (module:function  - before  + after):")
    for s in results["survivors"]:
        label = "NEW" if s["accepted"] is None else "listed"
        extra = " (no test ran it)" if s["status"] == "no tests" else ""
        print(f"  [{label}] {s['module']}:{s['function']}{extra}  ({s['mutant']})")
        print(f"        - {s['before'] or '(nothing)'}".replace("\n", "\n          "))
        print(f"        + {s['after'] or '(nothing)'}".replace("\n", "\n          "))
        if s["accepted"]:
            print(f"        why: {s['accepted']}")
    ran = [(m, set(f)) for name in chosen for m, f in GROUPS[name].modules.items()]  # empty: every function
    seen = {(s["module"], s["function"], s["before"], s["after"]) for s in results["survivors"]}
    stale = [e for e in accepted if any(e["module"] == m and (not f or e["function"] in f) for m, f in ran)
             and (e["module"], e["function"], e["before"].strip(), e["after"].strip()) not in seen]
    if stale:
        print(f"\nlisted in {SURVIVORS.relative_to(ROOT)} but not surviving this run (killed now, or the code "
              f"changed): remove them")
        for e in stale:
            print(f"  {e['module']}:{e['function']}  - {e['before']}  + {e['after']}")
    if totals["other"]:
        print(f"\n{totals['other']} mutant(s) neither killed nor survived (not checked, suspicious, skipped): see the logs")
    print(f"\nsurvival {overall.strip()} overall; {len(new)} survivor(s) not in {SURVIVORS.relative_to(ROOT)}")
    if args.draft_entries and new:
        drafts = [{"module": s["module"], "function": s["function"], "before": s["before"], "after": s["after"],
                   "why": "TODO: why no test can or needs to tell it from the code"} for s in new]
        print("\n# entries for mutation/survivors.yaml, once each is checked to be equivalent or harmless:")
        print(yaml.safe_dump(drafts, sort_keys=False, allow_unicode=True, width=110), end="")
    results["overall"] = {**totals, "survival": overall.strip()}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return 1 if new or totals["other"] else 0


if __name__ == "__main__":
    sys.exit(main())
