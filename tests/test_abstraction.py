"""Rewriting with abstraction (issue 22 item 9), checked against a reference written here from the definition:
Python's own parser reads the trees (``^`` as ``**``: the same precedence and left-associativity for ``+ - *``),
the rule is applied to the first sub-tree in pre-order its left side matches (each variable one sub-tree, the same
at every occurrence), sympy decides which rules are identities, and exact integer arithmetic at random points
checks that specialist rewrites keep the value."""

from __future__ import annotations

import ast
import itertools
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sympy

from core.errors import ConfigError
from generators import config_from_dict, tasks
from generators.build import block_batch, generate, split_table
from generators.cli import resolve_config_path
from generators.config import load_config
from generators.plan import make_plan
from generators.tasks.abstraction import specialist_rules
from generators.tasks.expressions import equivalent

VARIABLES = "abc"
RAW = {
    "name": "abstraction-test", "task": "abstraction", "seed": 5, "instructions": 16, "examples_per_instruction": 12,
    "noop_fraction": 0.15,
    "abstraction": {"depth": [1, 2], "binding_depth": [0, 1], "test_binding_depth": [2, 3], "diversification": 0.25,
                    "test_diversification": 0.5, "max_chars": 64},
    "splits": {"test_unseen": {"instructions": 8, "examples": 48}, "test_seen": {"examples": 48},
               "validation": {"examples": 24}},
}
# general rules (left sides of depth 1, such as a*b): many sub-trees match, so the first match in pre-order is
# often not the planted one, and no-op inputs must avoid every match
GENERAL = {**RAW, "name": "abstraction-general", "noop_fraction": 0.4,
           "abstraction": {**RAW["abstraction"], "diversification": 1.0, "test_diversification": 1.0,
                           "diversification_rule_depth": [1, 2]}}
GOLDEN = "c9b58a095c51b8ecf66debd80ce56ca27ffd70321646dd3ad4a8216b2bd17841"  # RAW at 8,200 training rows


# ---- the reference, from the definition ---------------------------------------------------------------------


def tree(text: str):
    """The tree a text writes, read by Python's parser (a leaf: its name or number; a node: (op, left, right))."""
    return _convert(ast.parse(text.replace("^", "**"), mode="eval").body)


def _convert(n):
    if isinstance(n, ast.BinOp):
        op = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Pow: "^"}[type(n.op)]
        if op == "^":
            assert isinstance(n.right, ast.Constant) and type(n.right.value) is int, ast.dump(n)
            return ("^", _convert(n.left), str(n.right.value))
        return (op, _convert(n.left), _convert(n.right))
    if isinstance(n, ast.Name):
        return n.id
    assert isinstance(n, ast.Constant) and type(n.value) is int, ast.dump(n)
    return str(n.value)


def preorder(t, path=()):
    """Every sub-tree with its path: the node first, then its left operand's, then its right operand's."""
    yield path, t
    if isinstance(t, tuple):
        yield from preorder(t[1], (*path, 1))
        if t[0] != "^":
            yield from preorder(t[2], (*path, 2))


def bind(pattern, t, env):
    """Extend ``env`` so that ``pattern`` (variables a, b, c) is ``t``; False if it cannot."""
    if isinstance(pattern, str) and pattern in VARIABLES:
        if pattern in env:
            return env[pattern] == t
        env[pattern] = t
        return True
    if isinstance(pattern, str) or isinstance(t, str):
        return pattern == t
    if pattern[0] != t[0] or (pattern[0] == "^" and pattern[2] != t[2]):
        return False
    return bind(pattern[1], t[1], env) and (pattern[0] == "^" or bind(pattern[2], t[2], env))


def fill(pattern, env):
    if isinstance(pattern, str):
        return env.get(pattern, pattern)
    return (pattern[0], fill(pattern[1], env), pattern[2] if pattern[0] == "^" else fill(pattern[2], env))


def put(t, path, new):
    if not path:
        return new
    node = list(t)
    node[path[0]] = put(t[path[0]], path[1:], new)
    return tuple(node)


def rewrite(lhs, rhs, t):
    """(output tree, bindings, matched sub-tree) of the rule at the first match in pre-order; None if none."""
    for path, sub in preorder(t):
        env = {}
        if bind(lhs, sub, env):
            return put(t, path, fill(rhs, env)), env, sub
    return None


def height(t) -> int:
    if isinstance(t, str):
        return 0
    return 1 + max(height(t[1]), height(t[2]) if t[0] != "^" else 0)


def value(t, env) -> int:
    if isinstance(t, str):
        return int(t) if t.isdigit() else env[t]
    a = value(t[1], env)
    if t[0] == "^":
        return a ** int(t[2])
    b = value(t[2], env)
    return a + b if t[0] == "+" else a - b if t[0] == "-" else a * b


def is_identity(lhs: str, rhs: str) -> bool:
    return sympy.expand(sympy.sympify(lhs.replace("^", "**")) - sympy.sympify(rhs.replace("^", "**"))) == 0


def ac_form(t) -> str:
    """The tree up to the order and grouping of the operands of + and of * (written here from that definition)."""
    if isinstance(t, str):
        return t
    op = t[0]
    if op in "+*":
        parts, todo = [], [t]
        while todo:
            x = todo.pop()
            if isinstance(x, tuple) and x[0] == op:
                todo += [x[1], x[2]]
            else:
                parts.append(ac_form(x))
        return op + "[" + ",".join(sorted(parts)) + "]"
    return f"{op}({ac_form(t[1])},{t[2] if op == '^' else ac_form(t[2])})"


def renamed(t, mapping):
    if isinstance(t, str):
        return mapping.get(t, t)
    return (t[0], renamed(t[1], mapping), t[2] if t[0] == "^" else renamed(t[2], mapping))


def same_left_side(p, q) -> bool:
    """Whether two left sides are one up to renaming variables and the order of + and * operands."""
    return any(ac_form(renamed(p, dict(zip(VARIABLES, perm)))) == ac_form(q) for perm in itertools.permutations(VARIABLES))


def fewest_parentheses(text: str) -> bool:
    """No pair of parentheses can go without changing the tree."""
    pairs, stack = [], []
    for i, c in enumerate(text):
        if c == "(":
            stack.append(i)
        elif c == ")":
            pairs.append((stack.pop(), i))
    for i, j in pairs:
        shorter = text[:i] + text[i + 1 : j] + text[j + 1 :]
        try:
            if tree(shorter) == tree(text):
                return False
        except (SyntaxError, AssertionError):
            pass
    return True


# ---- the rows -------------------------------------------------------------------------------------------------


def _tables(raw):
    plan = make_plan(config_from_dict(raw))
    return {name: split_table(plan, name).to_pylist() for name in plan.splits}


@pytest.fixture(scope="module")
def tables():
    return _tables(RAW)


@pytest.fixture(scope="module")
def general():
    return _tables(GENERAL)


@pytest.mark.parametrize("which", ["tables", "general"])
def test_rows_apply_the_rule_to_the_first_matching_sub_tree(which, request):
    """Every row against the reference: the output is the input with the first sub-tree in pre-order that the
    left side matches rewritten (no-op rows: none matches and the output is the input), written with the fewest
    parentheses; the flags say what the reference finds; d_p lies in the split's range."""
    ranges = {"train": (0, 1), "validation": (0, 1), "test_seen": (2, 3), "test_unseen": (2, 3)}
    rng = random.Random(0)
    tables = request.getfixturevalue(which)
    for name, rows in tables.items():
        assert rows, name
        for r in rows:
            lhs_text, rhs_text = r["instruction"].split(" -> ")
            lhs, rhs, t = tree(lhs_text), tree(rhs_text), tree(r["input"])
            assert r["prompt"] == f"{r['instruction']}\n{r['input']}\n" and r["completion"] == r["output"]
            assert set(r["input"]) <= set("xyz0123456789+-*^()")  # a rule may bring its numbers and len(r["input"]) <= 64 and len(r["output"]) <= 64
            assert r["rule_depth"] == height(lhs) and r["depth"] == height(t)
            assert fewest_parentheses(r["input"]) and fewest_parentheses(r["output"])
            found = rewrite(lhs, rhs, t)
            if r["is_noop"]:
                assert found is None and r["output"] == r["input"] and r["binding_depth"] == -1
                continue
            out, env, sub = found
            assert tree(r["output"]) == out, (r["instruction"], r["input"], r["output"])
            assert r["binding_depth"] == max(height(v) for v in env.values())
            assert ranges[name][0] <= r["binding_depth"] <= ranges[name][1]
            assert r["match_depth"] == height(sub)
            assert ac_form(out) != ac_form(t) and not equivalent(r["output"], r["input"])  # a rewrite shows
            if r["rule_kind"] == "specialist":  # an identity keeps the value, at any point
                for _ in range(3):
                    env = {s: rng.randint(-50, 50) for s in "xyz"}
                    assert value(t, env) == value(out, env)


def test_specialist_rules_are_identities_and_diversification_rules_are_not(tables):
    """Checked by sympy on the rules of the rows, and on 120 diversification rules of depth 1 and 2 (short left
    sides such as ``a*1`` are where an identity would slip in), none of which has a specialist left side."""
    rules = {(r["instruction"], r["rule_kind"]) for rows in tables.values() for r in rows}
    assert {kind for _, kind in rules} == {"specialist", "diversification"}
    for depth, n in ((1, 10), (2, 100)):  # depth 1 holds about 20 left sides up to renaming and + / * order
        raw = {**GENERAL, "instructions": n, "abstraction": {**GENERAL["abstraction"], "diversification_rule_depth": depth}}
        rules |= {(t, "diversification") for t in _rules(raw)["diversification"]}
    specialist_lefts = {ac_form(renamed(tree(r.text.split(" -> ")[0]), dict(zip(VARIABLES, perm))))
                        for r in specialist_rules(VARIABLES, "123") for perm in itertools.permutations(VARIABLES)}
    for text, kind in rules:
        lhs, rhs = text.split(" -> ")
        assert is_identity(lhs, rhs) == (kind == "specialist"), text
        assert ac_form(tree(lhs)) != ac_form(tree(rhs))
        assert (ac_form(tree(lhs)) in specialist_lefts) == (kind == "specialist"), text


def test_unseen_rules_share_no_left_side_with_training_rules(tables):
    """Up to renaming the variables and the order of + and * operands; and the kinds come in the asked shares."""
    def rules(name):
        return {(r["instruction"], r["rule_kind"]) for r in tables[name]}

    train, unseen = rules("train"), rules("test_unseen")
    assert sum(k == "diversification" for _, k in train) == 4 and len(train) == 16  # round(0.25 x 16)
    assert sum(k == "diversification" for _, k in unseen) == 4 and len(unseen) == 8  # round(0.5 x 8)
    for a, _ in train:
        for b, _ in unseen:
            assert not same_left_side(tree(a.split(" -> ")[0]), tree(b.split(" -> ")[0])), (a, b)
    lefts = [tree(a.split(" -> ")[0]) for a, _ in train | unseen]
    assert not any(same_left_side(p, q) for p, q in itertools.combinations(lefts, 2))


def _rules(raw, split="train"):
    plan = make_plan(config_from_dict(raw))
    pool = plan.splits[split].pool
    return {kind: [t for t, k in zip(pool.texts(), pool.kinds()) if k == kind] for kind in ("specialist", "diversification")}


def test_training_sets_are_nested_and_the_unseen_rules_do_not_depend_on_them():
    """An instruction is a function of (seed, kind, its place): I = 8 is part of I = 16 (at the same share), a
    larger diversification share replaces specialist rules from the end, and the unseen rules stay."""
    small = _rules({**RAW, "instructions": 8})
    big = _rules(RAW)
    assert small["specialist"] == big["specialist"][:6] and small["diversification"] == big["diversification"][:2]
    more = _rules({**RAW, "abstraction": {**RAW["abstraction"], "diversification": 0.5}})
    assert more["specialist"] == big["specialist"][:8] and more["diversification"][:4] == big["diversification"]
    unseen = [_rules(raw, "test_unseen") for raw in (RAW, {**RAW, "instructions": 8})]
    assert unseen[0] == unseen[1]
    fewer_unseen = {**RAW, "splits": {**RAW["splits"], "test_unseen": {"instructions": 2, "examples": 48}}}
    assert _rules(fewer_unseen)["specialist"] == big["specialist"]  # nor the training rules on the unseen count


def test_the_golden_fingerprint_and_blocks_made_in_any_order(tmp_path):
    """Rows are a function of (config, seed, row index): the pinned fingerprint, and a block made alone, after
    others or in a plan of its own gives the same rows."""
    cfg = config_from_dict({**RAW, "examples_per_instruction": None, "budget": 8200})  # two training blocks
    meta = generate(cfg, tmp_path / "a", progress=False, card=False)
    assert meta["fingerprint"] == GOLDEN
    written = pq.read_table(tmp_path / "a" / meta["splits"]["train"]["files"][0]).slice(8192)
    plan = make_plan(cfg)
    alone = block_batch(plan, plan.splits["train"], 1)  # block 1 of a fresh plan, without block 0 before it
    assert alone.num_rows == 8 and pa.Table.from_batches([alone]).equals(written)


def test_the_card_describes_the_task_and_its_settings(tmp_path):
    meta = generate(config_from_dict(RAW), tmp_path / "d", progress=False)
    card = (tmp_path / "d" / "README.md").read_text()
    assert "Rewriting with abstraction" in card and "d_p = [0, 1] in train" in card
    assert "patterns of" not in card and "inputs of 50 characters" not in card  # the string tasks' sentence
    assert meta["instruction_space"]["train_size"] == "238" and meta["disjointness"]["shared_rules"] == 0


# ---- the scorer -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("predicted, expected, right", [
    ("x*(y+1)", "x*(y+1)", True),
    ("(1+y)*x", "x*(y+1)", True),              # + and * operands in any order
    ("x+(y+z)", "x+y+z", True),                # and any grouping
    ("((x+y))+z", "x+y+z", True),              # redundant parentheses
    ("z*y*x-3", "x*y*z-3", True),
    ("x*y+x", "x*(y+1)", False),               # the same value, another tree: the rule was not applied as asked
    ("y-x", "x-y", False),                     # - keeps its order
    ("x-(y-z)", "x-y+z", False),
    ("(x^2)^3", "x^6", False),
    ("x^2", "x*x", False),
    ("x+", "x", False),
    ("x**2", "x^2", False),
    ("(" * 500 + "x" + ")" * 500, "x", False),  # far deeper than any answer: refused, not a crash
])
def test_answers_are_equal_up_to_the_order_of_sum_and_product_operands(predicted, expected, right):
    assert tasks.get("abstraction").scorer.equivalent(predicted, expected) is right


def test_diveval_scores_with_the_tasks_answer_check(tables, monkeypatch):
    """The scorer's check decides in ``diveval rewrite``: answers written with + and * operands reordered score
    as right, and by rule kind; a scorer without a check (string equality) scores them wrong."""
    import datasets

    import eval.rewrite as rewrite_eval
    from generators.tasks import Scorer

    rows = [r for r in tables["test_unseen"] if not r["is_noop"]][:12]

    def flipped(text: str) -> str:  # the same tree written with the operands of its first + or * swapped
        t = tree(text)
        for path, sub in preorder(t):
            if isinstance(sub, tuple) and sub[0] in "+*":
                return _text(put(t, path, (sub[0], sub[2], sub[1])))
        return text

    answers = [flipped(r["output"]) for r in rows]
    assert sum(a != r["output"] for a, r in zip(answers, rows)) >= 6
    monkeypatch.setattr(rewrite_eval, "greedy_decode", lambda model, tok, prompts, *a, **k: list(answers))
    ds = datasets.Dataset.from_list(rows)
    settings = rewrite_eval.DecodeSettings()
    scorer = tasks.scorer_for(None, ds.column_names)
    assert scorer is tasks.get("abstraction").scorer
    summary, _ = rewrite_eval.evaluate_split(None, None, ds, max_new_tokens=8, settings=settings, scorer=scorer)
    assert summary["correct"] == len(rows) and set(summary["breakdowns"]["rule_kind"]) <= {"specialist", "diversification"}
    strict, _ = rewrite_eval.evaluate_split(None, None, ds, max_new_tokens=8, settings=settings, scorer=Scorer())
    assert strict["correct"] == sum(a == r["output"] for a, r in zip(answers, rows))


def _text(t) -> str:
    """A tree written with every operation bracketed (the reference reads any bracketing)."""
    if isinstance(t, str):
        return t
    return f"({_text(t[1])}^{t[2]})" if t[0] == "^" else f"({_text(t[1])}{t[0]}{_text(t[2])})"


# ---- configs ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("change, field", [
    ({"abstraction": {"metavariables": "ax"}}, "abstraction.symbols"),  # x is also an expression symbol
    ({"abstraction": {"metavariables": "a"}}, "abstraction.metavariables"),
    ({"abstraction": {"metavariables": "abcdefgh"}}, "abstraction.metavariables"),
    ({"abstraction": {"metavariables": "aB"}}, "abstraction.metavariables"),
    ({"abstraction": {"constants": "10"}}, "abstraction.constants"),
    ({"abstraction": {"depth": 0}}, "abstraction.depth"),
    ({"abstraction": {"test_binding_depth": 9}}, "abstraction.test_binding_depth"),
    ({"abstraction": {"diversification": 1.5}}, "abstraction.diversification"),
    ({"abstraction": {"max_chars": 4}}, "abstraction.max_chars"),
    ({"abstraction": {"depht": 2}}, "abstraction.depht"),
    ({"occurrences": [2]}, "occurrences"),
    ({"cipher": {"kind": "caesar", "shift": 1}}, "cipher.kind"),
    ({"prompt_template": "{x} {y}\n{input}\n"}, "prompt_template"),
    ({"splits": {**RAW["splits"], "test_unseen": {"instructions": 8, "examples": 48, "novel_patterns": "test_patterns"}}},
     "splits.test_unseen.novel_patterns"),
])
def test_bad_settings_name_the_field(change, field):
    raw = {**RAW, **{k: v for k, v in change.items() if k != "abstraction"}}
    if "abstraction" in change:
        raw["abstraction"] = {**RAW["abstraction"], **change["abstraction"]}
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw)
    assert err.value.field == field


def test_more_rules_than_exist_are_refused():
    """The specialist space is exact (238 rules); the diversification space of depth-1 left sides (about 20 up to
    renaming and + / * order) runs out, which is said, not looped on."""
    with pytest.raises(ConfigError) as err:
        make_plan(config_from_dict({**RAW, "instructions": 240, "abstraction": {**RAW["abstraction"], "diversification": 0}}))
    assert err.value.field == "instructions" and "238" in err.value.message
    with pytest.raises(ConfigError) as err:
        make_plan(config_from_dict({**GENERAL, "instructions": 40, "abstraction": {
            **GENERAL["abstraction"], "diversification_rule_depth": 1}}))
    assert err.value.field == "abstraction.diversification_rule_depth" and "drew only" in err.value.message


def test_only_configs_of_the_task_record_its_section():
    cfg = config_from_dict(RAW)
    assert "abstraction" in cfg.to_dict() and config_from_dict(cfg.to_dict()) == cfg
    rewrite_cfg = config_from_dict({k: v for k, v in RAW.items() if k not in ("task", "abstraction")})
    assert "abstraction" not in rewrite_cfg.to_dict()


def test_the_preset_is_valid():
    cfg = load_config(resolve_config_path("abstraction"))
    assert cfg.task == "abstraction" and cfg.budget == 50_000 and cfg.instructions == 50
    assert cfg.abstraction.binding_depth.max < cfg.abstraction.test_binding_depth.min  # d_p(train) < d_p(test)


# ---- training -------------------------------------------------------------------------------------------------


def test_the_family_trains_on_a_cpu_and_diveval_scores_it(tmp_path):
    """Generate, train a tiny GPT-2 from scratch for a few steps (training/sft.py's main, the CPU recipe), and
    score it with `diveval rewrite`, which takes the task from datagen.json: accuracy by rule kind and by d_p."""
    import json

    from click.testing import CliRunner

    from eval.cli import main as diveval
    from training.sft import main as train

    data = tmp_path / "data"
    generate(config_from_dict({**RAW, "noop_fraction": 0.0}), data, progress=False)
    out = train(["--config", "training/recipes/tiny-cpu.yaml", "--dataset", str(data), "--output_dir",
                 str(tmp_path / "model"), "--max_steps", "4", "--max_length", "192", "--eval_strategy", "no",
                 "--save_strategy", "no", "--logging_steps", "2", "--disable_tqdm", "true", "--publish", "false"])
    assert out["global_step"] == 4
    # a few new tokens: four steps train no answer, and each decoding step costs the same whatever it writes
    res = CliRunner().invoke(diveval, ["rewrite", str(tmp_path / "model"), "--dataset", str(data), "--splits",
                                       "test_unseen,test_seen", "--max-new-tokens", "4", "-o", str(tmp_path / "e.json"),
                                       "--quiet"])
    assert res.exit_code == 0, res.output
    scores = json.loads((tmp_path / "e.json").read_text())["splits"]
    for split in ("test_unseen", "test_seen"):
        s = scores[split]
        assert s["n"] == 48 and 0.0 <= s["accuracy"] <= 1.0 and s["rule_length_column"] == "rule_depth"
        assert set(s["breakdowns"]["rule_kind"]) == {"specialist", "diversification"}
        assert set(s["breakdowns"]["binding_depth"]) <= {"2", "3"}


def test_the_specialist_sweeps_have_the_papers_ratios():
    """|R_diver|:|R_spec| = 0:50, 1:49, 5:45, 10:40 in both specialist sweeps (Fig. 5), from the pools drawn."""
    from sweeps.config import generator_config, load_sweep, runs

    for name in ("abstraction_specialist", "toy_cpu_abstraction_specialist"):
        sweep = load_sweep(f"sweeps/{name}.yaml")
        ratios = set()
        for run in runs(sweep):
            cfg = generator_config(sweep, run)
            _, train, _ = tasks.get("abstraction").draw_pools(cfg, None, None, cfg.splits.test_unseen.instructions)
            kinds = train.kinds()
            ratios.add((kinds.count("diversification"), kinds.count("specialist")))
        assert ratios == {(0, 50), (1, 49), (5, 45), (10, 40)}, name
