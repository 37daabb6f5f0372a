"""Nonlinear mixed model pieces for Lindstrom-Bates: the penalized nonlinear least squares (PNLS) step and the
linearization that turns the model into an LMM.

Per row ``i`` in group ``g``: ``y_i = f(phi_i, x_i) + e_i`` with ``phi_i = beta + b_g`` on the parameters that have
random effects (``phi_i = beta`` on the others), ``b_g = T u_g``, ``cov(b_g) = sigma^2 T T'`` (``T`` block
diagonal, one block per random-effects term, lme4's theta inside each block).

* PNLS at fixed ``T``: minimize ``|y - f(beta, T u)|^2 + |u|^2`` over ``(beta, u)`` by Gauss-Newton, with each
  row's derivatives from one ``jax.vjp`` and the normal equations solved blockwise.
* Linearization at ``(beta, b)``: ``X = df/dphi`` (n, P), ``Z = X[:, random]``, pseudo-response
  ``w = y - f + X beta + Z b_g``; the LMM ``w ~ X beta + (Z | g)`` gives the next ``T``, ``sigma`` and ``beta``.

The compiled functions take the data as arguments and the structure (``NlmeSpec``, hashable) as a static argument,
so refits of the same model shape reuse one compilation.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from ..covariance import Unstructured
from ..linalg.blocked import block_factor, block_solve

__all__ = ["NlmeSpec", "pnls_step", "pnls_residuals", "linearize", "relative_factor"]


class NlmeSpec(NamedTuple):
    """``model(values) -> mean`` (values: name -> array, parameters and data columns), parameter ``names``, the
    random-effects ``blocks`` (tuples of parameter indices, one per covariance block), ``n_levels``."""

    model: Callable
    names: tuple
    blocks: tuple
    n_levels: int

    @property
    def random(self) -> tuple:
        return tuple(i for block in self.blocks for i in block)


def relative_factor(theta, spec: NlmeSpec):
    """Block-diagonal ``T`` (k x k) from theta (lme4's column-wise lower triangles, block by block)."""
    k = len(spec.random)
    T, start, off = jnp.zeros((k, k)), 0, 0
    for block in spec.blocks:
        cov = Unstructured(len(block))
        T = T.at[off : off + len(block), off : off + len(block)].set(cov.factor(theta[start : start + cov.n_theta]))
        start, off = start + cov.n_theta, off + len(block)
    return T


def _phi(beta, b, codes, spec: NlmeSpec):
    """Each row's parameters (n, P): beta, plus the row's group effects on the random parameters."""
    return jnp.broadcast_to(beta, (codes.shape[0], beta.shape[0])).at[:, jnp.array(spec.random)].add(b[codes])


def _f(phi, columns: dict, spec: NlmeSpec):
    return spec.model({**columns, **{name: phi[:, j] for j, name in enumerate(spec.names)}})


@partial(jax.jit, static_argnames="spec")
def pnls_residuals(beta, u, theta, y, columns, codes, spec: NlmeSpec):
    """``[y - f(beta, T u); -u]``: its squared norm is the PNLS objective."""
    b = u @ relative_factor(theta, spec).T
    return jnp.concatenate([y - _f(_phi(beta, b, codes, spec), columns, spec), -u.ravel()])


@partial(jax.jit, static_argnames="spec")
def pnls_step(beta, u, theta, y, columns, codes, spec: NlmeSpec):
    """Gauss-Newton step ``(d_beta, d_u)`` for the PNLS objective and its current value. The normal equations have
    the random effects' block structure (``linalg.blocked``: per-level ``k x k`` blocks for ``u``, dense for
    ``beta``), so the cost is linear in the number of groups."""
    T = relative_factor(theta, spec)
    f, J = _linearize(beta, u @ T.T, columns, codes, spec)
    r = y - f
    A = J[:, jnp.array(spec.random)] @ T  # d f / d u_g, per row (n, k)
    level_sum = partial(jax.ops.segment_sum, segment_ids=codes, num_segments=spec.n_levels)
    H11 = level_sum(A[:, :, None] * A[:, None, :]) + jnp.eye(A.shape[1])
    F = block_factor(H11, level_sum(A[:, :, None] * J[:, None, :]), J.T @ J)
    d_u, d_beta = block_solve(F, level_sum(A * r[:, None]) - u, J.T @ r)
    return d_beta, d_u, r @ r + jnp.sum(u**2)


def _linearize(beta, b, columns, codes, spec: NlmeSpec):
    values, vjp = jax.vjp(lambda phi: _f(phi, columns, spec), _phi(beta, b, codes, spec))
    return values, vjp(jnp.ones_like(values))[0]


@partial(jax.jit, static_argnames="spec")
def linearize(beta, b, columns, codes, spec: NlmeSpec):
    """``f`` and its derivatives in each row's own parameters ``phi`` (n, P) at ``(beta, b)`` (rows are
    independent, so one reverse pass gives every row's gradient)."""
    return _linearize(beta, b, columns, codes, spec)
