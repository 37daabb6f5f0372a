"""The NLME engine. Lindstrom-Bates iterations for nonlinear mixed models, as nlme runs them: alternate a penalized
nonlinear least squares step for ``(beta, u)`` at fixed covariance, and an LME step (an LMM fitted by ML to the
linearized model) for the covariance parameters, ``sigma`` and ``beta``, until neither moves. The log-likelihood
reported is the LME step's at convergence (nlme's). ``laplace``: the Laplace approximation maximized from the
Lindstrom-Bates fit by L-BFGS-B on its exact gradient (the Hessian from differences of it)."""
from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from ..covariance import Unstructured
from ..design import Design, ReTerm
from ..objectives.lmm import make_lmm
from ..objectives.lmm_estimates import estimates
from ..objectives.nlme import NlmeData, NlmeSpec, host_factors, linearize, pnls
from ..objectives.nlme_laplace import make_laplace
from ..optim.lbfgs import minimize_lbfgs
from ..optim.newton import Solution
from ..optim.reflect import minimize_reflecting

__all__ = ["BlockDeviance", "LindstromBates", "block_index", "laplace", "linearized_design", "lindstrom_bates"]


class BlockDeviance(NamedTuple):
    """The linearized LMM's profiled deviance as a function of the covariance blocks' theta only: each term is one
    LMM term (per-level ``k_t x k_t`` blocks, no dense part), with the entries between different covariance blocks
    held at 0 (nlme's pdDiag). ``full(theta)`` is the LMM's theta."""

    objective: object
    index: np.ndarray  # positions of the blocks' theta in the LMM's theta
    terms: tuple  # one per covariance block: ``.cov`` (for ``minimize_reflecting``)

    @property
    def lower(self) -> np.ndarray:
        return self.objective.lower[self.index]

    def full(self, theta) -> np.ndarray:
        out = np.zeros(len(self.objective.lower))
        out[self.index] = theta
        return out

    def minimize(self, theta0, max_iter: int = 300) -> Solution:
        return self.objective.minimize(theta0, max_iter=max_iter, index=self.index)


class _Block(NamedTuple):
    cov: Unstructured


def block_index(spec: NlmeSpec) -> np.ndarray:
    """Positions of each covariance block's theta entries in the theta of one unstructured term per ``spec`` term."""
    out, start = [], 0
    for term in spec.terms:
        rows, cols = Unstructured(len(term.params)).index
        position = {(r, c): start + i for i, (r, c) in enumerate(zip(rows, cols))}
        off = 0
        for block in term.blocks:
            br, bc = Unstructured(len(block)).index
            out += [position[(off + r, off + c)] for r, c in zip(br, bc)]
            off += len(block)
        start += len(rows)
    return np.array(out, dtype=int)


class LindstromBates(NamedTuple):
    """The converged state: ``beta``, ``bs`` (per term (levels, k)), the last linearized ``design``, its deviance
    ``objective`` (``BlockDeviance``) and ``solution`` (the blocks' theta), the number of outer ``iterations`` and ``status``."""

    beta: np.ndarray
    bs: list
    design: Design
    objective: BlockDeviance
    solution: Solution
    iterations: int
    status: str

    @property
    def converged(self) -> bool:
        return self.status.startswith("converged")


def linearized_design(data: NlmeData, f, J, beta, bs, names: tuple, groups: tuple, levels: tuple,
                      spec: NlmeSpec) -> Design:
    """The LMM ``w ~ X beta + (J[:, t's parameters] | group)`` per term, with fixed-effects columns
    ``X = J[:, owner] * X_p`` and ``w = y - f + X beta + sum_t J[:, t] b_t[g_t]``."""
    X = J[:, list(spec.owner)] * np.asarray(data.X)
    w = np.asarray(data.y) - f + X @ beta
    terms = []
    for t, (term, b, codes) in enumerate(zip(spec.terms, bs, data.codes)):
        codes = np.asarray(codes)
        w = w + np.sum(J[:, list(term.params)] * b[codes], axis=1)
        terms.append(ReTerm(groups[t], groups[t], codes, levels[t], J[:, list(term.params)],
                            tuple(spec.names[j] for j in term.params)))
    return Design(formula="linearized", parsed=None, y=w, X=X, xnames=names, terms=tuple(terms),
                  weights=np.ones(len(w)))


LME_MAX_ITER = 20  # Newton iterations per LME step: far from the optimum (a poor start) a linearized model can
# pull the covariance towards a degenerate boundary far away (ChickWeight, unstructured); nlme, too, limits its
# early LME steps. Near convergence each LME step starts next to its optimum and needs a few.


def lindstrom_bates(spec: NlmeSpec, data: NlmeData, beta0, names: tuple, groups: tuple, levels: tuple, *,
                    max_iter: int = 100, tol: float = 1e-8) -> LindstromBates:
    theta = np.concatenate([Unstructured(len(block)).start() for term in spec.terms for block in term.blocks])
    beta = np.asarray(beta0, dtype=float)
    us = [np.zeros((term.n_levels, len(term.params))) for term in spec.terms]
    index = block_index(spec)
    blocks = tuple(_Block(Unstructured(len(block))) for term in spec.terms for block in term.blocks)
    status, solution = f"stopped: {max_iter} Lindstrom-Bates iterations without convergence", None
    for it in range(1, max_iter + 1):
        beta_old, theta_old = beta, theta
        beta, us, _ = pnls(beta, us, theta, data, spec)
        beta, us = np.asarray(beta), [np.asarray(u) for u in us]
        bs = [u @ T.T for u, T in zip(us, host_factors(theta, spec))]
        f, J = (np.asarray(a) for a in linearize(beta, bs, data, spec))
        design = linearized_design(data, f, J, beta, bs, names, groups, levels, spec)
        objective = BlockDeviance(make_lmm(design, reml=False), index, blocks)
        try:
            solution = minimize_reflecting(
                lambda x: objective.minimize(x, max_iter=LME_MAX_ITER),
                np.maximum(theta, objective.lower), blocks,
            )
        except ValueError:  # the LME step's deviance is not finite: the linearization broke down
            status = f"stopped: the linearized model of iteration {it} is not finite (check the start values)"
            break
        theta = solution.x
        est = jax.device_get(estimates(objective.full(theta), objective.objective.data, objective.objective.spec))
        beta, bs = np.asarray(est.beta), [np.asarray(b) for b in est.b]
        us = [np.linalg.lstsq(T, b.T, rcond=None)[0].T for b, T in zip(bs, host_factors(theta, spec))]
        if not np.all(np.isfinite(beta)) or not np.isfinite(solution.fun):
            status = "stopped: the linearized model is not finite (check the start values)"
            break
        if (np.max(np.abs(beta - beta_old) / (1.0 + np.abs(beta))) < tol
                and np.max(np.abs(theta - theta_old), initial=0.0) < 10 * tol and solution.converged):
            status = "converged: fixed effects and covariance parameters stopped moving"
            break
    return LindstromBates(beta, bs, design, objective, solution, it, status)


def laplace(problem, state: LindstromBates):
    """The Laplace objective of ``problem`` and its maximum from the Lindstrom-Bates fit ``state``:
    ``(objective, solution)`` over ``psi = [theta, beta]``."""
    u0 = state.bs[0] @ np.linalg.pinv(host_factors(state.solution.x, problem.spec)[0]).T
    objective = make_laplace(problem.data, problem.spec, u0)
    psi0 = np.concatenate([state.solution.x, state.beta])
    lower = np.concatenate([state.objective.lower, np.full(len(state.beta), -np.inf)])
    return objective, minimize_lbfgs(objective.value_grad, psi0, lower)  # Hessian: differences of the gradient
