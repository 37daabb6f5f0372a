"""Split an lme4 formula into its fixed part and its random-effects ("bar") terms.

``Reaction ~ Days + (Days | Subject)`` -> fixed ``Reaction ~ Days`` and ``RandomTerm("Days", "Subject")``.
The rules are lme4's ``findbars`` / ``expandSlash`` / ``expandDoubleVerts``:

* ``(x | g)``: correlated intercept and slope for each level of ``g`` (``0 + x`` or ``- 1`` drops the intercept);
* ``(x || g)``: one uncorrelated term per term of ``x`` (``(1 | g) + (0 + x | g)``; a factor keeps all its levels
  in one correlated block, as lme4's ``expandDoubleVerts`` does);
* ``(x | a/b)``: nesting, ``(x | a) + (x | b:a)``; ``a/b/c`` adds ``c:b:a`` (listed innermost first,
  ``c:b:a, b:a, a``, as lme4's ``findbars`` lists them: the order decides ties when terms are sorted by levels);
* ``(x | a:b)``: one level per observed combination of ``a`` and ``b``;
* glmmTMB's covariance structures written around a term: ``cs(0 + factor(age) | Subject)``, ``us``, ``diag``,
  ``homdiag``, ``homcs``, ``ar1``, ``toep`` (``RandomTerm.structure``; default ``us``, unstructured).

``^`` inside ``I(...)`` is R's power and becomes Python's ``**`` (``I(age^2)``); R's ``factor(x)`` and
``as.factor(x)`` become formulaic's ``C(x)`` (columns named ``C(x)[T.level]``).

Group names are normalized (``a : b`` -> ``a:b``; backticks dropped: ``(1 | `my group`)`` -> ``my group``).
"""
from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["RandomTerm", "ParsedFormula", "parse"]


class RandomTerm(NamedTuple):
    """One random-effects term: ``expr`` is a formulaic right-hand side, ``group`` names the grouping factor
    (``a:b`` for an interaction), ``split`` is True for ``||`` (expanded per design column when the design
    is built)."""

    expr: str
    group: str
    split: bool = False
    structure: str = "us"

    @property
    def factors(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.group.split(":"))


class ParsedFormula(NamedTuple):
    """``response``: the left-hand side; ``fixed``: a formulaic formula for the fixed effects;
    ``random``: the random terms in the order written (nesting already expanded); ``offsets``: the expressions
    of ``offset(...)`` terms, taken out of the fixed part."""

    response: str
    fixed: str
    random: tuple[RandomTerm, ...]
    offsets: tuple[str, ...] = ()


STRUCTURES = ("us", "diag", "homdiag", "cs", "homcs", "ar1", "toep")
_WRAPPER = re.compile(r"(?:^|(?<=[\s+(]))(" + "|".join(STRUCTURES) + r")\s*$")

_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$|^`[^`]+`$")


def _top_level_split(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` outside parentheses and brackets."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
            i += len(sep)
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _strip_parens(text: str) -> str:
    """``((1 | g))`` -> ``1 | g``: drop parentheses that enclose the whole text (lme4 ignores them too)."""
    text = text.strip()
    while text.startswith("("):
        depth = 0
        for i, ch in enumerate(text):
            depth += (ch == "(") - (ch == ")")
            if depth == 0:
                break
        if i != len(text) - 1:
            break
        text = text[1:-1].strip()
    return text


def _bar_groups(rhs: str) -> tuple[str, list[tuple[str, str, str]]]:
    """Remove top-level ``( ... | ... )`` groups from ``rhs``, with a structure name written before one
    (``cs(...)``); return the rest and the removed (contents, text, structure)."""
    kept, bars, depth, i, start = [], [], 0, 0, None
    while i < len(rhs):
        ch = rhs[i]
        if ch == "(":
            if depth == 0:
                start = i
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced parentheses in formula right-hand side {rhs!r}: an extra ')'.")
            if depth == 0:
                inner = _strip_parens(rhs[start + 1 : i])
                if len(_top_level_split(inner, "|")) > 1:
                    before = "".join(kept)
                    wrapper = _WRAPPER.search(before)
                    if wrapper:
                        kept = [before[: wrapper.start(1)]]
                    name = wrapper.group(1) if wrapper else "us"
                    bars.append((inner, (name if wrapper else "") + rhs[start : i + 1], name))
                    kept.append("\0")
                else:
                    kept.append(rhs[start : i + 1])
                start = None
        elif depth == 0:
            kept.append(ch)
        i += 1
    if depth != 0:
        raise ValueError(f"unbalanced parentheses in formula right-hand side {rhs!r}: a '(' is never closed.")
    return "".join(kept), bars


def _expand_group(group: str, original: str) -> list[str]:
    """``a/b/c`` -> ``[c:b:a, b:a, a]`` (lme4's naming and order); ``a:b`` stays as it is."""
    parts = []
    for part in _top_level_split(group, "/"):
        factors = [factor.strip() for factor in part.split(":")]
        for factor in factors:
            if not _NAME.match(factor):
                raise ValueError(
                    f"malformed random-effects term {original!r}: the grouping factor {factor!r} must be "
                    "a column name (or names joined by ':' or '/'), as in (1 | Subject) or (1 | school/class)."
                )
        parts.append(":".join(f[1:-1] if f.startswith("`") else f for f in factors))
    out, prefix = [], []
    for part in parts:
        prefix = [part] + prefix
        out.append(":".join(prefix))
    return out[::-1]


_OFFSET = re.compile(r"^offset\((.*)\)$", re.DOTALL)


def _clean_fixed(rest: str) -> tuple[str, tuple[str, ...]]:
    """Drop the placeholders left by removed bar terms and the '+' signs around them; take out ``offset(...)``
    terms. Returns (fixed right-hand side, offset expressions)."""
    terms = [t.strip() for t in _top_level_split(rest, "+")]
    terms = [t for t in terms if t and t != "\0"]
    if any("\0" in t for t in terms):
        raise ValueError(
            "random-effects terms must be added to the fixed part with '+', as in y ~ x + (1 | g); "
            f"found one combined with another operator in {rest.replace(chr(0), '(...|...)')!r}."
        )
    offsets = tuple(m.group(1).strip() for t in terms if (m := _OFFSET.match(t)))
    terms = [t for t in terms if not _OFFSET.match(t)]
    return (" + ".join(terms) if terms else "1"), offsets


def _python_powers(text: str) -> str:
    """R's ``I(x^2)`` is a power; inside ``I(...)`` formulaic reads Python, where ``^`` is xor: write ``**``."""
    out, i = [], 0
    while (j := text.find("I(", i)) >= 0:
        if j and (text[j - 1].isalnum() or text[j - 1] in "_."):  # part of a longer name such as `logI(`
            out.append(text[i : j + 2])
            i = j + 2
            continue
        depth, k = 0, j + 1
        for k in range(j + 1, len(text)):
            depth += (text[k] == "(") - (text[k] == ")")
            if depth == 0:
                break
        out.append(text[i:j] + text[j : k + 1].replace("^", "**"))
        i = k + 1
    return "".join(out) + text[i:]


_FACTOR = re.compile(r"(?<![A-Za-z0-9_.])(?:as\.)?factor\(")


def _r_factors(text: str) -> str:
    """R's ``factor(x)`` / ``as.factor(x)``: formulaic's ``C(x)``."""
    return _FACTOR.sub("C(", text)


def parse(formula: str) -> ParsedFormula:
    """Parse an lme4 formula string. Raises ``ValueError`` naming the malformed piece."""
    if not isinstance(formula, str):
        raise ValueError(f"formula must be a string such as 'y ~ x + (1 | g)', got {type(formula).__name__}.")
    sides = _top_level_split(_r_factors(_python_powers(formula)), "~")
    if len(sides) != 2 or not sides[0].strip():
        raise ValueError(f"formula {formula!r} needs one '~' with the response on its left, as in 'y ~ x + (1 | g)'.")
    response, rhs = sides[0].strip(), sides[1].strip()
    if not rhs:
        raise ValueError(f"formula {formula!r} has nothing right of '~'.")
    rest, bars = _bar_groups(rhs)
    if len(_top_level_split(rest, "|")) > 1:
        raise ValueError(
            f"formula {formula!r} has a '|' outside parentheses; write each random-effects term in its own "
            "parentheses, as in y ~ x + (1 | g)."
        )
    terms: list[RandomTerm] = []
    for inner, original, structure in bars:
        double = len(_top_level_split(inner, "||")) == 2
        if double and structure != "us":
            raise ValueError(f"malformed random-effects term {original!r}: a covariance structure takes one bar, "
                             f"as in {structure}(x | group); (x || group) is already diagonal.")
        pieces = _top_level_split(inner, "||") if double else _top_level_split(inner, "|")
        if len(pieces) != 2:
            raise ValueError(
                f"malformed random-effects term {original!r}: write (terms | group) or (terms || group) "
                "with exactly one bar."
            )
        expr, group = pieces[0].strip(), pieces[1].strip()
        if expr.endswith("|") or group.startswith("|"):
            raise ValueError(
                f"malformed random-effects term {original!r}: write (terms | group) or (terms || group) "
                "with exactly one bar."
            )
        if not expr:
            raise ValueError(
                f"malformed random-effects term {original!r}: nothing left of the bar; write (1 | group) "
                "for a random intercept."
            )
        if not group:
            raise ValueError(
                f"malformed random-effects term {original!r}: no grouping factor right of the bar; write "
                "(1 | group) with a column of the data."
            )
        for name in _expand_group(group, original):
            terms.append(RandomTerm(expr, name, double, structure))
    fixed, offsets = _clean_fixed(rest)
    return ParsedFormula(response, f"{response} ~ {fixed}", tuple(terms), offsets)
