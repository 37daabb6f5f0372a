"""Log-determinants and residual of the rest's Schur complement, with a cheap exact reverse-mode rule.

``S`` enters through its lower triangle only (the upper one is ignored). For symmetric positive definite ``S`` (``nr x nr``) partitioned as ``(z, x, y)`` with ``qr``, ``p`` and 1 rows,
``S = L L'``, the profiled deviance needs ``logdet S_zz = 2 sum log diag(L)[:qr]``, ``logdet S_aa - logdet S_zz``
(``a = (z, x)``, REML's ``log|L_X|^2``) and ``r^2 = L[-1, -1]^2``. Their derivatives are

    d logdet S_zz = tr(S_zz^{-1} dS_zz),  d logdet S_aa = tr(S_aa^{-1} dS_aa),  d r^2 = w' dS w,  w = [-S_aa^{-1} s_ay; 1],

so one triangular inverse of ``L_aa`` gives the whole cotangent: ``P = S_aa^{-1} = L_aa^{-T} L_aa^{-1}`` and
``S_zz^{-1} = P_zz - P_zx P_xx^{-1} P_xz``. That costs about half of what differentiating through the Cholesky
factorization costs. Forward mode (for Hessians) is not defined here: use the plain deviance for that.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular

from .lapack import cholesky, inverse_from_cholesky
from .small import cholesky_small

__all__ = ["schur_logdet", "schur_terms"]


UNROLLED_MAX = 8  # dense blocks up to this size are factored by unrolled elementwise code (``cholesky_small``)


def _symmetric_cholesky(S):
    """From the lower triangle. Small blocks (one grouping factor: the fixed effects and the response) unrolled:
    differentiating LAPACK's factorization forward over reverse costs 8x the gradient for sleepstudy's 3 x 3
    block, vmapped over fits, against 2x unrolled."""
    if S.shape[-1] <= UNROLLED_MAX:
        return cholesky_small(S)
    return jnp.linalg.cholesky(jnp.tril(S) + jnp.tril(S, -1).T)


def _forward(S, qr, p, chol=_symmetric_cholesky):
    L = chol(S)
    d = jnp.diagonal(L)
    out = (2.0 * jnp.sum(jnp.log(d[:qr])), 2.0 * jnp.sum(jnp.log(d[qr : qr + p])), d[-1] ** 2)
    return out, L


def schur_terms(S, qr: int, p: int):
    """The same values as ``schur_logdet``, differentiated by JAX through the Cholesky factorization."""
    return _forward(S, qr, p)[0]


@partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def schur_logdet(S, qr: int, p: int):
    """``(logdet S_zz, logdet S_aa - logdet S_zz, r^2)`` of symmetric positive definite ``S`` (see module doc)."""
    return _forward(S, qr, p)[0]


def _fwd(S, qr, p):
    return _forward(S, qr, p, chol=cholesky)


def _bwd(qr, p, L, cot):
    c_zz, c_xx, c_r2 = cot
    nr = L.shape[0]
    na = nr - 1
    P = jnp.pad(inverse_from_cholesky(L[:na, :na]), ((0, 1), (0, 1)))  # S_aa^{-1}, lower triangle
    if p:  # S_zz^{-1} = P_zz - P_zx P_xx^{-1} P_xz, a rank-p correction of P_zz
        P_xx = jnp.tril(P[qr:na, qr:na]) + jnp.tril(P[qr:na, qr:na], -1).T
        U = P[qr:na, :qr]
        corr = jnp.pad(U.T @ jnp.linalg.solve(P_xx, U), ((0, nr - qr), (0, nr - qr)))
    else:
        corr = 0.0
    z = solve_triangular(L[:na, :na], L[-1, :na], lower=True, trans="T")  # S_aa^{-1} s_ay
    w = jnp.concatenate([-z, jnp.ones(1, dtype=L.dtype)])
    i, j = jnp.arange(nr)[:, None], jnp.arange(nr)[None, :]
    bar = c_r2 * w[:, None] * w[None, :] + c_xx * P + jnp.where((i < qr) & (j < qr), (c_zz - c_xx) * (P - corr), 0.0)
    return (jnp.where(i > j, 2.0 * bar, jnp.where(i == j, bar, 0.0)),)  # S enters through its lower triangle


schur_logdet.defvjp(_fwd, _bwd)
