"""Tests of fixed effects: the coefficient table with degrees of freedom, p-values and intervals (lmerTest's
``summary``), and F tests of each term (lmerTest's ``anova(m)``), for a choice of denominator degrees of freedom:

- ``"satterthwaite"`` (LMM default, as lmerTest), ``"kenward-roger"`` (pbkrtest's adjusted covariance for the
  standard errors and its degrees of freedom; REML fits), ``"residual"`` (``n - p``), ``"asymptotic"`` (z and
  chi-square/q; GLMMs, as glmer's Wald z), ``"nlme"`` (NLME default: nlme's t tests, ``n - (groups at the
  innermost level) - p + 1`` degrees of freedom, as its ``getFixDF`` gives for a linearized design).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from . import kenward_roger as kr
from . import satterthwaite as satt
from .contrasts import type1, type3
from .nlme_df import fixed_df, nested_levels

__all__ = ["DDF", "anova_table", "check_ddf", "check_level", "coef_table", "contrasts", "format_p"]

DDF = ("satterthwaite", "kenward-roger", "residual", "asymptotic", "nlme")


def check_ddf(fit, ddf: str | None) -> str:
    """The method's name, checked against the fit (defaults: Satterthwaite for LMMs, nlme's for NLMEs, asymptotic
    for GLMMs)."""
    lmm = hasattr(fit, "reml") and hasattr(fit, "objective") and hasattr(fit.objective, "spec")
    nlme = hasattr(fit, "problem")
    structured = getattr(fit, "residual", None) is not None
    if ddf is None:
        return "nlme" if nlme or structured or getattr(fit, "nlme_style", False) else \
            "satterthwaite" if lmm else "asymptotic"
    name = str(ddf).lower().replace("_", "-").replace(" ", "-")
    name = {"kr": "kenward-roger", "kenward": "kenward-roger", "satterthwaite's": "satterthwaite"}.get(name, name)
    if name not in DDF:
        raise ValueError(f"unknown ddf {ddf!r}; choose one of {', '.join(map(repr, DDF))}.")
    if name == "nlme" and not (nlme or lmm):
        raise ValueError("ddf='nlme' (nlme's t-test degrees of freedom) is defined for linear and nonlinear fits.")
    if structured and name in ("satterthwaite", "kenward-roger"):
        raise ValueError(f"ddf={ddf!r} is not available with residual correlation structures or variance functions "
                         "(lmerTest and pbkrtest have none); use ddf='nlme' (nlme's, the default) or 'residual'.")
    if not lmm and name not in ("asymptotic", "nlme"):
        has = "Wald z tests and nlme t tests: use ddf='asymptotic' or ddf='nlme'" if nlme else \
            "Wald z tests only: use ddf='asymptotic'"
        raise ValueError(f"ddf={ddf!r} is defined for linear mixed models; this {type(fit).__name__} has {has}.")
    if name == "kenward-roger" and not fit.reml:
        raise ValueError("Kenward-Roger is defined for REML fits (pbkrtest refits by REML); refit with reml=True "
                         "or use ddf='satterthwaite'.")
    return name


def contrasts(fit, L, ddf: str | None = None) -> pd.DataFrame:
    """Estimate, SE and degrees of freedom of each row of ``L`` (m, p) as a single contrast."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    method = check_ddf(fit, ddf)
    lmm_fit = hasattr(fit, "reml") and not hasattr(fit, "problem")
    beta = fit.fixef.to_numpy()
    V = fit._kenward_roger.vcov_adjusted if method == "kenward-roger" else fit.vcov.to_numpy()
    if method == "satterthwaite":
        df = satt.contrast_df(fit._satterthwaite, L)
    elif method == "kenward-roger":
        df = kr.contrast_df(fit._kenward_roger, L)
    elif method == "residual":
        df = np.full(len(L), float(fit.nobs - len(beta)))
    elif method == "nlme" and lmm_fit:  # nlme's getFixDF per column; a contrast takes its columns' smallest
        per_column = fixed_df(fit.design.X, nested_levels(fit))
        df = np.array([per_column[row != 0].min() if np.any(row != 0) else np.nan for row in L])
    elif method == "nlme":  # nlme's getFixDF: every column of the linearized design varies within groups
        df = np.full(len(L), float(fit.nobs - max(fit.ngroups.values()) - len(beta) + 1))
    else:
        df = np.full(len(L), np.inf)
    se = np.sqrt(np.einsum("mi,ij,mj->m", L, V, L))
    return pd.DataFrame({"estimate": L @ beta, "se": se, "df": df})


def _t_table(est, se, df, level: float) -> dict:
    t = est / se
    q = stats.t.ppf((1 + level) / 2, df)
    return {"statistic": t, "p_value": 2 * stats.t.sf(np.abs(t), df), "lower": est - q * se, "upper": est + q * se}


def check_level(level) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"level must be a number between 0 and 1 (e.g. 0.95), got {level!r}.")
    return float(level)


def coef_table(fit, ddf: str | None = None, level: float = 0.95, vcov=None) -> pd.DataFrame:
    """The fixed effects with ``estimate, se, df, statistic, p_value, lower, upper`` (t tests; ``df`` infinite:
    z tests). ``vcov="robust"`` (LMMs): cluster-robust CR2 standard errors with clubSandwich's Satterthwaite
    degrees of freedom (``fit.vcov_robust``)."""
    level = check_level(level)
    names = list(fit.fixef.index)
    if vcov is not None:
        if vcov != "robust":
            raise ValueError(f"unknown vcov {vcov!r}; use None (the model's) or 'robust' (cluster-robust CR2).")
        if not hasattr(fit, "coef_test_robust"):
            raise ValueError(f"vcov='robust' is available for linear mixed models, not a {type(fit).__name__}.")
        table = fit.coef_test_robust()[["estimate", "se", "df"]]
    else:
        table = contrasts(fit, np.eye(len(names)), ddf)
        table.index = names
    est, se, df = (table[c].to_numpy() for c in ("estimate", "se", "df"))
    return table.assign(**_t_table(est, se, df, level))


def anova_table(fit, ddf: str | None = None, type: int | str = 3) -> pd.DataFrame:
    """F tests of each fixed-effect term (lmerTest's ``anova(m)``): ``sum_sq, mean_sq, num_df, den_df, F,
    p_value``; ``type`` 3 (marginal, default) or 1 (sequential). Sums of squares are ``F * num_df * sigma^2``
    (LMMs; NaN otherwise)."""
    method = check_ddf(fit, ddf)
    kind = str(type).upper()
    kind = {"3": 3, "III": 3, "1": 1, "I": 1}.get(kind)
    if kind is None:
        raise ValueError(f"unknown type {type!r}; use 3 (marginal, lmerTest's default) or 1 (sequential).")
    hypotheses = (type3 if kind == 3 else type1)(fit.design)
    beta = fit.fixef.to_numpy()
    sigma2 = fit.sigma**2 if hasattr(fit, "reml") else math.nan
    rows = {}
    for term, L in hypotheses.items():
        if method == "satterthwaite":
            F, q, den = satt.f_test(fit._satterthwaite, L, beta)
            F_ss = F
        elif method == "kenward-roger":
            F, F_ss, q, den = kr.f_test(fit._kenward_roger, L, beta)
        else:
            q = int(np.linalg.matrix_rank(L))
            F = F_ss = float(beta @ L.T @ np.linalg.solve(L @ fit.vcov.to_numpy() @ L.T, L @ beta) / q)
            den = float(fit.nobs - len(beta)) if method == "residual" else np.inf
            if method == "nlme" and hasattr(fit, "reml"):  # nlme's anova: the smallest df of the term's columns
                den = float(fixed_df(fit.design.X, nested_levels(fit))[np.any(L != 0, axis=0)].min())
        p = stats.chi2.sf(F * q, q) if np.isinf(den) else stats.f.sf(F, q, den)
        rows[term] = (F_ss * q * sigma2, F_ss * sigma2, q, den, F, p)
    return pd.DataFrame.from_dict(rows, orient="index",
                                  columns=["sum_sq", "mean_sq", "num_df", "den_df", "F", "p_value"])


def format_p(p: float) -> str:
    """R's ``format.pval`` for a table: ``<2e-16`` below machine precision, else 3 significant digits."""
    if not np.isfinite(p):
        return "NA"
    return "<2e-16" if p < 2.2e-16 else f"{p:.3g}"
