"""Lindstrom-Bates iterations for nonlinear mixed models, as nlme runs them: alternate a penalized nonlinear
least squares step for ``(beta, u)`` at fixed covariance, and an LME step (an LMM fitted to the linearized model)
for the covariance parameters, ``sigma`` and ``beta``, until neither moves. The log-likelihood reported is the
LME step's at convergence (nlme's)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..covariance import Unstructured
from ..design import Design, ReTerm
from ..objectives.lmm import make_lmm
from ..objectives.nlme import NlmeSpec, linearize, pnls_residuals, pnls_step
from ..results.estimates import estimates
from .newton import Solution
from .reflect import minimize_reflecting

__all__ = ["LindstromBates", "lindstrom_bates"]


class LindstromBates(NamedTuple):
    """The converged state: ``beta``, ``b`` (levels, k), the last linearized ``design``, its LMM ``objective`` and
    ``solution`` (theta), the number of outer ``iterations`` and ``status``."""

    beta: np.ndarray
    b: np.ndarray
    design: Design
    objective: object
    solution: Solution
    iterations: int
    status: str

    @property
    def converged(self) -> bool:
        return self.status.startswith("converged")


def _pnls(beta, u, theta, data, spec, max_iter: int = 100):
    """Gauss-Newton with step halving on ``|y - f|^2 + |u|^2``."""
    for _ in range(max_iter):
        d_beta, d_u, ss = (np.asarray(a) for a in pnls_step(beta, u, theta, *data, spec))
        t = 1.0
        while True:
            new_beta, new_u = beta + t * d_beta, u + t * d_u
            r = np.asarray(pnls_residuals(new_beta, new_u, theta, *data, spec))
            if r @ r <= ss or t < 1e-10:
                break
            t *= 0.5
        beta, u = new_beta, new_u
        size = max(np.max(np.abs(d_beta)), np.max(np.abs(d_u), initial=0.0))
        if t * size < 1e-10 * (1.0 + max(np.max(np.abs(beta)), np.max(np.abs(u), initial=0.0))):
            break
    return beta, u


def _host_factor(theta: np.ndarray, spec: NlmeSpec) -> np.ndarray:
    """``relative_factor`` in numpy (the loop's host-side uses; eager JAX costs milliseconds per call here)."""
    k = len(spec.random)
    T, start, off = np.zeros((k, k)), 0, 0
    for block in spec.blocks:
        cov = Unstructured(len(block))
        rows, cols = cov.index
        T[off + rows, off + cols] = theta[start : start + cov.n_theta]
        start, off = start + cov.n_theta, off + len(block)
    return T


def _linearized_design(y, f, J, beta, b, codes, levels, group, spec: NlmeSpec) -> Design:
    """The LMM ``w ~ J beta + (J[:, block] | group)`` per covariance block, ``w = y - f + J beta + Z b``."""
    random = list(spec.random)
    w = y - f + J @ beta + np.sum(J[:, random] * b[codes], axis=1)
    terms = tuple(
        ReTerm(group if i == 0 else f"{group}.{i}", group, codes, levels, J[:, list(block)],
               tuple(spec.names[j] for j in block))
        for i, block in enumerate(spec.blocks)
    )
    return Design(formula="linearized", parsed=None, y=w, X=J, xnames=tuple(spec.names), terms=terms,
                  weights=np.ones(len(y)))


def lindstrom_bates(spec: NlmeSpec, y, columns, codes, levels, group: str, beta0, *, max_iter: int = 100,
                    tol: float = 1e-8) -> LindstromBates:
    data = (y, columns, codes)
    k = len(spec.random)
    theta = np.concatenate([Unstructured(len(block)).start() for block in spec.blocks])
    beta, u = np.asarray(beta0, dtype=float), np.zeros((spec.n_levels, k))
    status = f"stopped: {max_iter} Lindstrom-Bates iterations without convergence"
    for it in range(1, max_iter + 1):
        beta_old, theta_old = beta, theta
        beta, u = _pnls(beta, u, theta, data, spec)
        b = u @ _host_factor(theta, spec).T
        f, J = (np.asarray(a) for a in linearize(beta, b, columns, codes, spec))
        design = _linearized_design(np.asarray(y), f, J, beta, b, np.asarray(codes), levels, group, spec)
        objective = make_lmm(design, reml=False)
        solution = minimize_reflecting(objective.value_grad_hess, np.maximum(theta, design.theta_lower),
                                       objective.lower, design.terms)
        theta = solution.x
        est = estimates(objective, design, theta)
        beta, b = est.beta, np.column_stack(est.b)
        u = np.linalg.lstsq(_host_factor(theta, spec), b.T, rcond=None)[0].T
        if not np.all(np.isfinite(beta)) or not np.isfinite(solution.fun):
            status = "stopped: the linearized model is not finite (check the start values)"
            break
        if (np.max(np.abs(beta - beta_old) / (1.0 + np.abs(beta))) < tol
                and np.max(np.abs(theta - theta_old), initial=0.0) < 10 * tol):
            status = "converged: fixed effects and covariance parameters stopped moving"
            break
    return LindstromBates(beta, b, design, objective, solution, it, status)

