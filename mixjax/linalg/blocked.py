"""Cholesky of a symmetric positive definite matrix in the random effects' block structure.

``H = [[H11, H1r], [H1r', Hrr]]`` where ``H11`` is block diagonal (``l1`` blocks of ``k1 x k1``: the levels of the
first, largest term) and ``Hrr`` (``qr x qr``) dense: the other terms. Block elimination: per-level Cholesky
factors of ``H11`` (unrolled, ``linalg.small``), then the dense Schur complement ``S = Hrr - H1r' H11^{-1} H1r``.
``log|H| = log|H11| + log|S|``. With one term (``qr = 0``) only the per-level blocks exist.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .small import cholesky_small, tril_inverse_small

__all__ = ["BlockFactor", "block_factor", "block_solve", "block_logdet"]


class BlockFactor(NamedTuple):
    """``L1`` (l1, k1, k1) per-level factors, ``L1inv`` their inverses, ``H1r`` (l1, k1, qr), ``M = H11^{-1} H1r``,
    ``Ls`` (qr, qr) factor of the Schur complement."""

    L1: jax.Array
    L1inv: jax.Array
    H1r: jax.Array
    M: jax.Array
    Ls: jax.Array


def _solve11(F: BlockFactor, b):
    """``H11^{-1} b`` for ``b`` (l1, k1, ...)."""
    return jnp.einsum("gki,gkj,gj...->gi...", F.L1inv, F.L1inv, b)


def block_factor(H11, H1r, Hrr) -> BlockFactor:
    L1 = cholesky_small(H11)
    L1inv = tril_inverse_small(L1)
    F = BlockFactor(L1, L1inv, H1r, H1r, Hrr)
    if Hrr.shape[0] == 0:
        return F
    M = _solve11(F, H1r)
    Ls = jnp.linalg.cholesky(Hrr - jnp.einsum("gai,gaj->ij", H1r, M))
    return F._replace(M=M, Ls=Ls)


def block_solve(F: BlockFactor, b1, br):
    """``H^{-1} [b1; br]`` for ``b1`` (l1, k1) and ``br`` (qr,); returns the two parts."""
    c1 = _solve11(F, b1)
    if br.shape[0] == 0:
        return c1, br
    xr = jax.scipy.linalg.cho_solve((F.Ls, True), br - jnp.einsum("gai,ga->i", F.H1r, c1))
    return c1 - jnp.einsum("gai,i->ga", F.M, xr), xr


def block_logdet(F: BlockFactor):
    out = 2.0 * jnp.sum(jnp.log(jnp.diagonal(F.L1, axis1=1, axis2=2)))
    if F.Ls.shape[0]:
        out = out + 2.0 * jnp.sum(jnp.log(jnp.diagonal(F.Ls)))
    return out
