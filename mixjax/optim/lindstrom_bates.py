"""Lindstrom-Bates iterations for nonlinear mixed models, as nlme runs them: alternate a penalized nonlinear
least squares step for ``(beta, u)`` at fixed covariance, and an LME step (an LMM fitted by ML to the linearized
model) for the covariance parameters, ``sigma`` and ``beta``, until neither moves. The log-likelihood reported is
the LME step's at convergence (nlme's)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..covariance import Unstructured
from ..design import Design, ReTerm
from ..objectives.lmm import make_lmm
from ..objectives.nlme import (
    NlmeData,
    NlmeSpec,
    host_factors,
    linearize,
    pnls_residuals,
    pnls_step,
)
from ..results.estimates import estimates
from .newton import Solution
from .reflect import minimize_reflecting

__all__ = ["LindstromBates", "lindstrom_bates", "linearized_design"]


class LindstromBates(NamedTuple):
    """The converged state: ``beta``, ``bs`` (per term (levels, k)), the last linearized ``design``, its LMM
    ``objective`` and ``solution`` (theta), the number of outer ``iterations`` and ``status``."""

    beta: np.ndarray
    bs: list
    design: Design
    objective: object
    solution: Solution
    iterations: int
    status: str

    @property
    def converged(self) -> bool:
        return self.status.startswith("converged")


def _pnls(beta, us, theta, data, spec, max_iter: int = 100):
    """Gauss-Newton with step halving on ``|y - f|^2 + |u|^2``."""
    def biggest(arrays):
        return max((np.max(np.abs(a), initial=0.0) for a in arrays), default=0.0)

    for _ in range(max_iter):
        d_beta, d_us, ss = pnls_step(beta, us, theta, data, spec)
        d_beta, d_us, ss = np.asarray(d_beta), [np.asarray(d) for d in d_us], float(ss)
        t = 1.0
        while True:
            new_beta, new_us = beta + t * d_beta, [u + t * d for u, d in zip(us, d_us)]
            r = np.asarray(pnls_residuals(new_beta, new_us, theta, data, spec))
            if r @ r <= ss or t < 1e-10:
                break
            t *= 0.5
        beta, us = new_beta, new_us
        if t * biggest([d_beta, *d_us]) < 1e-10 * (1.0 + biggest([beta, *us])):
            break
    return beta, us


def linearized_design(data: NlmeData, f, J, beta, bs, names: tuple, groups: tuple, levels: tuple,
                      spec: NlmeSpec) -> Design:
    """The LMM ``w ~ X beta + (J[:, block] | group)`` per term and covariance block, with fixed-effects columns
    ``X = J[:, owner] * X_p`` and ``w = y - f + X beta + sum_t J[:, t] b_t[g_t]``."""
    X = J[:, list(spec.owner)] * np.asarray(data.X)
    w = np.asarray(data.y) - f + X @ beta
    terms = []
    for t, (term, b, codes) in enumerate(zip(spec.terms, bs, data.codes)):
        codes = np.asarray(codes)
        w = w + np.sum(J[:, list(term.params)] * b[codes], axis=1)
        terms += [ReTerm(groups[t] if i == 0 else f"{groups[t]}.{i}", groups[t], codes, levels[t], J[:, list(block)],
                         tuple(spec.names[j] for j in block)) for i, block in enumerate(term.blocks)]
    return Design(formula="linearized", parsed=None, y=w, X=X, xnames=names, terms=tuple(terms),
                  weights=np.ones(len(w)))


def per_term(blocks_b: tuple, spec: NlmeSpec) -> list:
    """The LMM's random effects (one array per covariance block) regrouped per term (levels, k_t)."""
    out, i = [], 0
    for term in spec.terms:
        out.append(np.column_stack(blocks_b[i : i + len(term.blocks)]))
        i += len(term.blocks)
    return out


def lindstrom_bates(spec: NlmeSpec, data: NlmeData, beta0, names: tuple, groups: tuple, levels: tuple, *,
                    max_iter: int = 100, tol: float = 1e-8) -> LindstromBates:
    theta = np.concatenate([Unstructured(len(block)).start() for term in spec.terms for block in term.blocks])
    beta = np.asarray(beta0, dtype=float)
    us = [np.zeros((term.n_levels, len(term.params))) for term in spec.terms]
    status = f"stopped: {max_iter} Lindstrom-Bates iterations without convergence"
    for it in range(1, max_iter + 1):
        beta_old, theta_old = beta, theta
        beta, us = _pnls(beta, us, theta, data, spec)
        bs = [u @ T.T for u, T in zip(us, host_factors(theta, spec))]
        f, J = (np.asarray(a) for a in linearize(beta, bs, data, spec))
        design = linearized_design(data, f, J, beta, bs, names, groups, levels, spec)
        objective = make_lmm(design, reml=False)
        solution = minimize_reflecting(objective.value_grad_hess, np.maximum(theta, design.theta_lower),
                                       objective.lower, design.terms)
        theta = solution.x
        est = estimates(objective, design, theta)
        beta, bs = est.beta, per_term(est.b, spec)
        us = [np.linalg.lstsq(T, b.T, rcond=None)[0].T for b, T in zip(bs, host_factors(theta, spec))]
        if not np.all(np.isfinite(beta)) or not np.isfinite(solution.fun):
            status = "stopped: the linearized model is not finite (check the start values)"
            break
        if (np.max(np.abs(beta - beta_old) / (1.0 + np.abs(beta))) < tol
                and np.max(np.abs(theta - theta_old), initial=0.0) < 10 * tol):
            status = "converged: fixed effects and covariance parameters stopped moving"
            break
    return LindstromBates(beta, bs, design, objective, solution, it, status)
