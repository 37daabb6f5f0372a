"""The LMM's estimates at theta, from the factorization (pure JAX: jit, vmap and differentiate them).

With the Cholesky factor ``L`` of the rest's Schur complement (``mixjax.objectives.lmm``), the last row holds the
right-hand side: ``L_aa' [u_r; beta] = L[-1, :-1]`` gives the fixed effects and the spherical random effects of
terms 2..m; those of term 1 follow per level, ``u_1g = -D_g^{-1} T1' C0_g [b_r; beta; -1]``; ``b = Lambda u``.
``sigma^2 = r^2 / (n - p)`` (REML) or ``r^2 / n`` (ML) with ``r = L[-1, -1]``; ``vcov(beta) = sigma^2 (L_X
L_X')^{-1}``.
"""
from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular

from .._config import jit
from ..linalg.small import tril_inverse_small
from .lmm import LmmData, LmmSpec, factor, reml_weight

__all__ = ["Estimates", "estimates"]


class Estimates(NamedTuple):
    beta: jax.Array  # (p,)
    b: tuple  # per term (n_levels, k) conditional modes
    sigma: jax.Array
    vcov: jax.Array  # (p, p)
    T: tuple  # per term (k, k) relative covariance factor
    pwrss: jax.Array


@partial(jit, static_argnames="spec", classic_below=math.inf)
def estimates(theta, data: LmmData, spec: LmmSpec) -> Estimates:
    f = factor(theta, data, spec)
    L, qr, p = f.L, spec.qr, spec.p
    z = solve_triangular(L[:-1, :-1], L[-1, :-1], trans="T", lower=True)
    beta, ur = z[qr:], z[:qr]
    br = [ur[off : off + lt * kt].reshape(lt, kt) @ T.T for (off, lt, kt), T in zip(spec.layout, f.Tr)]
    s = data.Cxy @ jnp.append(beta, -1.0)  # s_g = C0_g [b_r; beta; -1], (l1, k1)
    if qr:
        coupled = data.ev * jnp.concatenate([b.ravel() for b in br])[data.ej][:, None]
        s = s + jax.ops.segment_sum(coupled, data.eg, num_segments=s.shape[0])
    rhs = -jnp.einsum("ji,gj->gi", f.T1, s)  # -T1' s_g
    Linv = tril_inverse_small(f.Ld)
    u1 = jnp.einsum("gji,gjk,gk->gi", Linv, Linv, rhs)  # D_g^{-1} rhs_g
    pwrss = L[-1, -1] ** 2
    sigma2 = pwrss / (data.n - reml_weight(data, spec) * data.p)
    Lx_inv = solve_triangular(L[qr : qr + p, qr : qr + p], jnp.eye(p), lower=True)
    return Estimates(beta, (u1 @ f.T1.T, *br), jnp.sqrt(sigma2), sigma2 * Lx_inv.T @ Lx_inv, (f.T1, *f.Tr), pwrss)
