"""Confidence intervals for the fixed effects and the variance parameters: ``fit.confint(method=...)``.

- ``"wald"``: fixed effects ``estimate -/+ z se`` (lme4's ``confint(m, method = "Wald")``); the variance
  parameters on the log-SD and Fisher-z scales from the exact Hessian of the fit's own criterion (REML or ML),
  back-transformed (Stata's ``estat sd``).
- ``"profile"``: likelihood-profile intervals (``mixjax.inference.profile``), lme4's default.
- ``"bootstrap"``: parametric-bootstrap intervals (``fit.bootstrap``), percentile by default.

Rows: the fixed effects by name, then the random-effect SDs and correlations (``"Subject: sd(Intercept)"``,
``"Subject: cor(Intercept, Days)"``), then ``"Residual: sd"`` (LMM).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy import stats

from .natural import plain, variance_deviance
from .profile import intervals
from .tables import check_level

__all__ = ["METHODS", "confint", "wald"]

METHODS = ("wald", "profile", "bootstrap")


def wald(fit, level: float) -> pd.DataFrame:
    z = stats.norm.ppf((1 + level) / 2)
    est, se = fit.fixef, fit.fixef_se
    fixed = pd.DataFrame({"lower": est - z * se, "upper": est + z * se})
    if not hasattr(fit, "_profile") or not plain(fit):  # NLME fits, structured covariances: the fixed effects
        return fixed
    D, u, names, kinds = variance_deviance(fit)
    n = len(names)
    H = np.asarray(jax.hessian(D)(jnp.asarray(u)))
    with np.errstate(invalid="ignore"):
        se_u = np.sqrt(np.diag(2 * np.linalg.inv(H)))[:n]
    back = lambda k, x: np.tanh(x) if k == "cor" else np.exp(x)
    var = pd.DataFrame({"lower": [back(k, a - z * s) for k, a, s in zip(kinds, u[:n], se_u)],
                        "upper": [back(k, a + z * s) for k, a, s in zip(kinds, u[:n], se_u)]}, index=names)
    return pd.concat([fixed, var])


def confint(fit, method: str = "profile", level: float = 0.95, **options) -> pd.DataFrame:
    """Intervals with columns ``lower, upper`` (``attrs``: method, level). ``options``: for ``"bootstrap"``,
    ``n`` (default 1000), ``seed``, ``type`` ("percentile", "basic" or "normal"), ``progress``; the intervals of an
    earlier ``fit.bootstrap(...)`` with ``boot=``."""
    level = check_level(level)
    name = str(method).lower()
    if name not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(map(repr, METHODS))}.")
    if name != "wald" and not hasattr(fit, "_profile"):
        raise ValueError(f"method={method!r} is available for LMM and GLMM fits; this {type(fit).__name__} has "
                         "Wald intervals: use method='wald'.")
    allowed = {"bootstrap": {"n", "seed", "type", "progress", "boot"}}.get(name, set())
    if set(options) - allowed:
        raise ValueError(f"unknown option(s) {sorted(set(options) - allowed)} for method={method!r}"
                         + (f"; it takes {sorted(allowed)}." if allowed else "; it takes none."))
    if name == "wald":
        table = wald(fit, level)
    elif name == "profile":
        table = intervals(fit._profile, level)
    else:
        boot = options.get("boot") or fit.bootstrap(options.get("n", 1000), seed=options.get("seed"),
                                                     progress=options.get("progress"))
        table = boot.confint(level, method=options.get("type", "percentile")).drop(index="loglik", errors="ignore")
    table.attrs.update(method=name, level=level)
    return table
