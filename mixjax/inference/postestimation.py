"""Stata's postestimation commands after ``mixed`` and ``me*``: ``estat icc``, ``estat recovariance``,
``estat wcorrelation`` and ``estat group``, each a function of a fit returning pandas tables.

``icc`` follows [ME] estat icc: the intraclass correlation at level j of a nested random-intercept model is the
correlation of two responses in the same level-j unit (and so in the same unit at every level above it),
``(var_1 + ... + var_j) / (var_1 + ... + var_G + var_residual)``, the residual variance being the latent scale's
for binary and ordinal models (logit pi^2/3, probit 1, cloglog pi^2/6). Its standard error is the delta method on
the asymptotic covariance of the variance parameters; its confidence interval is the Wald interval of
``logit(icc)`` transformed back, as Stata reports it.
"""
from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy import stats

from .tables import check_level

__all__ = ["group_summary", "icc", "recovariance", "wcorrelation"]

# Variance of the latent residual whose distribution function is the inverse link: logistic, normal, extreme value.
LATENT_RESIDUAL_VARIANCE = {"logit": math.pi**2 / 3, "probit": 1.0, "cloglog": math.pi**2 / 6}


def _is_glmm(fit) -> bool:
    """True for a ``GlmmFit``, False for an ``LmmFit``; any other fit is refused (imports are local: the result
    classes import this module)."""
    from ..results.glmm import GlmmFit
    from ..results.lmm import LmmFit

    if not isinstance(fit, (LmmFit, GlmmFit)):
        raise TypeError(f"expected a fit from mixjax.lmm or mixjax.glmm, got {type(fit).__name__}.")
    return isinstance(fit, GlmmFit)


def _re_covariances(fit) -> list[np.ndarray]:
    """Each term's k x k covariance of its random effects: ``sigma^2 T T'`` (LMM) or ``T T'`` (GLMM)."""
    if _is_glmm(fit):
        return [T @ T.T for T in fit._T]
    return [fit.sigma**2 * T @ T.T for T in fit._est.T]


# ------------------------------------------------------------------------------------------------ estat icc


def _nesting_chain(terms) -> list[int]:
    """Positions of the random-intercept terms from the outermost level to the innermost; refuses terms without an
    intercept, two terms on one factor and crossed factors, as Stata's ``estat icc`` does."""
    for t in terms:  # random slopes: the ICC at covariates 0, from the intercepts' variances (as Stata)
        if t.cnames[0] != "Intercept":
            raise ValueError(
                f"estat icc: the random-effects term ({' + '.join(t.cnames)} | {t.factor}) has no random "
                "intercept; intraclass correlations are built from each level's random-intercept variance."
            )
    factors = [t.factor for t in terms]
    if len(set(factors)) < len(factors):
        raise ValueError(f"estat icc: more than one random intercept on one grouping factor ({', '.join(factors)}).")
    order = sorted(range(len(terms)), key=lambda i: terms[i].n_levels)
    for outer, inner in itertools.pairwise(order):
        a, b = terms[outer], terms[inner]
        if len(np.unique(np.stack([b.codes, a.codes]), axis=1).T) != len(np.unique(b.codes)):
            raise ValueError(
                f"estat icc: the random effects of {a.factor!r} and {b.factor!r} are crossed, not nested; "
                "Stata's estat icc is not available for crossed-effects models."
            )
    return order


def _level_labels(factors: list[str]) -> list[str]:
    """Stata's labels, outermost first: ``batch``, ``cask|batch`` (each level's own name, then those above it);
    lme4's nested factor ``cask:batch`` contributes ``cask``."""
    own, above = [], set()
    for f in factors:
        parts = f.split(":")
        mine = [p for p in parts if p not in above] if above <= set(parts) else parts
        own.append(":".join(mine))
        above = set(parts)
    return ["|".join(reversed(own[: j + 1])) for j in range(len(own))]


def _latent_residual_variance(family) -> float:
    """The residual variance of the latent response for binary and ordinal models; other families are refused."""
    if family.name in ("binomial", "ordinal") and family.link.name in LATENT_RESIDUAL_VARIANCE:
        return LATENT_RESIDUAL_VARIANCE[family.link.name]
    raise ValueError(
        f"estat icc: Stata does not define an intraclass correlation for the {family.name} family with the "
        f"{family.link.name} link; it does for linear models and binomial or ordinal models with the logit, probit "
        "or cloglog link."
    )


def _icc_parameters(fit, chain: list[int]):
    """(x, cov, variances): the variance parameters the fit estimated, their asymptotic covariance and a JAX
    function of ``x`` giving (each chain level's random-intercept variance, the residual variance).

    LMM: ``x = (theta..., sigma)`` and ``fit._satterthwaite.varpar_vcov``, ``var_j = (theta_j sigma)^2``; GLMM:
    ``x`` the optimizer's ``psi`` (theta first) and ``2 H^-1``, ``var_j = theta_j^2``, the residual fixed."""
    starts = np.cumsum([0] + [t.cov.n_theta for t in fit.design.terms])
    idx = jnp.asarray(starts[chain])
    if _is_glmm(fit):
        resid = _latent_residual_variance(fit.family)
        return np.asarray(fit.solution.x), fit._covariance, lambda x: (x[idx] ** 2, resid)
    x = np.append(fit._theta_values, fit.sigma)
    return x, fit._satterthwaite.varpar_vcov, lambda x: ((x[idx] * x[-1]) ** 2, x[-1] ** 2)


def _cumulative_icc(variances):
    """ICC of each level, outermost first: the variances of it and the levels above over the total."""
    v, resid = variances
    return jnp.cumsum(v) / (jnp.sum(v) + resid)


def logit_interval(value: np.ndarray, se: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Stata's ``estat icc`` interval: ``invlogit(logit(icc) -/+ z se / (icc (1 - icc)))``; NaN where the ICC is
    0 (a variance at its bound)."""
    level = check_level(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = stats.norm.ppf(0.5 + level / 2) * se / (value * (1 - value))
        logit = np.log(value) - np.log1p(-value)
        return 1 / (1 + np.exp(-(logit - half))), 1 / (1 + np.exp(-(logit + half)))


def icc(fit, level: float = 0.95) -> pd.DataFrame:
    """Stata's ``estat icc``: the intraclass correlation at each level of a nested random-intercept model
    (outermost first, labelled as Stata labels them, e.g. ``batch`` and ``cask|batch``), with its delta-method
    standard error and the ``level`` confidence interval built on the logit scale. With random slopes, the ICC at
    covariates equal to 0 (the intercepts' variances, as Stata). Refuses terms without an intercept, crossed random
    effects and GLMM families other than binomial and ordinal with a logit, probit or cloglog link."""
    terms = fit.design.terms
    chain = _nesting_chain(terms)
    x, cov, variances = _icc_parameters(fit, chain)
    value = np.asarray(_cumulative_icc(variances(jnp.asarray(x))))
    J = np.asarray(jax.jacfwd(lambda x: _cumulative_icc(variances(x)))(jnp.asarray(x)))
    se = np.sqrt(np.einsum("li,ij,lj->l", J, cov, J))
    lower, upper = logit_interval(value, se, level)
    index = pd.Index(_level_labels([terms[i].factor for i in chain]), name="level")
    return pd.DataFrame({"icc": value, "se": se, "lower": lower, "upper": upper}, index=index)


# ------------------------------------------------------------------------------------------------ the others


def recovariance(fit) -> dict:
    """Stata's ``estat recovariance``: per random-effects term (keyed by ``term.group``), the covariance matrix of
    its random effects, labelled by the term's columns."""
    return {
        t.group: pd.DataFrame(G, index=list(t.cnames), columns=list(t.cnames))
        for t, G in zip(fit.design.terms, _re_covariances(fit))
    }


def _level_rows(terms, group: str, level) -> np.ndarray:
    """Rows of ``level`` (default the first) of the grouping factor ``group``."""
    term = next((t for t in terms if t.factor == group), None)
    if term is None:
        raise ValueError(f"no random-effects term is grouped by {group!r}; the grouping factors are: "
                         f"{', '.join(dict.fromkeys(t.factor for t in terms))}.")
    name = term.levels[0] if level is None else str(level)
    if name not in term.levels:
        raise ValueError(f"{group!r} has no level {level!r}; its first levels are: {', '.join(term.levels[:6])}.")
    return np.flatnonzero(term.codes == term.levels.index(name))


def wcorrelation(fit, group: str, level=None) -> dict:
    """Stata's ``estat wcorrelation`` for a linear mixed model: the model-implied covariance of the observations in
    one level of the grouping factor ``group`` (default its first level), ``V = Z G Z' + sigma^2 diag(1 / w)``
    over every random-effects term, returned as ``{"correlation": DataFrame, "sd": Series}`` labelled by the
    rows' labels in the data. GLMMs are refused (Stata's works on the latent scale; not implemented)."""
    if _is_glmm(fit):
        raise ValueError(
            "estat wcorrelation is implemented for linear mixed models only; after a GLMM Stata reports it on "
            "the latent-response scale, which mixjax does not compute."
        )
    design = fit.design
    rows = _level_rows(design.terms, group, level)
    V = np.diag(fit.sigma**2 / design.weights[rows])
    for t, G in zip(design.terms, _re_covariances(fit)):
        Z, codes = t.Z[rows], t.codes[rows]
        V += (codes[:, None] == codes[None, :]) * (Z @ G @ Z.T)
    sd = np.sqrt(np.diag(V))
    labels = design.frame.index[rows] if design.frame is not None else pd.Index(rows)
    return {"correlation": pd.DataFrame(V / np.outer(sd, sd), index=labels, columns=labels),
            "sd": pd.Series(sd, index=labels, name="sd")}


def group_summary(fit) -> pd.DataFrame:
    """Stata's ``estat group``: per grouping factor (in the fit's order), the number of groups and the minimum,
    mean and maximum number of observations per group."""
    terms = {t.factor: t for t in fit.design.terms}
    counts = {f: np.bincount(t.codes, minlength=t.n_levels) for f, t in terms.items()}
    return pd.DataFrame(
        [(len(c), int(c.min()), float(c.mean()), int(c.max())) for c in counts.values()],
        index=pd.Index(list(counts), name="group"),
        columns=["groups", "min", "mean", "max"],
    )
