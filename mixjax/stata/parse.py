"""Read the text of a Stata ``me`` command (what a Stata user pastes) into plain pieces, without any data.

``parse_command("mixed y x || id: x, cov(un) mle")`` -> ``Command("mixed", (Equation("y x", ()),
Equation("id: x", (Option("cov", "un"), Option("mle", None)))))``: equations split on ``||`` (outermost level
first), each equation's options after its comma. Option names are kept as written; ``resolve`` matches Stata's
abbreviations (``cov`` for ``covariance``, ``nocons`` for ``noconstant``) against a table of minimal abbreviations.
``fixed_terms`` turns factor-variable notation into formulaic terms; ``random_equation`` reads ``levelvar: revars``.

Factor variables, as Stata reads them: ``i.x`` -> ``C(x)`` (first level base), ``ib2.x`` -> ``C(x,
contr.treatment(base=2))`` (quoted to ``'2'`` by ``fit`` for a text/categorical column), ``c.x`` -> ``x``;
inside interactions a bare name is a factor (Stata's rule): ``x#z`` -> ``C(x):C(z)``, ``x##c.z`` -> ``C(x) * z``,
``c.x##c.z`` -> ``x * z``. ``ibn.x`` (no base level) is cell-means coding: ``0 + C(x) + ...`` with the ibn factor
first (formulaic keeps all levels of the first factor when there is no intercept); the same model as ``i.x``.
``noconstant`` on the fixed equation -> ``0 + ...``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Command", "Equation", "FixedTerm", "Option", "RandomEquation", "check_name", "clean", "fixed_terms",
           "parse_command", "parse_options", "random_equation", "resolve", "split_top", "vartype"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_OPTION = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\((.*)\))?\Z", re.DOTALL)
_CLOSE = {")": "(", "]": "[", "}": "{"}
_OPEN = {v: k for k, v in _CLOSE.items()}

VARTYPES = {"independent": "ind", "exchangeable": "ex", "identity": "id", "unstructured": "un", "fixed": "fix",
            "pattern": "pat"}


@dataclass(frozen=True)
class Option:
    """``name`` as written (lower case); ``args``: the text inside its parentheses, None without them."""

    name: str
    args: str | None = None


@dataclass(frozen=True)
class Equation:
    body: str
    options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class Command:
    """``equations``: the fixed-effects equation first, then the random-effects equations, outermost first."""

    name: str
    equations: tuple[Equation, ...]


@dataclass(frozen=True)
class FixedTerm:
    """One formulaic term; ``full``: written ``ibn.`` (every level, no base)."""

    text: str
    variables: tuple[str, ...]
    full: bool = False


@dataclass(frozen=True)
class RandomEquation:
    """``level``: the level variable or ``_all``; ``revars``: random slopes; ``factor``: the ``R.factor``."""

    level: str
    revars: tuple[str, ...]
    factor: str | None
    constant: bool
    vartype: str | None  # None: the command's default
    matrix: str | None = None


def clean(text) -> str:
    """Join ``///`` continuations, drop ``//`` comments, collapse white space; check the brackets balance."""
    if not isinstance(text, str):
        raise TypeError(f"a Stata command must be a string such as 'mixed y x || id:', got {type(text).__name__}.")
    text = re.sub(r"///[^\n]*(\n|$)", " ", text)
    text = re.sub(r"(^|\s)//[^\n]*", " ", text)
    text = " ".join(text.split())
    stack = []
    for i, ch in enumerate(text):
        if ch in "([{":
            stack.append((ch, i))
        elif ch in _CLOSE:
            if not stack:
                raise ValueError(f"unbalanced parentheses in {text!r}: the {ch!r} at position {i} closes nothing "
                                 "that is open; remove it or add the opening bracket.")
            if stack[-1][0] != _CLOSE[ch]:
                raise ValueError(f"unbalanced parentheses in {text!r}: the {ch!r} at position {i} closes the "
                                 f"{stack[-1][0]!r} at position {stack[-1][1]}; close it with {_OPEN[stack[-1][0]]!r}.")
            stack.pop()
    if stack:
        ch, i = stack[-1]
        raise ValueError(f"unbalanced parentheses in {text!r}: the {ch!r} at position {i} is never closed; add "
                         f"the closing {_OPEN[ch]!r}.")
    return text


def split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside parentheses, brackets and braces."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        depth += (ch in "([{") - (ch in ")]}")
        if depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    return parts + [text[start:]]


def tokens(text: str) -> list[str]:
    """White-space separated tokens outside brackets; ``name (args)`` is glued to ``name(args)``."""
    out = []
    for tok in split_top(text.strip(), " "):
        if tok.startswith("(") and out and _NAME.match(out[-1]):
            out[-1] += tok
        elif tok:
            out.append(tok)
    return out


def parse_options(text: str) -> tuple[Option, ...]:
    out = []
    for tok in tokens(text):
        m = _OPTION.match(tok)
        if not m:
            raise ValueError(f"cannot read the option {tok!r}: write options as name or name(arguments), "
                             "separated by spaces, after the comma.")
        out.append(Option(m.group(1).lower(), None if m.group(2) is None else m.group(2).strip()))
    return tuple(out)


def equation(text: str) -> Equation:
    parts = split_top(text, ",")
    if len(parts) > 2:
        raise ValueError(f"the equation {text.strip()!r} has more than one comma; write its options after a single "
                         "comma, separated by spaces: 'y x, noconstant'.")
    return Equation(parts[0].strip(), parse_options(parts[1]) if len(parts) == 2 else ())


def parse_command(text) -> Command:
    """``mecmd depvar indepvars [, fe_options] || re_equation [|| ...] [, options]`` -> Command."""
    text = clean(text)
    name, _, rest = text.partition(" ")
    return Command(name.lower(), tuple(equation(part) for part in split_top(rest, "||")))


def resolve(name: str, table: dict) -> str | None:
    """The full name in ``table`` (full name -> minimal abbreviation) that ``name`` abbreviates, or None."""
    for full, least in table.items():
        if full.startswith(name) and name.startswith(least):
            return full
    return None


def check_name(name: str, what: str) -> str:
    if not _NAME.match(name):
        hint = (" Wildcards and ranges (x*, x1-x5) need the data: write the variables out." if any(c in name for c in "*?-~")
                else "")
        raise ValueError(f"{name!r} is not a Stata variable name ({what}).{hint}")
    return name


def vartype(text: str) -> tuple[str, str | None]:
    """``un`` -> ("unstructured", None); ``fixed(M)`` -> ("fixed", "M")."""
    m = re.fullmatch(r"\s*([A-Za-z]+)\s*(?:\(\s*([A-Za-z_]\w*)\s*\))?\s*", text or "")
    full = resolve(m.group(1).lower(), VARTYPES) if m else None
    if full is None:
        valid = ", ".join(f"{k} ({v})" for k, v in VARTYPES.items())
        raise ValueError(f"unknown covariance type {text!r}; the types (with their shortest abbreviations) are: "
                         f"{valid}; fixed and pattern take a matrix name, as fixed(M).")
    if (full in ("fixed", "pattern")) != (m.group(2) is not None):
        raise ValueError(f"covariance({text}): fixed and pattern take a matrix name, as covariance(fixed(M)); the "
                         "other types take none.")
    return full, m.group(2)


def _factor(op: str, name: str, interaction: bool) -> tuple[str, bool]:
    """One factor of a term as formulaic text, and whether it is ``ibn.`` (all levels)."""
    op = op.lower() if op else ("i" if interaction else "c")  # Stata: in interactions a bare name is a factor
    if op == "c":
        return name, False
    if op in ("i", "ib(first)"):
        return f"C({name})", False
    if op == "ibn":
        return f"C({name})", True
    if re.fullmatch(r"ib\d+", op):
        return f"C({name}, contr.treatment(base={op[2:]}))", False
    if op == "o" or re.fullmatch(r"[lfds]\d*|[lfds]\(.*\)", op):
        raise ValueError(f"{op}.{name}: omitted (o.) and time-series (L. F. D. S.) operators are not supported; "
                         "make the variable a column of the data and use its name.")
    raise ValueError(f"{op}.{name}: unknown or unsupported factor-variable operator {op!r}; use i. (first level "
                     "base), ib#. (level # base), ibn. (no base) or c. (continuous).")


def _split_factor(text: str) -> tuple[str, str]:
    op, _, name = text.rpartition(".") if not text.endswith(")") else text.partition(".")
    return op, name


def fixed_terms(tok: str) -> list[FixedTerm]:
    """A factor-variable token -> formulaic terms: ``i.x`` -> ``C(x)``, ``c.x`` -> ``x``, ``x##c.z`` ->
    ``C(x) * z``, ``x#z`` -> ``C(x):C(z)``, ``i.(a b)`` -> ``C(a)``, ``C(b)``."""
    full_fact, inter = split_top(tok, "##"), split_top(tok, "#")
    if len(full_fact) > 1 and len(inter) != 2 * len(full_fact) - 1:
        raise ValueError(f"{tok!r} mixes # and ## in one term; write a##b for the full factorial or a#b for the "
                         "interaction alone.")
    parts, sep = (full_fact, " * ") if len(full_fact) > 1 else (inter, ":")
    if len(parts) == 1:
        op, name = _split_factor(tok)
        if name.startswith("(") and name.endswith(")"):
            return [t for inner in tokens(name[1:-1]) for t in fixed_terms(f"{op}.{inner}" if op else inner)]
        text, full = _factor(op, check_name(name, "in the fixed-effects equation"), False)
        return [FixedTerm(text, (name,), full)]
    pieces, names = [], []
    for part in parts:
        op, name = _split_factor(part)
        text, full = _factor(op, check_name(name, f"in the interaction {tok!r}"), True)
        if full:
            raise ValueError(f"ibn. inside the interaction {tok!r} is not supported; use i. there.")
        pieces.append(text)
        names.append(name)
    return [FixedTerm(sep.join(pieces), tuple(names))]


def random_equation(eq: Equation, options: dict) -> RandomEquation:
    """``levelvar: [revars]`` with its already-resolved ``options`` (noconstant, covariance)."""
    level, colon, rest = eq.body.partition(":")
    if not colon:
        raise ValueError(f"the random-effects equation {eq.body!r} needs a colon after its level variable: write "
                         "|| id: for a random intercept, || id: x for a random slope too.")
    level = check_name(level.strip(), "the level variable of a random-effects equation")
    revars, factor = [], None
    for tok in tokens(rest):
        op, name = _split_factor(tok)
        if op in ("R", "r"):
            factor = check_name(name, "after R.")
        elif op in ("", "c") and "#" not in tok:
            revars.append(check_name(name, f"in the random-effects equation {eq.body!r}"))
        else:
            raise ValueError(f"{tok!r} in the random-effects equation {eq.body!r}: random slopes are continuous "
                             "variables; for one random effect per level of a factor write R.factor alone.")
    if factor and (revars or len([t for t in tokens(rest) if t.lower().startswith("r.")]) > 1):
        raise ValueError(f"R.{factor} must stand alone in its equation: write || {level}: R.{factor} || {level}: "
                         "x, noconstant for more.")
    constant = "noconstant" not in options
    if not revars and not factor and not constant:
        raise ValueError(f"the random-effects equation {eq.body!r} has noconstant and no variables, so no random "
                         f"effects; drop noconstant (|| {level}:) or add variables (|| {level}: x, noconstant).")
    vt, matrix = vartype(options["covariance"]) if "covariance" in options else (None, None)
    return RandomEquation(level, tuple(revars), factor, constant, vt, matrix)
