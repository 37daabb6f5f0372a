"""Trust-region Newton that does not stop at a spurious boundary point of lme4's covariance parametrization."""
from __future__ import annotations

from collections.abc import Callable

from .newton import Solution

__all__ = ["minimize_reflecting"]


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
