"""Quasi-Newton (scipy's L-BFGS-B) on the exact gradient, finished with Newton steps on a Hessian obtained by
forward differences of the exact gradient.

For objectives whose exact Hessian is dear (crossed random effects with a large dense Schur complement) this
takes one value-and-gradient call per iteration. Optionally (``polish``), the Hessian (``n`` gradient calls)
then polishes the optimum with projected Newton steps and gives the smallest eigenvalue; without it, the
Hessian is left to be computed when asked for (``fd_hessian``).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .newton import Solution, projected_max
from .status import Status

__all__ = ["minimize_lbfgs", "fd_hessian"]


def fd_hessian(value_grad, x, g):
    """Forward differences of the exact gradient (``n`` calls), symmetrized; steps stay inside the bounds."""
    n = len(x)
    H = np.empty((n, n))
    for i in range(n):
        h = 1e-6 * max(1.0, abs(x[i]))
        up = x.copy()
        up[i] += h
        H[:, i] = (np.asarray(value_grad(up)[1]) - g) / h
    return 0.5 * (H + H.T)


def minimize_lbfgs(
    value_grad: Callable, x0, lower, *, gtol: float = 1e-6, max_iter: int = 1000, polish: int = 3
) -> Solution:
    """Minimize ``f`` given ``value_grad(x) -> (f, grad)`` subject to ``x >= lower``. With ``polish=0`` the
    L-BFGS-B result is returned as it is, without a Hessian (``hessian=None``)."""
    from scipy.optimize import minimize as scipy_minimize  # here: importing scipy.optimize costs 0.2 s

    lower = np.asarray(lower, dtype=float)
    calls = [0]

    def fun(x):
        calls[0] += 1
        f, g = value_grad(x)
        f = float(f)
        return (f, np.asarray(g, dtype=float)) if np.isfinite(f) else (np.inf, np.zeros_like(x))

    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    res = scipy_minimize(
        fun, np.maximum(np.asarray(x0, dtype=float), lower), jac=True, method="L-BFGS-B", bounds=bounds,
        options={"maxiter": max_iter, "ftol": 1e-11, "gtol": gtol, "maxcor": 20},
    )
    x, f, g = res.x, float(res.fun), np.asarray(res.jac, dtype=float)
    if not polish:  # the Hessian is left to whoever asks for it (fd_hessian)
        message = str(res.message).lower().removeprefix("convergence: ")
        return Solution(x, f, g, None, int(res.nit), calls[0], projected_max(g, x, lower), np.nan,
                        Status.QUASI_NEWTON if res.success else Status.QUASI_NEWTON_STOPPED, x <= lower, message)
    H = fd_hessian(value_grad, x, g)
    calls[0] += len(x)
    for _ in range(polish):  # projected Newton on the free variables, until the gradient stops shrinking
        free = ~((x <= lower) & (g > 0))
        if not free.any() or np.max(np.abs(g[free])) < gtol or np.linalg.eigvalsh(H[np.ix_(free, free)])[0] <= 0:
            break
        step = np.zeros_like(x)
        step[free] = -np.linalg.solve(H[np.ix_(free, free)], g[free])
        x_new = np.maximum(x + step, lower)
        f_new, g_new = fun(x_new)
        # the deviance is only known to ~1e-12 relative: accept on a smaller gradient without an increase
        if not (f_new <= f + 1e-10 * (1.0 + abs(f)) and np.max(np.abs(g_new[free])) < np.max(np.abs(g[free]))):
            break
        x, f, g = x_new, f_new, g_new
    free = ~((x <= lower) & (g > 0))
    grad_norm = projected_max(g, x, lower)
    Hf = H[np.ix_(free, free)]
    min_eig = float(np.linalg.eigvalsh(Hf)[0]) if free.any() else np.inf
    detail = ""
    if grad_norm < gtol:
        status = Status.GRADIENT
    elif min_eig > 0 and 0.5 * g[free] @ np.linalg.solve(Hf, g[free]) < 1e-9 * (1.0 + abs(f)):
        status = Status.DECREASE
    else:
        status, detail = Status.QUASI_NEWTON_STOPPED, f"{str(res.message).lower()} (max |gradient| {grad_norm:.2e})"
    return Solution(
        x=x,
        fun=f,
        grad=g,
        hessian=H,
        iterations=int(res.nit),
        evaluations=calls[0],
        grad_norm=grad_norm,
        hessian_min_eig=min_eig,
        status=status,
        at_bound=x <= lower,
        detail=detail,
    )
