"""Trust-region Newton with the exact Hessian and lower bounds, for small parameter vectors.

Each iteration: variables at their bound whose gradient pushes outward are held (the active set); on the free
ones the step minimizes the quadratic model ``g'd + d'Hd/2`` within ``|d| <= radius`` (Moré-Sorensen through the
eigendecomposition of ``H``, so an indefinite Hessian is handled exactly), is projected onto the bounds, and is
accepted when the actual decrease is a fair share of the predicted one; the radius grows and shrinks with that
ratio. Converged when the largest projected gradient is below ``gtol`` or the predicted decrease of a full
Newton step is below ``ftol * (1 + |f|)``. One compiled call per trial point returns value, gradient and Hessian,
so an accepted step costs one call.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

__all__ = ["Solution", "minimize"]


class Solution(NamedTuple):
    """``x``: the minimizer; ``fun``; ``grad`` and ``hessian`` there (``None`` if the optimizer did not compute it);
    ``iterations``; ``grad_norm``: max |projected gradient|; ``hessian_min_eig``: smallest eigenvalue of the
    Hessian on the free variables (NaN when not computed); ``status``:
    ``"converged: ..."`` or the reason it stopped; ``at_bound``: which parameters sit on their bound."""

    x: np.ndarray
    fun: float
    grad: np.ndarray
    hessian: np.ndarray
    iterations: int
    evaluations: int
    grad_norm: float
    hessian_min_eig: float
    status: str
    at_bound: np.ndarray

    @property
    def converged(self) -> bool:
        return self.status.startswith("converged")


def projected_max(g: np.ndarray, x: np.ndarray, lower: np.ndarray) -> float:
    """Largest |gradient| over the variables not held at their bound (those at the bound pushing outward)."""
    return float(np.max(np.abs(np.where((x <= lower) & (g > 0), 0.0, g)), initial=0.0))


def _evaluate(vgh, x):
    f, g, H = vgh(x)
    return float(f), np.asarray(g, dtype=float), np.asarray(H, dtype=float)


def _tr_step(g: np.ndarray, H: np.ndarray, radius: float) -> list[np.ndarray]:
    """argmin g'd + d'Hd/2 subject to |d| <= radius (eigendecomposition; hard case included). Candidate steps:
    one, or in the hard case two, along either sign of the most negative curvature direction (which the caller
    picks between after projecting onto the bounds: with no gradient along it, one sign may be blocked)."""
    lam, Q = np.linalg.eigh(H)
    gq = Q.T @ g
    if lam[0] > 0:
        d = -Q @ (gq / lam)
        if np.linalg.norm(d) <= radius:
            return [d]
    lo = max(0.0, -lam[0]) + 1e-12 * max(1.0, float(np.max(np.abs(lam))))  # above lam[0]'s rounding
    norm = lambda mu: np.linalg.norm(gq / (lam + mu))  # noqa: E731
    if norm(lo) <= radius:  # hard case: move along the most negative curvature direction
        d = -Q @ (gq / (lam + lo))
        tau = np.sqrt(max(radius**2 - d @ d, 0.0)) * (-1.0 if Q[:, 0] @ g > 0 else 1.0)
        return [d + tau * Q[:, 0], d - tau * Q[:, 0]]
    hi = lo + np.linalg.norm(g) / radius + abs(lam[-1])
    for _ in range(100):  # bisection on the secular equation |d(mu)| = radius, to 1% of the radius
        mid = 0.5 * (lo + hi)
        size = norm(mid)
        if abs(size - radius) <= 0.01 * radius:
            hi = mid
            break
        lo, hi = (mid, hi) if size > radius else (lo, mid)
    return [-Q @ (gq / (lam + hi))]


def minimize(
    value_grad_hess: Callable,
    x0,
    lower,
    *,
    gtol: float = 1e-6,
    ftol: float = 1e-13,
    max_iter: int = 300,
    radius0: float | None = None,
) -> Solution:
    """Minimize ``f`` given ``value_grad_hess(x) -> (f, grad, hessian)`` subject to ``x >= lower``. ``radius0``:
    the first trust radius (default ``max(1, |x0|)``)."""
    lower = np.asarray(lower, dtype=float)
    x = np.maximum(np.asarray(x0, dtype=float), lower)
    f, g, H = _evaluate(value_grad_hess, x)
    if not np.isfinite(f):
        raise ValueError("the objective is not finite at the start values; give other start values (start=...).")
    radius = max(1.0, float(np.linalg.norm(x))) if radius0 is None else radius0
    evaluations, min_eig = 1, np.nan
    status = f"stopped: {max_iter} iterations without convergence"
    it = 0
    for it in range(1, max_iter + 1):
        free = ~((x <= lower) & (g > 0))
        Hf = H[np.ix_(free, free)]
        min_eig = float(np.linalg.eigvalsh(Hf)[0]) if free.any() else np.inf
        if projected_max(g, x, lower) < gtol:
            status = "converged: gradient below tolerance"
            break
        if min_eig > 0:
            newton = np.linalg.solve(Hf, g[free])
            if 0.5 * g[free] @ newton < ftol * (1.0 + abs(f)):
                status = "converged: predicted decrease below tolerance"
                break
        best = None
        for candidate in _tr_step(g[free], Hf, radius):  # the best model decrease once projected onto the bounds
            d = np.zeros_like(x)
            d[free] = candidate
            x_try = np.maximum(x + d, lower)
            step = x_try - x
            predicted = -(g @ step + 0.5 * step @ H @ step)
            if best is None or predicted > best[2]:
                best = (x_try, step, predicted)
        x_new, step, predicted = best
        if not np.all(np.isfinite(step)):  # a degenerate model: shrink the region and try again
            radius *= 0.25
            continue
        f_new, g_new, H_new = _evaluate(value_grad_hess, x_new)
        evaluations += 1
        rho = (f - f_new) / predicted if predicted > 0 and np.isfinite(f_new) else -1.0
        size = float(np.linalg.norm(step))
        if rho < 0.25:
            radius = 0.25 * size
        elif rho > 0.75 and size >= 0.99 * radius:
            radius *= 2.0
        if rho > 1e-4:
            x, f, g, H = x_new, f_new, g_new, H_new
        elif radius < 1e-12 * max(1.0, float(np.linalg.norm(x))):
            status = "converged: no further decrease possible" if predicted < 1e-8 * (1 + abs(f)) else (
                "stopped: the trust region collapsed without a decrease"
            )
            break
    return Solution(
        x=x,
        fun=f,
        grad=g,
        hessian=H,
        iterations=it,
        evaluations=evaluations,
        grad_norm=projected_max(g, x, lower),
        hessian_min_eig=min_eig,
        status=status,
        at_bound=x <= lower,
    )
