"""Trust-region Newton that does not stop at a spurious boundary point of lme4's covariance parametrization."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .newton import Solution

__all__ = ["minimize_reflecting", "reflected_starts"]


def minimize_reflecting(minimize: Callable, x0, terms) -> Solution:
    """``minimize(x0) -> Solution``; where a term's diagonal theta entry stops at 0 only because of the sign of the
    entries below it, restart from the mirror point (same covariance; see ``Unstructured.reflect_zero_columns``).
    ``terms``: the random-effects terms whose theta come first in ``x``, in order."""
    solution = minimize(x0)
    for _ in range(3):
        x, start, changed = solution.x.copy(), 0, False
        for term in terms:
            n = term.cov.n_theta
            reflected = term.cov.reflect_zero_columns(x[start : start + n], solution.grad[start : start + n])
            if reflected is not None:
                x[start : start + n], changed = reflected, True
            start += n
        if not changed:
            break
        retry = minimize(x)
        if not retry.fun < solution.fun:
            break
        solution = retry._replace(iterations=solution.iterations + retry.iterations,
                                  evaluations=solution.evaluations + retry.evaluations)
    return solution


def reflected_starts(X: np.ndarray, G: np.ndarray, terms) -> tuple[np.ndarray, np.ndarray]:
    """For a batch of solutions ``X`` (m, n) with gradients ``G``: the mirror points of those stopped at a spurious
    boundary point (``minimize_reflecting``'s rule) and which ones (m,) bool; the others are returned unchanged."""
    X = np.array(X, dtype=float)
    redo = np.zeros(len(X), dtype=bool)
    start = 0
    for term in terms:
        n = term.cov.n_theta
        if term.k > 1:
            diagonal = start + np.flatnonzero(term.cov.lower() == 0.0)
            for j in np.flatnonzero(np.any(X[:, diagonal] == 0.0, axis=1)):  # only a zero diagonal can qualify
                reflected = term.cov.reflect_zero_columns(X[j, start : start + n], G[j, start : start + n])
                if reflected is not None:
                    X[j, start : start + n], redo[j] = reflected, True
        start += n
    return X, redo
