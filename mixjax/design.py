"""The Design: validated numpy arrays for one model, built on the host from a formula and a DataFrame.

``build(formula, data, weights=None)`` parses the lme4 formula, drops rows with missing values (with a warning
that counts them, as lme4's ``na.omit``), builds the fixed-effects matrix ``X`` with formulaic (dropping aliased
columns, as lme4 does), one ``ReTerm`` per random-effects term, ordered by number of levels, largest first, as
lme4 orders them. Bad input raises ``ValueError`` before any numerical work; the caller's DataFrame is never
modified.
"""
from __future__ import annotations

import builtins
import dataclasses
import re
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
from formulaic import model_matrix
from formulaic.formula import SimpleFormula

from .checks import (
    MixjaxWarning,
    _check_columns,
    _check_finite,
    _drop_missing,
    _formula,
    _formula_variables,
    _required,
    _resolve_offset,
    _resolve_weights,
    _warn_numbers_as_text,
)
from .covariance import Covariance, Held, Unstructured, relationship_factor, structure
from .families import censoring
from .formula import ParsedFormula, parse
from .formula.bars import _top_level_split
from .formula.contrasts import apply_contrasts, r_names
from .formula.matrix import PlainSpec, model_columns, plain_columns

__all__ = ["ReTerm", "Design", "build", "hold", "MixjaxWarning"]


@dataclass(frozen=True, eq=False)
class ReTerm:
    """One random-effects term. ``codes`` (n,) maps rows to levels 0..n_levels-1; ``Z`` (n, k) holds the term's
    columns (``1`` for an intercept); covariance ``sigma^2 T T'`` with ``T`` from ``cov`` (a
    ``mixjax.covariance`` structure; unstructured unless given). ``relfactor``: ``L`` of a known covariance
    ``K = L L'`` over the levels (a relationship matrix: effects ``sigma^2 K kron T T'``), or None."""

    group: str
    factor: str
    codes: np.ndarray
    levels: tuple[str, ...]
    Z: np.ndarray
    cnames: tuple[str, ...]
    spec: object = field(repr=False, default=None)
    structure: Covariance | None = None
    relfactor: np.ndarray | None = field(repr=False, default=None)

    @property
    def k(self) -> int:
        return self.Z.shape[1]

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def cov(self) -> Covariance:
        return Unstructured(self.k) if self.structure is None else self.structure


class DPar(NamedTuple):
    """A distributional parameter's own linear predictor (``zi``, ``disp``): its formula, design matrix ``X``
    (n, q), column names and formulaic spec (for new data)."""

    name: str
    formula: str
    X: np.ndarray
    xnames: tuple
    spec: object


@dataclass(frozen=True, eq=False)
class Design:
    """Everything a fit needs, as numpy arrays: ``y`` (n,) (``(n, 2)`` for ``cbind(successes, failures)``; level
    codes 0..K-1 for a categorical response, whose labels are ``response_levels``), ``X`` (n, p), ``weights``
    (n,), ``offset`` (n,) or None, ``terms`` (ordered by number of levels, largest first)."""

    formula: str
    parsed: ParsedFormula
    y: np.ndarray
    X: np.ndarray
    xnames: tuple[str, ...]
    terms: tuple[ReTerm, ...]
    weights: np.ndarray
    fixed_spec: object = field(repr=False, default=None)
    aliased: tuple[str, ...] = ()
    n_missing: int = 0
    offset: np.ndarray | None = None
    response_levels: tuple[str, ...] = ()
    frame: pd.DataFrame | None = field(repr=False, default=None)  # the model's columns, rows used (R's model.frame)
    dpars: tuple = ()  # DPar per distributional parameter with a formula (GLMMs' zi=, disp=)

    @property
    def n_obs(self) -> int:
        return self.y.shape[0]

    @property
    def p(self) -> int:
        return self.X.shape[1]

    @property
    def n_theta(self) -> int:
        return sum(t.cov.n_theta for t in self.terms)

    @property
    def theta_names(self) -> list[str]:
        return [n for t in self.terms for n in t.cov.names(t.group, t.cnames)]

    @property
    def theta_lower(self) -> np.ndarray:
        return np.concatenate([t.cov.lower() for t in self.terms])

    @property
    def theta_start(self) -> np.ndarray:
        return np.concatenate([t.cov.start() for t in self.terms])


# ------------------------------------------------------------------------------------------ construction


def _dense(matrix) -> np.ndarray:
    return np.asarray(matrix, dtype=float)


def _check_matrix_finite(values: np.ndarray, names: tuple[str, ...], what: str) -> None:
    """inf / NaN made by the formula's own transformations (``log(0)``), which the data checks cannot see."""
    bad = ~np.isfinite(values.reshape(len(values), -1))
    if bad.any():
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        raise ValueError(
            f"{what} column {names[j]!r} has {int(bad[:, j].sum())} non-finite value(s) (inf, -inf or NaN) after "
            "evaluating the formula (e.g. log of 0); change the transformation or drop those rows first."
        )


def _fixed(parsed: ParsedFormula, frame: pd.DataFrame, categorical: bool = False):
    """(y, X, fixed spec, column names). ``categorical``: the response is a factor column, returned as codes."""
    formula = _formula(parsed.fixed if not categorical else parsed.fixed.split("~", 1)[1])
    if categorical:
        y, levels = _response_codes(frame[parsed.response])
        try:
            X, xnames, spec = model_columns(formula, frame)
        except Exception as err:
            raise ValueError(f"cannot build the fixed effects of {parsed.fixed!r}: {err}") from err
        _check_matrix_finite(X, xnames, "fixed-effects")
        return y, X, spec, xnames, levels
    plain_y, plain_X = plain_columns(formula.lhs, frame), plain_columns(formula.rhs, frame)
    if plain_y is not None and plain_X is not None and plain_y[0].shape[1] == 1:
        lhs, (X, xnames), spec = plain_y[0], plain_X, PlainSpec(formula.rhs)
    else:
        try:
            mm = model_matrix(formula, frame, na_action="raise")
        except Exception as err:
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            hint = " (e.g. log of a negative number): fix the transformation or the data first"
            hint = hint if "null" in first_line else ""
            raise ValueError(
                f"cannot build the fixed effects of {parsed.fixed!r}: {first_line.rstrip('.')}{hint}."
            ) from err
        lhs, X, xnames, spec = _dense(mm.lhs), _dense(mm.rhs), tuple(map(str, mm.rhs.columns)), mm.rhs.model_spec
    if parsed.response.startswith("cbind(") and lhs.ndim == 2 and lhs.shape[1] == 2:
        pass
    elif censoring.kind(parsed.response) and lhs.ndim == 2 and lhs.shape[1] == 3:
        pass
    elif lhs.ndim != 2 or lhs.shape[1] != 1:
        raise ValueError(
            f"response {parsed.response!r} must be one numeric column; it expands to {lhs.shape[1]} columns "
            "(is it a factor or text?). Convert it to numbers first."
        )
    _check_matrix_finite(lhs, (parsed.response,) * lhs.shape[1], "response")
    _check_matrix_finite(X, xnames, "fixed-effects")
    return (lhs[:, 0] if lhs.shape[1] == 1 else lhs), X, spec, xnames, ()


def _response_codes(col: pd.Series) -> tuple[np.ndarray, tuple[str, ...]]:
    """A factor, text or boolean response as level codes (R's level order for categoricals)."""
    if pd.api.types.is_bool_dtype(col):
        return col.to_numpy(dtype=float), ("FALSE", "TRUE")
    cat = col.array if isinstance(col.dtype, pd.CategoricalDtype) else pd.Categorical(col)
    cat = cat.remove_unused_categories()
    return np.asarray(cat.codes, dtype=float), tuple(map(str, cat.categories))


def _glmm_response(parsed: ParsedFormula, data: pd.DataFrame) -> tuple[ParsedFormula, bool]:
    """lme4's ``cbind(successes, failures)`` becomes a two-column formulaic response ``I(a) + I(b)``; a plain
    factor, text or boolean column is read as categories. Returns (formula, categorical)."""
    which = censoring.kind(parsed.response)  # cens(), interval(), Surv(): the columns _censored_data adds
    if which:
        lhs = " + ".join(f"I({c})" for c in censoring.HIDDEN[which])
        return parsed._replace(fixed=f"{lhs} ~ {parsed.fixed.split('~', 1)[1].strip()}"), False
    m = re.match(r"^cbind\((.*)\)$", parsed.response, re.DOTALL)
    if m:
        args = [a.strip() for a in _top_level_split(m.group(1), ",")]
        if len(args) != 2 or not all(args):
            raise ValueError(
                f"response {parsed.response!r}: cbind takes two columns, cbind(successes, failures)."
            )
        lhs = f"I({args[0]}) + I({args[1]})"
        return parsed._replace(fixed=f"{lhs} ~ {parsed.fixed.split('~', 1)[1].strip()}"), False
    col = data[parsed.response] if parsed.response in data.columns else None
    categorical = col is not None and (
        not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)
    )
    return parsed, categorical


def _censored_data(parsed: ParsedFormula, data: pd.DataFrame) -> pd.DataFrame:
    """A ``cens()``, ``interval()`` or ``Surv()`` response: ``data`` with its three encoded, checked columns added
    (``families.censoring``), so that a missing bound does not drop its row; other responses: ``data`` itself."""
    cols = censoring.columns(parsed.response, data)
    return data if cols is None else data.assign(**cols)


def _offsets(parsed: ParsedFormula, frame: pd.DataFrame, offset) -> np.ndarray | None:
    """Sum of the formula's ``offset(...)`` terms and the ``offset=`` argument (None when there is neither)."""
    total = None if offset is None else offset
    for expr in parsed.offsets:
        try:
            values = _dense(model_matrix(_formula(f"I({expr}) ~ 1"), frame, na_action="raise").lhs)[:, 0]
        except Exception as err:
            raise ValueError(f"cannot evaluate offset({expr}): {err}") from err
        _check_matrix_finite(values[:, None], (f"offset({expr})",), "offset")
        total = values if total is None else total + values
    return total


def _check_response(parsed: ParsedFormula, data: pd.DataFrame) -> None:
    if parsed.response.startswith("cbind("):
        raise ValueError(
            f"response {parsed.response!r} is a binomial response; fit it with mixjax.glmm(..., family='binomial')."
        )
    if parsed.response in data.columns:
        col = data[parsed.response]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise ValueError(
                f"response {parsed.response!r} must be numeric for a linear mixed model, but it has dtype "
                f"{col.dtype}. Convert it to numbers (for a binary or count response use mixjax.glmm)."
            )


def _drop_aliased(X: np.ndarray, names: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """Drop columns in the span of earlier ones (unpivoted QR, lme4's tolerance 1e-7)."""
    if X.shape[1] == 0:
        return X, names, ()
    r = np.abs(np.diag(np.linalg.qr(X, mode="r")))
    scale = np.linalg.norm(X, axis=0)
    keep = r > 1e-7 * np.where(scale > 0, scale, 1.0)
    dropped = tuple(n for n, k in zip(names, keep) if not k)
    if dropped:
        warnings.warn(
            f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} column(s) / coefficient(s): "
            f"{', '.join(dropped)}",
            MixjaxWarning,
            stacklevel=3,
        )
    return X[:, keep], tuple(n for n, k in zip(names, keep) if k), dropped


def _grouping(frame: pd.DataFrame, term_factors: tuple[str, ...], group: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes and labels of a (possibly interaction) grouping factor; unused levels dropped."""
    codes_list, labels_list = [], []
    for name in term_factors:
        cat = frame[name]
        if not isinstance(cat.dtype, pd.CategoricalDtype):
            values = cat
            if pd.api.types.is_float_dtype(values) and np.all(np.mod(values, 1) == 0):
                values = values.astype(np.int64)
            cat = pd.Categorical(values)
        else:
            cat = cat.array.remove_unused_categories()
        codes_list.append(np.asarray(cat.codes, dtype=np.int64))
        labels_list.append(cat.categories.astype(str).tolist())
    if len(codes_list) == 1:
        return codes_list[0].astype(np.int32), tuple(labels_list[0])
    dims = [len(lab) for lab in labels_list]
    flat = np.ravel_multi_index(codes_list, dims)
    uniq, codes = np.unique(flat, return_inverse=True)
    parts = np.unravel_index(uniq, dims)
    labels = tuple(":".join(labels_list[i][parts[i][j]] for i in range(len(dims))) for j in range(len(uniq)))
    return codes.astype(np.int32), labels


def _structure(term, covariance: dict, k: int, label: str) -> Covariance | None:
    """The term's covariance structure: ``covariance[group]`` (a name, a ``(name, M)`` pair or a structure), else
    the one written around it in the formula; None: unstructured."""
    given = covariance.get(term.group, term.structure)
    name, matrix = given if isinstance(given, tuple) else (given, None)
    if isinstance(name, str) and name.lower() in ("us", "unstructured") and matrix is None:
        return None
    try:
        return structure(name, k, matrix)
    except (ValueError, TypeError) as err:
        raise ValueError(f"random-effects term {label}: {err}.") from None


def _random_terms(parsed: ParsedFormula, frame: pd.DataFrame, covariance: dict | None = None) -> list[ReTerm]:
    """One ReTerm per bar; ``(x || g)`` gives one per formula term of ``x``, as lme4's expandDoubleVerts:
    ``(1 | g) + (0 + x | g)`` (so a factor keeps all its levels, correlated, in one block)."""
    terms, covariance = [], covariance or {}
    groups = {t.group for t in parsed.random}
    for name in covariance:
        if name not in groups:
            raise ValueError(f"covariance= names the grouping factor {name!r}, which no random-effects term has; "
                             f"the terms' groups are {', '.join(sorted(groups))}.")
    for term in parsed.random:
        label = f"({term.expr} {'||' if term.split else '|'} {term.group})"
        if term.structure != "us":
            label = term.structure + label
        try:
            pieces = [SimpleFormula([t]) for t in _formula(term.expr)] if term.split else [_formula(term.expr)]
            matrices = [model_columns(piece, frame) for piece in pieces]
        except Exception as err:
            raise ValueError(f"cannot build random-effects term {label}: {err}") from err
        if not matrices or any(Z.shape[1] == 0 for Z, _, _ in matrices):
            raise ValueError(
                f"random-effects term {label} has no columns; write (1 | {term.group}) for a random intercept."
            )
        codes, levels = _grouping(frame, term.factors, term.group)
        for Z, cnames, spec in matrices:
            _check_matrix_finite(Z, cnames, f"random-effects term {label}")
            terms.append(ReTerm(term.group, term.group, codes, levels, Z, cnames, spec,
                                _structure(term, covariance, Z.shape[1], label)))
    return terms


def _check_levels(terms: list[ReTerm], n_obs: int) -> None:
    for term in terms:
        if term.n_levels < 2:
            raise ValueError(
                f"grouping factor {term.factor!r} has only {term.n_levels} level ({', '.join(map(repr, term.levels))}) "
                "in the data used; a random effect needs at least 2 levels. Remove the term or fit a fixed effect "
                "instead."
            )
        if term.relfactor is not None:  # a known covariance over the levels tells them from the residual
            continue
        if term.n_levels >= n_obs:
            raise ValueError(
                f"grouping factor {term.factor!r} has {term.n_levels} levels for {n_obs} observations: its "
                "random effect cannot be told apart from the residual (lme4: 'number of levels of each grouping "
                "factor must be < number of observations'). Remove the term or use a coarser grouping."
            )
        if term.n_levels * term.k >= n_obs and term.structure is None:  # lme4's rule (glmmTMB's structures: none)
            raise ValueError(
                f"random-effects term for {term.factor!r} with columns {', '.join(term.cnames)} has "
                f"{term.n_levels} x {term.k} = {term.n_levels * term.k} random effects for {n_obs} observations: "
                "they cannot be told apart from the residual (lme4: 'number of observations <= number of random "
                "effects'). Use fewer columns in the term, e.g. (1 | "
                f"{term.factor}), or a coarser grouping."
            )


def _lme4_order(terms: list[ReTerm]) -> list[ReTerm]:
    """lme4's mkReTrms: if the numbers of levels ever increase, order by levels, largest first, as
    ``rev(order(nl))`` (so tied terms end up in reverse written order); otherwise keep the written order."""
    nl = [t.n_levels for t in terms]
    if any(b > a for a, b in zip(nl, nl[1:])):
        return [terms[i] for i in sorted(range(len(terms)), key=lambda i: nl[i])[::-1]]
    return list(terms)


def _unique_group_names(terms: list[ReTerm]) -> list[ReTerm]:
    """R's make.unique on group names: g, g.1, g.2, ... (as lme4's VarCorr shows them)."""
    seen: dict[str, int] = {}
    out = []
    for term in terms:
        count = seen.get(term.group, 0)
        seen[term.group] = count + 1
        if count:
            term = dataclasses.replace(term, group=f"{term.group}.{count}")
        out.append(term)
    return out


def _relationships(terms: list[ReTerm], relmat: dict) -> list[ReTerm]:
    """Each term of a grouping factor named in ``relmat`` with the factor of its matrix over the levels."""
    groups = {t.group for t in terms}
    for name in relmat:
        if name not in groups:
            raise ValueError(f"relmat= names the grouping factor {name!r}, which no random-effects term has; the "
                             f"terms' groups are {', '.join(sorted(groups))}.")
    factors = {name: relationship_factor(K, next(t.levels for t in terms if t.group == name), name)
               for name, K in relmat.items()}
    return [dataclasses.replace(t, relfactor=factors[t.group]) if t.group in factors else t for t in terms]


def _check_dpars(dpars: dict) -> dict:
    for name, f in dpars.items():
        if not isinstance(f, str) or "~" not in f or f.split("~")[0].strip():
            raise ValueError(f"{name}= must be a one-sided formula such as '~ spp + mined' (or '~ 1'), got {f!r}.")
        if "|" in f:
            raise ValueError(f"{name}={f!r}: random effects in a {name} formula are not supported; give fixed "
                             "effects only.")
    return dpars


def _dpar(name: str, formula: str, frame: pd.DataFrame) -> DPar:
    try:
        X, xnames, spec = model_columns(_formula(formula), frame)
    except Exception as err:
        raise ValueError(f"cannot build {name}={formula!r}: {err}") from err
    _check_matrix_finite(X, xnames, f"{name}=")
    X, xnames, _ = _drop_aliased(X, xnames)
    return DPar(name, formula, X, xnames, spec)


def hold(design: Design, fix: dict | None) -> Design:
    """``design`` with the covariance parameters named in ``fix`` (theta names -> values) held at those values
    (``mixjax.covariance.Held``): they leave theta. A ``ValueError`` names an unknown parameter or a bad value."""
    if not fix:
        return design
    names = design.theta_names
    unknown = sorted(set(fix) - set(names))
    if unknown:
        raise ValueError(f"fix= has unknown theta name(s) {', '.join(unknown)}; the names are {', '.join(names)}.")
    lower = dict(zip(names, design.theta_lower))
    for name, value in fix.items():
        if not isinstance(value, (int, float, np.number)) or not np.isfinite(value) or value < lower[name]:
            raise ValueError(f"fix={{{name!r}: {value!r}}}: the value must be a finite number"
                             f"{', >= 0 (a standard deviation)' if lower[name] == 0 else ''}.")
    terms = []
    for term in design.terms:
        local = term.cov.names(term.group, term.cnames)
        held = tuple((i, float(fix[n])) for i, n in enumerate(local) if n in fix)
        terms.append(dataclasses.replace(term, structure=Held(term.cov, held)) if held else term)
    return dataclasses.replace(design, terms=tuple(terms))


def build(formula: str, data: pd.DataFrame, weights=None, *, offset=None, glmm: bool = False,
          extra_columns: tuple = (), covariance: dict | None = None, check_levels: bool = True,
          contrasts: dict | None = None, relmat: dict | None = None, dpars: dict | None = None) -> Design:
    """Validate the input and build the Design. See the module docstring. ``glmm``: the response may be a factor
    (codes), text, boolean or ``cbind(successes, failures)``, and offsets (``offset(...)`` terms, ``offset=``,
    a column name or one number per row) are allowed. ``extra_columns``: other columns the model reads (residual
    structures' forms), checked and kept in ``frame`` with the rows used. ``covariance``: grouping factor ->
    covariance structure of its terms (a name such as ``"exchangeable"``, ``(name, M)`` or a structure).
    ``contrasts``: factor -> R coding of the fixed part (``mixjax.formula.contrasts``). ``relmat``: grouping factor
    -> a known covariance over its levels (a DataFrame labelled by level; ``mixjax.covariance.relationship``).
    ``dpars``: name -> one-sided formula (``"~ spp + mined"``) of a distributional parameter's linear predictor."""
    parsed = parse(formula)
    if contrasts:
        if not isinstance(data, pd.DataFrame):
            raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
        parsed = parsed._replace(fixed=apply_contrasts(parsed.fixed, contrasts, data.columns))
    if not parsed.random:
        raise ValueError(
            f"formula {formula!r} has no random-effects term such as (1 | group); a mixed model needs at least one."
        )
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    if len(data) == 0:
        raise ValueError("data has no rows (0 observations); pass a DataFrame with the observations to fit.")
    if glmm:
        parsed, categorical = _glmm_response(parsed, data)
        data = _censored_data(parsed, data)
    else:
        categorical = False
        _check_response(parsed, data)
        if parsed.offsets or offset is not None:
            raise ValueError(
                "offsets (offset(...) in the formula or offset=) are supported by mixjax.glmm; for a linear mixed "
                "model subtract the offset from the response instead."
            )
    variables, groups = _required(parsed)
    dpars = _check_dpars(dpars or {})
    variables |= {v for f in dpars.values() for v in _formula_variables(f)}
    variables = {v for v in variables if v in data.columns or not hasattr(builtins, v)}  # abs(x), x.astype(float)
    _check_columns(variables | groups, data, formula)
    _warn_numbers_as_text(data, variables - groups)
    w = _resolve_weights(weights, data)
    off = _resolve_offset(offset, data)
    columns = sorted(variables | groups | set(extra_columns))
    _check_finite(data, sorted(variables))
    frame, w, off, n_missing = _drop_missing(data, columns, w, off)
    if len(frame) == 0:
        raise ValueError(
            f"no rows left after dropping missing values: every one of the {len(data)} rows has a missing value in "
            f"at least one of {', '.join(columns)}{' or the weights' if w is not None else ''}. Fill in or remove "
            "the mostly missing column(s)."
        )
    y, X, fixed_spec, xnames, levels = _fixed(parsed, frame, categorical)
    xnames = r_names(xnames) if contrasts else xnames
    X, xnames, aliased = _drop_aliased(X, xnames)
    terms = _random_terms(parsed, frame, covariance)
    if relmat:
        terms = _relationships(terms, relmat)
    if check_levels:
        _check_levels(terms, len(frame))
    terms = _unique_group_names(_lme4_order(terms))
    return Design(
        formula=formula,
        parsed=parsed,
        y=y,
        X=X,
        xnames=xnames,
        terms=tuple(terms),
        weights=np.ones(len(frame)) if w is None else w,
        fixed_spec=fixed_spec,
        aliased=aliased,
        n_missing=n_missing,
        offset=_offsets(parsed, frame, off),
        response_levels=levels,
        frame=frame[columns],
        dpars=tuple(_dpar(name, f, frame) for name, f in dpars.items()),
    )
