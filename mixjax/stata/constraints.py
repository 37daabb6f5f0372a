"""Stata's ``constraints(numlist)`` of ``mixed``, as mixjax.lmm's ``fix={theta name: value}``.

Stata defines constraints outside the command (``constraint 1 _b[var(_cons[id]):_cons] = 0``); mixjax takes them
as ``mixjax.stata(command, data, constraints={1: "_b[var(_cons[id])] = 0"})`` or a list of strings (``"constraint
[define] # exp"``, or bare expressions numbered 1, 2, ... in order). Coefficients are read in Stata's spellings:
``var(x[id])``, ``sd(x[id])``, ``cov(x,z[id])``, ``corr(x,z[id])`` (with ``_b[...]``, ``[...]_cons`` or ``/``
around them; ``a>b`` for nested levels), the estimation metric ``lns#_#_#`` (log SD: level, equation, effect, in the
order Stata numbers them: slopes first, ``_cons`` last), ``atr#_#_#_#`` (atanh correlation) and ``lnsig_e``,
``var(Residual)``, ``var(e)`` for the residual.

theta holds each term's Cholesky factor relative to sigma, so what maps is:

* a variance (SD) of a random effect ``= 0``: its row of the factor held at 0;
* a covariance or correlation ``= 0`` that involves the first effect of an unstructured term: one entry held at 0;
* a random effect's SD relative to the residual SD (``var(x[id]) = 4 * var(e)``, ``sd(..) - 2 * sd(e) = 0``,
  ``[lns1_1_1]_cons - [lnsig_e]_cons = 0.5``) for the first (or only) effect of its term: theta held at the ratio.

Anything else (a fixed effect, an absolute variance such as ``= 16``, an equality of two variances) raises a
ValueError naming the constraint.
"""
from __future__ import annotations

import math
import re

from ..covariance.unstructured import Unstructured

__all__ = ["numlist", "definitions", "to_fix"]

_DEFINE = re.compile(r"^\s*constraint\s+(?:def(?:ine)?\s+)?(\d+)\s+(.*)$", re.IGNORECASE | re.DOTALL)
_NUMBER = re.compile(r"\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?")
_NAME = re.compile(r"[A-Za-z_/][\w.]*(?:\([^()]*\))?")


def numlist(text: str) -> tuple[int, ...]:
    """Stata's numlist of constraint numbers: ``1 2``, ``1/3``, ``1-3``, ``1,4``."""
    out = []
    for item in re.split(r"[\s,]+", (text or "").strip()):
        m = re.fullmatch(r"(\d+)(?:[/-](\d+))?", item)
        if not m:
            raise ValueError(f"constraints({text}): write constraint numbers, as constraints(1 2) or constraints(1/3).")
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        out += range(a, b + 1)
    return tuple(dict.fromkeys(out))


def definitions(given) -> dict[int, str]:
    """``{number: expression}`` from a dict ``{1: "exp"}`` or a list of ``"constraint # exp"`` / ``"exp"``."""
    if isinstance(given, dict):
        return {int(k): _DEFINE.match(v).group(2) if _DEFINE.match(v) else v for k, v in given.items()}
    if isinstance(given, str) or not hasattr(given, "__iter__"):
        raise TypeError("constraints= must be a dict {1: 'exp'} or a list of strings ('constraint 1 exp' or 'exp').")
    out = {}
    for i, text in enumerate(given, start=1):
        m = _DEFINE.match(text)
        out[int(m.group(1)) if m else i] = m.group(2) if m else text
    return out


# ------------------------------------------------------------------------------------------ reading an expression


def _bracket(text: str, i: int) -> int:
    """Index after the ``]`` closing the ``[`` at ``i``."""
    depth = 0
    for j in range(i, len(text)):
        depth += {"[": 1, "]": -1}.get(text[j], 0)
        if depth == 0:
            return j + 1
    raise ValueError("unbalanced brackets")


def _tokens(text: str) -> list[tuple[str, object]]:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "+-*=":
            out.append(("op", c))
            i += 1
        elif text.startswith("_b[", i):
            j = _bracket(text, i + 2)
            out.append(("ref", text[i + 3 : j - 1].strip()))
            i = j
        elif c == "[":
            j = _bracket(text, i)
            m = re.match(r"\s*([A-Za-z_][\w.]*)?", text[j:])
            out.append(("ref", f"{text[i + 1 : j - 1].strip()}:{m.group(1) or '_cons'}"))
            i = j + m.end()
        elif m := _NUMBER.match(text, i):
            out.append(("num", float(m.group(0))))
            i = m.end()
        elif m := _NAME.match(text, i):
            out.append(("ref", m.group(0)))
            i = m.end()
        else:
            raise ValueError(f"cannot read {text[i:]!r}")
    return out


def _side(tokens: list) -> tuple[dict, float]:
    """A sum of ``[sign] [number *] coefficient`` and numbers -> ({coefficient: multiplier}, constant)."""
    coef, const, i = {}, 0.0, 0
    while i < len(tokens):
        if i and tokens[i] not in (("op", "+"), ("op", "-")):
            raise ValueError("terms must be joined by + or -")
        sign = 1.0
        while i < len(tokens) and tokens[i][0] == "op" and tokens[i][1] in "+-":
            sign, i = sign * (-1.0 if tokens[i][1] == "-" else 1.0), i + 1
        factor, ref = sign, None
        while True:
            kind, value = tokens[i]
            if kind == "num":
                factor *= value
            elif kind == "ref" and ref is None:
                ref = value
            else:
                raise ValueError("expected a number or one coefficient")
            i += 1
            if i < len(tokens) and tokens[i] == ("op", "*"):
                i += 1
                continue
            break
        if ref is None:
            const += factor
        else:
            coef[ref] = coef.get(ref, 0.0) + factor
    return coef, const


def linear(text: str) -> tuple[dict, float]:
    """``lhs = rhs`` -> ({coefficient: multiplier}, c) with ``sum multiplier * coefficient = c``."""
    toks = _tokens(text)
    if toks.count(("op", "=")) != 1:
        raise ValueError("a constraint is one equation, 'exp = exp'")
    k = toks.index(("op", "="))
    (left, a), (right, b) = _side(toks[:k]), _side(toks[k + 1 :])
    coef = dict(left)
    for ref, v in right.items():
        coef[ref] = coef.get(ref, 0.0) - v
    return {r: v for r, v in coef.items() if v != 0}, b - a


# ------------------------------------------------------------------------------------------ what a coefficient is

_RESIDUAL = re.compile(r"(Residual|e(\.\w+)?)", re.IGNORECASE)


def _parameter(ref: str, effects: tuple) -> tuple:
    """A coefficient reference -> ("effect", scale, level, name) / ("pair", scale, level, a, b) /
    ("residual", scale) / ("fixed", ref); scale is var, sd, logsd, cov, corr or atr."""
    m = re.search(r"(?:(\w+):\s*)?\b(var|sd|cov|corr)\(([^()]*)\)", ref, re.IGNORECASE)
    if m:
        prefix, scale, inner = m.group(1), m.group(2).lower(), m.group(3)
        items = [re.sub(r"\[.*?\]", "", s).strip() for s in inner.split(",")]
        if scale in ("var", "sd") and len(items) == 1 and _RESIDUAL.fullmatch(items[0]):
            return ("residual", scale)
        level = re.findall(r"\[([^\]]+)\]", inner) or [prefix]
        if level[-1] is None or len(items) != (1 if scale in ("var", "sd") else 2):
            return ("fixed", ref)
        level = re.sub(r"\s*>\s*", ":", level[-1].strip())
        return ("effect", scale, level, items[0]) if len(items) == 1 else ("pair", scale, level, *items)
    name = ref.lstrip("/").split(":")[0]
    if re.fullmatch(r"lnsig_e", name):
        return ("residual", "logsd")
    if m := re.fullmatch(r"lns(\d+)_(\d+)_(\d+)", name):
        level, names = _equation(effects, int(m.group(1)), int(m.group(2)), ref)
        return ("effect", "logsd", level, _effect(names, int(m.group(3)), ref))
    if m := re.fullmatch(r"atr(\d+)_(\d+)_(\d+)_(\d+)", name):
        level, names = _equation(effects, int(m.group(1)), int(m.group(2)), ref)
        return ("pair", "atr", level, _effect(names, int(m.group(3)), ref), _effect(names, int(m.group(4)), ref))
    return ("fixed", ref)


def _equation(effects: tuple, level: int, eq: int, ref: str):
    for lev, e, group, names in effects:
        if (lev, e) == (level, eq):
            return group, names
    raise ValueError(f"{ref} names random-effects equation {eq} of level {level}, which the command does not have")


def _effect(names: tuple, k: int, ref: str) -> str:
    if not 1 <= k <= len(names):
        raise ValueError(f"{ref} names effect {k} of an equation with {len(names)} ({', '.join(names)})")
    return names[k - 1]


# ------------------------------------------------------------------------------------------ to fix=


def _term(design, level: str, effect: str):
    """(theta names, (row, col) of each, the effect's row) of the unstructured term holding ``effect``."""
    name = "Intercept" if effect == "_cons" else effect
    for t in design.terms:
        if t.factor == level and name in t.cnames:
            if not isinstance(t.cov, Unstructured):
                raise ValueError(f"var({effect}[{level}]) is in a structured covariance (exchangeable, identity, "
                                 "fixed or pattern), whose parameters are shared")
            rows, cols = t.cov.index
            return t.cov.names(t.group, t.cnames), list(zip(rows.tolist(), cols.tolist())), t.cnames.index(name)
    raise ValueError(f"the model has no random effect {effect} at level {level}")


def _fix_one(coef: dict, const: float, effects: tuple, design) -> dict:
    params = {ref: _parameter(ref, effects) for ref in coef}
    fixed = [p[1] for p in params.values() if p[0] == "fixed"]
    if fixed:
        raise ValueError(f"{fixed[0]} is a fixed effect; mixjax holds only variance components (for = 0 drop the "
                         "variable from the command)")
    kinds = sorted(p[0] for p in params.values())
    if kinds == ["effect"] and const == 0 and next(iter(params.values()))[1] in ("var", "sd"):
        _, _, level, name = next(iter(params.values()))
        names, cells, i = _term(design, level, name)
        return {n: 0.0 for n, (r, _) in zip(names, cells) if r == i}
    if kinds == ["pair"] and const == 0:
        _, _, level, a, b = next(iter(params.values()))
        names, cells, i = _term(design, level, a)
        j = _term(design, level, b)[2]
        if min(i, j) != 0:
            raise ValueError("a covariance = 0 maps to theta only where it involves the first effect of the term "
                             "(the intercept)")
        return {names[cells.index((max(i, j), 0))]: 0.0}
    if kinds == ["effect", "residual"]:
        return _ratio(params, coef, const, design)
    raise ValueError("mixjax holds variance components relative to the residual variance: it maps a variance = 0, a "
                     "covariance = 0 or a variance proportional to the residual one, not this")


def _ratio(params: dict, coef: dict, const: float, design) -> dict:
    (re_ref, (_, scale, level, name)), (res_ref, (_, res_scale)) = sorted(params.items(), key=lambda kv: kv[1][0])
    a, b = coef[re_ref], coef[res_ref]
    if scale != res_scale:
        raise ValueError("both sides must be on one scale (var with var, sd with sd, lns with lnsig_e)")
    if scale == "logsd":
        if a != -b:
            raise ValueError("a log-SD difference must read [lns..]_cons - [lnsig_e]_cons = c")
        ratio = math.exp(const / a)
    elif const != 0 or -b / a <= 0:
        raise ValueError("a variance proportional to the residual variance reads var(x[id]) = c * var(Residual), "
                         "c > 0")
    else:
        ratio = math.sqrt(-b / a) if scale == "var" else -b / a
    names, cells, i = _term(design, level, name)
    if i != 0:
        raise ValueError(f"the SD of {name} maps to one theta only for the first effect of its term")
    return {names[cells.index((0, 0))]: ratio}


def to_fix(numbers: tuple, given, effects: tuple, design) -> dict:
    """``fix={theta name: value}`` for the constraints ``numbers`` of the command (defined in ``given``);
    ``effects``: the command's random equations ``(level number, equation number, group, effect names)``."""
    if given is None:
        raise ValueError(f"constraints({' '.join(map(str, numbers))}) needs their definitions: "
                         "mixjax.stata(command, data, constraints={1: '_b[var(_cons[id])] = 0'}).")
    defined, fix = definitions(given), {}
    for k in numbers:
        if k not in defined:
            raise ValueError(f"constraint {k} is not defined; constraints= defines {sorted(defined)}.")
        try:
            coef, const = linear(defined[k])
            if not coef:
                raise ValueError("it names no coefficient")
            for name, value in _fix_one(coef, const, effects, design).items():
                if name in fix and fix[name] != value:
                    raise ValueError(f"it holds {name} at {value}, another constraint at {fix[name]}")
                fix[name] = value
        except ValueError as err:
            raise ValueError(f"constraint {k} ({defined[k].strip()}) cannot be applied: {err}.") from None
    return fix
