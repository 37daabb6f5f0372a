"""Nonlinear mixed model pieces for Lindstrom-Bates: the penalized nonlinear least squares (PNLS) step and the
linearization that turns the model into an LMM.

Per row ``i``: ``y_i = f(phi_i, x_i) + e_i``. Each model parameter ``phi_i[p] = X_p[i] beta_p`` (its own linear
model; ``X_p = 1`` for a constant) plus, for each random-effects term ``t`` (a grouping level; nested groups give
several) that includes ``p``, the effect of the row's level ``b_t[g_t(i), p]``. ``b_t = u_t T_t'``, ``cov(b_t) =
sigma^2 T_t T_t'`` (``T_t`` block diagonal, one block per covariance block, lme4's theta inside each block).

* PNLS at fixed ``T``: minimize ``|y - f(beta, T u)|^2 + sum_t |u_t|^2`` over ``(beta, u)`` by Gauss-Newton in
  one compiled ``lax.while_loop`` (``pnls``), or one Gauss-Newton iteration with nlme's convergence criterion and
  step halving (``pnls_iteration``, the engine's default), with each row's derivatives from one ``jax.vjp`` and the
  normal equations solved blockwise (per level of the first, largest term; the fixed effects and the other terms
  dense).
* With a residual structure (``pnls_iteration_white``), the residuals and their derivatives are whitened first,
  ``Lambda^{-1/2} (y - f)`` (``mixjax.residual.whiten`` at the structure's parameters, held during the step).
* Linearization at ``(beta, b)``: ``J = df/dphi`` (n, P); the LMM has fixed-effects columns ``J[:, p] X_p``,
  random-effects columns ``J[:, t's parameters]`` per term, and pseudo-response ``w = y - f + X beta + sum Z b``.

The compiled functions take the data (``NlmeData``) as arguments and the structure (``NlmeSpec``, hashable) as a
static argument, so refits of the same model shape reuse one compilation.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._config import jit
from ..covariance import BlockDiagonal, Unstructured
from ..linalg.blocked import block_factor, block_solve
from ..residual.bind import whiten

__all__ = ["NlmeData", "NlmeSpec", "TermSpec", "host_factors", "linearize", "phi", "pnls", "pnls_iteration",
           "pnls_iteration_white", "relative_factors"]


class TermSpec(NamedTuple):
    """One random-effects term: covariance ``blocks`` (tuples of parameter indices), ``n_levels`` and the blocks'
    covariance ``structures`` (``mixjax.covariance``; default unstructured each)."""

    blocks: tuple
    n_levels: int
    structures: tuple = ()

    @property
    def params(self) -> tuple:
        return tuple(i for block in self.blocks for i in block)

    @property
    def covs(self) -> tuple:
        return self.structures or tuple(Unstructured(len(b)) for b in self.blocks)

    @property
    def cov(self) -> BlockDiagonal:
        return BlockDiagonal(self.covs)

    @property
    def plain(self) -> bool:
        """Unstructured blocks only (lme4's parametrization inside each block)."""
        return all(isinstance(c, Unstructured) for c in self.covs)

    @property
    def n_theta(self) -> int:
        return sum(c.n_theta for c in self.covs)


class NlmeSpec(NamedTuple):
    """``model(values) -> mean`` (values: name -> array, parameters and data columns), parameter ``names``,
    ``owner`` (the parameter of each fixed-effects coefficient) and the random-effects ``terms`` (largest first)."""

    model: Callable
    names: tuple
    owner: tuple
    terms: tuple

    @property
    def map(self) -> np.ndarray:
        """(coefficients, parameters) 0/1: ``phi = (X * beta) @ map``."""
        return np.eye(len(self.names))[list(self.owner)]


class NlmeData(NamedTuple):
    """``y`` (n,), data ``columns`` (name -> (n,)), ``X`` (n, coefficients) the parameters' fixed-effects columns side
    by side, ``codes`` (one (n,) level code array per term)."""

    y: jax.Array
    columns: dict
    X: jax.Array
    codes: tuple


def _placements(spec: NlmeSpec):
    """Per term, per covariance block: (theta slice, rows, columns) of its entries in the term's ``T``."""
    start = 0
    for term in spec.terms:
        places, off = [], 0
        for block in term.blocks:
            cov = Unstructured(len(block))
            rows, cols = cov.index
            places.append((slice(start, start + cov.n_theta), off + rows, off + cols))
            start, off = start + cov.n_theta, off + len(block)
        yield len(term.params), places


def relative_factors(theta, spec: NlmeSpec) -> list:
    """Per term the block-diagonal ``T_t`` (k_t x k_t) from theta (lme4's column-wise lower triangles, or the
    blocks' structures)."""
    if not all(t.plain for t in spec.terms):
        return _structured_factors(theta, spec)
    out = []
    for k, places in _placements(spec):
        T = jnp.zeros((k, k))
        for part, rows, cols in places:
            T = T.at[rows, cols].set(theta[part])
        out.append(T)
    return out


def _structured_factors(theta, spec: NlmeSpec) -> list:
    out, start = [], 0
    for term in spec.terms:
        out.append(term.cov.factor(theta[start : start + term.n_theta]))
        start += term.n_theta
    return out


def host_factors(theta, spec: NlmeSpec) -> list:
    """``relative_factors`` in numpy (host-side uses; eager JAX costs milliseconds per call)."""
    if not all(t.plain for t in spec.terms):
        return [np.asarray(T) for T in _structured_factors(np.asarray(theta, dtype=float), spec)]
    out = []
    for k, places in _placements(spec):
        T = np.zeros((k, k))
        for part, rows, cols in places:
            T[rows, cols] = theta[part]
        out.append(T)
    return out


def phi(beta, bs, data: NlmeData, spec: NlmeSpec):
    """Each row's parameters (n, P): the fixed part, plus each term's effects of the row's level."""
    out = (jnp.asarray(data.X) * beta) @ spec.map
    for b, codes, term in zip(bs, data.codes, spec.terms):
        out = out.at[:, jnp.array(term.params)].add(b[codes])
    return out


def _f(values, data: NlmeData, spec: NlmeSpec):
    return spec.model({**data.columns, **{name: values[:, j] for j, name in enumerate(spec.names)}})


def _bs(us, theta, spec):
    return [u @ T.T for u, T in zip(us, relative_factors(theta, spec))]


def _pnls_objective(beta, us, theta, data: NlmeData, spec: NlmeSpec, white=None):
    """``|y - f(beta, T u)|^2 + |u|^2`` (``white``: the residuals whitened first, ``|Lambda^{-1/2} r|^2``)."""
    r = data.y - _f(phi(beta, _bs(us, theta, spec), data, spec), data, spec)
    if white is not None:
        r = white(r[:, None])[:, 0]
    return r @ r + sum(jnp.sum(u**2) for u in us)


def _linearize(beta, bs, data: NlmeData, spec: NlmeSpec):
    values, vjp = jax.vjp(lambda p: _f(p, data, spec), phi(beta, bs, data, spec))
    return values, vjp(jnp.ones_like(values))[0]


@partial(jit, static_argnames="spec")
def linearize(beta, bs, data: NlmeData, spec: NlmeSpec):
    """``f`` and its derivatives in each row's own parameters ``phi`` (n, P) at ``(beta, b)`` (rows are
    independent, so one reverse pass gives every row's gradient)."""
    return _linearize(beta, bs, data, spec)


def _dense_term(A, codes, n_levels):
    """A term's columns ``d f / d u_t`` (n, k) as a dense (n, levels * k) block."""
    n, k = A.shape
    cols = codes[:, None] * k + jnp.arange(k)
    return jnp.zeros((n, n_levels * k)).at[jnp.arange(n)[:, None], cols].set(A)


def _whitened(white, r, XJ, A):
    """``Lambda^{-1/2}`` applied to the residuals ``r``, the fixed-effects columns ``XJ`` and each term's columns
    ``A`` at once (one pass over the rows)."""
    sizes = np.cumsum([XJ.shape[1]] + [a.shape[1] for a in A])
    E = white(jnp.concatenate([XJ, *A, r[:, None]], axis=1))
    return E[:, -1], E[:, : sizes[0]], [E[:, a:b] for a, b in zip(sizes[:-1], sizes[1:])]


def _pnls_step(beta, us, theta, data: NlmeData, spec: NlmeSpec, white=None):
    """Gauss-Newton step ``(d_beta, d_us)`` for the PNLS objective, its current value and its minimum on the
    linearized model (``value - g'd`` with ``g`` the right-hand side of the normal equations). The normal equations have
    the random effects' block structure (``linalg.blocked``: per-level blocks for the first term's ``u``, dense for
    ``beta`` and the other terms), so the cost is linear in the number of levels of the first term. ``white``: a
    residual structure's whitening ``E -> Lambda^{-1/2} E`` (n, c), applied to the residuals and their derivatives
    (nlme's ``corFactor`` and ``varWeights``; its groups lie within every term's levels, so each row's derivatives
    stay with its own levels)."""
    Ts = relative_factors(theta, spec)
    f, J = _linearize(beta, [u @ T.T for u, T in zip(us, Ts)], data, spec)
    r = data.y - f
    A = [J[:, jnp.array(term.params)] @ T for term, T in zip(spec.terms, Ts)]  # d f / d u_t per row
    XJ = J[:, jnp.array(spec.owner)] * data.X
    if white is not None:
        r, XJ, A = _whitened(white, r, XJ, A)
    D = jnp.concatenate([XJ]
                        + [_dense_term(a, c, t.n_levels) for a, c, t in zip(A[1:], data.codes[1:], spec.terms[1:])],
                        axis=1)
    penalty = jnp.concatenate([jnp.zeros(len(spec.owner))] + [jnp.ones(u.size) for u in us[1:]])
    level_sum = partial(jax.ops.segment_sum, segment_ids=data.codes[0], num_segments=spec.terms[0].n_levels)
    H11 = level_sum(A[0][:, :, None] * A[0][:, None, :]) + jnp.eye(A[0].shape[1])
    F = block_factor(H11, level_sum(A[0][:, :, None] * D[:, None, :]), D.T @ D + jnp.diag(penalty))
    rest = jnp.concatenate([jnp.zeros(len(spec.owner))] + [u.ravel() for u in us[1:]])
    g1, g2 = level_sum(A[0] * r[:, None]) - us[0], D.T @ r - rest
    d_u1, d_rest = block_solve(F, g1, g2)
    d_us, off = [d_u1], len(spec.owner)
    for u in us[1:]:
        d_us.append(d_rest[off : off + u.size].reshape(u.shape))
        off += u.size
    ss = r @ r + sum(jnp.sum(u**2) for u in us)
    return d_rest[: len(spec.owner)], d_us, ss, ss - jnp.sum(d_u1 * g1) - d_rest @ g2


def _biggest(arrays):
    return jnp.max(jnp.stack([jnp.max(jnp.abs(a), initial=0.0) for a in arrays]))


@partial(jit, static_argnames=("spec", "max_iter"))
def pnls(beta, us, theta, data: NlmeData, spec: NlmeSpec, max_iter: int = 100):
    """Minimize ``|y - f|^2 + |u|^2`` over ``(beta, u)`` at fixed ``theta``: Gauss-Newton steps, each halved until
    the objective does not increase, until a step moves nothing by more than 1e-10 (relative); one compiled
    loop. Returns ``(beta, us, iterations)``."""

    def body(state):
        beta, us, it, _ = state
        d_beta, d_us, ss, _ = _pnls_step(beta, us, theta, data, spec)

        def worse(t):
            moved = _pnls_objective(beta + t * d_beta, [u + t * d for u, d in zip(us, d_us)], theta, data, spec)
            return ~(moved <= ss) & (t >= 1e-10)  # a non-finite objective is worse too

        t = jax.lax.while_loop(worse, lambda t: 0.5 * t, 1.0)
        t = jnp.where(worse(t) | ~jnp.isfinite(ss), 0.0, t)  # no step decreases the objective: stay
        moved = t * _biggest([d_beta, *d_us]) >= 1e-10 * (1.0 + _biggest([beta, *us]))
        return beta + t * d_beta, [u + t * d for u, d in zip(us, d_us)], it + 1, moved

    beta, us, it, _ = jax.lax.while_loop(lambda s: s[3] & (s[2] < max_iter), body, (beta, us, 0, True))
    return beta, us, it


def _pnls_iteration(beta, us, theta, factor, tol, data: NlmeData, spec: NlmeSpec, white=None):
    d_beta, d_us, ss, s_lin = _pnls_step(beta, us, theta, data, spec, white)
    n_par = len(spec.owner) + sum(u.size for u in us)
    nrdof = data.y.shape[0] - n_par
    crit = jnp.sqrt(nrdof * jnp.maximum(ss - s_lin, 0.0) / (n_par * s_lin))
    search = (crit >= tol) & jnp.isfinite(ss) & jnp.isfinite(crit)

    def worse(t):
        moved = _pnls_objective(beta + t * d_beta, [u + t * d for u, d in zip(us, d_us)], theta, data, spec, white)
        return search & ~(moved < ss) & (t >= 1e-10)  # a non-finite objective is worse too

    t = jax.lax.while_loop(worse, lambda t: 0.5 * t, jnp.asarray(factor, dtype=beta.dtype))
    t = jnp.where(search & (t >= 1e-10), t, 0.0)  # the loop ends above 1e-10 only where S decreased
    t = jnp.where(t * _biggest([d_beta, *d_us]) >= 1e-10 * (1.0 + _biggest([beta, *us])), t, 0.0)  # or negligible
    factor = jnp.where(t > 0, jnp.minimum(1.0, 2.0 * t), factor)
    return beta + t * d_beta, [u + t * d for u, d in zip(us, d_us)], factor, crit, t


@partial(jit, static_argnames="spec")
def pnls_iteration(beta, us, theta, factor, tol, data: NlmeData, spec: NlmeSpec):
    """One iteration of nlme's PNLS (``nlme_iterate`` in nlme's C code) at fixed ``theta``: the Gauss-Newton increment
    and nlme's convergence criterion, the relative offset ``sqrt(nrdof (S - S_lin) / (n_par S_lin))`` (``S`` the
    penalized sum of squares, ``S_lin`` its minimum on the linearized model, ``n_par`` the fixed and random
    coefficients, ``nrdof = n - n_par``). Below ``tol`` nothing moves; else the step, from ``factor`` of the full
    increment, is halved until ``S`` decreases (down to 1e-10), and the next iteration starts from twice the accepted
    fraction (at most 1), as nlme. Returns ``(beta, us, factor, criterion, step)``: ``step`` the accepted fraction,
    0 where nothing moved (the criterion is below ``tol``, or no step decreases ``S``, or the step would move nothing
    by more than 1e-10, relative)."""
    return _pnls_iteration(beta, us, theta, factor, tol, data, spec)


@partial(jit, static_argnames=("spec", "bound"))
def pnls_iteration_white(beta, us, theta, factor, tol, rho, arrays, data: NlmeData, spec: NlmeSpec, bound):
    """``pnls_iteration`` on the residuals whitened by a residual structure (``mixjax.residual``: ``bound`` and
    ``arrays``) at its parameters ``rho``, held during the step as nlme holds ``corFactor`` and ``varWeights``
    during its PNLS step: the penalized sum of squares is ``|Lambda^{-1/2} (y - f)|^2 + |u|^2``."""
    return _pnls_iteration(beta, us, theta, factor, tol, data, spec, lambda E: whiten(rho, E, arrays, bound)[0])
