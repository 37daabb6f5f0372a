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
(gradient-stopped) mode with ``H^{-1}`` there held constant, whose first and second derivatives equal those of the
implicit function ``u*(psi)`` (``_loglik_at_mode``).

``H`` is factored blockwise (``linalg.blocked``): block diagonal for the first (largest) term, dense for the rest.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._config import jit
from .._exported import DiskCached
from ..families import Family, Response
from ..linalg.blocked import BlockFactor, block_factor, block_logdet, block_solve
from ..optim import trust_region
from ..optim.implicit import argmin
from ..optim.newton import Solution, solution, start
from .glmm_buckets import Padded, pad
from .lmm import _factors

__all__ = ["GlmmSpec", "GlmmData", "GlmmObjective", "make_glmm", "gauss_hermite"]

HESSIAN_BY_COLUMNS_ROWS = 100_000  # above this many rows the Hessian is formed one column at a time (memory)
FORWARD_GRADIENT_ROWS = 4_096  # one random term and at most this many rows: a forward gradient (``value_grad_hess``)
MAX_DENSE_COUPLING = 50_000_000  # entries of the dense (levels of term 1) x (other random effects) block


class GlmmSpec(NamedTuple):
    """Static structure: the family, covariance structures ``covs`` and ``levels`` per term, ``p``, family
    parameters, ``nagq``."""

    family: Family
    covs: tuple
    levels: tuple
    p: int
    n_family: int
    nagq: int
    hessian_by_columns: bool = False

    @property
    def ks(self) -> tuple:
        return tuple(c.k for c in self.covs)

    @property
    def n_theta(self) -> int:
        return sum(c.n_theta for c in self.covs)

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
    zi: jax.Array | None = None  # designs of the distributional linear predictors (``Response.zi``, ``.disp``)
    disp: jax.Array | None = None

    @property
    def response(self) -> Response:
        return Response(self.y, self.trials, self.weights, (), self.zi, self.disp)


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


def _linear_parts(psi, data: GlmmData, spec: GlmmSpec):
    """Per term ``Z_t T_t`` (rows of ``Z Lambda``), the fixed part ``X beta + offset`` and the family parameters."""
    theta, beta, fam = _unpack(psi, spec)
    return [Z @ T for Z, T in zip(data.Z, _factors(theta, spec.covs))], data.X @ beta + data.offset, fam


def _rest(ur, spec: GlmmSpec):
    """The other terms' random effects as (levels, k) arrays."""
    return [ur[o : o + l * k].reshape(l, k) for o, l, k in zip(spec.rest_offsets, spec.levels[1:], spec.ks[1:])]


def _eta(fixed, A, u1, ur, data: GlmmData, spec: GlmmSpec):
    eta = fixed + jnp.sum(A[0] * u1[data.codes[0]], axis=1)
    for At, ut, codes in zip(A[1:], _rest(ur, spec), data.codes[1:]):
        eta = eta + jnp.sum(At * ut[codes], axis=1)
    return eta


def _rows(eta, fam, data: GlmmData, spec: GlmmSpec, kernel: bool = False):
    """Each row's weighted log-density; ``kernel``: without the terms that depend on the data and the family
    parameters only (enough for finding the mode, where those are fixed)."""
    logpdf = spec.family.kernel if kernel else spec.family.logpdf
    return data.weights * logpdf(data.response, eta, fam)


def _derivs(eta, fam, data, spec):
    """First derivative and minus the second derivative of each row's log-density in eta."""
    ones = jnp.ones_like(eta)  # each row's log-density depends on its own eta: forward derivatives along ones

    def first(e):
        return jax.jvp(lambda x: _rows(x, fam, data, spec, kernel=True), (e,), (ones,))[1]

    d1, d2 = jax.jvp(first, (eta,), (ones,))
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
    """Newton step for the mode at ``u``: (step for u1, step for ur, decrement g'H^{-1}g)."""
    eta = _eta(fixed, A, u1, ur, data, spec)
    d1, d2 = _derivs(eta, fam, data, spec)
    F = block_factor(*_hessian(jnp.maximum(d2, 0.0) if clip else d2, A, data, spec))
    g1, gr = _gradient(d1, A, u1, ur, data, spec)
    s1, sr = block_solve(F, g1, gr)
    return s1, sr, jnp.sum(g1 * s1) + jnp.sum(gr * sr)


def _mode(psi, u1, ur, data: GlmmData, spec: GlmmSpec, max_iter: int = 200):
    """The conditional mode ``u*`` (``(l1, k1)`` and ``(qr,)`` parts) by damped Newton from ``(u1, ur)``."""
    A, fixed, fam = _linear_parts(psi, data, spec)

    def h_at(u1, ur):
        return _penalized(_rows(_eta(fixed, A, u1, ur, data, spec), fam, data, spec, kernel=True), u1, ur)

    def body(state):
        u1, ur, h, it, _ = state
        s1, sr, dec = _newton_step(u1, ur, fixed, A, fam, data, spec, clip=True)
        tol = 1e-12 * (1.0 + jnp.abs(h))

        def halve(search):
            t = 0.5 * search[0]
            return t, h_at(u1 + t * s1, ur + t * sr)

        t, h_new = jax.lax.while_loop(lambda c: ~(c[1] >= h - tol) & (c[0] > 1e-6), halve,
                                      (1.0, h_at(u1 + s1, ur + sr)))
        return u1 + t * s1, ur + t * sr, h_new, it + 1, dec

    def cond(state):
        return (state[3] < max_iter) & (state[4] > 1e-11)

    u1, ur, *_ = jax.lax.while_loop(cond, body, (u1, ur, h_at(u1, ur), 0, jnp.inf))
    return u1, ur


def _zeros(spec: GlmmSpec):
    return jnp.zeros((spec.levels[0], spec.ks[0])), jnp.zeros(spec.qr)


def _loglik_at_mode(psi, u1, ur, data: GlmmData, spec: GlmmSpec):
    """The marginal log-likelihood, the mode entering through two Newton steps from ``stop_gradient(u)`` whose
    matrix ``M = H^{-1}`` at the mode is held constant. Also returns the refined mode and the factor of ``H`` there.

    With ``u1 = u0 + M g(u0, psi)`` and ``u2 = u1 + M g(u1, psi)`` (``g``: the gradient of ``h`` in ``u``, zero at
    the mode ``u0``; ``-dg/du = H = M^{-1}`` there), ``u2' = M g_psi`` and ``u2'' = M (g_uu[u', u'] + 2 g_upsi u' +
    g_psipsi)``: the first and second derivatives of the implicit ``u*(psi)`` (the terms in ``u1''`` cancel through
    ``M H = I``). So the steps need no derivative of ``H`` or its factor: only the log-determinant's factor is
    differentiated."""
    A, fixed, fam = _linear_parts(psi, data, spec)
    stop = jax.lax.stop_gradient
    u1, ur = stop(u1), stop(ur)
    d2 = _derivs(_eta(fixed, A, u1, ur, data, spec), fam, data, spec)[1]
    M = stop(block_factor(*_hessian(d2, A, data, spec)))
    for _ in range(2):
        d1 = _derivs(_eta(fixed, A, u1, ur, data, spec), fam, data, spec)[0]
        s1, sr = block_solve(M, *_gradient(d1, A, u1, ur, data, spec))
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
    padded = jnp.all(data.X == 0.0, axis=0)  # fixed-effect columns added by size buckets (``glmm_buckets``): held
    # at their bound 0 by a gradient of 1; a design has no all-zero column, so this adds 0
    return -2.0 * _loglik_at_mode(psi, u1, ur, data, spec)[0] + jnp.sum(jnp.where(padded, _unpack(psi, spec)[1], 0.0))


@partial(jit, static_argnames="spec")
def deviance(psi, data: GlmmData, spec: GlmmSpec):
    """``-2 log L(psi)``, differentiable to second order in ``psi`` and the data (the mode's iterations see neither
    derivative: two Newton steps from it carry them, ``_loglik_at_mode``)."""
    stop = jax.lax.stop_gradient
    return _deviance_at(psi, *_mode(stop(psi), *_zeros(spec), stop(data), spec), data, spec)


@partial(jit, static_argnames="spec")
def value_grad_hess(psi, u1, ur, data: GlmmData, spec: GlmmSpec):
    """``-2 log L``, its exact gradient and Hessian in ``psi``, and the mode (the inner Newton iterations start
    from ``(u1, ur)``, e.g. the previous mode; the values do not depend on it)."""
    u1, ur = _mode(psi, u1, ur, data, spec)
    deviance_at = partial(_deviance_at, u1=u1, ur=ur, data=data, spec=spec)
    # one random term on few rows: the gradient is taken forward as well (forward over forward: no reverse pass to
    # trace, transpose and differentiate again): the tobit's Hessian compiles in 2.9 s instead of 5.1 s, the wine's
    # in 1.9 s instead of 2.9 s, and runs as fast. On many rows, or with crossed terms (a dense block factored
    # once per pair of parameters), the reverse gradient wins: grouseticks' fit took 1.27 s instead of 0.26 s
    forward = spec.qr == 0 and data.y.shape[0] <= FORWARD_GRADIENT_ROWS

    def grad_and_value(p):
        if forward:
            g, f = jax.jacfwd(lambda q: (lambda v: (v, v))(deviance_at(q)), has_aux=True)(p)
        else:
            f, g = jax.value_and_grad(deviance_at)(p)
        return g, (f, g)

    if spec.hessian_by_columns:  # one forward-mode column at a time: memory of one tangent, for large data
        f, g = grad_and_value(psi)[1]
        H = jax.lax.map(lambda v: jax.jvp(lambda p: grad_and_value(p)[0], (psi,), (v,))[1], jnp.eye(psi.shape[0]))
    else:  # value and gradient ride along with the Hessian's forward pass (one copy of the program)
        H, (f, g) = jax.jacfwd(grad_and_value, has_aux=True)(psi)
    return f, g, H, u1, ur


def _describe(spec: GlmmSpec) -> str:
    """``spec`` as text that is the same in every process: the family by its name and link."""
    return repr(spec._replace(family=(spec.family.name, spec.family.link.name)))


# XLA's classic emitters up to 4 MiB of arguments: VerbAgg's loop (2 MB) compiles in 4.3 s instead of 5.3-5.6 s and
# runs in 2.7-2.9 s instead of 3.4 s
@partial(jit, static_argnames="spec", fast_compile=True, classic_below=4 << 20)
def newton(psi0, lower, radius0, max_iter, u1, ur, data: GlmmData, spec: GlmmSpec):
    """The whole trust-region Newton minimization of ``-2 log L`` from ``psi0`` as one compiled loop, each
    evaluation's inner iterations starting from the last finite one's mode. Returns the final state and mode."""
    def vgh(psi, mode):
        f, g, H, u1, ur = value_grad_hess(psi, *mode, data, spec)
        return f, g, H, (u1, ur)

    return trust_region.loop(vgh, psi0, lower, radius0, (u1, ur), max_iter=max_iter)


_value_grad_hess_cached = DiskCached(value_grad_hess, _describe)  # a new process loads them instead of tracing
_newton_cached = DiskCached(newton, _describe, notice="the GLMM fit")


@partial(jit, static_argnames="spec")
def value_grad(psi, u1, ur, data: GlmmData, spec: GlmmSpec):
    """``-2 log L`` and its exact gradient, and the mode (inner iterations from ``(u1, ur)``)."""
    u1, ur = _mode(psi, u1, ur, data, spec)
    f, g = jax.value_and_grad(_deviance_at)(psi, u1, ur, data, spec)
    return f, g, u1, ur


@partial(jit, static_argnames="spec")
def conditional(psi, data: GlmmData, spec: GlmmSpec):
    """The mode ``(u1, ur)`` and the factor of ``H`` there (for ``ranef`` and conditional variances)."""
    return _loglik_at_mode(psi, *_mode(psi, *_zeros(spec), data, spec), data, spec)[1]


class GlmmObjective(NamedTuple):
    """``-2 log L`` of one design as a pure function of ``psi = [theta, beta, family parameters]``:
    ``deviance(psi)``, ``value_grad_hess(psi)``; ``lower`` bounds, ``start`` values and ``names`` of psi."""

    data: GlmmData
    spec: GlmmSpec
    response: Response
    lower: np.ndarray
    start: np.ndarray
    names: list
    last_mode: dict  # the mode of the latest value_grad_hess call, where the next one starts its inner iterations

    @property
    def fn(self):
        """``fn(psi, data)``: ``-2 log L`` as a pure function of the parameters and the data pytree."""
        return partial(deviance, spec=self.spec)

    def data_with(self, y=None, weights=None) -> GlmmData:
        """``data`` with another response (``Response.y``: successes for binomial) and/or prior weights."""
        return self.data._replace(**{k: jnp.asarray(v, dtype=jnp.float64) for k, v in
                                     (("y", y), ("weights", weights)) if v is not None})

    def deviance(self, psi):
        return deviance(psi if isinstance(psi, jax.Array) else np.asarray(psi, dtype=np.float64), self.data, self.spec)

    def argmin(self, data: GlmmData, start=None):
        """The minimizing ``psi`` for ``data`` (e.g. ``data_with(weights=w)``): the compiled Newton loop from
        ``start`` (default ``self.start``), differentiable in ``data`` by the implicit function theorem."""
        x0 = np.maximum(self.start if start is None else np.asarray(start, dtype=np.float64), self.lower)
        solve = lambda d: newton(x0, self.lower, np.float64(0.5), np.int32(300), *_zeros(self.spec), d,  # noqa: E731
                                 self.spec)[0].x
        return argmin(solve, self.fn, self.lower)(data)

    def _warm(self, fn, psi):
        out = fn(np.asarray(psi, dtype=np.float64), *self.last_mode["u"], self.data, spec=self.spec)
        if np.isfinite(float(out[0])):
            self.last_mode["u"] = out[-2:]
        return out[:-2]

    def value_grad_hess(self, psi):
        return self._warm(_value_grad_hess_cached, psi)

    def value_grad(self, psi):
        return self._warm(value_grad, psi)

    def bucketed(self) -> Padded | None:
        """The data padded to size buckets (``glmm_buckets``), or None where the model is not padded."""
        if self.last_mode.get("bucketed_from") is not self.data:  # the objective's data may be replaced
            self.last_mode["bucketed"] = pad(self.data, self.spec)
            self.last_mode["bucketed_from"] = self.data
            self.last_mode.pop("u_bucketed", None)  # a mode of other padded shapes
        return self.last_mode["bucketed"]

    def minimize(self, psi0, *, radius0: float | None = None, max_iter: int = 300) -> Solution:
        """Trust-region Newton on the exact gradient and Hessian from ``psi0`` (``mixjax.optim.trust_region``), one
        compiled call (on data padded to size buckets where the model is small: the same iterations).
        ``radius0``: the first trust radius (default ``max(1, |psi0|)``)."""
        psi0, radius0 = start(psi0, self.lower, radius0)
        padded = self.bucketed()
        if padded is None:
            state, mode = _newton_cached(psi0, self.lower, radius0, np.int32(max_iter), *self.last_mode["u"],
                                         self.data, spec=self.spec)
            self.last_mode["u"] = mode
            return solution(state, self.lower, max_iter)
        index, size = padded.index, padded.spec.n_theta + padded.spec.p + padded.spec.n_family
        x0, lower = np.zeros(size), np.zeros(size)  # added fixed effects: held at 0 (``glmm_buckets``)
        x0[index], lower[index] = psi0, self.lower
        mode = self.last_mode.get("u_bucketed", _zeros(padded.spec))
        state, self.last_mode["u_bucketed"] = _newton_cached(x0, lower, radius0, np.int32(max_iter), *mode,
                                                             padded.data, spec=padded.spec)
        state = jax.device_get(state)
        state = state._replace(x=state.x[index], g=state.g[index], H=state.H[np.ix_(index, index)])
        return solution(state, self.lower, max_iter)

    def conditional(self, psi):
        return conditional(np.asarray(psi, dtype=np.float64), self.data, self.spec)


@partial(jit, static_argnames="family")
def _glm_terms(eta, resp: Response, params, family: Family):
    """Log-likelihood kernel of a GLM at ``eta``, its first derivatives and minus its second derivatives."""
    total = lambda e: jnp.sum(resp.weights * family.kernel(resp, e, params))  # noqa: E731
    d1, d2 = jax.jvp(jax.grad(total), (eta,), (jnp.ones_like(eta),))
    return total(eta), d1, -d2


@partial(jit, static_argnames="family")
def _link(mu, family: Family):
    return family.link.link(mu)  # one compiled call: eager jnp operations compile one program each (~35 ms)


@partial(jit, static_argnames="family")
def _mean(eta, params, family: Family):
    return family.mean(eta, params)


def glm_start(X: np.ndarray, offset: np.ndarray, family: Family, resp: Response, iterations: int = 8):
    """Start values of beta and the family parameters: a few damped Newton steps for the generalized linear
    model without random effects (lme4 starts from glm's fit), from the intercept at the link of the mean."""
    beta = np.zeros(X.shape[1])
    mean = float(np.sum(resp.y) / np.sum(resp.trials))
    ones = np.flatnonzero(np.all(X == 1.0, axis=0))
    if ones.size and family.has_intercept:
        m = np.clip(mean, 1e-3, 1 - 1e-3) if family.name == "binomial" else mean
        beta[ones[0]] = np.nan_to_num(float(_link(m, family)))
    params = family.param_start(resp, np.full(len(resp.y), mean))
    if not X.shape[1]:
        return beta, params
    terms = lambda b: _glm_terms(X @ b + offset, resp._replace(levels=()), params, family)  # noqa: E731
    value, d1, w = (np.asarray(a) for a in terms(beta))
    for _ in range(iterations):
        step = np.linalg.lstsq(X.T @ (np.maximum(w, 1e-10)[:, None] * X), X.T @ d1, rcond=None)[0]
        for t in 0.5 ** np.arange(20):  # halve until the log-likelihood does not drop
            new = [np.asarray(a) for a in terms(beta + t * step)]
            if new[0] >= value - 1e-10 * abs(value):
                break
        if not np.isfinite(new[0]) or new[0] < value - 1e-10 * abs(value):
            break
        converged = abs(new[0] - value) < 1e-10 * (1 + abs(value))
        beta, (value, d1, w) = beta + t * step, new
        if converged:
            break
    mu = np.asarray(_mean(X @ beta + offset, params, family)) if family.has_intercept else None
    return beta, (family.param_start(resp, mu) if mu is not None and mu.ndim == 1 else params)


def make_glmm(design, family: Family, resp: Response, nagq: int = 1) -> GlmmObjective:
    """Build the objective. ``resp`` is ``family.response(...)`` of the design's response."""
    terms = design.terms
    spec = GlmmSpec(family, tuple(t.cov for t in terms), tuple(t.n_levels for t in terms), design.p,
                    len(family.param_names(resp)), int(nagq), design.n_obs > HESSIAN_BY_COLUMNS_ROWS)
    if spec.levels[0] * spec.ks[0] * spec.qr > MAX_DENSE_COUPLING:
        raise ValueError(
            f"the random-effects terms couple {spec.levels[0] * spec.ks[0]} effects of {terms[0].group!r} with "
            f"{spec.qr} others: a dense block of {spec.levels[0] * spec.ks[0] * spec.qr:,} entries, more than "
            f"{MAX_DENSE_COUPLING:,}. Such large crossed GLMMs are not supported yet."
        )
    nodes, log_w = gauss_hermite(nagq, terms[0].k)
    offset = np.zeros(design.n_obs) if design.offset is None else design.offset
    data = GlmmData(*jax.device_put((resp.y, resp.trials, resp.weights, design.X, offset,
                                     tuple(t.codes for t in terms), tuple(t.Z for t in terms), nodes, log_w,
                                     resp.zi, resp.disp)))
    beta0, fam0 = glm_start(design.X, offset, family, resp)
    start = np.concatenate([design.theta_start, beta0, fam0])
    lower = np.concatenate([design.theta_lower, np.full(design.p + len(fam0), -np.inf)])
    names = design.theta_names + list(design.xnames) + family.param_names(resp)
    zeros = (np.zeros((spec.levels[0], spec.ks[0])), np.zeros(spec.qr))
    return GlmmObjective(data, spec, resp, lower, start, names, {"u": zeros})
