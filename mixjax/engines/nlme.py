"""The NLME engine. Lindstrom-Bates iterations for nonlinear mixed models, as nlme runs them: Gauss-Newton
iterations of a penalized nonlinear least squares (PNLS) step for ``(beta, b)``, each at the relative covariance
that maximizes the likelihood of the model linearized at the current point (the LME step), until nlme's PNLS
criterion falls below ``pnlsTol``. The fit reported is nlme's: the PNLS estimates, and the covariance, ``sigma`` and
log-likelihood of the LME fit of the last linearized model (``lindstrom_bates``; ``pnls_tol=0`` runs on to the
fixed point of the iterations). ``laplace``: the Laplace approximation maximized from the Lindstrom-Bates fit by
L-BFGS-B on its exact gradient (the Hessian from differences of it). ``lindstrom_bates_residual``: the same with
nlme's residual structures (``correlation=``, ``weights=``): whitened PNLS steps, and an LME step that estimates
the structure's parameters with the covariance (``objectives.lmm_residual`` on the linearized design)."""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import numpy as np

from .._config import jit
from ..covariance import Unstructured
from ..design import Design, ReTerm
from ..objectives.lmm import make_lmm
from ..objectives.lmm_residual import make_residual
from ..objectives.nlme import (
    NlmeData,
    NlmeSpec,
    host_factors,
    linearize,
    pnls_iteration,
    pnls_iteration_white,
)
from ..objectives.nlme_laplace import make_laplace
from ..optim.lbfgs import minimize_lbfgs
from ..optim.newton import Solution
from ..optim.reflect import minimize_reflecting
from ..residual.bind import bind, whiten

__all__ = ["BlockDeviance", "LindstromBates", "bind_residual", "block_index", "laplace", "lindstrom_bates",
           "lindstrom_bates_residual", "linearized_design", "whitened_design"]


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
    cov: object  # a block's covariance structure


def block_index(spec: NlmeSpec) -> np.ndarray:
    """Positions of each covariance block's theta entries in the theta of one unstructured term per ``spec`` term."""
    out, start = [], 0
    for term in spec.terms:
        if not term.plain:  # the linearized LMM's term has the blocks' structure itself: same theta
            out += list(range(start, start + term.n_theta))
            start += term.n_theta
            continue
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
    """Where the iterations stopped: the PNLS's ``beta`` and ``bs`` (per term (levels, k)), the model linearized
    there (``design``), its deviance ``objective`` (``BlockDeviance``) and the LME step's ``solution`` on it (the
    blocks' theta), the number of outer ``iterations`` (nlme's ``numIter``) and ``status``. With a residual
    structure (``lindstrom_bates_residual``): ``joint``, the last LME step over ``(theta, rho)`` (rho: its last
    entries), and the structure ``bound`` to the rows with its ``arrays`` (the fitted values it last read); then
    ``objective`` is the deviance of the rows whitened at rho."""

    beta: np.ndarray
    bs: list
    design: Design
    objective: BlockDeviance
    solution: Solution
    iterations: int
    status: str
    joint: Solution | None = None
    bound: object = None
    arrays: object = None

    @property
    def rho(self) -> np.ndarray:
        n = 0 if self.bound is None else self.bound.n_params
        return self.joint.x[len(self.joint.x) - n :] if n else np.zeros(0)

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
                            tuple(spec.names[j] for j in term.params), structure=None if term.plain else term.cov))
    return Design(formula="linearized", parsed=None, y=w, X=X, xnames=names, terms=tuple(terms),
                  weights=np.ones(len(w)))


LME_MAX_ITER = 20  # Newton iterations per LME step: far from the optimum (a poor start) a linearized model can
# pull the covariance towards a degenerate boundary far away (ChickWeight, unstructured); nlme, too, limits its
# early LME steps. Near convergence each LME step starts next to its optimum and needs a few.

PNLS_TOL = 1e-3  # nlme's nlmeControl() defaults: pnlsTol, pnlsMaxIter, tolerance, maxIter
PNLS_MAX_ITER = 7
TOLERANCE = 1e-5
MAX_ITER = 50


def _relative_change(new, old, tol: float) -> float:
    """nlme's convergence measure: ``max |old - new| / |new|`` (``|new|`` replaced by 1 where below ``tol``)."""
    new, old = np.asarray(new, dtype=float), np.asarray(old, dtype=float)
    return float(np.max(np.abs(old - new) / np.where(np.abs(new) < tol, 1.0, np.abs(new)), initial=0.0))


def _starting_point(spec: NlmeSpec, beta0, bs0, theta0):
    """(theta, beta, bs, index, blocks) where the Lindstrom-Bates iterations start: the covariance structures'
    start values unless ``theta0``, random effects 0 unless ``bs0``; ``index``, ``blocks``: the covariance blocks'
    positions in the linearized LMM's theta and their structures."""
    theta = (np.concatenate([c.start() for term in spec.terms for c in term.covs])
             if theta0 is None else np.asarray(theta0, dtype=float))
    bs = ([np.zeros((term.n_levels, len(term.params))) for term in spec.terms] if bs0 is None
          else [np.asarray(b, dtype=float) for b in bs0])
    blocks = tuple(_Block(c) for term in spec.terms for c in term.covs)
    return theta, np.asarray(beta0, dtype=float), bs, block_index(spec), blocks


def lindstrom_bates(spec: NlmeSpec, data: NlmeData, beta0, names: tuple, groups: tuple, levels: tuple, *,
                    bs0=None, theta0=None, pnls_tol: float = PNLS_TOL, pnls_max_iter: int = PNLS_MAX_ITER,
                    tolerance: float = TOLERANCE, max_iter: int = MAX_ITER) -> LindstromBates:
    """nlme's Lindstrom-Bates iterations (``nlme.formula`` and its C routine ``fit_nlme``), from ``beta0`` (and
    ``bs0``, default 0; ``theta0``, default the identity) with nlme's controls.

    Each Gauss-Newton iteration of the PNLS step starts with an LME step: the linearized model at the current
    ``(beta, b)`` is fitted by ML for the relative covariance. nlme re-estimates it there too, inside every PNLS
    iteration (``nlme_increment``: 20 EM iterations, then up to 20 quasi-Newton ones), and its LME step at the
    start of each outer iteration is the same fit; mixjax maximizes exactly where nlme stops its EM and quasi-Newton
    iterations near the maximum (Indometh: 5e-5 apart in the log-likelihood).
    Then nlme's criterion (``pnls_iteration``): below ``pnls_tol`` the iterations stop where they are and the fit is
    reported there: fixed and random effects of the PNLS, the covariance, ``sigma`` and the log-likelihood of the
    LME fit of the linearized model at that point. Otherwise a halved Gauss-Newton step; after ``pnls_max_iter``
    steps an outer iteration ends, and nlme's test ``max |relative change| <= tolerance`` of the fixed effects and
    covariance parameters over it stops them too.

    What nlme reports is thus not a fixed point of the Lindstrom-Bates iterations: the PNLS stops as soon as its
    criterion is below 1e-3, short of the penalized least squares minimum, and the point where it stops depends on the
    path from the start values (the log-likelihood by a few 1e-3). ``pnls_tol=0`` iterates to the fixed point itself
    (``(beta, b)`` the PNLS minimum at the covariance that maximizes the likelihood of the model linearized there):
    the limit of nlme's fits as ``pnlsTol`` goes to 0. ``iterations`` counts outer iterations as nlme's ``numIter``."""
    theta, beta, bs, index, blocks = _starting_point(spec, beta0, bs0, theta0)
    status = f"stopped: {max_iter} Lindstrom-Bates iterations without convergence"
    design = objective = solution = None
    it, done = 0, False
    for it in range(1, max_iter + 1):
        beta_start, theta_start, factor, moved = beta, theta, np.float64(1.0), False  # as the step returns it
        for _ in range(pnls_max_iter):
            f, J = (np.asarray(a) for a in linearize(beta, bs, data, spec))
            if not (np.all(np.isfinite(f)) and np.all(np.isfinite(J))):
                status = f"stopped: the linearized model of iteration {it} is not finite (check the start values)"
                return LindstromBates(beta, bs, design, objective, solution, it, status)
            design = linearized_design(data, f, J, beta, bs, names, groups, levels, spec)
            objective = BlockDeviance(make_lmm(design, reml=False), index, blocks)
            try:
                solution = minimize_reflecting(
                    lambda x, objective=objective: objective.minimize(x, max_iter=LME_MAX_ITER),
                    np.maximum(theta, objective.lower), blocks,
                )
            except ValueError:  # the LME step's deviance is not finite: the linearization broke down
                status = f"stopped: the linearized model of iteration {it} is not finite (check the start values)"
                return LindstromBates(beta, bs, design, objective, solution, it, status)
            if not np.isfinite(solution.fun):
                status = "stopped: the linearized model is not finite (check the start values)"
                return LindstromBates(beta, bs, design, objective, solution, it, status)
            theta_old, theta = theta, solution.x
            Ts = host_factors(theta, spec)
            us = [np.linalg.lstsq(T, b.T, rcond=None)[0].T for b, T in zip(bs, Ts)]
            step = pnls_iteration(beta, us, theta, factor, pnls_tol, data, spec)
            new_beta, new_us, factor, crit, t = jax.device_get(step)
            if t == 0.0:  # nothing moved: nlme's criterion is met, or no step decreases the PNLS objective
                settled = crit < pnls_tol or np.max(np.abs(theta - theta_old), initial=0.0) <= 1e-8 * (
                    1.0 + np.max(np.abs(theta), initial=0.0))
                if settled and solution.converged:
                    done, status = True, ("converged: PNLS criterion below pnlsTol" if crit < pnls_tol else
                                          "converged: fixed effects, random effects and covariance stopped moving")
                    break
                continue  # the LME step goes on from where it stopped
            beta, moved = np.asarray(new_beta), True
            bs = [u @ T.T for u, T in zip(new_us, Ts)]
        if done:
            it += moved  # nlme would run one more outer iteration, whose PNLS step does not move
            break
        if (_relative_change(beta, beta_start, tolerance) <= tolerance
                and _relative_change(theta, theta_start, tolerance) <= tolerance and solution.converged):
            # nlme's rule at the end of an outer iteration; the fit is reported at the model linearized here
            f, J = (np.asarray(a) for a in linearize(beta, bs, data, spec))
            design = linearized_design(data, f, J, beta, bs, names, groups, levels, spec)
            objective = BlockDeviance(make_lmm(design, reml=False), index, blocks)
            solution = objective.minimize(theta, max_iter=LME_MAX_ITER)
            if solution.converged and np.isfinite(solution.fun):
                theta = solution.x
                status = "converged: fixed effects and covariance parameters stopped moving (nlme's tolerance)"
                break
    return LindstromBates(beta, bs, design, objective, solution, it, status)


def laplace(problem, state: LindstromBates | None = None):
    """The Laplace objective of ``problem`` and its maximum: ``(objective, solution)`` over ``psi = [theta, beta]``.
    Without ``state``, from the covariance structures' start values, the fixed effects' start values and random
    effects 0 (as lme4's ``nlmer``): no Lindstrom-Bates iterations, so no linearized LMM to compile (Theoph's first
    fit 2.7-3.0 s instead of 5.6-6.4 s; the same maximum, ``tests/test_nlme_methods.py``); with the
    Lindstrom-Bates fit ``state``, from there."""
    spec = problem.spec
    covs = [c for term in spec.terms for c in term.covs]
    if state is None:
        theta0, beta0 = np.concatenate([c.start() for c in covs]), np.asarray(problem.beta0, dtype=float)
        u0 = np.zeros((spec.terms[0].n_levels, len(spec.terms[0].params)))
    else:
        theta0, beta0 = state.solution.x, state.beta
        u0 = state.bs[0] @ np.linalg.pinv(host_factors(state.solution.x, spec)[0]).T
    objective = make_laplace(problem.data, spec, u0)
    lower = np.concatenate([np.concatenate([np.asarray(c.lower(), dtype=float) for c in covs]),
                            np.full(len(beta0), -np.inf)])
    return objective, minimize_lbfgs(objective.value_grad, np.concatenate([theta0, beta0]), lower)  # Hessian:
    # differences of the gradient


# ------------------------------------------------------------------------------------- residual structures
class _Group(NamedTuple):
    """A random-effects term as ``residual.bind`` checks it: its grouping column and level codes."""

    factor: str
    codes: np.ndarray


def bind_residual(problem, correlation, variance):
    """``(Bound, Arrays)``: the residual structures bound to the fit's rows (``mixjax.residual.bind``); a
    correlation's default group is the innermost grouping (``outer/inner`` for nested groups), as nlme's."""
    terms = [_Group(g, np.asarray(c)) for g, c in zip(problem.groups, problem.data.codes)]
    return bind(correlation, variance, problem.frame, "/".join(problem.group_columns), terms)


_whiten = jit(whiten, static_argnames="bound")


def whitened_design(design: Design, rho, arrays, bound) -> Design:
    """``design`` with its rows whitened at the structure's parameters ``rho``: ``Lambda^{-1/2} [X y Z]``, an LMM
    with identity residuals whose deviance in theta is the structure's less ``log|Lambda|`` (constant in theta)."""
    parts = [design.X, design.y[:, None], *(t.Z for t in design.terms)]
    E = np.asarray(_whiten(np.asarray(rho, dtype=float), np.hstack(parts), arrays, bound)[0])
    X, y, *Z = np.split(E, np.cumsum([p.shape[1] for p in parts])[:-1], axis=1)
    return dataclasses.replace(design, X=X, y=y[:, 0],
                               terms=tuple(dataclasses.replace(t, Z=z) for t, z in zip(design.terms, Z)))


LME_OUTER_MAX_ITER = 50  # nlme's msMaxIter for the LME step of each outer iteration


def _joint_step(design: Design, theta, rho, index, bound, arrays, reml: bool) -> Solution:
    """nlme's LME step with a residual structure: the linearized model's (restricted) likelihood maximized over the
    covariance blocks' theta and the structure's parameters together (entries of theta between covariance blocks
    held at 0, the structures' ``fixed=True`` parameters at their values). The solution is over ``(theta, rho)``,
    theta that of one unstructured term per grouping."""
    objective = make_residual(make_lmm(design, reml=reml), bound, arrays)
    n_full = objective.spec.n_theta
    x0 = np.zeros(n_full + len(rho))
    x0[index], x0[n_full:] = theta, rho
    objective = objective._replace(free=np.r_[np.isin(np.arange(n_full), index), objective.free[n_full:]])
    return minimize_reflecting(lambda x: objective.minimize(x, max_iter=LME_OUTER_MAX_ITER), x0, design.terms)


def _theta_step(design: Design, theta, rho, index, blocks, bound, arrays):
    """The ML fit of the covariance blocks' theta to the linearized model whitened at ``rho`` (nlme re-estimates the
    random effects' covariance at fixed ``corFactor`` and ``varWeights`` in each PNLS iteration)."""
    objective = BlockDeviance(make_lmm(whitened_design(design, rho, arrays, bound), reml=False), index, blocks)
    return objective, minimize_reflecting(lambda x: objective.minimize(x, max_iter=LME_MAX_ITER),
                                          np.maximum(theta, objective.lower), blocks)


def lindstrom_bates_residual(spec: NlmeSpec, data: NlmeData, beta0, names: tuple, groups: tuple, levels: tuple,
                             bound, arrays, *, reml: bool = False, bs0=None, theta0=None, rho0=None,
                             pnls_tol: float = PNLS_TOL, pnls_max_iter: int = PNLS_MAX_ITER,
                             tolerance: float = TOLERANCE, max_iter: int = MAX_ITER) -> LindstromBates:
    """nlme's Lindstrom-Bates iterations with a residual structure (``nlme.formula`` with ``correlation=`` or
    ``weights=``). Each outer iteration: the variance function's ``fitted(.)`` covariate set to the model's values at
    the current ``(beta, b)`` (nlme's ``update``); the LME step, ML or REML (``reml``), over the covariance and the
    structure's parameters ``rho`` jointly on the model linearized there (``_joint_step``); then up to
    ``pnls_max_iter`` PNLS iterations at that ``rho`` (held, as nlme's ``corFactor`` and ``varWeights``), each with
    its ML re-estimate of the covariance on the whitened linearized model and a Gauss-Newton step on the whitened
    residuals (``pnls_iteration_white``). The iterations stop when the PNLS criterion is below ``pnls_tol`` before
    anything moved in an outer iteration (its LME step then saw the point where they stop), or by nlme's relative
    ``tolerance`` on the fixed effects and the covariance and structure parameters over an outer iteration."""
    theta, beta, bs, index, blocks = _starting_point(spec, beta0, bs0, theta0)
    rho = np.asarray(_rho_start(bound) if rho0 is None else rho0, dtype=float)
    status = f"stopped: {max_iter} Lindstrom-Bates iterations without convergence"
    design = objective = solution = joint = None
    broken = "stopped: the linearized model of iteration {} is not finite (check the start values)"

    def linearized():
        f, J = (np.asarray(a) for a in linearize(beta, bs, data, spec))
        ok = np.all(np.isfinite(f)) and np.all(np.isfinite(J))
        return f, (linearized_design(data, f, J, beta, bs, names, groups, levels, spec) if ok else None)

    def state(it, status):
        return LindstromBates(beta, bs, design, objective, solution, it, status, joint, bound, arrays)

    it = 0
    for it in range(1, max_iter + 1):
        beta_start, theta_start, rho_start = beta, theta, rho
        f, design = linearized()
        if design is None:
            return state(it, broken.format(it))
        if bound.fitted:
            arrays = arrays._replace(fitted=f)
        try:
            joint = _joint_step(design, theta, rho, index, bound, arrays, reml)
        except ValueError:
            return state(it, broken.format(it))
        theta, rho = joint.x[index], joint.x[len(joint.x) - len(rho) :]
        factor, moved, met, stale = 1.0, False, False, False
        for _ in range(pnls_max_iter):
            if stale:
                (_, design), stale = linearized(), False
                if design is None:
                    return state(it, broken.format(it))
            try:
                objective, solution = _theta_step(design, theta, rho, index, blocks, bound, arrays)
            except ValueError:
                return state(it, broken.format(it))
            if not np.isfinite(solution.fun):
                return state(it, broken.format(it))
            theta_old, theta = theta, solution.x
            Ts = host_factors(theta, spec)
            us = [np.linalg.lstsq(T, b.T, rcond=None)[0].T for b, T in zip(bs, Ts)]
            step = pnls_iteration_white(beta, us, theta, factor, pnls_tol, rho, arrays, data, spec, bound)
            new_beta, new_us, factor, crit, t = jax.device_get(step)
            if t == 0.0:  # as lindstrom_bates: the criterion is met, or no step decreases the objective
                settled = crit < pnls_tol or np.max(np.abs(theta - theta_old), initial=0.0) <= 1e-8 * (
                    1.0 + np.max(np.abs(theta), initial=0.0))
                if settled and solution.converged:
                    met = True
                    break
                continue
            beta, moved, stale = np.asarray(new_beta), True, True
            bs = [u @ T.T for u, T in zip(new_us, Ts)]
        if met and not moved:
            status = ("converged: PNLS criterion below pnlsTol" if crit < pnls_tol else
                      "converged: fixed effects, random effects and covariance stopped moving")
            break
        if (_relative_change(beta, beta_start, tolerance) <= tolerance
                and _relative_change(np.r_[theta, rho], np.r_[theta_start, rho_start], tolerance) <= tolerance
                and solution.converged):  # nlme's rule; the fit is reported at the model linearized here
            if stale:
                _, design = linearized()
                if design is None:
                    return state(it, broken.format(it))
                objective, solution = _theta_step(design, theta, rho, index, blocks, bound, arrays)
                theta = solution.x
            status = "converged: fixed effects and covariance parameters stopped moving (nlme's tolerance)"
            break
    return state(it, status)


def _rho_start(bound) -> np.ndarray:
    """The structures' start values (nlme's unconstrained scale), correlation first."""
    parts = [bound.correlation.start(bound.m)] if bound.correlation is not None else []
    return np.concatenate(parts + [f.start(len(strata)) for f, strata in bound.variances] + [np.zeros(0)])
