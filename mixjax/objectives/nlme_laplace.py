"""The Laplace approximation of a nonlinear mixed model's marginal likelihood, with exact derivatives (one grouping
factor).

With ``b_g = T u_g``, ``u_g ~ N(0, sigma^2 I)`` and ``y | u ~ N(f(beta, T u), sigma^2 I)``, the joint density is
``(2 pi sigma^2)^{-(n+q)/2} exp(-h(u) / (2 sigma^2))`` with ``h(u) = |y - f|^2 + |u|^2``; its mode ``u*`` does not
depend on ``sigma``, and Laplace's method gives

    -2 log L = n log(2 pi sigma^2) + h(u*) / sigma^2 + sum_g log |H_g|,   H_g = (1/2) d^2 h / d u_g^2 at u*,

with the exact Hessian ``H_g = sum_i T' (a_i a_i' - r_i F_i) T + I`` (``a_i = df_i / dphi``, ``F_i`` its second
derivatives, ``r_i`` the residual): Lindstrom-Bates drops the ``r_i F_i`` term and linearizes ``f``. ``sigma^2 =
h(u*) / n`` is profiled out. The mode comes from Gauss-Newton with per-level step halving in a ``lax.while_loop``;
the deviance is then evaluated after one Newton step from the mode with its gradient stopped and the exact Hessian
there held constant, so that its derivative in ``(theta, beta)`` is that of the true ``u*(theta, beta)`` (the
implicit function theorem). The
optimizer uses this exact gradient (L-BFGS-B) and forms the Hessian from differences of it: the autodiff Hessian
(two Newton steps, forward over reverse) compiled four times as long (17 s against 4 s for Theoph).
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._config import jit
from .nlme import NlmeData, NlmeSpec, _f, phi, relative_factors

__all__ = ["LaplaceObjective", "make_laplace"]

_MAX_MODE_ITER = 200


def _parts(beta, u, T, data: NlmeData, spec: NlmeSpec):
    """Residuals ``r`` and ``A = df/du`` (n, k) per row at ``(beta, u)``."""
    idx = jnp.array(spec.terms[0].params)
    values, vjp = jax.vjp(lambda p: _f(p, data, spec), phi(beta, [u @ T.T], data, spec))
    J = vjp(jnp.ones_like(values))[0]
    return data.y - values, J[:, idx] @ T


def _level_sum(x, data: NlmeData, spec: NlmeSpec):
    return jax.ops.segment_sum(x, data.codes[0], num_segments=spec.terms[0].n_levels)


def _h_levels(beta, u, T, data, spec):
    """Per level ``|y_g - f_g|^2 + |u_g|^2``."""
    r, _ = _parts(beta, u, T, data, spec)
    return _level_sum(r**2, data, spec) + jnp.sum(u**2, axis=1)


def _mode(beta, T, u0, data: NlmeData, spec: NlmeSpec):
    """Minimize ``h`` over ``u``: Gauss-Newton, halving each level's step until its ``h_g`` does not increase."""
    k = T.shape[0]

    def step(u):
        r, A = _parts(beta, u, T, data, spec)
        G = _level_sum(A[:, :, None] * A[:, None, :], data, spec) + jnp.eye(k)
        return jnp.linalg.solve(G, (_level_sum(A * r[:, None], data, spec) - u)[:, :, None])[:, :, 0]

    def halve(state):
        u, d, t, h0, _ = state
        h = _h_levels(beta, u + t[:, None] * d, T, data, spec)
        worse = (h > h0) & (t > 1e-8)
        return u, d, jnp.where(worse, 0.5 * t, t), h0, jnp.any(worse)

    def body(state):
        u, it, _ = state
        d = step(u)
        h0 = _h_levels(beta, u, T, data, spec)
        t = jnp.ones(u.shape[0])
        _, _, t, _, _ = jax.lax.while_loop(lambda s: s[4], halve, halve((u, d, t, h0, True)))
        move = t[:, None] * d
        return u + move, it + 1, jnp.max(jnp.abs(move)) > 1e-10 * (1.0 + jnp.max(jnp.abs(u)))

    u, _, _ = jax.lax.while_loop(lambda s: s[2] & (s[1] < _MAX_MODE_ITER), body, (u0, 0, True))
    return u


def _exact(beta, u, T, data: NlmeData, spec: NlmeSpec):
    """``h``, per-level gradient ``(1/2) dh/du`` and exact Hessian ``H_g`` at ``u``."""
    idx = spec.terms[0].params
    ph = phi(beta, [u @ T.T], data, spec)
    values, vjp = jax.vjp(lambda p: _f(p, data, spec), ph)
    r = data.y - values
    J = vjp(jnp.ones_like(values))[0]
    A = J[:, jnp.array(idx)] @ T

    def weighted(p):  # sum_i r_i f_i(p) with r fixed: its derivative is r_i df_i/dphi per row
        return jax.vjp(lambda q: _f(q, data, spec), p)[1](r)[0]

    W = jnp.stack([jax.jvp(weighted, (ph,), (jnp.zeros_like(ph).at[:, j].set(1.0),))[1][:, jnp.array(idx)]
                   for j in idx], axis=-1)  # (n, k, k): r_i d2 f_i / dphi_a dphi_b
    H = (_level_sum(A[:, :, None] * A[:, None, :], data, spec)
         - jnp.einsum("ai,gab,bj->gij", T, _level_sum(W, data, spec), T) + jnp.eye(T.shape[0]))
    grad = u - _level_sum(A * r[:, None], data, spec)
    return r @ r + jnp.sum(u**2), grad, H


def _split(psi, spec: NlmeSpec):
    n_theta = spec.terms[0].n_theta
    return psi[:n_theta], psi[n_theta:]


def _deviance_at(psi, u_mode, data: NlmeData, spec: NlmeSpec):
    """``(-2 log L, sigma)`` at ``psi`` from the mode ``u_mode``: ``sigma = sqrt(h / n)`` after the Newton step."""
    theta, beta = _split(psi, spec)
    T = relative_factors(theta, spec)[0]
    stop = jax.lax.stop_gradient
    u = stop(u_mode)
    # one Newton step with H at the mode held constant: its derivative H^{-1} dgrad/dpsi is u*(psi)'s (H's own
    # derivative would multiply grad = 0); not differentiating H compiles in 2.3-2.5 s instead of 3.2-3.4 s (Theoph)
    H = _exact(stop(beta), u, stop(T), data, spec)[2]
    r, A = _parts(beta, u, T, data, spec)
    grad = u - _level_sum(A * r[:, None], data, spec)
    u = u - jnp.linalg.solve(H, grad[:, :, None])[:, :, 0]
    h, _, H = _exact(beta, u, T, data, spec)
    n = data.y.shape[0]
    return n * jnp.log(2 * jnp.pi * h / n) + n + jnp.sum(jnp.linalg.slogdet(H)[1]), jnp.sqrt(h / n)


@partial(jit, static_argnames="spec")
def mode(psi, u0, data: NlmeData, spec: NlmeSpec):
    theta, beta = _split(psi, spec)
    return _mode(beta, relative_factors(theta, spec)[0], u0, data, spec)


@partial(jit, static_argnames="spec")
def deviance(psi, u0, data: NlmeData, spec: NlmeSpec):
    """``-2 log L`` (Laplace) at ``psi = [theta, beta]``; the mode is searched from ``u0`` (its iterations see no
    derivative: the Newton step from it carries the first derivatives in ``psi`` and the data)."""
    stop = jax.lax.stop_gradient
    return _deviance_at(psi, mode(stop(psi), u0, stop(data), spec), data, spec)[0]


def _fn(psi, data: NlmeData, spec: NlmeSpec):
    return deviance(psi, jnp.zeros((spec.terms[0].n_levels, len(spec.terms[0].params)), psi.dtype), data, spec)


@partial(jit, static_argnames="spec")
def value_grad(psi, u0, data: NlmeData, spec: NlmeSpec):
    """``-2 log L``, its exact gradient, the mode and ``sigma`` there."""
    u = mode(psi, u0, data, spec)
    (value, sigma), grad = jax.value_and_grad(partial(_deviance_at, u_mode=u, data=data, spec=spec), has_aux=True)(psi)
    return value, grad, u, sigma


class LaplaceObjective(NamedTuple):
    """``fn(psi, data)`` and ``deviance(psi) = fn(psi, data)`` (pure: jit, grad, vmap), ``value_grad(psi)`` (warm-starts each mode from the last one, kept in
    ``last_mode``) and ``mode_and_sigma(psi)``; ``psi = [theta, beta]``."""

    data: NlmeData
    spec: NlmeSpec
    last_mode: list

    @property
    def fn(self):
        """``fn(psi, data)``: ``-2 log L`` as a pure function of ``psi = [theta, beta]`` and the data pytree."""
        return partial(_fn, spec=self.spec)

    def deviance(self, psi):
        return self.fn(jnp.asarray(psi, dtype=jnp.float64), self.data)

    def value_grad(self, psi):
        value, grad, u, _ = self._evaluate(psi)
        return value, grad

    def mode_and_sigma(self, psi) -> tuple[np.ndarray, float]:
        """The mode (searched from the last one) and the residual standard deviation there, by the compiled
        ``value_grad`` (on the host, ``sigma``'s few operations would each compile a program of their own: about
        1 s of Theoph's first fit)."""
        _, _, u, sigma = self._evaluate(psi)
        return np.asarray(u), float(sigma)

    def _evaluate(self, psi):
        out = value_grad(jnp.asarray(psi, dtype=jnp.float64), self.last_mode[0], self.data, self.spec)
        if np.isfinite(float(out[0])):
            self.last_mode[0] = out[2]
        return out


def make_laplace(data: NlmeData, spec: NlmeSpec, u0) -> LaplaceObjective:
    if len(spec.terms) != 1:
        raise ValueError("method='laplace' needs a single grouping factor; nested groups are fitted by "
                         "Lindstrom-Bates (method='ML' or 'REML').")
    return LaplaceObjective(jax.device_put(data), spec, [jnp.asarray(u0, dtype=jnp.float64)])
