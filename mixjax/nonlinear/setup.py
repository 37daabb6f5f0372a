"""From ``nlme(model, data, fixed=, random=, ...)`` to the arrays and static structure the estimation needs, with
every check done before any work: the parameters' linear models (formulaic), the grouping levels (nested groups
give one term per level), the model's columns, and start values (given, or from a self-starting function)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from formulaic import model_matrix

from ..checks import _check_columns, _drop_missing, _formula_variables
from ..covariance import structure
from ..objectives.nlme import NlmeData, NlmeSpec, TermSpec, linearize
from .expression import ModelExpression, parse_model

__all__ = ["NlmeProblem", "CallableModel", "setup", "parse_fixed", "parse_random"]


@dataclass(frozen=True)
class CallableModel:
    """A user's ``f(params, data) -> mean`` as the engine calls models (one dict of arrays); equal, and so sharing
    compiled programs, when the function, parameters and columns are."""

    fn: Callable
    params: tuple
    columns: tuple

    def __call__(self, values: dict):
        return self.fn({p: values[p] for p in self.params}, {c: values[c] for c in self.columns})


@dataclass(frozen=True, eq=False)
class NlmeProblem:
    """Everything a fit needs: ``spec`` (static) and ``data`` (arrays), coefficient ``names``, per term (largest
    first) its grouping column (``groups``) and ``levels`` (nested ones labelled 'outer/inner'), ``fixed_specs`` (param -> formulaic ModelSpec or None for a
    constant), ``group_columns`` (outer to inner), the start ``beta0``, the ``model`` text for display and the
    ``frame`` of the rows used (the model's columns and those of ``extra_columns``: residual structures' forms)."""

    model: str
    spec: NlmeSpec
    data: NlmeData
    names: tuple
    groups: tuple
    levels: tuple
    fixed_specs: dict
    group_columns: tuple
    beta0: np.ndarray
    n_missing: int
    frame: pd.DataFrame | None = None


def _names(text: str, what: str) -> list[str]:
    names = [p.strip() for p in text.split("+")]
    bad = [p for p in names if not p.isidentifier()]
    if bad:
        raise ValueError(f"{what}: {', '.join(map(repr, bad))} is not a parameter name.")
    return names


def parse_fixed(fixed) -> dict:
    """``"A + B ~ 1"``, ``{"A": "~ Variety", "B": "~ 1"}`` or ``["A ~ Variety", "B + C ~ 1"]`` -> {param: rhs}."""
    if isinstance(fixed, dict):
        items = [f"{p} ~ {rhs.split('~')[-1] if isinstance(rhs, str) else rhs}" for p, rhs in fixed.items()]
    elif isinstance(fixed, str):
        items = [fixed]
    elif isinstance(fixed, (list, tuple)) and all(isinstance(f, str) for f in fixed):
        items = list(fixed)
    else:
        raise ValueError(
            f"fixed={fixed!r}: write 'A + B ~ 1', or give each parameter its linear model as a dict "
            "{'A': '~ Variety', 'B': '~ 1'}."
        )
    out = {}
    for item in items:
        if item.count("~") != 1:
            raise ValueError(f"fixed: {item!r} must be 'parameters ~ linear model', e.g. 'Asym ~ Variety'.")
        lhs, rhs = (side.strip() for side in item.split("~"))
        if not rhs:
            raise ValueError(f"fixed: {item!r} has no right-hand side; write '~ 1' for a constant.")
        for p in _names(lhs, "fixed"):
            if p in out:
                raise ValueError(f"fixed: parameter {p!r} is given twice.")
            out[p] = rhs
    return out


def parse_random(random, groups=None) -> tuple[list[str], list[str]]:
    """``"A + B ~ 1 | g"`` or ``"A ~ 1 | g1/g2"`` (or ``"A ~ 1"`` with ``groups="g"``) -> (random parameters,
    grouping columns from outer to inner)."""
    if not isinstance(random, str) or random.count("~") != 1:
        raise ValueError(f"random={random!r}: write 'A ~ 1 | group', 'A + B ~ 1 | group' or 'A ~ 1 | g1/g2'.")
    lhs, rhs = random.split("~")
    if "|" in rhs:
        if groups is not None:
            raise ValueError(f"random={random!r} names its groups; leave groups=None, or drop the '| ...' part.")
        one, group_text = (side.strip() for side in rhs.split("|", 1))
    elif groups is None:
        raise ValueError(f"random={random!r} has no grouping: write 'A ~ 1 | group', or give groups='group'.")
    else:
        one, group_text = rhs.strip(), str(groups).lstrip("~").strip()
    if one != "1":
        raise ValueError(
            f"random={random!r}: random effects are on the parameters themselves ('A ~ 1 | group'); covariates "
            f"({one!r}) belong in fixed."
        )
    columns = [g.strip() for g in group_text.split("/")]
    if not all(columns) or len(set(columns)) != len(columns):
        raise ValueError(f"random={random!r}: the grouping must be column names, nested as 'g1/g2'.")
    return _names(lhs, "random"), columns


def _group_codes(frame: pd.DataFrame, columns: list[str]):
    """Per nesting level (outer to inner) the level codes and labels; inner labels are 'outer/inner' as nlme's."""
    out, keys = [], []
    for col in columns:
        series = frame[col]
        cat = series if isinstance(series.dtype, pd.CategoricalDtype) else series.astype("category")
        keys.append(cat.cat.remove_unused_categories())
        index = pd.MultiIndex.from_arrays(keys)
        codes, uniques = pd.factorize(index, sort=True)
        labels = tuple("/".join(map(str, u)) if isinstance(u, tuple) else str(u) for u in uniques)
        out.append((np.asarray(codes, dtype=np.int32), labels))
    return out


class _Recorder(dict):
    """The dict a callable model is traced with: records the keys it reads, and names a key that is not there."""

    def __init__(self, available: dict, what: str, used: list):
        super().__init__(available)
        self.what, self.used = what, used

    def __getitem__(self, key):
        if key not in self:
            raise KeyError(f"the model reads {self.what} {key!r}, which is not there; there are: "
                           f"{', '.join(map(str, self))}.")
        if key not in self.used:
            self.used.append(key)
        return super().__getitem__(key)


def _callable_model(fn, params: list[str], data: pd.DataFrame) -> tuple[CallableModel, list[str], set]:
    """Trace ``fn`` once with shapes only to learn which columns and parameters it reads."""
    shape = jax.ShapeDtypeStruct((len(data),), jnp.float64)
    used_params, used_columns = [], []

    def traced(p, d):
        return fn(_Recorder(p, "parameter", used_params), _Recorder(d, "data column", used_columns))

    try:
        out = jax.eval_shape(traced, {p: shape for p in params}, {str(c): shape for c in data.columns})
    except KeyError as err:
        raise ValueError(str(err.args[0])) from None
    if getattr(out, "shape", None) != (len(data),):
        raise ValueError(f"the model function must return one mean per row ({len(data)}), got shape "
                         f"{getattr(out, 'shape', None)}.")
    return CallableModel(fn, tuple(params), tuple(used_columns)), used_columns, set(used_params)


def _fixed_matrices(rhs: dict, frame: pd.DataFrame):
    """Per parameter its fixed-effects columns (formulaic), spec (None for a constant) and coefficient names."""
    blocks, specs, names = [], {}, []
    for p, text in rhs.items():
        if text == "1":
            blocks.append(np.ones((len(frame), 1)))
            specs[p] = None
            names.append(p)
            continue
        mm = model_matrix(text, frame, ensure_full_rank=True)
        blocks.append(np.asarray(mm, dtype=float))
        specs[p] = mm.model_spec
        names += [f"{p}.{c}" for c in mm.columns]
    return np.hstack(blocks), specs, names


def _start(start, rhs: dict, specs: dict, expr, columns: dict, y) -> np.ndarray:
    """Start values: per parameter a number (its intercept; other coefficients 0) or one per coefficient; missing
    ones from the model's self-starting function where it has one."""
    params = list(rhs)
    if start is not None and not isinstance(start, dict):
        raise ValueError(f"start must be a dict {{parameter: value}}, got {type(start).__name__}.")
    start = dict(start or {})
    unknown = sorted(set(start) - set(params))
    if unknown:
        raise ValueError(f"start has value(s) for {', '.join(unknown)}, which are not parameters in fixed "
                         f"({', '.join(params)}).")
    missing = [p for p in params if p not in start]
    if missing:
        auto = isinstance(expr, ModelExpression) and expr.self_starting
        if not auto:
            raise ValueError(
                f"start has no value for {', '.join(missing)}; give start={{'{missing[0]}': ...}} for every "
                "parameter in fixed, or write the model with a self-starting function (SSlogis, SSfpl, SSasymp, "
                "SSfol, SSbiexp, SSmicmen, SSgompertz, SSweibull)."
            )
        start = {**expr.start_values(columns, y), **start}
    beta = []
    for p in params:
        q = 1 if specs[p] is None else len(specs[p].column_names)
        value = np.atleast_1d(np.asarray(start[p], dtype=float))
        if value.size == 1 and q > 1:
            names = specs[p].column_names
            if "Intercept" not in names:
                raise ValueError(f"start[{p!r}] needs {q} values, one per coefficient ({', '.join(names)}).")
            value = np.where(np.array(names) == "Intercept", value[0], 0.0)
        if value.size != q or not np.all(np.isfinite(value)):
            raise ValueError(f"start[{p!r}] must be {q} finite number(s), got {start[p]!r}.")
        beta.append(value)
    return np.concatenate(beta)


def _structure(covariance, k: int):
    """``covariance=`` as a structure of all random parameters of a level (names as ``mixjax.covariance``)."""
    try:
        return structure(covariance, k)
    except (ValueError, TypeError) as err:
        raise ValueError(f"covariance={covariance!r}: {err}; or use 'unstructured' or 'diagonal'.") from None


def setup(model, data, *, fixed, random, start=None, groups=None, covariance="unstructured",
          response: str | None = None, extra_columns: tuple = ()) -> NlmeProblem:
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    if isinstance(covariance, str) and covariance.lower() == "pddiag":
        covariance = "diagonal"
    rhs = parse_fixed(fixed)
    params = list(rhs)
    random_params, group_columns = parse_random(random, groups)
    not_fixed = [p for p in random_params if p not in params]
    if not_fixed:
        raise ValueError(f"random parameter(s) {', '.join(not_fixed)} must also be in fixed={fixed!r}.")
    covariates = sorted(set().union(*(_formula_variables(f"~ {t}") for t in rhs.values() if t != "1")))
    _check_columns(set(covariates) | set(group_columns), data, f"fixed={fixed!r}, random={random!r}")
    if callable(model) and not isinstance(model, ModelExpression):
        if not isinstance(response, str):
            raise ValueError("a model function needs response='column' (the column it predicts).")
        expr, columns, used = _callable_model(model, params, data)
        label = f"{response} ~ {getattr(model, '__name__', 'model')}(params, data)"
    else:
        if response is not None:
            raise ValueError("response= is only for a model function; a model string names it: 'y ~ ...'.")
        expr, label = parse_model(model), model
        response, columns, used = expr.response, [s for s in expr.symbols if s not in params], set(expr.symbols)
    unused = [p for p in params if p not in used]
    if unused:
        raise ValueError(f"parameter(s) {', '.join(unused)} of fixed/random are not used by the model {label!r}.")
    _check_columns(set(columns) | {response}, data, label)
    bad = [c for c in [*columns, response] if not pd.api.types.is_numeric_dtype(data[c])]
    if bad:
        raise ValueError(f"the model reads column(s) {', '.join(bad)}, which are not numeric; a model reads numbers "
                         "(a factor's effect on a parameter goes in fixed=, e.g. {'Asym': '~ Variety'}).")
    needed = list(dict.fromkeys([*columns, response, *covariates, *group_columns, *extra_columns]))
    frame, _, _, n_missing = _drop_missing(data, needed, None)
    X, specs, names = _fixed_matrices(rhs, frame)
    owner = tuple(i for i, p in enumerate(params) for _ in range(1 if specs[p] is None else len(specs[p].column_names)))
    index = {p: i for i, p in enumerate(params)}
    diagonal = covariance == "diagonal"
    blocks = (tuple((index[p],) for p in random_params) if diagonal else (tuple(index[p] for p in random_params),))
    structures = () if diagonal or covariance == "unstructured" else (_structure(covariance, len(random_params)),)
    levels = _group_codes(frame, group_columns)
    order = sorted(range(len(levels)), key=lambda i: -len(levels[i][1]))  # largest first
    for i in order:
        if len(levels[i][1]) < 2:
            raise ValueError(f"grouping column {group_columns[i]!r} has a single level; random effects need two.")
    spec = NlmeSpec(expr, tuple(params), owner, tuple(TermSpec(blocks, len(levels[i][1]), structures) for i in order))
    values = {c: np.asarray(frame[c], dtype=float) for c in columns}
    y = np.asarray(frame[response], dtype=float)
    nlme_data = NlmeData(y, values, X, tuple(levels[i][0] for i in order))
    beta0 = _start(start, rhs, specs, expr, values, y)
    f0, J0 = linearize(beta0, [np.zeros((t.n_levels, len(t.params))) for t in spec.terms], nlme_data, spec)
    bad = np.flatnonzero(~np.isfinite(np.asarray(f0)) | ~np.all(np.isfinite(np.asarray(J0)), axis=1))
    if bad.size:
        raise ValueError(f"the model (or its derivatives in the parameters) is not finite at the start values in "
                         f"{bad.size} row(s) (first at row {int(bad[0])}); change start.")
    return NlmeProblem(label, spec, nlme_data, tuple(names), tuple(group_columns[i] for i in order),
                       tuple(levels[i][1] for i in order), specs, tuple(group_columns), beta0, n_missing, frame)


def depth(problem: NlmeProblem, group: str) -> int:
    """Nesting level of a term's grouping column: 1 for the outermost."""
    return problem.group_columns.index(group) + 1
