"""Trust-region Newton with the exact Hessian and lower bounds, for small parameter vectors, driven from Python.

``minimize(value_grad_hess, x0, lower)`` takes any callable returning ``(f, grad, hessian)`` (a compiled program, or
plain numpy); each iteration is ``trust_region.propose`` and, at the trial point, one call of the callable and
``trust_region.update``, both compiled. For a traceable objective ``trust_region.loop`` runs the same iterations as
one compiled call. ``Solution`` is what both return.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import numpy as np

from .._config import jit
from .status import CONVERGED, Status
from .trust_region import NOT_FINITE_START, RUNNING, State, init, propose, update

__all__ = ["Solution", "minimize", "solution", "start"]


class Solution(NamedTuple):
    """``x``: the minimizer; ``fun``; ``grad`` and ``hessian`` there (``None`` if the optimizer did not compute it);
    ``iterations``; ``grad_norm``: max |projected gradient|; ``hessian_min_eig``: smallest eigenvalue of the
    Hessian on the free variables (NaN when not computed); ``status``: a ``Status`` code (words:
    ``mixjax.results.status.describe``), ``detail`` what L-BFGS-B said; ``at_bound``: which parameters sit on their
    bound."""

    x: np.ndarray
    fun: float
    grad: np.ndarray
    hessian: np.ndarray
    iterations: int
    evaluations: int
    grad_norm: float
    hessian_min_eig: float
    status: int
    at_bound: np.ndarray
    detail: str = ""
    max_iter: int = 300

    @property
    def converged(self) -> bool:
        return self.status in CONVERGED


def projected_max(g: np.ndarray, x: np.ndarray, lower: np.ndarray) -> float:
    """Largest |gradient| over the variables not held at their bound (those at the bound pushing outward)."""
    return float(np.max(np.abs(np.where((x <= lower) & (g > 0), 0.0, g)), initial=0.0))


def start(x0, lower, radius0: float | None) -> tuple[np.ndarray, np.float64]:
    """``x0`` projected onto the bounds, and the first trust radius (default ``max(1, |x0|)``)."""
    x = np.maximum(np.asarray(x0, dtype=np.float64), lower)
    return x, np.float64(max(1.0, float(np.linalg.norm(x))) if radius0 is None else radius0)


NOT_FINITE = "the objective is not finite at the start values; give other start values (start=...)."


def solution(state: State, lower, max_iter: int) -> Solution:
    """The ``Solution`` of a final trust-region state (raises if the start was not finite)."""
    s = jax.device_get(state)
    if s.status in (RUNNING, NOT_FINITE_START):
        raise ValueError(NOT_FINITE)
    x, g, lower = np.asarray(s.x), np.asarray(s.g), np.asarray(lower, dtype=float)
    return Solution(x=x, fun=float(s.f), grad=g, hessian=np.asarray(s.H), iterations=int(s.iterations),
                    evaluations=int(s.evaluations), grad_norm=projected_max(g, x, lower),
                    hessian_min_eig=float(s.min_eig), status=Status(int(s.status)), at_bound=x <= lower,
                    max_iter=max_iter)


def held_solution(x, f: float) -> Solution:
    """The ``Solution`` where nothing is free to move: the objective's value ``f`` at ``x`` (zero gradient, unit
    Hessian, so that every entry reads as held)."""
    if not np.isfinite(f):
        raise ValueError(NOT_FINITE)
    n = len(x)
    return Solution(np.asarray(x, dtype=float), float(f), np.zeros(n), np.eye(n), 0, 1, 0.0, np.inf, Status.GRADIENT,
                    np.zeros(n, bool))


_propose = jit(propose)
_update = jit(update)


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
    x, radius = start(x0, lower, radius0)
    f, g, H = value_grad_hess(x)
    if not np.isfinite(float(f)):
        raise ValueError(NOT_FINITE)
    s = init(x, np.float64(f), np.asarray(g, dtype=float), np.asarray(H, dtype=float), radius)
    while True:
        s, trial = _propose(s, lower, gtol, ftol)
        if bool(trial.evaluate):
            f, g, H = value_grad_hess(np.asarray(trial.x))
            s = _update(s, trial, np.float64(f), np.asarray(g, dtype=float), np.asarray(H, dtype=float))
        if int(s.status) != RUNNING or int(s.iterations) >= max_iter:
            break
    if int(s.status) == RUNNING:
        s = s._replace(status=np.int32(Status.MAX_ITER))
    return solution(s, lower, max_iter)
