"""Start values for theta from simple moments (used where each deviance evaluation is dear).

For a random intercept term ``(1 | g)``: the weighted between-level variance of the mean OLS residual, less its
sampling part (``sigma_e^2`` times the mean of ``1 / n_g``), relative to the residual variance left over, gives
``theta_t^2``. Crossed terms are treated one at a time (their overlap is ignored), values are kept within
[0.05, 5], and any other term keeps lme4's start (``T = I``). Only a start: the optimizer does the rest.

The moments are sums over rows: ``moment_start`` takes them from the design's rows, ``moment_start_from_sums``
from the cross-products' sums (``mixjax.linalg.crossprod.Sums``: streamed data, no rows in memory); the two agree
to rounding.
"""
from __future__ import annotations

import numpy as np

from .design import Design

__all__ = ["moment_start", "moment_start_from_sums"]


def moment_start(design: Design) -> np.ndarray:
    w = design.weights
    sw = np.sqrt(w)
    beta = np.linalg.lstsq(design.X * sw[:, None], design.y * sw, rcond=None)[0]
    e = design.y - design.X @ beta
    total = float(np.average(e**2, weights=w))
    moments = []
    for term in design.terms:
        if term.cnames != ("Intercept",):
            moments.append(None)
            continue
        n_g = np.bincount(term.codes, weights=w, minlength=term.n_levels)
        moments.append((n_g, np.bincount(term.codes, weights=w * e, minlength=term.n_levels)))
    return _theta(design.terms, total, moments)


def moment_start_from_sums(design: Design, sums) -> np.ndarray:
    """``moment_start`` from ``sums`` (``Sums`` of all rows of ``design``'s model, no relationship matrices):
    ``beta`` from ``X'WX beta = X'Wy``, ``sum w e^2 = y'Wy - beta'X'Wy``, and per random-intercept term the
    level sums ``n_g = sum_g w`` and ``sum_g w e = [sum_g w x, sum_g w y] . [-beta, 1]`` (term 1: ``D0``,
    ``Cxy``; the others: ``A``'s diagonal and its rows of ``X`` and ``y``)."""
    A, p = sums.A, design.p
    qr = A.shape[0] - p - 1
    XtWX, XtWy = A[qr : qr + p, qr : qr + p], A[-1, qr : qr + p]
    beta = np.linalg.lstsq(XtWX, XtWy, rcond=None)[0]
    total = float(A[-1, -1] - beta @ XtWy) / sums.sum_w
    contrast = np.concatenate([-beta, [1.0]])
    moments, off = [], 0
    for i, term in enumerate(design.terms):
        if i == 0:
            level = (sums.D0[:, 0, 0], sums.Cxy[:, 0, :] @ contrast)
        else:
            block = slice(off, off + term.n_levels * term.k)
            level = (np.diagonal(A)[block], A[qr:, block].T @ contrast)
            off += term.n_levels * term.k
        moments.append(level if term.cnames == ("Intercept",) else None)
    return _theta(design.terms, total, moments)


def _theta(terms, total: float, moments: list) -> np.ndarray:
    """theta from the residual variance ``total`` of the OLS fit and, per random-intercept term, its level sums
    ``(n_g, sum_g w e)`` (None for other terms)."""
    between = []
    for m in moments:
        if m is None:
            between.append(None)
            continue
        n_g, s_g = m
        mean_g = s_g / np.maximum(n_g, 1e-300)
        var_means = float(np.average(mean_g**2, weights=n_g))
        between.append(max(var_means - total * float(np.mean(1.0 / n_g[n_g > 0])), 0.0))
    residual = max(total - sum(b for b in between if b is not None), 0.1 * total)
    theta = []
    for term, b in zip(terms, between):
        if b is None:
            theta.append(term.cov.start())
        else:
            theta.append(np.array([np.clip(np.sqrt(b / residual), 0.05, 5.0)]))
    return np.concatenate(theta)
