"""One-step influence diagnostics from the derivatives of the estimates in the prior weights.

Removing observation ``i`` takes its weight from ``w_i`` to 0; to first order that changes every estimate by
``delta_i = -w_i d(estimate)/d(w_i)`` (a group: the sum over its rows). The derivatives are exact: the optimum is
differentiated by the implicit function theorem (``objective.argmin``), with one reverse pass per estimate.
``DFBETAS_i = delta_i(beta) / se(beta)`` and Cook's distance ``delta_i(beta)' vcov^{-1} delta_i(beta) / p`` are
HLMdiag's and influence.ME's measures, which those packages compute by refitting without each observation.
"""
from __future__ import annotations

import jax
import numpy as np
import pandas as pd

__all__ = ["influence"]


def influence(fit, level: str | None = None) -> pd.DataFrame:
    """Per observation (or per level of the grouping factor ``level``): ``dfbetas: {fixed effect}``, the one-step
    change ``delta: {parameter}`` of each variance parameter when it is removed, and ``cooksd``."""
    w, f, names = fit._weight_map()
    J = np.asarray(jax.jacrev(f)(np.asarray(w, dtype=np.float64)))  # (estimates, n)
    delta = -(J * w[None, :]).T  # (n, estimates)
    index = pd.RangeIndex(len(w), name="observation")
    if level is not None:
        terms = {t.factor: t for t in fit.design.terms} | {t.group: t for t in fit.design.terms}
        if level not in terms:
            raise ValueError(f"level {level!r} is not a grouping factor of the model; use one of "
                             f"{', '.join(sorted(terms))}.")
        t = terms[level]
        delta = np.stack([np.bincount(t.codes, weights=col, minlength=t.n_levels) for col in delta.T], axis=1)
        index = pd.Index(t.levels, name=t.factor)
    beta_names = list(fit.fixef.index)
    p = len(beta_names)
    d_beta = delta[:, :p]
    cooks = np.einsum("ni,ij,nj->n", d_beta, np.linalg.inv(fit.vcov.to_numpy()), d_beta) / p
    out = pd.DataFrame(d_beta / fit.fixef_se.to_numpy(), index=index, columns=[f"dfbetas: {n}" for n in beta_names])
    for j, name in enumerate(names):
        out[f"delta: {name}"] = delta[:, p + j]
    out["cooksd"] = cooks
    return out
