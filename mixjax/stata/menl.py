"""Stata's ``menl depvar = <menlexpr>, define(...) covariance(...)`` -> ``mixjax.nlme(model, data, fixed=,
random=, covariance=, method=, start=)``.

* ``{b1}`` is a parameter (``{b1=200}`` gives its start value); ``{U1[tree]}`` (``U1[tree]`` inside ``define()``
  and linear combinations) a random effect, ``{S0[lev3>lev2]}`` one at level lev2 nested in lev3.
* ``define(phi: expr)`` substitutes ``{phi:}`` by ``(expr)``; ``define(phi: x1 U1[id], xb)`` and inline
  ``{phi: x1 U1[id]}`` are linear combinations: a parameter ``phi`` with the fixed model ``~ x1`` (a constant unless
  ``noconstant``) plus the named random effects. ``{eq:x}`` alone (no ``xb``) is Stata's free parameter ``eq_x``.
* mixjax.nlme puts random effects on parameters, so each random effect must be added to exactly one parameter
  (``{b1}+{U1[tree]}``) or sit in a linear combination; every random parameter needs the same levels, nested as
  one chain (``"b1 + b2 ~ 1 | school/class"``).
* Stata's default covariance of random effects at a level is independent (``covariance="diagonal"``);
  ``covariance(U1 U2, unstructured)`` gives ``"unstructured"``. Estimation is ML (``reml``: REML), linearization
  (Lindstrom-Bates), as Stata's and nlme's.
"""
from __future__ import annotations

import ast
import re

from . import parse as p
from .translate import IGNORED, StataModel, fixed_rhs

__all__ = ["translate_menl"]

_BRACE = re.compile(r"\{([^{}]*)\}")
_BARE = re.compile(r"(?<![\w{])([A-Za-z_]\w*)\[([^\[\]]+)\]")
_PARAM = re.compile(r"\s*([A-Za-z_]\w*)\s*(?:=\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))?\s*\Z")
_EFFECT = re.compile(r"\s*\{?\s*([A-Za-z_]\w*)\[([^\[\]]+)\]\s*\}?\s*\Z")
OPTIONS = {"define": "define", "covariance": "cov", "reml": "reml", "mle": "mle", "rescovariance": "rescov",
           "resvariance": "resvar", "rescorrelation": "rescorr", "initial": "init", "constraints": "const"}
_PREFIX = "_re_"


class _State:
    def __init__(self):
        self.params, self.starts, self.effects, self.owner, self.variables = {}, {}, {}, {}, []

    def effect(self, name: str, path: str) -> str:
        levels = tuple(p.check_name(v.strip(), f"in the random effect {name}[{path}]") for v in path.split(">"))
        if self.effects.setdefault(name, levels) != levels:
            raise ValueError(f"random effect {name} appears at two levels ({'>'.join(self.effects[name])} and "
                             f"{path}); give each its own name.")
        return _PREFIX + name

    def param(self, name: str, rhs: str = "1") -> str:
        if self.params.setdefault(name, rhs) != rhs:
            raise ValueError(f"{{{name}}} is both a parameter and a linear combination (or two different ones); "
                             "rename one.")
        return name


def _options(options) -> tuple[list, list, dict]:
    defines, covariances, flags = [], [], {}
    for opt in options:
        full = p.resolve(opt.name, OPTIONS) or p.resolve(opt.name, IGNORED)
        if full is None:
            raise ValueError(f"unknown menl option {opt.name!r}; mixjax reads: define(), covariance(), reml, mle.")
        if full in ("rescovariance", "resvariance", "rescorrelation", "constraints"):
            raise ValueError(f"menl {full}() is not supported yet: mixjax.nlme has independent residuals of one "
                             "variance and no constraints; drop the option.")
        if full == "initial":
            raise ValueError("initial() is not read: write start values in the parameters, {b1=200}, or pass "
                             "start={'b1': 200} to mixjax.stata.fit.")
        {"define": defines, "covariance": covariances}.get(full, []).append(opt.args)
        flags[full] = True
    return defines, covariances, flags


def _is_expression(body: str) -> bool:
    return "{" in body or any(c in p.split_top(body, ",")[0] for c in "+-*/^()")


def _expand(expr: str, defines: dict) -> str:
    """Substitute ``{name:}`` by ``(expr)`` for expression defines, by ``{name: lc}`` for linear combinations."""
    for _ in range(50):
        new = re.sub(r"\{\s*([A-Za-z_]\w*)\s*:\s*\}",
                     lambda m: (f"({defines[m.group(1)]})" if _is_expression(defines[m.group(1)])
                                else f"{{{m.group(1)}: {defines[m.group(1)]}}}") if m.group(1) in defines
                     else m.group(0), expr)
        if new == expr:
            return expr
        expr = new
    raise ValueError("define() refers to itself, directly or through others; a define cannot use its own name.")


def _combination(name: str, text: str, state: _State) -> str:
    head, *rest = p.split_top(text, ",")
    flags = {p.resolve(o.name, {"xb": "xb", "noconstant": "nocons"}) or o.name
             for o in p.parse_options(",".join(rest))}
    if flags - {"xb", "noconstant"}:
        raise ValueError(f"{{{name}: {text}}}: a linear combination takes the options xb and noconstant.")
    terms, effects = [], []
    for tok in p.tokens(head):
        m = _EFFECT.match(tok)
        if m:
            state.effect(m.group(1), m.group(2))
            effects.append(m.group(1))
        else:
            terms += p.fixed_terms(tok)
    if len(terms) == 1 and not effects and "xb" not in flags and terms[0].text == terms[0].variables[0]:
        return state.param(f"{name}_{terms[0].text}")  # Stata: {eq:x} is a free parameter
    state.variables += [v for t in terms for v in t.variables]
    state.param(name, fixed_rhs(terms, "noconstant" not in flags))
    for effect in effects:
        state.owner[effect] = name
    return name


def _brace(content: str, state: _State) -> str:
    if m := _EFFECT.match(content):
        return state.effect(m.group(1), m.group(2))
    if m := _PARAM.match(content):
        if m.group(2) is not None:
            state.starts[m.group(1)] = float(m.group(2))
        return state.param(m.group(1))
    name, colon, rest = content.partition(":")
    if colon and re.fullmatch(r"\s*[A-Za-z_]\w*\s*", name):
        if not rest.strip():
            if name.strip() not in state.params:
                raise ValueError(f"{{{name.strip()}:}} refers to nothing: define it with define({name.strip()}: "
                                 "...) or write the linear combination {name: x1 x2} where it is first used.")
            return name.strip()
        return _combination(name.strip(), rest, state)
    raise ValueError(f"cannot read {{{content}}}: write a parameter {{b1}}, a random effect {{U1[id]}}, a "
                     "linear combination {lc: x1 U0[id]}, or a define() reference {phi:}.")


class _Merge(ast.NodeTransformer):
    """Take ``{U[g]}`` out of the sums where it is added to one parameter, recording that parameter as its owner."""

    def __init__(self, state: _State):
        self.state = state

    def visit_BinOp(self, node):
        if not isinstance(node.op, (ast.Add, ast.Sub)):
            return self.generic_visit(node)
        terms = _flatten(node, 1)
        effects = [(s, t.id[len(_PREFIX):]) for s, t in terms if isinstance(t, ast.Name) and t.id.startswith(_PREFIX)]
        rest = [(s, t) for s, t in terms if not (isinstance(t, ast.Name) and t.id.startswith(_PREFIX))]
        if effects:
            owners = [t.id for s, t in rest if s > 0 and isinstance(t, ast.Name) and t.id in self.state.params]
            if len(owners) != 1 or any(s < 0 for s, _ in effects) or not rest:
                raise ValueError(f"the random effect {effects[0][1]} must be added to exactly one parameter, as "
                                 "{b1}+{U1[tree]}, or sit in a linear combination {lc: x U1[tree]}: mixjax.nlme "
                                 "puts random effects on parameters.")
            for _, effect in effects:
                if self.state.owner.setdefault(effect, owners[0]) != owners[0]:
                    raise ValueError(f"the random effect {effect} is added to two parameters; give each its own.")
        out = None
        for sign, term in rest:
            term = self.visit(term)
            if out is None:
                out = term if sign > 0 else ast.UnaryOp(ast.USub(), term)
            else:
                out = ast.BinOp(out, ast.Add() if sign > 0 else ast.Sub(), term)
        return out

    def visit_Name(self, node):
        if node.id.startswith(_PREFIX):
            raise ValueError(f"the random effect {node.id[len(_PREFIX):]} must be added to a parameter, as "
                             "{b1}+{U1[tree]}: mixjax.nlme puts random effects on parameters.")
        return node


def _flatten(node, sign):
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        return _flatten(node.left, sign) + _flatten(node.right, -sign if isinstance(node.op, ast.Sub) else sign)
    return [(sign, node)]


def _random(state: _State) -> str:
    paths: dict = {}
    for effect, param in state.owner.items():
        paths.setdefault(param, []).append(state.effects[effect])
    if not paths:
        raise ValueError("menl without random effects: add one to a parameter, as {b1}+{U1[id]}.")
    sets = {param: sorted(set(ps), key=len) for param, ps in paths.items()}
    chain = max(sets.values(), key=len)
    if any(len(ps) != len(paths[q]) for q, ps in sets.items()) or any(ps != chain for ps in sets.values()) or any(
            path != chain[-1][: i + 1] for i, path in enumerate(chain)):
        raise ValueError("mixjax.nlme needs every random parameter at the same levels, nested as one chain "
                         "(U[school] and S[school>class] on each); found " + "; ".join(
                             f"{q}: {', '.join('>'.join(x) for x in ps)}" for q, ps in paths.items()))
    return f"{' + '.join(paths)} ~ 1 | {'/'.join(chain[-1])}"


def _covariance(texts: list, state: _State) -> str:
    kinds = set()
    for text in texts:
        head, _, vt = (text or "").rpartition(",")
        unknown = [n for n in head.split() if n not in state.effects]
        if unknown or not head.strip():
            raise ValueError(f"covariance({text}): write covariance(U1 U2, vartype) with random-effect names "
                             f"({', '.join(state.effects)}).")
        kinds.add(p.vartype(vt)[0])
    if kinds - {"independent", "unstructured"} or len(kinds) > 1:
        raise ValueError(f"menl covariance {', '.join(sorted(kinds))}: mixjax.nlme has independent (diagonal) or "
                         "unstructured covariances, one for all random effects.")
    return "unstructured" if kinds == {"unstructured"} else "diagonal"


def translate_menl(text: str) -> StataModel:
    rest = text.partition(" ")[2]
    parts = p.split_top(rest, ",")
    if len(parts) > 2:
        raise ValueError("menl takes one comma before its options: menl y = <expr>, define(...) covariance(...).")
    sides = p.split_top(parts[0], "=")
    if len(sides) != 2:
        raise ValueError(f"menl needs 'depvar = expression', got {parts[0].strip()!r}.")
    depvar = p.check_name(sides[0].strip(), "the dependent variable of menl")
    defines, covariances, flags = _options(p.parse_options(parts[1]) if len(parts) == 2 else ())
    define = {}
    for d in defines:
        name, colon, body = (d or "").partition(":")
        if not colon:
            raise ValueError(f"define({d}): write define(name: expression).")
        define[p.check_name(name.strip(), "in define()")] = body.strip()
    expr, state = _expand(sides[1].strip(), define), _State()
    for m in _BRACE.finditer(expr):  # linear combinations first, so that {lc:} may come before them
        if ":" in m.group(1) and m.group(1).partition(":")[2].strip():
            _brace(m.group(1), state)
    expr = _BRACE.sub(lambda m: _brace(m.group(1), state), expr)
    expr = _BARE.sub(lambda m: state.effect(m.group(1), m.group(2)), expr)
    try:
        tree = ast.parse(expr.replace("^", "**"), mode="eval")
    except SyntaxError as err:
        raise ValueError(f"cannot read the menl expression {sides[1].strip()!r}: {err.msg}.") from None
    tree = ast.fix_missing_locations(_Merge(state).visit(tree))
    random = _random(state)
    params = list(state.params)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    data_vars = [n for n in dict.fromkeys(sorted(names - calls)) if n not in state.params]
    fixed = (f"{' + '.join(params)} ~ 1" if all(r == "1" for r in state.params.values())
             else {q: f"~ {r}" for q, r in state.params.items()})
    kwargs = {"fixed": fixed, "random": random, "covariance": _covariance(covariances, state),
              "method": "REML" if "reml" in flags else "ML"}
    if state.starts:
        kwargs["start"] = dict(state.starts)
    levels = [v for path in state.effects.values() for v in path]
    variables = tuple(dict.fromkeys([depvar, *data_vars, *state.variables, *levels]))
    return StataModel("menl", "nlme", f"{depvar} ~ {ast.unparse(tree)}", kwargs, None, "stata", variables)
