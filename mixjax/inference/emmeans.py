"""Estimated marginal means and their contrasts, as R's emmeans computes them.

The reference grid crosses every level of every factor of the fixed effects with each numeric covariate at its
mean over the fitted rows (or the values in ``at``). The marginal mean of a level of ``specs`` (within a level of
``by``) is the equally weighted average of the grid's predictions over the other factors: a row ``l`` of weights on
the fixed effects, with standard error ``sqrt(l' V l)`` and degrees of freedom of that contrast (Kenward-Roger by
default for a REML LMM, with its adjusted ``V``, as emmeans; Satterthwaite; or asymptotic z for GLMMs). Means that
are not estimable (``l`` outside the row space of the fitted design, e.g. an empty cell) are NaN, as emmeans' NA.
``type="response"`` back-transforms a GLMM's means by the inverse link (SEs by the delta method, intervals from the
link scale's ends).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import jax
import numpy as np
import pandas as pd
from scipy import stats

from .tables import check_ddf, check_level, contrasts

__all__ = ["EMMeans", "emmeans"]

ADJUST = ("tukey", "bonferroni", "holm", "sidak", "none")
METHODS = {"pairwise": "tukey", "trt.vs.ctrl": "holm", "consec": "holm"}  # method -> default adjustment


def _as_list(x) -> list:
    return [] if x is None else [x] if isinstance(x, str) else list(x)


def _factor_levels(frame: pd.DataFrame, column: str) -> list:
    values = frame[column]
    if isinstance(values.dtype, pd.CategoricalDtype):
        return list(values.cat.categories)
    return sorted(values.dropna().unique().tolist())


def _variables(fit) -> tuple[dict, dict]:
    """(factors -> levels, covariates -> mean) among the fixed part's variables."""
    from .contrasts import _categorical, _terms

    frame = fit.design.frame
    if frame is None:
        raise ValueError("emmeans needs the model's columns (covariate means, factor levels), and this fit streamed "
                         "its rows without keeping them; load the data into a pandas DataFrame and fit it with "
                         "mixjax.lmm for that.")
    names = {str(f) for t in _terms(fit.design) for f in t.factors} & set(frame.columns)
    factors = {c: _factor_levels(frame, c) for c in sorted(names) if _categorical(frame[c])}
    covariates = {c: float(frame[c].mean()) for c in sorted(names) if c not in factors}
    return factors, covariates


def _check(fit, specs: list, by: list, at: dict, type: str) -> tuple[dict, dict]:
    if not specs:
        raise ValueError("specs must name at least one factor of the model, e.g. emmeans(fit, 'Machine').")
    factors, covariates = _variables(fit)
    for name in specs + by:
        if name not in factors:
            what = "a numeric covariate" if name in covariates else "not a variable of the fixed effects"
            raise ValueError(f"{name!r} is {what} of this model; emmeans averages over factors: choose among "
                             f"{sorted(factors) or 'none (the model has no factor)'}.")
    for name in at:
        if name not in factors and name not in covariates:
            raise ValueError(f"at names {name!r}, which is not a variable of the fixed effects "
                             f"({sorted(factors) + sorted(covariates)}).")
    if type not in ("link", "response"):
        raise ValueError(f"type must be 'link' or 'response', got {type!r}.")
    if type == "response" and not hasattr(fit, "family"):
        raise ValueError("type='response' back-transforms a GLMM's link; an LMM's means are on the response scale "
                         "already: use type='link'.")
    return factors, covariates


def _grid(factors: dict, covariates: dict, at: dict) -> pd.DataFrame:
    values = {**{c: [m] for c, m in covariates.items()}, **{f: lv for f, lv in factors.items()}}
    values.update({k: _as_list(v) if not np.isscalar(v) else [v] for k, v in at.items()})
    names = list(values)
    grid = pd.DataFrame(list(itertools.product(*values.values())), columns=names)
    for f, lv in factors.items():
        grid[f] = pd.Categorical(grid[f], categories=lv)
    return grid


def _estimable(fit, L_full: np.ndarray) -> np.ndarray:
    """Rows of ``L_full`` (on all columns, aliased ones included) in the row space of the fitted design."""
    d = fit.design
    X = np.asarray(d.fixed_spec.get_model_matrix(d.frame), dtype=float)
    _, s, Vt = np.linalg.svd(X, full_matrices=True)
    rank = int(np.sum(s > s[0] * 1e-10))
    null = Vt[rank:].T
    return np.all(np.abs(L_full @ null) < 1e-8 * np.maximum(1.0, np.abs(L_full).max(axis=1, keepdims=True)), axis=1)


@dataclass
class EMMeans:
    """Estimated marginal means: ``table`` (the ``specs`` and ``by`` factors, then ``emmean, se, df, lower,
    upper``), ``L`` (one row of fixed-effect weights per mean), and ``contrasts(...)``."""

    fit: object = field(repr=False)
    specs: list
    by: list
    table: pd.DataFrame
    L: np.ndarray = field(repr=False)
    L_full: np.ndarray = field(repr=False)  # on every column of the fixed effects, aliased ones included
    ddf: str
    type: str
    level: float

    def __repr__(self) -> str:
        return f"Estimated marginal means ({self.type} scale, {self.ddf} df)\n{self.table.to_string(index=False)}"

    def contrasts(self, method: str = "pairwise", adjust: str | None = None) -> pd.DataFrame:
        """Contrasts of the means within each ``by`` group (on the link scale): ``"pairwise"`` (``A - B``, Tukey
        by default), ``"trt.vs.ctrl"`` (each level minus the first), ``"consec"`` (each minus the one before),
        with p-values adjusted by ``adjust`` ("tukey", "bonferroni", "holm", "sidak", "none"; Holm by default for
        the last two, where emmeans defaults to its Dunnett and multivariate-t approximations). Columns
        ``contrast, estimate, se, df, statistic, p_value`` (plus the ``by`` factors)."""
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(map(repr, METHODS))}.")
        adjust = METHODS[method] if adjust is None else str(adjust).lower()
        if adjust not in ADJUST:
            raise ValueError(f"unknown adjust {adjust!r}; choose one of {', '.join(map(repr, ADJUST))}.")
        groups = self.table.groupby(self.by, sort=False, observed=True) if self.by else [((), self.table)]
        out = []
        for key, rows in groups:
            idx, labels = rows.index.to_numpy(), [", ".join(map(str, r)) for r in rows[self.specs].to_numpy()]
            pairs = (list(itertools.combinations(range(len(idx)), 2)) if method == "pairwise"
                     else [(i, 0) for i in range(1, len(idx))] if method == "trt.vs.ctrl"
                     else [(i, i - 1) for i in range(1, len(idx))])
            C = np.array([self.L[idx[i]] - self.L[idx[j]] for i, j in pairs])
            ok = _estimable(self.fit, np.array([self.L_full[idx[i]] - self.L_full[idx[j]] for i, j in pairs]))
            res = contrasts(self.fit, C, self.ddf).where(np.repeat(ok[:, None], 3, axis=1))
            t = res.estimate.to_numpy() / res.se.to_numpy()
            p = _adjust(t, res.df.to_numpy(), adjust, len(idx))
            part = pd.DataFrame({"contrast": [f"{labels[i]} - {labels[j]}" for i, j in pairs], "estimate":
                                 res.estimate, "se": res.se, "df": res.df, "statistic": t, "p_value": p})
            for name, value in zip(self.by, key if isinstance(key, tuple) else (key,)):
                part[name] = value
            out.append(part)
        table = pd.concat(out, ignore_index=True)
        table.attrs["adjust"] = adjust
        return table


def _adjust(t: np.ndarray, df: np.ndarray, adjust: str, k: int) -> np.ndarray:
    """Two-sided p-values of ``t`` adjusted for the family of ``len(t)`` tests among ``k`` means."""
    p = 2 * stats.t.sf(np.abs(t), df)
    m = len(p)
    if adjust == "tukey":
        return stats.studentized_range.sf(np.abs(t) * np.sqrt(2), k, np.where(np.isinf(df), 1e6, df))
    if adjust == "bonferroni":
        return np.minimum(1.0, p * m)
    if adjust == "sidak":
        return 1 - (1 - p) ** m
    if adjust == "holm":
        order = np.argsort(p)
        stepped = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
        out = np.empty(m)
        out[order] = stepped
        return out
    return p


def emmeans(fit, specs, *, by=None, at: dict | None = None, type: str = "link", ddf: str | None = None,
            level: float = 0.95) -> EMMeans:
    """Estimated marginal means of ``specs`` (a factor or list of factors) within each level of ``by``, as R's
    ``emmeans(fit, specs, by = by, at = at, type = type)``. ``ddf``: Kenward-Roger for a REML LMM (emmeans'
    default), Satterthwaite for an ML one, "asymptotic" for GLMMs; any of ``fit.coef_table``'s choices."""
    specs, by, at = _as_list(specs), _as_list(by), dict(at or {})
    level = check_level(level)
    factors, covariates = _check(fit, specs, by, at, type)
    if ddf is None and hasattr(fit, "reml"):
        ddf = "kenward-roger" if fit.reml else "satterthwaite"
    ddf = check_ddf(fit, ddf)
    grid = _grid(factors, covariates, at)
    d = fit.design
    full = d.fixed_spec.get_model_matrix(grid)
    X_full = np.asarray(full, dtype=float)
    keep = [list(map(str, full.columns)).index(n) for n in d.xnames]
    keys = specs + by
    cells = grid.groupby(keys, sort=False, observed=True).indices
    index = pd.MultiIndex.from_product([factors[k] for k in keys[::-1]], names=keys[::-1]).to_frame(index=False)
    index = index[keys]  # the first factor varies fastest, as emmeans lists them
    L_full = np.array([X_full[cells[tuple(r) if len(keys) > 1 else r[0]]].mean(axis=0) for r in index.to_numpy()])
    ok = _estimable(fit, L_full)
    L = L_full[:, keep]
    res = contrasts(fit, L, ddf)
    est, se, df = (np.where(ok, res[c].to_numpy(), np.nan) for c in ("estimate", "se", "df"))
    q = stats.t.ppf((1 + level) / 2, df)
    lower, upper = est - q * se, est + q * se
    if type == "response":
        inv = fit.family.link.inverse
        slope = np.array([float(jax.grad(lambda e: inv(e))(float(e))) if np.isfinite(e) else np.nan for e in est])
        est, se = np.asarray(inv(est)), np.abs(slope) * se
        lower, upper = np.sort(np.stack([np.asarray(inv(lower)), np.asarray(inv(upper))]), axis=0)
    table = index.assign(emmean=est, se=se, df=df, lower=lower, upper=upper)
    return EMMeans(fit, specs, by, table, L, L_full, ddf, type, level)
