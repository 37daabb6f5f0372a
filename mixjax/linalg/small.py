"""Batched Cholesky factor and triangular inverse of many small ``k x k`` matrices, unrolled into elementwise
array operations (``k`` is a random-effects term's number of columns, rarely above 4).

For thousands of tiny blocks this is faster than LAPACK calls per block, differentiates to any order, and
avoids an XLA CPU hang seen with forward-over-reverse differentiation of a batched ``triangular_solve`` over
10,000 or more blocks (jax 0.10.2).
"""
from __future__ import annotations

import jax.numpy as jnp

__all__ = ["cholesky_small", "tril_inverse_small"]


def _stack(rows: list[list], like) -> jnp.ndarray:
    zero = jnp.zeros_like(like)
    return jnp.stack([jnp.stack([zero if v is None else v for v in row], axis=-1) for row in rows], axis=-2)


def cholesky_small(D):
    """Lower Cholesky factors of ``D`` with shape ``(..., k, k)`` (NaN where not positive definite)."""
    k = D.shape[-1]
    L = [[None] * k for _ in range(k)]
    for j in range(k):
        L[j][j] = jnp.sqrt(D[..., j, j] - sum((L[j][m] ** 2 for m in range(j)), 0.0))
        for i in range(j + 1, k):
            L[i][j] = (D[..., i, j] - sum((L[i][m] * L[j][m] for m in range(j)), 0.0)) / L[j][j]
    return _stack(L, D[..., 0, 0])


def tril_inverse_small(L):
    """Inverses of lower-triangular ``L`` with shape ``(..., k, k)``, by forward substitution."""
    k = L.shape[-1]
    inv = [[None] * k for _ in range(k)]
    for j in range(k):
        inv[j][j] = 1.0 / L[..., j, j]
        for i in range(j + 1, k):
            inv[i][j] = -sum(L[..., i, m] * inv[m][j] for m in range(j, i)) / L[..., i, i]
    return _stack(inv, L[..., 0, 0])
