"""Expression trees for the abstraction task (:mod:`generators.tasks.abstraction`): printing, parsing, matching a
rule's left side with its variables standing for sub-trees, substitution, a canonical form under the commutativity
and associativity of ``+`` and ``*``, and polynomial expansion.

A tree is a leaf (a one-letter symbol or a decimal number, as a string) or a tuple ``(op, left, right)`` with ``op``
one of ``+ - *``, or ``("^", base, exponent)`` whose exponent is a number string (never a sub-tree).

Text: binary operators with the usual precedence (``^`` over ``*`` over ``+ -``), all left-associative, written
with the fewest parentheses that keep the tree: a right operand of equal precedence is bracketed (``a-(b-c)``,
``a+(b+c)``), and so is every non-leaf base of a power (``(a*b)^2``). So :func:`to_text` is injective and
:func:`parse` inverts it. Rows write no spaces; :func:`parse` skips them.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import permutations

Tree = str | tuple

PRECEDENCE = {"+": 1, "-": 1, "*": 2, "^": 3}
LEAF_PRECEDENCE = 4
MAX_NESTING = 100  # parse refuses deeper texts: one has more leaves than any answer of the task (bounded recursion)


class ExpressionError(ValueError):
    """A text that is not an expression of this grammar."""


# ---- text ---------------------------------------------------------------------------------------------------


def precedence(t: Tree) -> int:
    return LEAF_PRECEDENCE if isinstance(t, str) else PRECEDENCE[t[0]]


def to_text(t: Tree) -> str:
    """The tree written with the fewest parentheses that keep it (see the module docstring)."""
    if isinstance(t, str):
        return t
    op, left, right = t
    if op == "^":
        base = to_text(left)
        return f"{base if isinstance(left, str) else f'({base})'}^{right}"
    p = PRECEDENCE[op]
    lt, rt = to_text(left), to_text(right)
    if precedence(left) < p:
        lt = f"({lt})"
    if precedence(right) <= p:
        rt = f"({rt})"
    return f"{lt}{op}{rt}"


def _tokens(text: str) -> list[str]:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == " ":
            i += 1
        elif c.isdigit():
            j = i
            while j < len(text) and text[j].isdigit():
                j += 1
            out.append(str(int(text[i:j])))  # 007 is 7
            i = j
        elif c.isascii() and c.isalpha() or c in "+-*^()":
            out.append(c)
            i += 1
        else:
            raise ExpressionError(f"unexpected character {c!r}")
    return out


class _Parser:
    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.at = 0
        self.nesting = 0

    def peek(self) -> str | None:
        return self.toks[self.at] if self.at < len(self.toks) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise ExpressionError("unexpected end")
        self.at += 1
        return tok

    def sum(self) -> Tree:
        t = self.product()
        while self.peek() in ("+", "-"):
            op = self.take()
            t = (op, t, self.product())
        return t

    def product(self) -> Tree:
        t = self.power()
        while self.peek() == "*":
            self.take()
            t = ("*", t, self.power())
        return t

    def power(self) -> Tree:
        t = self.atom()
        if self.peek() == "^":
            self.take()
            exponent = self.take()
            if not exponent.isdigit():
                raise ExpressionError("an exponent must be a number")
            t = ("^", t, exponent)
            if self.peek() == "^":
                raise ExpressionError("a power of a power needs parentheses")
        return t

    def atom(self) -> Tree:
        tok = self.take()
        if tok == "(":
            self.nesting += 1
            if self.nesting > MAX_NESTING:
                raise ExpressionError(f"more than {MAX_NESTING} nested parentheses")
            t = self.sum()
            if self.take() != ")":
                raise ExpressionError("unbalanced parentheses")
            self.nesting -= 1
            return t
        if tok.isdigit() or tok.isalpha():
            return tok
        raise ExpressionError(f"unexpected {tok!r}")


def parse(text: str) -> Tree:
    """The tree a text writes (the inverse of :func:`to_text`; spaces and redundant parentheses are allowed)."""
    p = _Parser(text)
    t = p.sum()
    if p.peek() is not None:
        raise ExpressionError(f"unexpected {p.peek()!r}")
    if depth(t) > MAX_NESTING:
        raise ExpressionError(f"deeper than {MAX_NESTING}")
    return t


# ---- structure ----------------------------------------------------------------------------------------------


def depth(t: Tree) -> int:
    """A leaf has depth 0; a node one more than its deepest operand (an exponent is not an operand)."""
    best, stack = 0, [(t, 0)]
    while stack:
        node, d = stack.pop()
        if isinstance(node, str):
            best = max(best, d)
        elif node[0] == "^":
            stack.append((node[1], d + 1))
        else:
            stack.extend(((node[1], d + 1), (node[2], d + 1)))
    return best


def operands(t: tuple) -> tuple[Tree, ...]:
    return (t[1],) if t[0] == "^" else (t[1], t[2])


def subtrees(t: Tree) -> Iterator[tuple[tuple[int, ...], Tree]]:
    """Every sub-tree with its path (the tuple indexes of the operands taken from the root), in pre-order: a node,
    then its left operand's sub-trees, then its right operand's."""
    stack: list[tuple[tuple[int, ...], Tree]] = [((), t)]
    while stack:
        path, node = stack.pop()
        yield path, node
        if isinstance(node, tuple):
            if node[0] != "^":
                stack.append(((*path, 2), node[2]))
            stack.append(((*path, 1), node[1]))


def at(t: Tree, path: tuple[int, ...]) -> Tree:
    """The sub-tree of ``t`` at ``path``."""
    for i in path:
        t = t[i]
    return t


def replace(t: Tree, path: tuple[int, ...], new: Tree) -> Tree:
    """``t`` with the sub-tree at ``path`` replaced by ``new``."""
    if not path:
        return new
    node = list(t)
    node[path[0]] = replace(t[path[0]], path[1:], new)
    return tuple(node)


def leaves(t: Tree) -> Iterator[str]:
    """The leaves in pre-order (left to right); an exponent is no leaf."""
    stack = [t]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            yield node
        else:
            if node[0] != "^":
                stack.append(node[2])
            stack.append(node[1])


def substitute(pattern: Tree, bindings: dict[str, Tree]) -> Tree:
    """The pattern with each variable replaced by the tree it is bound to (other leaves kept)."""
    if isinstance(pattern, str):
        return bindings.get(pattern, pattern)
    op, left, right = pattern
    return (op, substitute(left, bindings), right if op == "^" else substitute(right, bindings))


def match(pattern: Tree, t: Tree, variables: str, bindings: dict[str, Tree] | None = None) -> dict[str, Tree] | None:
    """The bindings under which ``pattern`` is ``t`` (each variable of ``pattern`` stands for one sub-tree, the
    same sub-tree at each of its occurrences; other leaves and operators must be equal), or None."""
    bindings = {} if bindings is None else bindings
    if isinstance(pattern, str):
        if pattern in variables:
            if pattern in bindings:
                return bindings if bindings[pattern] == t else None
            bindings[pattern] = t
            return bindings
        return bindings if pattern == t else None
    if isinstance(t, str) or t[0] != pattern[0]:
        return None
    if pattern[0] == "^":
        return match(pattern[1], t[1], variables, bindings) if pattern[2] == t[2] else None
    if match(pattern[1], t[1], variables, bindings) is None:
        return None
    return match(pattern[2], t[2], variables, bindings)


def first_match(pattern: Tree, t: Tree, variables: str) -> tuple[tuple[int, ...], dict[str, Tree]] | None:
    """The first sub-tree of ``t`` in pre-order (outermost, then leftmost) that ``pattern`` matches: its path and
    bindings; None if none does."""
    head = pattern[0] if isinstance(pattern, tuple) else None
    for path, sub in subtrees(t):
        if head is not None and (isinstance(sub, str) or sub[0] != head):
            continue
        b = match(pattern, sub, variables)
        if b is not None:
            return path, b
    return None


def rename(t: Tree, mapping: dict[str, str]) -> Tree:
    if isinstance(t, str):
        return mapping.get(t, t)
    op, left, right = t
    return (op, rename(left, mapping), right if op == "^" else rename(right, mapping))


# ---- canonical form (commutativity and associativity of + and *) ---------------------------------------------


def _chain(t: tuple) -> list[Tree]:
    """The operands of a maximal chain of ``t``'s operator (``+`` or ``*``), however it is bracketed."""
    op, out, stack = t[0], [], [t]
    while stack:
        node = stack.pop()
        if isinstance(node, tuple) and node[0] == op:
            stack.extend((node[2], node[1]))
        else:
            out.append(node)
    return out


def canonical(t: Tree) -> str:
    """A text that two trees share exactly when one becomes the other by reordering and regrouping the operands
    of ``+`` and of ``*`` (``x*(y+z)``, ``(z+y)*x``); ``-`` and ``^`` keep their operand order."""
    if isinstance(t, str):
        return t
    op = t[0]
    if op in "+*":
        return f"({op} {' '.join(sorted(canonical(x) for x in _chain(t)))})"
    if op == "^":
        return f"(^ {canonical(t[1])} {t[2]})"
    return f"(- {canonical(t[1])} {canonical(t[2])})"


def canonical_up_to_renaming(t: Tree, variables: str) -> str:
    """The least :func:`canonical` text over every renaming of the variables ``t`` uses among each other: two
    rule sides get one key when they differ only by the names of their variables and the order of + and *."""
    used = sorted({v for v in leaves(t) if v in variables})
    return min(canonical(rename(t, dict(zip(used, p)))) for p in permutations(used))


def equivalent(predicted: str, expected: str) -> bool:
    """Whether two texts write trees with one canonical form (:func:`canonical`); a text that is no expression
    of this grammar equals only the identical text. The printed form holds no white space, so a text holding any
    is right only if it is the identical text (white space is the match mode's business: ``strip``), as for every
    other family."""
    if predicted == expected:
        return True
    if any(c.isspace() for c in predicted + expected):
        return False
    try:
        return canonical(parse(predicted)) == canonical(parse(expected))
    except ExpressionError:
        return False


def normalize_variables(lhs: Tree, rhs: Tree, variables: str) -> tuple[Tree, Tree]:
    """Rename a rule's variables to ``variables[0], variables[1], ...`` in the order the left side first writes
    them (so ``b*(c+b) -> ...`` is written ``a*(b+a) -> ...``)."""
    order: list[str] = []
    for leaf in leaves(lhs):
        if leaf in variables and leaf not in order:
            order.append(leaf)
    mapping = dict(zip(order, variables))
    return rename(lhs, mapping), rename(rhs, mapping)


# ---- polynomials --------------------------------------------------------------------------------------------

Monomial = tuple[tuple[str, int], ...]  # (variable, exponent) pairs sorted by variable
Polynomial = dict[Monomial, int]


def _add(p: Polynomial, q: Polynomial, sign: int = 1) -> Polynomial:
    out = dict(p)
    for m, c in q.items():
        out[m] = out.get(m, 0) + sign * c
    return {m: c for m, c in out.items() if c}


def _mul(p: Polynomial, q: Polynomial) -> Polynomial:
    out: Polynomial = {}
    for m1, c1 in p.items():
        for m2, c2 in q.items():
            exps = dict(m1)
            for v, e in m2:
                exps[v] = exps.get(v, 0) + e
            m = tuple(sorted(exps.items()))
            out[m] = out.get(m, 0) + c1 * c2
    return {m: c for m, c in out.items() if c}


def polynomial(t: Tree) -> Polynomial:
    """The tree as a polynomial with integer coefficients (every letter a variable): monomial -> coefficient."""
    if isinstance(t, str):
        return {(): int(t)} if t.isdigit() else {((t, 1),): 1}
    op = t[0]
    if op == "^":
        base, out = polynomial(t[1]), {(): 1}
        for _ in range(int(t[2])):
            out = _mul(out, base)
        return out
    left, right = polynomial(t[1]), polynomial(t[2])
    if op == "*":
        return _mul(left, right)
    return _add(left, right, 1 if op == "+" else -1)


def _term(coefficient: int, monomial: Monomial) -> Tree:
    factors: list[Tree] = [str(coefficient)] if coefficient != 1 or not monomial else []
    factors += [v if e == 1 else ("^", v, str(e)) for v, e in monomial]
    t = factors[0]
    for f in factors[1:]:
        t = ("*", t, f)
    return t


def ordered_terms(p: Polynomial, variables: str) -> list[tuple[Monomial, int]]:
    """The (monomial, coefficient) pairs, the highest total degree first, ties in the lexicographic order of the
    exponents (variables in the order of ``variables``, other letters after them)."""
    rank = {v: i for i, v in enumerate(variables)}

    def key(m: Monomial) -> tuple:
        exps = [0] * (len(variables) + 1)
        for v, e in m:
            exps[rank.get(v, len(variables))] = e
        return (-sum(exps), [-e for e in exps])

    return sorted(p.items(), key=lambda mc: key(mc[0]))


def expanded(p: Polynomial, variables: str) -> Tree:
    """The polynomial written as a sum of monomials: the highest total degree first, ties in the lexicographic
    order of the exponents (variables in the order of ``variables``), a positive monomial leading (the first in
    that order); coefficients and exponents 1 left out. ``x^2-2*x*y+y^2``."""
    if not p:
        return "0"
    terms = ordered_terms(p, variables)
    lead = next((i for i, (_, c) in enumerate(terms) if c > 0), None)
    if lead is None:
        raise ValueError("a polynomial with no positive coefficient cannot be written without a unary minus")
    terms = [terms[lead], *terms[:lead], *terms[lead + 1 :]]
    t = _term(terms[0][1], terms[0][0])
    for m, c in terms[1:]:
        t = ("+" if c > 0 else "-", t, _term(abs(c), m))
    return t
