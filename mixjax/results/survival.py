"""Predictions and ratio tables of parametric survival fits (``mixjax.glmm(..., family="weibull")`` and the other
``families.survival`` families), as Stata's ``predict`` and ``mestreg`` / ``streg`` tables give them.

* ``predict(fit, newdata, type=..., at_time=...)``: ``"median"`` and ``"mean"`` survival time, ``"hazard"`` and
  ``"survival"`` at ``at_time`` (a number, one value per row, or a column of ``newdata``; default each fitted row's
  own time). Random effects at their conditional modes (``include_re=True``, Stata's ``conditional(ebmodes)``) or
  at zero (``include_re=False``, Stata's ``conditional(fixedonly)``).
* ``eform_table(fit, level)``: ``exp(beta)`` with delta-method standard errors, z, p and the interval
  ``exp(beta +- z se)``: hazard ratios for the PH families (Stata's default), time ratios for the AFT families
  (``tratio``); then the ancillary parameters on their own scale (Stata's ``/ln_p``, ``/gamma``, ``/ln_sigma``,
  ``/ln_gamma``, ``/logs``) with their transformed values (``p``, ``sigma``, ...).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..families.survival import _Survival, evaluate

__all__ = ["predict", "eform_table", "TYPES"]

TYPES = ("median", "mean", "hazard", "survival")
_NATURAL = {"ln_p": "p", "ln_sigma": "sigma", "ln_gamma": "gamma", "logs": "s"}  # exp() of each


def _family(fit) -> _Survival:
    if not isinstance(fit.family, _Survival):
        raise ValueError(f"survival predictions and ratio tables need a survival family (exponential, weibull, "
                         f"gompertz, lognormal, loglogistic, gamma_aft, ..._aft); this fit's is {fit.family.name!r}.")
    return fit.family


def _times(fit, newdata, at_time, n: int) -> np.ndarray:
    if at_time is None:
        if newdata is not None:
            raise ValueError("at_time= is needed for hazard / survival predictions on newdata (a number, one value "
                             "per row, or a column name).")
        return np.asarray(fit.objective.response.y)[:, 1]
    if isinstance(at_time, str):
        if newdata is None or at_time not in newdata.columns:
            raise ValueError(f"at_time={at_time!r} is not a column of newdata.")
        at_time = newdata[at_time].to_numpy(dtype=float)
    t = np.broadcast_to(np.asarray(at_time, dtype=float), (n,))
    if np.any(~(t > 0)):
        raise ValueError(f"at_time must be positive times; {int(np.sum(~(t > 0)))} value(s) are not.")
    return t


def predict(fit, newdata: pd.DataFrame | None = None, *, type: str = "median", at_time=None, include_re: bool = True,
            allow_new_levels: bool = False) -> np.ndarray:
    """One prediction per row of ``newdata`` (default: the fitted rows); see the module docstring."""
    family = _family(fit)
    if type not in TYPES:
        raise ValueError(f"type must be one of {', '.join(TYPES)}, got {type!r}.")
    eta = np.asarray(fit.predict(newdata, type="link", include_re=include_re, allow_new_levels=allow_new_levels))
    params = np.asarray(fit._parts[2])
    if type in ("median", "mean"):
        return np.asarray(evaluate(family, type, eta, params), dtype=float)
    t = _times(fit, newdata, at_time, len(eta))
    return np.exp(np.asarray(evaluate(family, f"log_{type}", t, eta, params), dtype=float))


def eform_table(fit, level: float = 0.95) -> pd.DataFrame:
    """Hazard (PH) or time (AFT) ratios, then the ancillary parameters; see the module docstring."""
    family = _family(fit)
    z = norm.ppf(0.5 + level / 2)
    nt, p = fit.design.n_theta, fit.design.p
    se_all = np.sqrt(np.diag(fit._covariance))
    beta, se = np.asarray(fit._parts[1]), se_all[nt : nt + p]
    ratio = np.exp(beta)
    rows = pd.DataFrame({"estimate": ratio, "std_error": ratio * se, "z": beta / se,
                         "p": 2 * norm.sf(np.abs(beta / se)), "lower": np.exp(beta - z * se),
                         "upper": np.exp(beta + z * se)}, index=list(fit.design.xnames))
    rows.index.name = "time ratio" if family.aft else "hazard ratio"
    anc, anc_se = np.asarray(fit._parts[2]), se_all[nt + p :]
    extra = []
    for name, value, s in zip(family.ancillary, anc, anc_se):
        extra.append((f"/{name}", value, s, value / s, 2 * norm.sf(abs(value / s)), value - z * s, value + z * s))
        if name in _NATURAL:
            extra.append((_NATURAL[name], np.exp(value), np.exp(value) * s, np.nan, np.nan, np.exp(value - z * s),
                          np.exp(value + z * s)))
    if extra:
        anc_rows = pd.DataFrame(extra, columns=["name", *rows.columns]).set_index("name")
        rows = pd.concat([rows, anc_rows])
        rows.index.name = "time ratio" if family.aft else "hazard ratio"
    return rows
