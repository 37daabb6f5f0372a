"""Marginal log-likelihood of a generalized linear mixed model, by Laplace or adaptive Gauss-Hermite quadrature.

Parameters ``psi = [theta, beta, family parameters]``. With spherical random effects ``u ~ N(0, I)``,
``b = Lambda(theta) u`` and ``eta = X beta + offset + Z Lambda u``, the penalized log-likelihood is
``h(u) = sum_i w_i log p(y_i | eta_i) - |u|^2 / 2``. Its mode ``u*`` is found by Newton's method (PIRLS with the
observed information, clipped at 0 so that every step is a descent step; halving until ``h`` does not drop).
With ``H = Lambda'Z' W Z Lambda + I`` (``W``: minus the second derivative of the log-density in ``eta``):

    Laplace: log L = h(u*) - log|H(u*)| / 2
    AGHQ:    log L = sum_g log( |L_g|^{-1} sum_j w_j exp(h_g(u*_g + L_g^{-T} z_j) + |z_j|^2 / 2) ) - k/2 log(2 pi)

(``H_g = L_g L_g'`` per level; ``z_j``, ``w_j``: the product Gauss-Hermite rule for the weight ``exp(-|z|^2/2)``,
``nagq`` points per dimension). Both are the true marginal log-likelihood with every constant, and AGHQ with one
point is Laplace. Derivatives in ``psi`` are exact: the mode enters as two Newton steps from the converged
(gradient-stopped) mode, whose first and second derivatives equal those of the implicit function ``u*(psi)``.

``H`` is factored blockwise (``linalg.blocked``): block diagonal for the first (largest) term, dense for the rest.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..families import Family, Response
from ..linalg.blocked import BlockFactor, block_factor, block_logdet, block_solve
from .lmm import _factors

__all__ = ["GlmmSpec", "GlmmData", "GlmmObjective", "make_glmm", "gauss_hermite"]

MAX_DENSE_COUPLING = 50_000_000  # entries of the dense (levels of term 1) x (other random effects) block


class GlmmSpec(NamedTuple):
    """Static structure: the family, columns ``ks`` and ``levels`` per term, ``p``, family parameters, ``nagq``."""

    family: Family
    ks: tuple
    levels: tuple
    p: int
    n_family: int
    nagq: int

    @property
    def n_theta(self) -> int:
        return sum(k * (k + 1) // 2 for k in self.ks)

    @property
    def qr(self) -> int:
        return sum(l * k for l, k in zip(self.levels[1:], self.ks[1:]))

    @property
    def rest_offsets(self) -> tuple:
        return tuple(int(o) for o in np.cumsum([0] + [l * k for l, k in zip(self.levels[1:], self.ks[1:])])[:-1])


class GlmmData(NamedTuple):
    """Arrays: response ``y``, binomial ``trials``, prior ``weights``, ``X``, ``offset``; per term level ``codes``
    and columns ``Z``; ``nodes`` (J, k) and ``log_weights`` (J,) of the quadrature rule."""

    y: jax.Array
    trials: jax.Array
    weights: jax.Array
    X: jax.Array
    offset: jax.Array
    codes: tuple
    Z: tuple
    nodes: jax.Array
    log_weights: jax.Array


def gauss_hermite(nagq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Product Gauss-Hermite rule for ``integral f(z) exp(-|z|^2/2) dz`` over R^k: nodes (nagq^k, k), log weights."""
    x, w = np.polynomial.hermite_e.hermegauss(nagq)
    grids = np.meshgrid(*[np.arange(nagq)] * k, indexing="ij")
    index = np.stack([g.ravel() for g in grids], axis=1)
    return x[index], np.log(w)[index].sum(axis=1)


# ------------------------------------------------------------------------------------------ pieces


def _unpack(psi, spec: GlmmSpec):
    nt, p = spec.n_theta, spec.p
    return psi[:nt], psi[nt : nt + p], psi[nt + p :]


def _rest(ur, spec: GlmmSpec):
    """The other terms' random effects as (levels, k) arrays."""
    return [ur[o : o + l * k].reshape(l, k) for o, l, k in zip(spec.rest_offsets, spec.levels[1:], spec.ks[1:])]


def _eta(fixed, A, u1, ur, data: GlmmData, spec: GlmmSpec):
    eta = fixed + jnp.sum(A[0] * u1[data.codes[0]], axis=1)
    for At, ut, codes in zip(A[1:], _rest(ur, spec), data.codes[1:]):
        eta = eta + jnp.sum(At * ut[codes], axis=1)
    return eta


def _rows(eta, fam, data: GlmmData, spec: GlmmSpec):
    """Each row's weighted log-density."""
    return data.weights * spec.family.logpdf(Response(data.y, data.trials, data.weights), eta, fam)


def _derivs(eta, fam, data, spec):
    """First derivative and minus the second derivative of each row's log-density in eta."""
    d1, d2 = jax.jvp(jax.grad(lambda e: jnp.sum(_rows(e, fam, data, spec))), (eta,), (jnp.ones_like(eta),))
    return d1, -d2


def _gradient(d1, A, u1, ur, data, spec):
    g1 = jax.ops.segment_sum(d1[:, None] * A[0], data.codes[0], num_segments=spec.levels[0]) - u1
    gr = [jax.ops.segment_sum(d1[:, None] * At, c, num_segments=l).ravel()
          for At, c, l in zip(A[1:], data.codes[1:], spec.levels[1:])]
    return g1, (jnp.concatenate(gr) if gr else jnp.zeros(0)) - ur


def _hessian(d2, A, data, spec):
    """Blocks of ``H = Lambda'Z' diag(d2) Z Lambda + I``: (l1, k1, k1), (l1, k1, qr), (qr, qr)."""
    l1, k1, qr = spec.levels[0], spec.ks[0], spec.qr
    A1 = A[0]
    H11 = jax.ops.segment_sum(d2[:, None, None] * A1[:, :, None] * A1[:, None, :], data.codes[0], num_segments=l1)
    H11 = H11 + jnp.eye(k1)
    if not qr:
        return H11, jnp.zeros((l1, k1, 0)), jnp.zeros((0, 0))
    cols = [o + c[:, None] * k + jnp.arange(k) for o, c, k in zip(spec.rest_offsets, data.codes[1:], spec.ks[1:])]
    H1r = jnp.zeros((l1 * qr, k1))
    for col, At in zip(cols, A[1:]):
        vals = d2[:, None, None] * At[:, :, None] * A1[:, None, :]
        H1r = H1r + jax.ops.segment_sum(vals.reshape(-1, k1), (data.codes[0][:, None] * qr + col).ravel(),
                                        num_segments=l1 * qr)
    Hrr = jnp.eye(qr).ravel()
    for col_a, Aa in zip(cols, A[1:]):
        for col_b, Ab in zip(cols, A[1:]):
            vals = d2[:, None, None] * Aa[:, :, None] * Ab[:, None, :]
            Hrr = Hrr + jax.ops.segment_sum(vals.ravel(), (col_a[:, :, None] * qr + col_b[:, None, :]).ravel(),
                                            num_segments=qr * qr)
    return H11, H1r.reshape(l1, qr, k1).transpose(0, 2, 1), Hrr.reshape(qr, qr)


def _penalized(rows, u1, ur):
    return jnp.sum(rows) - 0.5 * (jnp.sum(u1**2) + jnp.sum(ur**2))


def _newton_step(u1, ur, fixed, A, fam, data, spec, clip: bool):
    """Newton direction for the mode at ``u``: (d1_u, dr_u, h(u), decrement g'H^{-1}g, factor of H)."""
    eta = _eta(fixed, A, u1, ur, data, spec)
    d1, d2 = _derivs(eta, fam, data, spec)
    F = block_factor(*_hessian(jnp.maximum(d2, 0.0) if clip else d2, A, data, spec))
    g1, gr = _gradient(d1, A, u1, ur, data, spec)
    s1, sr = block_solve(F, g1, gr)
    h = _penalized(_rows(eta, fam, data, spec), u1, ur)
    return s1, sr, h, jnp.sum(g1 * s1) + jnp.sum(gr * sr), F


def _mode(psi, data: GlmmData, spec: GlmmSpec, max_iter: int = 200):
    """The conditional mode ``u*`` (``(l1, k1)`` and ``(qr,)`` parts) by damped Newton from 0."""
    theta, beta, fam = _unpack(psi, spec)
    A = [Z @ T for Z, T in zip(data.Z, _factors(theta, spec.ks))]
    fixed = data.X @ beta + data.offset

    def h_at(u1, ur):
        return _penalized(_rows(_eta(fixed, A, u1, ur, data, spec), fam, data, spec), u1, ur)

    def body(state):
        u1, ur, it, _ = state
        s1, sr, h, dec, _ = _newton_step(u1, ur, fixed, A, fam, data, spec, clip=True)
        tol = 1e-12 * (1.0 + jnp.abs(h))
        step = jax.lax.while_loop(
            lambda t: ~(h_at(u1 + t * s1, ur + t * sr) >= h - tol) & (t > 1e-6), lambda t: 0.5 * t, 1.0
        )
        return u1 + step * s1, ur + step * sr, it + 1, dec

    def cond(state):
        _, _, it, dec = state
        return (it < max_iter) & (dec > 1e-11)

    u1 = jnp.zeros((spec.levels[0], spec.ks[0]))
    ur = jnp.zeros(spec.qr)
    u1, ur, it, dec = jax.lax.while_loop(cond, body, (u1, ur, 0, jnp.inf))
    return u1, ur


def _loglik_at_mode(psi, u1, ur, data: GlmmData, spec: GlmmSpec):
    """The marginal log-likelihood, the mode entering through two exact Newton steps from ``stop_gradient(u)``.
    Also returns the refined mode and the factor of ``H`` there."""
    theta, beta, fam = _unpack(psi, spec)
    A = [Z @ T for Z, T in zip(data.Z, _factors(theta, spec.ks))]
    fixed = data.X @ beta + data.offset
    u1, ur = jax.lax.stop_gradient(u1), jax.lax.stop_gradient(ur)
    for _ in range(2):
        s1, sr, *_ = _newton_step(u1, ur, fixed, A, fam, data, spec, clip=False)
        u1, ur = u1 + s1, ur + sr
    eta = _eta(fixed, A, u1, ur, data, spec)
    d1, d2 = _derivs(eta, fam, data, spec)
    F = block_factor(*_hessian(d2, A, data, spec))
    if spec.nagq == 1:
        return _penalized(_rows(eta, fam, data, spec), u1, ur) - 0.5 * block_logdet(F), (u1, ur, F)
    return _aghq(fixed, A[0], u1, F, fam, data, spec), (u1, ur, F)


def _aghq(fixed, A1, u1, F: BlockFactor, fam, data: GlmmData, spec: GlmmSpec):
    """Adaptive Gauss-Hermite quadrature over the levels of the single term (see the module docstring)."""
    k = spec.ks[0]
    U = u1[:, None, :] + jnp.einsum("gba,jb->gja", F.L1inv, data.nodes)  # u* + L^{-T} z_j: (levels, J, k)

    def node_rows(Uj):  # rows' log-densities summed per level, at one node
        eta = fixed + jnp.sum(A1 * Uj[data.codes[0]], axis=1)
        return jax.ops.segment_sum(_rows(eta, fam, data, spec), data.codes[0], num_segments=spec.levels[0])

    S = jax.lax.map(jax.checkpoint(node_rows), U.transpose(1, 0, 2)).T  # (levels, J)
    S = S - 0.5 * jnp.sum(U**2, axis=2) + 0.5 * jnp.sum(data.nodes**2, axis=1) + data.log_weights
    log_det_l = jnp.sum(jnp.log(jnp.diagonal(F.L1, axis1=1, axis2=2)), axis=1)
    return jnp.sum(jax.scipy.special.logsumexp(S, axis=1) - log_det_l) - 0.5 * k * spec.levels[0] * np.log(2 * np.pi)


# ------------------------------------------------------------------------------------------ compiled entry points


def _deviance_at(psi, u1, ur, data, spec):
    return -2.0 * _loglik_at_mode(psi, u1, ur, data, spec)[0]


@partial(jax.jit, static_argnames="spec")
def deviance(psi, data: GlmmData, spec: GlmmSpec):
    """``-2 log L(psi)``."""
    return _deviance_at(psi, *_mode(psi, data, spec), data, spec)


@partial(jax.jit, static_argnames="spec")
def value_grad_hess(psi, data: GlmmData, spec: GlmmSpec):
    """``-2 log L``, its exact gradient and Hessian in ``psi``."""
    u1, ur = _mode(psi, data, spec)
    grad = jax.grad(_deviance_at)
    return (_deviance_at(psi, u1, ur, data, spec), grad(psi, u1, ur, data, spec),
            jax.jacfwd(grad)(psi, u1, ur, data, spec))


@partial(jax.jit, static_argnames="spec")
def conditional(psi, data: GlmmData, spec: GlmmSpec):
    """The mode ``(u1, ur)`` and the factor of ``H`` there (for ``ranef`` and conditional variances)."""
    return _loglik_at_mode(psi, *_mode(psi, data, spec), data, spec)[1]


class GlmmObjective(NamedTuple):
    """``-2 log L`` of one design as a pure function of ``psi = [theta, beta, family parameters]``:
    ``deviance(psi)``, ``value_grad_hess(psi)``; ``lower`` bounds, ``start`` values and ``names`` of psi."""

    data: GlmmData
    spec: GlmmSpec
    response: Response
    lower: np.ndarray
    start: np.ndarray
    names: list

    def deviance(self, psi):
        return deviance(np.asarray(psi, dtype=np.float64), self.data, self.spec)

    def value_grad_hess(self, psi):
        return value_grad_hess(np.asarray(psi, dtype=np.float64), self.data, self.spec)

    def conditional(self, psi):
        return conditional(np.asarray(psi, dtype=np.float64), self.data, self.spec)


def _start_beta(X: np.ndarray, family: Family, resp: Response) -> tuple[np.ndarray, np.ndarray]:
    """beta with the intercept (if any) at the link of the mean response and the others 0; the mean response."""
    beta = np.zeros(X.shape[1])
    mean = float(np.sum(resp.y) / np.sum(resp.trials))
    ones = np.flatnonzero(np.all(X == 1.0, axis=0))
    if ones.size and family.has_intercept:
        m = np.clip(mean, 1e-3, 1 - 1e-3) if family.name == "binomial" else mean
        beta[ones[0]] = np.nan_to_num(float(family.link.link(jnp.asarray(m))))
    return beta, np.full(len(resp.y), mean)


def make_glmm(design, family: Family, resp: Response, nagq: int = 1) -> GlmmObjective:
    """Build the objective. ``resp`` is ``family.response(...)`` of the design's response."""
    terms = design.terms
    spec = GlmmSpec(family, tuple(t.k for t in terms), tuple(t.n_levels for t in terms), design.p,
                    len(family.param_names(resp)), int(nagq))
    if spec.levels[0] * spec.ks[0] * spec.qr > MAX_DENSE_COUPLING:
        raise ValueError(
            f"the random-effects terms couple {spec.levels[0] * spec.ks[0]} effects of {terms[0].group!r} with "
            f"{spec.qr} others: a dense block of {spec.levels[0] * spec.ks[0] * spec.qr:,} entries, more than "
            f"{MAX_DENSE_COUPLING:,}. Such large crossed GLMMs are not supported yet."
        )
    nodes, log_w = gauss_hermite(nagq, terms[0].k)
    offset = np.zeros(design.n_obs) if design.offset is None else design.offset
    data = GlmmData(*jax.device_put((resp.y, resp.trials, resp.weights, design.X, offset,
                                     tuple(t.codes for t in terms), tuple(t.Z for t in terms), nodes, log_w)))
    beta0, mu0 = _start_beta(design.X, family, resp)
    fam0 = family.param_start(resp, mu0)
    start = np.concatenate([design.theta_start, beta0, fam0])
    lower = np.concatenate([design.theta_lower, np.full(design.p + len(fam0), -np.inf)])
    names = design.theta_names + list(design.xnames) + family.param_names(resp)
    return GlmmObjective(data, spec, resp, lower, start, names)
