"""``fit(command, data)``: translate a Stata command, match its variable names to the data's columns, and call
mixjax.lmm / glmm / nlme.

Variable names: a name missing from the data is matched case-insensitively, then as an unambiguous abbreviation
(Stata's rule, ``circumf`` for ``circumference``); the match is added to a copy of the data under the Stata name.
``residuals()`` of ``mixed`` becomes nlme-style objects (``mixjax.corAR1(form="~ t | id")`` and the like, with
``a:b`` levels written ``a/b``) passed as ``correlation=`` / ``weights=``: ``toeplitz #`` / ``banded #`` are
``corToeplitz`` / ``corBanded`` (banded with a variance per position), ``by(g)`` wraps the correlation in
``corBy(..., by="g")`` with a variance per level (per position and level, column ``t#g``, for unstructured and
banded). ``constraints()`` become ``fix=`` (``constraints``). For ``menl`` without start values for
every parameter, they come from the self-starting function (``SSlogis`` and the others) that the expression equals,
fitted to the pooled data, else from nonlinear least squares started at 1.
"""
from __future__ import annotations

import difflib
import inspect
import itertools
import re
import warnings

import numpy as np
import pandas as pd

from .. import api
from ..design import MixjaxWarning, build
from ..formula import parse as parse_formula
from .constraints import to_fix
from .translate import Residuals, StataModel, translate

__all__ = ["fit", "menl_start", "residual_objects", "with_stata_names"]


def with_stata_names(data, names) -> pd.DataFrame:
    """``data`` with a column for each Stata name that is not one but matches one (case, abbreviation)."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    columns = [str(c) for c in data.columns]
    alias = {}
    for name in names:
        if name in columns:
            continue
        same = [c for c in columns if c.lower() == name.lower()]
        prefix = same or [c for c in columns if c.lower().startswith(name.lower())]
        if len(prefix) == 1:
            alias[name] = prefix[0]
            continue
        if prefix:
            raise ValueError(f"variable {name!r} is ambiguous: it abbreviates {', '.join(prefix)}; write the full name.")
        near = difflib.get_close_matches(name, columns, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, near))}?" if near else ""
        raise ValueError(f"variable {name!r} is not in the data.{hint} The columns are: {', '.join(columns)}; "
                         "write one of them in the command, or add the column to the data.")
    return data.assign(**{name: data[col] for name, col in alias.items()}) if alias else data


def quote_bases(formula: str, data: pd.DataFrame) -> str:
    """``ib2.x`` gives ``contr.treatment(base=2)``; where ``x`` is a text or categorical column its level is "2"."""
    def fix(m):
        numeric = m.group(1) in data and pd.api.types.is_numeric_dtype(data[m.group(1)])
        return m.group(0) if numeric else f"C({m.group(1)}, contr.treatment(base={m.group(2)!r}))"

    return re.sub(r"C\((\w+), contr\.treatment\(base=(\d+)\)\)", fix, formula)


def _constructor(name: str, what: str):
    import mixjax

    make = getattr(mixjax, name, None)
    if make is None:
        raise NotImplementedError(f"residuals({what}) needs mixjax.{name} (nlme-style residual structures), which "
                                  "this mixjax does not have yet; fit without residuals() for now.")
    return make


_PER_POSITION = ("unstructured", "banded")  # Stata's own variance per position of t


def _correlation(res: Residuals, form: str, group: str, what: str):
    """The correlation structure of a correlated ``residuals()`` type, within the innermost groups."""
    if res.rtype == "exchangeable":
        return _constructor("corCompSymm", what)(form=f"~ 1 | {group}")
    if res.rtype == "ar" and (res.order or 1) == 1:
        return _constructor("corAR1", what)(form=form)
    if res.rtype in ("ar", "ma"):
        return _constructor("corARMA", what)(form=form, **{"p" if res.rtype == "ar" else "q": res.order or 1})
    if res.rtype == "exponential":
        return _constructor("corExp", what)(form=form)
    if res.rtype == "unstructured":
        return _constructor("corSymm", what)(form=form)
    return _constructor({"toeplitz": "corToeplitz", "banded": "corBanded"}[res.rtype], what)(order=res.order,
                                                                                            form=form)


def strata_column(res: Residuals) -> str | None:
    """The column ``fit`` adds for Stata's variance per position and by() level: ``t#by``."""
    return f"{res.t}#{res.by}" if res.by and res.rtype in _PER_POSITION else None


def residual_objects(res: Residuals) -> dict:
    """Residuals -> {"correlation": ..., "weights": ...} of nlme-style objects. by(g): the correlation's
    parameters per level (``corBy``) and a variance per level (per position and level for unstructured and
    banded, on the column ``strata_column(res)``)."""
    group, what = (res.group or "").replace(":", "/"), f"{res.rtype}{'' if res.order is None else f' {res.order}'}"
    strata = res.by if res.rtype not in _PER_POSITION else strata_column(res) or res.t
    out = {"weights": _constructor("varIdent", what)(form=f"~ 1 | {strata}")} if strata else {}
    if res.rtype == "independent":
        return out
    correlation = _correlation(res, f"~ {res.t or 1} | {group}", group, what)
    out["correlation"] = _constructor("corBy", what)(correlation, by=res.by) if res.by else correlation
    return out


def with_strata(data: pd.DataFrame, res: Residuals) -> pd.DataFrame:
    column = strata_column(res)
    return data.assign(**{column: data[res.t].astype(str) + "#" + data[res.by].astype(str)}) if column else data


def _check_call(fn, model: StataModel, kwargs: dict) -> None:
    covariance = kwargs.get("covariance") if model.function != "nlme" else None
    unnamed = [(group, *spec) for group, spec in (covariance or {}).items() if isinstance(spec[1], str)]
    if unnamed:
        group, kind, name = unnamed[0]
        raise ValueError(f"covariance({kind}({name})) at level {group} needs the matrix: "
                         f"mixjax.stata.fit(command, data, matrices={{{name!r}: array}}).")
    accepted = inspect.signature(fn).parameters
    for key in kwargs:
        if key not in accepted:
            raise NotImplementedError(f"{model.command}: mixjax.{model.function} has no {key}= argument yet (needed "
                                      f"for {'covariance(fixed/pattern)' if key == 'covariance' else key}).")
    if any(s in model.formula for s in ("homcs(", "homdiag(")):
        try:
            parse_formula(model.formula)
        except ValueError as err:
            raise NotImplementedError(f"covariance(exchangeable/identity) with several effects needs the homcs / "
                                      f"homdiag structures, which this mixjax does not parse yet ({err}).") from None


def _self_start(expr, params: list, columns: list, frame: pd.DataFrame, y):
    from ..nonlinear.selfstart import SELF_START, initial_values

    rng = np.random.default_rng(0)
    for ss in SELF_START.values():
        if len(ss.params) != len(params) or len(ss.inputs) != len(columns):
            continue
        probe_in = [rng.uniform(0.3, 2.0, 17) for _ in columns]
        probe_p = rng.uniform(0.5, 1.5, len(params))
        for cols in itertools.permutations(range(len(columns))):
            for order in itertools.permutations(range(len(params))):
                values = {**{columns[c]: probe_in[i] for i, c in enumerate(cols)},
                          **{params[j]: probe_p[i] for i, j in enumerate(order)}}
                with np.errstate(all="ignore"):
                    ours = np.asarray(expr.evaluate(values), dtype=float)
                    theirs = np.asarray(ss.mean(*probe_in, *probe_p), dtype=float)
                if np.all(np.isfinite(theirs)) and np.allclose(ours, theirs, rtol=1e-9, atol=1e-12):
                    found = initial_values(ss, [frame[columns[c]].to_numpy(float) for c in cols], y)
                    return {params[j]: found[ss.params[i]] for i, j in enumerate(order)}
    return None


def menl_start(model: StataModel, data: pd.DataFrame, given: dict) -> dict:
    """Start values for every parameter of a translated ``menl`` (those in ``given`` kept)."""
    from scipy.optimize import least_squares

    from ..nonlinear.expression import parse_model
    from ..nonlinear.setup import parse_fixed

    params = list(parse_fixed(model.kwargs["fixed"]))
    if all(q in given for q in params):
        return given
    expr = parse_model(model.formula)
    columns = [s for s in expr.symbols if s not in params]
    frame = data[[*columns, expr.response]].dropna()
    y = frame[expr.response].to_numpy(float)
    found = _self_start(expr, params, columns, frame, y)
    if found is not None:
        return {**found, **given}
    values = {c: frame[c].to_numpy(float) for c in columns}
    x0 = np.array([given.get(q, 1.0) for q in params], dtype=float)
    free = [i for i, q in enumerate(params) if q not in given]

    def residuals(x):
        z = x0.copy()
        z[free] = x
        return y - np.asarray(expr.evaluate({**values, **dict(zip(params, z))}), dtype=float)

    with np.errstate(all="ignore"):
        result = least_squares(residuals, x0[free]) if np.all(np.isfinite(residuals(x0[free]))) else None
    if result is None or not np.all(np.isfinite(result.fun)):
        raise ValueError(f"menl: no start values for {', '.join(params[i] for i in free)}; write them in the "
                         "command, as {b1=200}, or pass start={...} to mixjax.stata.fit.")
    x0[free] = result.x
    return dict(zip(params, map(float, x0)))


def _constraint_fix(model: StataModel, formula: str, data: pd.DataFrame, call: dict, given) -> dict:
    if not model.constraints:
        if given is not None:
            raise ValueError("constraints= defines constraints, but the command applies none: add constraints(1 2) "
                             "(the numbers to apply) to the command.")
        return {}
    design = build(formula, data, covariance=call.get("covariance"))
    return {**to_fix(model.constraints, given, model.effects, design), **(call.get("fix") or {})}


def fit(command: str, data, *, matrices: dict | None = None, constraints=None, **kwargs):
    """Fit a Stata ``mixed`` / ``me*`` / ``menl`` command on ``data`` (a DataFrame); ``kwargs`` are passed to the
    mixjax function, over the translated ones (``start=``, ``nagq=``, ...); ``matrices``: the ``fixed(M)`` /
    ``pattern(M)`` matrices by name; ``constraints``: Stata's ``constraint define``s that the command's
    ``constraints()`` applies, ``{1: "_b[var(x[id])] = 0"}`` or a list of strings (``mixjax.stata.constraints``).
    ``time=``, ``event=``, ``entry=``: mestreg's survival columns, in place of Stata's ``stset``. Returns the
    mixjax fit."""
    survival = {k: kwargs.pop(k) for k in ("time", "event", "entry") if k in kwargs}  # mestreg, in place of stset
    model = translate(command, matrices=matrices, survival=survival)
    data = with_stata_names(data, model.variables)
    call = {**model.kwargs, **kwargs}
    if isinstance(call.get("residuals"), Residuals):
        data = with_strata(data, call["residuals"])
        call.update(residual_objects(call.pop("residuals")))
    if model.constraints or constraints is not None:
        call["fix"] = _constraint_fix(model, quote_bases(model.formula, data), data, call, constraints)
    fn = {"lmm": api.lmm, "glmm": api.glmm, "nlme": api.nlme}[model.function]
    _check_call(fn, model, call)
    for note in model.notes:
        warnings.warn(note, MixjaxWarning, stacklevel=2)
    if model.function == "nlme":
        call["start"] = menl_start(model, data, dict(call.get("start") or {}))
    return fn(quote_bases(model.formula, data), data, **call)
