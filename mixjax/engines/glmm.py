"""The GLMM engine: the optimizer policy of one fit, fits as functions of the response (a batch of responses is one
vmapped, compiled program), and simulation from a fitted model.

Policy: trust-region Newton on the exact gradient and Hessian of ``-2 log L`` from a first radius of 0.5 (the
Newton model of the Laplace likelihood is poor far from the optimum; longer first steps were rejected on VerbAgg,
grouseticks, cbpp and Salamanders: 5-8 iterations instead of 7-12), restarted from the mirror point where a
term's diagonal stops at a spurious boundary point.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .._config import jit
from ..objectives.glmm import GlmmObjective, _eta, _linear_parts, _unpack, _zeros, newton
from ..objectives.lmm import _factors
from ..optim.newton import Solution
from ..optim.reflect import minimize_reflecting
from .batch import Batch, refit_reflected, schedule

__all__ = ["RADIUS0", "solve", "fit_responses", "fit_many", "simulate"]

RADIUS0 = 0.5


def solve(objective: GlmmObjective, terms, psi0) -> Solution:
    return minimize_reflecting(lambda x: objective.minimize(x, radius0=RADIUS0), psi0, terms)


@partial(jit, static_argnames="spec")
def fit_responses(psi0, radius0, Y, max_iter, lower, data, spec) -> Batch:
    """Fits to the responses ``Y`` (m, n) (``Response.y``: successes for binomial) from starts ``psi0`` (m, n_psi)
    with first radii ``radius0`` (m,), one vmapped program: the Newton loop (inner modes from 0), the covariance of
    beta from the Hessian."""
    nt, p = spec.n_theta, spec.p

    def one(x0, r0, y):
        state, _ = newton(x0, lower, r0, max_iter, *_zeros(spec), data._replace(y=y), spec)
        free = ~((state.x <= lower) & (state.g > 0))
        both = free[:, None] & free[None, :]
        cov = jnp.linalg.inv(jnp.where(both, 0.5 * state.H, 0.0) + jnp.diag(jnp.where(free, 0.0, 1.0)))
        cov = jnp.where(both, cov, jnp.nan)
        theta, beta, fam = _unpack(state.x, spec)
        return Batch(state, beta, cov[nt : nt + p, nt : nt + p], jnp.asarray(1.0), tuple(_factors(theta, spec.covs)),
                     fam, -0.5 * state.f)

    return jax.vmap(one)(psi0, radius0, Y)


def fit_many(objective: GlmmObjective, terms, Y: np.ndarray, psi0: np.ndarray, *, progress=None) -> Batch:
    """Fits of ``objective``'s model to every row of ``Y`` (m, n), from ``psi0`` ((n_psi,) or (m, n_psi)), through
    one compiled program (``batch.schedule``); fits stopped at a spurious boundary point are refitted from the
    mirror point. Returns numpy."""
    Y = np.asarray(Y, dtype=np.float64)
    m, nt = Y.shape[0], objective.spec.n_theta
    psi0 = np.broadcast_to(np.maximum(np.asarray(psi0, dtype=float), objective.lower), (m, len(objective.lower)))

    def run(x0, r0, y, max_iter):
        return jax.device_get(fit_responses(x0, r0, y, max_iter, objective.lower, objective.data,
                                            spec=objective.spec))

    def run_all(starts, index, progress=None):
        return schedule(run, starts, np.full(len(index), RADIUS0), Y[index], progress)

    out = run_all(psi0, np.arange(m), progress)
    return refit_reflected(run_all, out, out.state.x[:, :nt], out.state.g[:, :nt], terms, out.state.x[:, nt:])


@partial(jit, static_argnames=("spec", "use_re"))
def simulate(keys, psi, u1, ur, data, spec, use_re: bool):
    """One response per key, (m, n), on the scale of ``Response.y``: the family's draw at ``eta = X beta + offset
    + Z Lambda u`` with ``u ~ N(0, I)`` drawn anew or, with ``use_re``, the fitted modes ``(u1, ur)``."""
    A, fixed, fam = _linear_parts(psi, data, spec)
    resp = data.response

    def one(key):
        k1, kr, ky = jax.random.split(key, 3)
        v1, vr = (u1, ur) if use_re else (jax.random.normal(k1, u1.shape), jax.random.normal(kr, ur.shape))
        return spec.family.sample(ky, _eta(fixed, A, v1, vr, data, spec), fam, resp)

    return jax.vmap(one)(keys)
