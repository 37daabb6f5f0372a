"""Start values for theta from simple moments (used where each deviance evaluation is dear).

For a random intercept term ``(1 | g)``: the weighted between-level variance of the mean OLS residual, less its
sampling part (``sigma_e^2`` times the mean of ``1 / n_g``), relative to the residual variance left over, gives
``theta_t^2``. Crossed terms are treated one at a time (their overlap is ignored), values are kept within
[0.05, 5], and any other term keeps lme4's start (``T = I``). Only a start: the optimizer does the rest.
"""
from __future__ import annotations

import numpy as np

from .design import Design

__all__ = ["moment_start"]


def moment_start(design: Design) -> np.ndarray:
    w = design.weights
    sw = np.sqrt(w)
    beta = np.linalg.lstsq(design.X * sw[:, None], design.y * sw, rcond=None)[0]
    e = design.y - design.X @ beta
    total = float(np.average(e**2, weights=w))
    between = []
    for term in design.terms:
        if term.cnames != ("Intercept",):
            between.append(None)
            continue
        n_g = np.bincount(term.codes, weights=w, minlength=term.n_levels)
        mean_g = np.bincount(term.codes, weights=w * e, minlength=term.n_levels) / np.maximum(n_g, 1e-300)
        var_means = float(np.average(mean_g**2, weights=n_g))
        between.append(max(var_means - total * float(np.mean(1.0 / n_g[n_g > 0])), 0.0))
    residual = max(total - sum(b for b in between if b is not None), 0.1 * total)
    theta = []
    for term, b in zip(design.terms, between):
        if b is None:
            theta.append(term.cov.start())
        else:
            theta.append(np.array([np.clip(np.sqrt(b / residual), 0.05, 5.0)]))
    return np.concatenate(theta)
