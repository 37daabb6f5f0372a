"""The LMM engine: which optimizer a fit uses, fits as functions of the response (a batch of responses is one
vmapped, compiled program), and simulation from a fitted model.

Policy: trust-region Newton with the exact Hessian (one compiled loop) where the dense Schur block is small (at
most ``DENSE_NEWTON_MAX`` columns: one grouping factor, small crossed designs); otherwise L-BFGS-B on the exact
gradient from moment-based start values. A batch of fits shares the cross-products that do not involve the
response; each fit computes its response blocks, runs the Newton loop and its estimates inside ``jax.vmap``.
"""
from __future__ import annotations

import dataclasses
import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .._config import jit
from ..design import Design
from ..linalg.schur_logdet import UNROLLED_MAX
from ..objectives.lmm import LmmObjective, newton, with_data
from ..objectives.lmm_estimates import estimates
from ..optim.lbfgs import minimize_lbfgs
from ..optim.newton import Solution
from ..optim.reflect import minimize_reflecting
from ..start import moment_start
from .batch import Batch, refit_reflected, schedule

__all__ = ["DENSE_NEWTON_MAX", "solve", "fit_responses", "fit_many", "simulate"]

DENSE_NEWTON_MAX = 64  # largest dense Schur block (rest columns) for which the exact autodiff Hessian is cheap


def solve(objective: LmmObjective, design: Design, theta0, start_given: bool) -> Solution:
    """One fit: Newton where the dense block is small; L-BFGS-B (from moment start values unless given) elsewhere."""
    if objective.spec.nr <= DENSE_NEWTON_MAX:
        return minimize_reflecting(objective.minimize, theta0, design.terms)
    theta0 = theta0 if start_given else moment_start(design)
    return minimize_lbfgs(objective.value_grad, theta0, objective.lower, polish=0)


@partial(jit, static_argnames="spec", classic_below=math.inf)
def fit_responses(theta0, radius0, Y, max_iter, lower, data, rows, spec) -> Batch:
    """Fits to the responses ``Y`` (m, n) from starts ``theta0`` (m, n_theta) with first radii ``radius0`` (m,),
    as one vmapped program: the trust-region Newton loop and the estimates at its end, per response."""
    index = jnp.arange(spec.n_theta)

    def one(x0, r0, y):
        d = with_data(data, rows, spec, y=y)
        state = newton(x0, lower, r0, max_iter, index, d, spec)
        est = estimates(state.x, d, spec)
        return Batch(state, est.beta, est.vcov, est.sigma, est.T, jnp.zeros(0), -0.5 * state.f)

    return jax.vmap(one)(theta0, radius0, Y)


def _starts(theta0: np.ndarray, lower: np.ndarray):
    x = np.maximum(np.atleast_2d(theta0), lower)
    return x, np.maximum(1.0, np.linalg.norm(x, axis=1))


def fit_many(objective: LmmObjective, design: Design, Y: np.ndarray, theta0: np.ndarray | None, *,
             progress=None) -> Batch:
    """Fits of ``objective``'s model to every row of ``Y`` (m, n), from ``theta0`` (n_theta,; None: the default
    starts, moment-based per response for L-BFGS-B), as numpy. Newton designs: vmapped through one compiled
    program (``batch.schedule``), with fits stopped at a spurious boundary point of lme4's parametrization refitted
    from their mirror points. Others (large dense block): one L-BFGS-B fit per response, sharing the
    cross-products."""
    Y = np.asarray(Y, dtype=np.float64)
    if objective.spec.nr > DENSE_NEWTON_MAX:
        return _fit_each(objective, design, Y, theta0, progress)
    theta0 = design.theta_start if theta0 is None else theta0

    def run(x0, r0, y, max_iter):
        return jax.device_get(fit_responses(x0, r0, y, max_iter, objective.lower, objective.data, objective.rows,
                                            spec=objective.spec))

    def run_all(starts, index, progress=None):
        return schedule(run, *_starts(starts, objective.lower), Y[index], progress,
                        unrolled=objective.spec.nr <= UNROLLED_MAX)

    out = run_all(np.repeat(np.atleast_2d(theta0), len(Y), axis=0), np.arange(len(Y)), progress)
    return refit_reflected(run_all, out, out.state.x, out.state.g, design.terms)


def _fit_each(objective: LmmObjective, design: Design, Y: np.ndarray, theta0, progress) -> Batch:
    """One L-BFGS-B fit per response (the large-dense-block policy), collected into a ``Batch``."""
    from tqdm import tqdm

    from ..optim.trust_region import State

    rows = []
    for y in (tqdm(Y, desc="fits", unit="fit", delay=1.0) if progress is not False and len(Y) > 1 else Y):
        obj = objective._replace(data=with_data(objective.data, objective.rows, objective.spec, y=y), programs={})
        s = solve(obj, dataclasses.replace(design, y=y), theta0, theta0 is not None)
        est = jax.device_get(estimates(s.x, obj.data, obj.spec))
        status = int(s.status)
        state = State(s.x, s.fun, s.grad, np.full((len(s.x),) * 2, np.nan), np.nan, s.iterations, s.evaluations,
                      status, s.hessian_min_eig)
        rows.append(Batch(state, est.beta, est.vcov, est.sigma, est.T, np.zeros(0), -0.5 * s.fun))
    return jax.tree_util.tree_map(lambda *a: np.stack([np.asarray(x) for x in a]), *rows)


@partial(jit, static_argnames=("use_re",))
def simulate(keys, beta, sigma, T: tuple, b: tuple, rows, use_re: bool):
    """One response per key, (m, n): ``X beta + Z b + e`` with ``e ~ N(0, sigma^2 / w)`` and ``b`` drawn anew
    (``b_t = sigma u T_t'``, ``u ~ N(0, I)``) or, with ``use_re``, the fitted ``b``."""

    def one(key):
        keys = jax.random.split(key, len(T) + 1)
        draws = b if use_re else [sigma * jax.random.normal(k, bt.shape) @ Tt.T for k, bt, Tt in zip(keys, b, T)]
        rest = jnp.concatenate([d.ravel() for d in draws[1:]]) if len(draws) > 1 else jnp.zeros(0)
        eta = rows.X @ beta + jnp.sum(rows.Z1 * draws[0][rows.codes1], axis=1)
        eta = eta + jnp.sum(rows.Zr * rest[rows.cols], axis=1)
        return eta + sigma * jax.random.normal(keys[-1], eta.shape) / jnp.sqrt(rows.weights)

    return jax.vmap(one)(keys)
