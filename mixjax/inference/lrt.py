"""Likelihood-ratio tests between nested fits: lme4's ``anova(m0, m1, ...)`` and Stata's ``lrtest``.

As lme4, REML fits are refitted by maximum likelihood first (``refit=True``): REML likelihoods of models with
different fixed effects are not comparable. Models are ordered by their number of parameters and each is tested
against the one before it. Where the larger model adds one variance (with its covariances) to the same fixed
effects, the null value is on the boundary of the parameter space and the chi-square p-value is conservative;
``p_chibar`` gives Self and Liang's mixture ``0.5 P(chi2_{df-1} > x) + 0.5 P(chi2_df > x)`` (Stata's
``chibar2(01)`` for one variance).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["anova"]


def _kind(fit) -> str:
    return "lmm" if hasattr(fit, "reml") and hasattr(fit, "refit_ml") else type(fit).__name__


def _response(fit):
    """What identifies a fit's response and prior weights: the arrays themselves, or, for a fit of streamed rows
    (which keeps only the cross-products), ``(sum w y^2, sum log w)`` of all rows."""
    cp = getattr(fit, "crossproducts", None)
    if cp is not None:
        return float(cp.A_low[-1, -1]), float(cp.log_det_w)
    d = fit.design
    return np.asarray(d.y, float).tobytes(), np.asarray(d.weights, float).tobytes()


def _check(fits: tuple) -> None:
    if len(fits) < 2:
        raise ValueError("anova needs at least two fits to compare (for F tests of one fit's terms, use "
                         "fit.anova()).")
    kinds = {_kind(f) for f in fits}
    if len(kinds) > 1 or not all(hasattr(f, "loglik") and hasattr(f, "design") for f in fits):
        raise ValueError("anova compares fits of the same kind (all mixjax.lmm or all mixjax.glmm fits).")
    first = fits[0].design
    for j, f in enumerate(fits[1:], start=2):
        d = f.design
        if d.n_obs != first.n_obs or _response(fits[0]) != _response(f):
            raise ValueError(f"fit {j} and fit 1 were fitted to different rows or responses ({d.n_obs} and "
                             f"{first.n_obs} observations): likelihoods are comparable only on the same data. "
                             "Drop rows with missing values in any model's columns before fitting all of them.")


def _parts(fit) -> tuple[set, dict]:
    """(fixed-effect names, {grouping factor: set of columns}) of a fit."""
    terms: dict = {}
    for t in fit.design.terms:
        terms.setdefault(t.factor, set()).update(t.cnames)
    return set(fit.design.xnames), terms


def _nested(small, big) -> str | None:
    """Why ``small`` is not nested in ``big`` (None if it is)."""
    (x0, r0), (x1, r1) = _parts(small), _parts(big)
    if not x0 <= x1:
        return f"its fixed effects {sorted(x0 - x1)} are not in the larger model"
    for factor, cols in r0.items():
        if not cols <= r1.get(factor, set()):
            return f"its random effects {sorted(cols - r1.get(factor, set()))} for {factor!r} are not in the larger model"
    if getattr(small, "family", None) is not None and str(small.family) != str(big.family):
        return f"its family {small.family} differs from {big.family}"
    return _residuals_nested(small, big)


def _structures(fit) -> tuple[set, set]:
    """(correlation, variance functions) of a fit's residual structures, as comparable (class, form) pairs."""
    r = getattr(fit, "residual", None)
    if r is None:
        return set(), set()
    cor = set() if r.correlation is None else {(type(r.correlation).__name__, r.correlation.form)}
    parts = () if r.variance is None else getattr(r.variance, "parts", (r.variance,))
    return cor, {(type(f).__name__, f.form) for f in parts}


def _residuals_nested(small, big) -> str | None:
    """A residual structure of the smaller model must be one of the larger's (a structure the larger adds is
    nested: at phi = 0 or ratios of 1 it is the independent, homoscedastic residual)."""
    (c0, v0), (c1, v1) = _structures(small), _structures(big)
    if not c0 <= c1:
        return f"its residual correlation {sorted(c0)} is not the larger model's ({sorted(c1) or 'none'})"
    if not v0 <= v1:
        return f"its variance function(s) {sorted(v0 - v1)} are not in the larger model"
    return None


def _variances(fit) -> int:
    return int(np.sum(fit.design.theta_lower == 0.0))


def _p_chibar(small, big, chisq: float, df: int) -> float:
    """Self-Liang mixture where ``big`` adds exactly one variance (and its covariances) to the same fixed
    effects; NaN otherwise."""
    if set(small.design.xnames) != set(big.design.xnames) or _variances(big) - _variances(small) != 1:
        return np.nan
    low = stats.chi2.sf(chisq, df - 1) if df > 1 else 0.0
    return 0.5 * low + 0.5 * stats.chi2.sf(chisq, df)


def anova(*fits, refit: bool = True, names=None) -> pd.DataFrame:
    """Likelihood-ratio tests between nested fits (lme4's ``anova(m0, m1)``): a DataFrame, one row per model in
    increasing number of parameters (index ``names``, default ``model1``, ``model2``, ... in the order given), columns ``npar, aic,
    bic, loglik, deviance, chisq, df, p_value`` and ``p_chibar`` (see the module). REML fits are refitted by ML
    (``refit=True``, lme4's default; the table's ``attrs["refit"]`` says so)."""
    _check(fits)
    names = [f"model{j + 1}" for j in range(len(fits))] if names is None else [str(n) for n in names]
    if len(names) != len(fits):
        raise ValueError(f"names has {len(names)} entries for {len(fits)} fits; give one name per fit.")
    reml = any(getattr(f, "reml", False) for f in fits)
    if not refit and reml and len({frozenset(f.design.xnames) for f in fits}) > 1:
        raise ValueError("REML fits with different fixed effects cannot be compared (their REML likelihoods use "
                         "different data); use refit=True (ML) or fit them with reml=False.")
    refitted = refit and reml
    used = [f.refit_ml() if refitted else f for f in fits]
    order = sorted(range(len(fits)), key=lambda j: used[j].df)
    rows, prev = [], None
    for j in order:
        f = used[j]
        row = {"npar": f.df, "aic": f.aic, "bic": f.bic, "loglik": f.loglik, "deviance": -2 * f.loglik,
               "chisq": np.nan, "df": np.nan, "p_value": np.nan, "p_chibar": np.nan}
        if prev is not None:
            small = used[prev]
            if f.df == small.df:
                raise ValueError(f"{names[prev]} and {names[j]} have the same number of parameters ({f.df}): "
                                 "they are not nested, and a likelihood-ratio test needs nested models.")
            why = _nested(small, f)
            if why is not None:
                raise ValueError(f"{names[prev]} is not nested in {names[j]}: {why}. A likelihood-ratio test "
                                 "needs nested models (compare non-nested ones by aic and bic).")
            chisq, df = max(2 * (f.loglik - small.loglik), 0.0), f.df - small.df
            row.update(chisq=chisq, df=df, p_value=stats.chi2.sf(chisq, df), p_chibar=_p_chibar(small, f, chisq, df))
        rows.append(row)
        prev = j
    table = pd.DataFrame(rows, index=[names[j] for j in order])
    table.attrs["refit"] = "refitted by ML (REML likelihoods are not comparable)" if refitted else "as fitted"
    return table
