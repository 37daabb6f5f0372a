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
from ..families import Response
from ..objectives.glmm import GlmmObjective, _eta, _linear_parts, _unpack, _zeros, newton
from ..objectives.lmm import _factors
from ..optim.newton import Solution
from ..optim.reflect import minimize_reflecting, reflected_starts
from .batch import Batch, batch_size, chunked_vmap
from .lmm import _progress

__all__ = ["RADIUS0", "solve", "fit_responses", "fit_many", "simulate"]

RADIUS0 = 0.5
MAX_ITER = 300


def solve(objective: GlmmObjective, terms, psi0) -> Solution:
    return minimize_reflecting(lambda x: objective.minimize(x, radius0=RADIUS0), psi0, terms)


@partial(jit, static_argnames="spec")
def fit_responses(psi0, lower, max_iter, Y, data, spec) -> Batch:
    """Fits to the responses ``Y`` (m, n) (``Response.y``: successes for binomial) from starts ``psi0`` (m, n_psi),
    one vmapped program: the Newton loop (inner modes from 0), the covariance of beta from the Hessian."""
    nt, p = spec.n_theta, spec.p

    def one(x0, y):
        state, _ = newton(x0, lower, jnp.asarray(RADIUS0), max_iter, *_zeros(spec), data._replace(y=y), spec)
        free = ~((state.x <= lower) & (state.g > 0))
        both = free[:, None] & free[None, :]
        cov = jnp.linalg.inv(jnp.where(both, 0.5 * state.H, 0.0) + jnp.diag(jnp.where(free, 0.0, 1.0)))
        cov = jnp.where(both, cov, jnp.nan)
        theta, beta, fam = _unpack(state.x, spec)
        return Batch(state, beta, cov[nt : nt + p, nt : nt + p], jnp.asarray(1.0), tuple(_factors(theta, spec.ks)),
                     fam, -0.5 * state.f)

    return chunked_vmap(one, psi0, Y)


def fit_many(objective: GlmmObjective, terms, Y: np.ndarray, psi0: np.ndarray, *, size: int | None = None,
             progress=None) -> Batch:
    """Fits of ``objective``'s model to every row of ``Y`` (m, n), from ``psi0`` ((n_psi,) or (m, n_psi)), in
    vmapped batches of ``size`` fits (default: all); fits stopped at a spurious boundary point are refitted from
    the mirror point in a second pass. Returns numpy."""
    Y = np.asarray(Y, dtype=np.float64)
    m = Y.shape[0]
    psi0 = np.broadcast_to(np.maximum(np.asarray(psi0, dtype=float), objective.lower), (m, len(objective.lower)))
    size = batch_size(m, size)
    chunks = []
    for lo in _progress(range(0, m, size), progress, m, size):
        Yc, Pc = Y[lo : lo + size], psi0[lo : lo + size]
        pad = size - len(Yc)
        if pad:
            Yc, Pc = (np.concatenate([a, np.repeat(a[-1:], pad, axis=0)]) for a in (Yc, Pc))
        run = lambda x0: jax.device_get(fit_responses(x0, objective.lower, np.int32(MAX_ITER), Yc,  # noqa: E731
                                                      objective.data, spec=objective.spec))
        out = run(Pc)
        nt = objective.spec.n_theta
        starts, redo = reflected_starts(out.state.x[:, :nt], out.state.g[:, :nt], terms)
        if redo.any():
            again = run(np.concatenate([starts, out.state.x[:, nt:]], axis=1))
            better = redo & (again.state.f < out.state.f)
            out = jax.tree_util.tree_map(lambda a, b: np.where(better.reshape((-1,) + (1,) * (a.ndim - 1)), b, a),
                                         out, again)
        chunks.append(out.take(slice(0, size - pad)))
    return jax.tree_util.tree_map(lambda *a: np.concatenate(a), *chunks)


@partial(jit, static_argnames=("spec", "use_re"))
def simulate(keys, psi, u1, ur, data, spec, use_re: bool):
    """One response per key, (m, n), on the scale of ``Response.y``: the family's draw at ``eta = X beta + offset
    + Z Lambda u`` with ``u ~ N(0, I)`` drawn anew or, with ``use_re``, the fitted modes ``(u1, ur)``."""
    A, fixed, fam = _linear_parts(psi, data, spec)
    resp = Response(data.y, data.trials, data.weights)

    def one(key):
        k1, kr, ky = jax.random.split(key, 3)
        v1, vr = (u1, ur) if use_re else (jax.random.normal(k1, u1.shape), jax.random.normal(kr, ur.shape))
        return spec.family.sample(ky, _eta(fixed, A, v1, vr, data, spec), fam, resp)

    return jax.vmap(one)(keys)
